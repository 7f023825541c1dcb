"""The benchmark's yardsticks: the minimal Keras step and the FLOP count it is held against."""

import numpy as np
import tensorflow as tf

from aae_tf import yardstick


def test_flops_per_image_by_hand():
    # ncode 2, hidden 3, 4 pixels: encoder 4*3 + 3*3 + 3*2 = 27, decoder 2*3 + 3*3 + 3*4 = 27,
    # discriminator 2*3 + 3*3 + 3 = 18 multiply-adds; 7E + 3D + 9Z = 432; two FLOPs each.
    assert yardstick.unsupervised_flops_per_image(2, 3, pixels=4) == 864


def test_minimal_step_trains():
    step = yardstick.minimal_unsupervised_step(ncode=2, hidden=7, jit_compile=False)
    images = tf.constant(np.random.default_rng(0).uniform(-1, 1, (5, 28, 28, 1)), tf.float32)
    losses = [float(step(images, tf.constant([0, i]))) for i in range(30)]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]


def test_matmul_rate_is_positive():
    assert yardstick.matmul_gflops(tf.float32, rows=3, inner=5, cols=7, repeats=5) > 0
