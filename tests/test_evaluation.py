import numpy as np
import pytest

from aae_tf import evaluation


def test_classification_error_in_percent():
    assert evaluation.classification_error([1, 2, 3, 4], [1, 2, 0, 4]) == pytest.approx(25.0)
    with pytest.raises(ValueError):
        evaluation.classification_error([1, 2], [1])


def test_perfect_clusters_score_zero_whatever_their_numbering():
    labels = np.arange(200) % 10
    clusters = (labels * 3 + 1) % 16  # a one-to-one renumbering into 16 clusters
    probs = np.eye(16)[clusters]
    assert evaluation.cluster_assignment_error(probs, labels, clusters, labels) == 0.0


def test_single_cluster_scores_the_share_of_other_digits():
    val_labels = np.array([3, 1, 4, 1, 5])
    probs = np.tile([[0.2, 0.8]], (5, 1))
    probs[2, 1] = 0.9  # the most confident validation image for cluster 1 is a 4
    test_labels = np.array([4, 4, 1, 2])
    error = evaluation.cluster_assignment_error(probs, val_labels, np.ones(4, int), test_labels)
    assert error == pytest.approx(50.0)


def test_batched_joins_dicts_and_arrays():
    x = np.arange(7)
    out = evaluation.batched(lambda a: {"double": a * 2}, x, batch_size=3)
    np.testing.assert_array_equal(out["double"], x * 2)
    np.testing.assert_array_equal(evaluation.batched(lambda a, b: a + b, x, x, batch_size=2), 2 * x)
