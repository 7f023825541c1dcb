"""Metrics as functions of data and a model, returning plain numbers."""

import numpy as np


def batched(fn, *arrays, batch_size=1000):
    """Applies ``fn`` to aligned slices of ``arrays`` and joins the results.

    Args:
      fn: takes one slice of each array; returns a tensor or a dict of tensors.
      arrays: numpy arrays with the same first dimension.

    Returns:
      A numpy array, or a dict name -> numpy array, over all items.
    """
    parts = []
    for start in range(0, len(arrays[0]), batch_size):
        parts.append(fn(*(a[start:start + batch_size] for a in arrays)))
    if isinstance(parts[0], dict):
        return {k: np.concatenate([np.asarray(p[k]) for p in parts]) for k in parts[0]}
    return np.concatenate([np.asarray(p) for p in parts])


def mean_squared_error(images, reconstructions):
    """Mean squared error per pixel, as a float."""
    return float(np.mean(np.square(np.asarray(images) - np.asarray(reconstructions))))


def classification_error(labels, predictions):
    """Percentage of predictions that differ from the labels, as in the paper's tables.

    Args:
      labels: int ``[n]``.
      predictions: int ``[n]``.
    """
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    if labels.shape != predictions.shape or labels.size == 0:
        raise ValueError(f"labels {labels.shape} and predictions {predictions.shape} must be equal and non-empty")
    return float(100.0 * np.mean(labels != predictions))


def cluster_labels(validation_probs, validation_labels):
    """Names each cluster after one validation image (paper Section 6).

    For cluster k, the validation image with the highest q(y = k | x) gives
    its label to the whole cluster.

    Args:
      validation_probs: ``[n_validation, n_clusters]`` q(y|x).
      validation_labels: int ``[n_validation]``.

    Returns:
      int ``[n_clusters]``: the label of each cluster.
    """
    return np.asarray(validation_labels)[np.argmax(np.asarray(validation_probs), axis=0)]


def cluster_assignment_error(validation_probs, validation_labels, test_clusters, test_labels):
    """Test error (%) of labeling each test image with the label of its cluster (paper Table 3).

    Args:
      validation_probs: ``[n_validation, n_clusters]`` q(y|x) of validation images.
      validation_labels: int ``[n_validation]``.
      test_clusters: int ``[n_test]``, the cluster (argmax q(y|x)) of each test image.
      test_labels: int ``[n_test]``.
    """
    names = cluster_labels(validation_probs, validation_labels)
    return classification_error(test_labels, names[np.asarray(test_clusters)])
