"""The benchmark's yardsticks: the minimal Keras step and the FLOP count it is held against."""

import keras
import numpy as np
import pytest
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


def test_fused_adam_makes_the_same_updates_as_keras_adam():
    images = tf.constant(np.random.default_rng(1).uniform(-1, 1, (6, 28, 28, 1)), tf.float32)
    losses = {}
    for fused in (False, True):
        keras.utils.set_random_seed(3)  # the same initial weights for both
        step = yardstick.minimal_unsupervised_step(ncode=3, hidden=9, jit_compile=False, fused_adam=fused)
        losses[fused] = [float(step(images, tf.constant([0, i]))) for i in range(6)]
    assert losses[True][-1] < losses[True][0]
    np.testing.assert_allclose(losses[True], losses[False], rtol=1e-5)


def test_matmul_rate_is_positive():
    assert yardstick.matmul_gflops(tf.float32, rows=3, inner=5, cols=7, repeats=5) > 0


def test_paired_ratios_are_taken_round_by_round():
    # Rounds 1-3: 2/1, 3/6, 6/4 -> ratios 0.5, 1.5, 2.0 (the ratio of the medians, 3/4, would differ).
    assert yardstick.paired_ratios([2.0, 3.0, 6.0], [1.0, 6.0, 4.0]) == (1.5, 0.5, 2.0)
    assert yardstick.paired_ratios([1.0, 3.0], [2.0, 1.0]) == (1.75, 0.5, 3.0)
    for bad in (([], []), ([1.0], [1.0, 2.0])):
        with pytest.raises(ValueError):
            yardstick.paired_ratios(*bad)
