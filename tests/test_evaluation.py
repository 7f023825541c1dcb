import numpy as np
import pytest
import scipy.special
import tensorflow as tf

from aae_tf import evaluation


def test_classification_error_in_percent():
    assert evaluation.classification_error([1, 2, 3, 4], [1, 2, 0, 4]) == pytest.approx(25.0)
    with pytest.raises(ValueError):
        evaluation.classification_error([1, 2], [1])


def test_perfect_clusters_score_zero_whatever_their_numbering():
    labels = np.arange(200) % 10
    clusters = (labels * 3 + 1) % 16  # a one-to-one renumbering into 16 clusters
    logits = 5.0 * np.eye(16)[clusters]
    names = evaluation.cluster_labels(logits, labels)
    assert evaluation.cluster_report(clusters, labels, names, 16)["error"] == 0.0


def test_single_cluster_scores_the_share_of_other_digits():
    val_labels = np.array([3, 1, 4, 1, 5])
    probs = np.tile([[0.2, 0.8]], (5, 1))
    probs[2] = [0.1, 0.9]  # the most confident validation image for cluster 1 is a 4
    test_labels = np.array([4, 4, 1, 2])
    names = evaluation.cluster_labels(np.log(probs), val_labels)
    error = evaluation.cluster_report(np.ones(4, int), test_labels, names, 2)["error"]
    assert error == pytest.approx(50.0)


def test_a_saturated_softmax_names_the_cluster_after_its_most_confident_image_not_its_first():
    # Cluster 1's logit margin is 30, 40 and 35 for three validation images: in float32 the softmax gives
    # each exactly 1.0, so an argmax over the probabilities takes the first (a 7); by log q it is the 9.
    logits = np.array([[0.0, 30.0], [0.0, 40.0], [0.0, 35.0], [2.0, 0.0]], np.float32)
    labels = np.array([7, 9, 4, 1])
    probs = tf.nn.softmax(logits).numpy()
    assert probs[0, 1] == probs[1, 1] == probs[2, 1] == 1.0 and labels[np.argmax(probs[:, 1])] == 7
    np.testing.assert_array_equal(evaluation.cluster_labels(logits, labels), [1, 9])
    np.testing.assert_allclose(evaluation.log_probabilities(logits)[:, 1], [-np.exp(-30.0), -np.exp(-40.0),
                                                                            -np.exp(-35.0), -np.log1p(np.exp(2.0))],
                               rtol=1e-6)
    ordinary = np.random.default_rng(3).normal(scale=2.0, size=(6, 4))
    np.testing.assert_allclose(evaluation.log_probabilities(ordinary), scipy.special.log_softmax(ordinary, axis=-1),
                               rtol=1e-12)


def test_batched_joins_dicts_and_arrays():
    x = np.arange(7)
    out = evaluation.batched(lambda a: {"double": a * 2}, x, batch_size=3)
    np.testing.assert_array_equal(out["double"], x * 2)
    np.testing.assert_array_equal(evaluation.batched(lambda a, b: a + b, x, x, batch_size=2), 2 * x)


def _brute_force_parzen(samples, points, sigma):
    from scipy.special import logsumexp
    d = samples.shape[1]
    sq = ((points[:, None, :] - samples[None, :, :]) ** 2).sum(-1)
    return (logsumexp(-sq / (2 * sigma ** 2), axis=1) - np.log(len(samples))
            - 0.5 * d * np.log(2 * np.pi * sigma ** 2))


def test_parzen_matches_brute_force_across_blocks():
    rng = np.random.default_rng(0)
    samples, points = rng.normal(size=(53, 7)), rng.normal(size=(11, 7))
    got = evaluation.parzen_log_densities(samples, points, [0.3, 1.0], sample_batch=10, point_batch=4)
    for row, sigma in zip(got, (0.3, 1.0)):
        np.testing.assert_allclose(row, _brute_force_parzen(samples, points, sigma), rtol=1e-4)


def test_parzen_single_center_is_a_gaussian_density():
    point = np.array([[1.0, 2.0, 2.0]])
    got = evaluation.parzen_log_densities(np.zeros((1, 3)), point, [0.5])[0, 0]
    expected = -9.0 / (2 * 0.25) - 1.5 * np.log(2 * np.pi * 0.25)
    assert got == pytest.approx(expected, rel=1e-5)
    far = evaluation.parzen_log_densities(np.zeros((1, 3)), 1000 * point, [0.05])[0, 0]
    assert np.isfinite(far)  # log-sum-exp: no underflow to -inf


def test_parzen_chooses_the_width_of_the_true_distribution():
    rng = np.random.default_rng(1)
    # Samples from N(0, 0.25^2 I): for a dense enough sample the best window width is small,
    # and the estimate approaches the true log-density of held-out points.
    samples = rng.normal(scale=0.25, size=(4000, 2))
    validation, test = rng.normal(scale=0.25, size=(500, 2)), rng.normal(scale=0.25, size=(2000, 2))
    result = evaluation.parzen_log_likelihood(samples, validation, test, sigmas=[0.01, 0.05, 0.1, 0.5, 2.0],
                                              spacing=None)
    true_mean = -np.log(2 * np.pi * 0.0625) - 1.0  # E[log N(x; 0, s^2 I)] in 2-D
    assert result["parzen_sigma"] in (0.05, 0.1)
    assert result["log_likelihood"] == pytest.approx(true_mean, abs=0.1)
    assert 0 < result["log_likelihood_sem"] < 0.1


def test_parzen_refines_the_width_to_within_three_percent():
    # One window center at the origin: the validation log-likelihood -sum||x||^2/(2 s^2) - d/2 log(2 pi s^2) peaks
    # at s^2 = mean ||x||^2 / d, here 0.3^2 by construction. The coarse grid's nearest widths are 17% apart.
    rng = np.random.default_rng(3)
    d = 6
    directions = rng.normal(size=(40, d))
    validation = directions / np.linalg.norm(directions, axis=1, keepdims=True) * 0.3 * np.sqrt(d)
    test = validation[:7]
    coarse = evaluation.parzen_log_likelihood(np.zeros((1, d)), validation, test, spacing=None)
    fine = evaluation.parzen_log_likelihood(np.zeros((1, d)), validation, test)
    assert abs(np.log(coarse["parzen_sigma"] / 0.3)) > np.log(1.03)  # the coarse grid misses the optimum
    assert abs(np.log(fine["parzen_sigma"] / 0.3)) <= np.log(1.03) / 2 + 1e-9
    assert 1.0 < fine["parzen_sigma_spacing"] <= 1.03
    assert fine["validation_log_likelihood"] >= coarse["validation_log_likelihood"]


def test_cluster_report_on_a_known_assignment():
    # Three clusters over digits 0-2: cluster 0 holds two 0s and a 1, cluster 2 holds two 2s, cluster 1 is empty.
    clusters = np.array([0, 0, 0, 2, 2])
    labels = np.array([0, 0, 1, 2, 2])
    report = evaluation.cluster_report(clusters, labels, names=np.array([0, 1, 2]), n_clusters=3, n_classes=3)
    np.testing.assert_array_equal(report["confusion"], [[2, 1, 0], [0, 0, 0], [0, 0, 2]])
    np.testing.assert_array_equal(report["sizes"], [3, 0, 2])
    assert report["clusters_used"] == 2 and report["largest_cluster"] == pytest.approx(0.6)
    assert report["purity"] == pytest.approx(80.0) and report["error"] == pytest.approx(20.0)
    # Named wrongly, the same clusters score the paper's error of that naming.
    assert evaluation.cluster_report(clusters, labels, np.array([1, 1, 2]), 3, 3)["error"] == pytest.approx(40.0)
