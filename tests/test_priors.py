import numpy as np
import pytest
import tensorflow as tf

from aae_tf import priors

SEED = tf.constant([7, 11], tf.int32)


def test_gaussian_statistics():
    prior = priors.gaussian(3)
    z = prior.sample(20000, SEED).numpy()
    assert z.shape == (20000, 3)
    np.testing.assert_allclose(z.mean(0), 0.0, atol=0.03)
    np.testing.assert_allclose(z.std(0), 1.0, atol=0.03)
    labeled = prior.sample_for_labels(tf.constant(np.arange(20000) % 10), SEED).numpy()
    assert labeled.shape == (20000, 3)
    np.testing.assert_allclose(labeled.std(0), 1.0, atol=0.03)


def test_scaled_prior_stretches_samples_and_components():
    prior = priors.make_prior("gaussian", 4, scale=5.0)
    z = prior.sample(20000, SEED).numpy()
    assert z.shape == (20000, 4)
    np.testing.assert_allclose(z.std(0), 5.0, rtol=0.03)
    ring = priors.make_prior("gmm", 2, scale=3.0)
    labels = tf.constant(np.full(4000, 2))
    near = ring.sample_for_labels(labels, SEED).numpy().mean(0)
    centers, _, _ = priors.gmm_component_axes(10)
    np.testing.assert_allclose(near, 3.0 * centers[2], atol=0.1)
    assert ring.n_components == 10
    walks = priors.manifold_walks("gaussian", grid=5, scale=5.0)
    np.testing.assert_allclose(walks[0][1], 5.0 * priors.manifold_walks("gaussian", grid=5)[0][1])


def test_gmm_component_zero_has_the_reference_shape():
    prior = priors.gmm(2)
    z = prior.sample_for_labels(tf.zeros([20000], tf.int32), SEED).numpy()
    # Component 0 lies at angle 0: radial axis = x, tangential axis = y.
    np.testing.assert_allclose(z.mean(0), [1.4, 0.0], atol=0.02)
    np.testing.assert_allclose(z.std(0), [0.5, 0.1], atol=0.01)


def test_gmm_labeled_samples_land_in_their_own_component():
    prior = priors.gmm(2)
    labels = tf.constant(np.arange(3000) % 10, tf.int32)
    z = prior.sample_for_labels(labels, SEED)
    owner = tf.argmax(prior.components.log_prob(z[:, None, :]), axis=-1).numpy()
    assert np.mean(owner == labels.numpy()) > 0.97


def test_gmm_mixture_is_balanced_and_centered():
    prior = priors.gmm(2)
    z = prior.sample(20000, SEED)
    owner = tf.argmax(prior.components.log_prob(z[:, None, :]), axis=-1).numpy()
    np.testing.assert_allclose(np.bincount(owner, minlength=10) / 20000, 0.1, atol=0.01)


def test_gmm_in_more_dimensions_repeats_the_ring_per_pair():
    prior = priors.gmm(6)
    z = prior.sample_for_labels(tf.fill([5000], 2), SEED).numpy()
    assert z.shape == (5000, 6)
    center = 1.4 * np.array([np.cos(0.4 * np.pi), np.sin(0.4 * np.pi)])
    np.testing.assert_allclose(z.mean(0), np.tile(center, 3), atol=0.03)
    with pytest.raises(ValueError, match="even"):
        priors.gmm(3)


def test_swiss_roll_labels_pick_their_stretch():
    prior = priors.swiss_roll(2)
    labels = np.arange(1000) % 10
    z = prior.sample_for_labels(tf.constant(labels), SEED).numpy()
    position = np.sum(z ** 2, -1) / 9.0  # u = (r / 3)^2
    assert np.all(position >= labels / 10 - 1e-5) and np.all(position <= (labels + 1) / 10 + 1e-5)
    whole = prior.sample(4000, SEED).numpy()
    u = np.sum(whole ** 2, -1) / 9.0
    np.testing.assert_allclose(np.histogram(u, bins=4, range=(0, 1))[0] / 4000, 0.25, atol=0.03)
    with pytest.raises(ValueError, match="two-dimensional"):
        priors.swiss_roll(3)


def test_unknown_prior_is_refused():
    with pytest.raises(ValueError, match="unknown prior"):
        priors.make_prior("laplace", 2)


def test_categorical_prior_is_one_hot():
    y = priors.categorical(4).sample(1000, seed=SEED).numpy()
    assert y.shape == (1000, 4)
    np.testing.assert_array_equal(y.sum(-1), 1.0)
    np.testing.assert_allclose(y.mean(0), 0.25, atol=0.05)
