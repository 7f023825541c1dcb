import math

import numpy as np
import pytest
import tensorflow as tf

from aae_tf import losses


def test_reconstruction_is_mean_squared_error_per_pixel():
    images = tf.constant([[1.0, -1.0], [0.5, 0.0]])
    recon = tf.constant([[0.0, -1.0], [0.5, 1.0]])
    assert losses.reconstruction_loss(images, recon).numpy() == pytest.approx((1 + 0 + 0 + 1) / 4)


def test_summed_reconstruction_is_the_squared_euclidean_distance_per_image():
    # Two images of 3 x 2 pixels: squared distances 1 + 4 = 5 and 0.25 * 3 = 0.75, averaged over the batch.
    images = tf.zeros([2, 3, 2, 1])
    recon = tf.reshape(tf.constant([[1.0, 0, 0, 2.0, 0, 0], [0.5, 0.5, 0.5, 0, 0, 0]]), [2, 3, 2, 1])
    assert losses.reconstruction_loss(images, recon, "sum").numpy() == pytest.approx((5 + 0.75) / 2)
    assert losses.reconstruction_loss(images, recon, "mean").numpy() == pytest.approx((5 + 0.75) / 12)


def test_discriminator_and_generator_costs_at_chance():
    zeros = tf.zeros([3, 1])
    assert losses.discriminator_loss(zeros, zeros).numpy() == pytest.approx(2 * math.log(2), rel=1e-6)
    assert losses.generator_loss(zeros).numpy() == pytest.approx(math.log(2), rel=1e-6)


def test_discriminator_cost_by_hand():
    real, fake = tf.constant([[2.0], [0.0]]), tf.constant([[-1.0], [3.0]])
    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    expected = (-math.log(sig(2)) - math.log(sig(0))) / 2 + (-math.log(1 - sig(-1)) - math.log(1 - sig(3))) / 2
    assert losses.discriminator_loss(real, fake).numpy() == pytest.approx(expected, rel=1e-5)
    assert losses.generator_loss(fake).numpy() == pytest.approx(
        (-math.log(sig(-1)) - math.log(sig(3))) / 2, rel=1e-5)


def test_classification_cost_by_hand():
    logits = tf.constant([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    expected = (-math.log(math.exp(2) / (math.exp(2) + 2)) + math.log(3)) / 2
    assert losses.classification_loss(tf.constant([0, 1]), logits).numpy() == pytest.approx(expected, rel=1e-5)


def test_label_balance_is_the_kl_of_the_batch_mean_from_uniform():
    # Three categories. Even use: 0. Every image in one category: log 3.
    assert losses.label_balance_loss(tf.constant([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]])).numpy() == pytest.approx(
        0.0, abs=1e-7)
    assert losses.label_balance_loss(tf.constant([[0, 1.0, 0]] * 5)).numpy() == pytest.approx(math.log(3), rel=1e-6)
    # Four images, four categories, batch mean (0.5, 0.5, 0, 0): sum 0.5 log(0.5 * 4) twice = log 2.
    probs = tf.constant([[0.8, 0.2, 0, 0], [0.2, 0.8, 0, 0], [0.5, 0.5, 0, 0], [0.5, 0.5, 0, 0]])
    assert losses.label_balance_loss(probs).numpy() == pytest.approx(math.log(2), rel=1e-6)
    # Soft rows with an even mean cost nothing, however unsure each image is.
    assert losses.label_balance_loss(tf.constant([[0.6, 0.4], [0.4, 0.6]])).numpy() == pytest.approx(0.0, abs=1e-7)


def test_cluster_head_cost_only_counts_close_pairs():
    heads = tf.constant([[0.0, 0.0], [0.5, 0.0], [3.0, 0.0], [3.0, 0.8]])
    # Pairs closer than eta = 1: (0, 1) at 0.5 and (2, 3) at 0.8.
    assert losses.cluster_head_cost(heads, 1.0).numpy() == pytest.approx(0.5 + 0.2, abs=1e-5)
    with tf.GradientTape() as tape:
        var = tf.Variable(heads)
        cost = losses.cluster_head_cost(var, 1.0)
    grad = tape.gradient(cost, var).numpy()
    assert np.all(np.isfinite(grad)) and grad[0, 0] > 0 and grad[1, 0] < 0  # pushes the pair apart


def test_gaussian_kl_by_hand():
    assert losses.gaussian_kl(tf.zeros([3, 5]), tf.zeros([3, 5])).numpy() == pytest.approx(0.0)
    mean = tf.constant([[1.0, 2.0]])
    log_std = tf.constant([[0.0, math.log(2.0)]])
    expected = 0.5 * (1 + 0) + 0.5 * (4 + 4 - 1 - 2 * math.log(2))
    assert losses.gaussian_kl(mean, log_std).numpy() == pytest.approx(expected, rel=1e-6)


def test_monte_carlo_kl_agrees_with_the_closed_form():
    n = 200000
    mean = tf.fill([n, 2], 0.7)
    log_std = tf.fill([n, 2], -0.3)
    code = mean + tf.exp(log_std) * tf.random.stateless_normal([n, 2], seed=[1, 2])
    prior_log_prob = tf.reduce_sum(-0.5 * code ** 2 - 0.5 * math.log(2 * math.pi), -1)
    estimate = losses.monte_carlo_kl(code, mean, log_std, prior_log_prob).numpy()
    assert estimate == pytest.approx(losses.gaussian_kl(mean[:1], log_std[:1]).numpy(), abs=0.01)


def test_pairwise_distances_of_a_3_4_5_triangle():
    distance = losses.pairwise_distances(tf.constant([[0.0, 0.0], [3.0, 0.0], [3.0, 4.0]])).numpy()
    assert distance == pytest.approx(np.array([[0, 3, 5], [3, 0, 4], [5, 4, 0]]), abs=1e-5)
