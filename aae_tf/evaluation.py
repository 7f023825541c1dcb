"""Metrics as functions of data and a model, returning plain numbers."""

import numpy as np
import scipy.special


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


def log_probabilities(logits):
    """log q(y|x) from the label logits, in float64, exact however confident: ``[n, k]``.

    The softmax of a confident encoder is exactly 1.0 in float32 for many
    images at once, which ties them, and ``log_softmax`` ties them again in
    float64 once a logit leads the others by about 37. Here log q(y = k | x)
    is ``-log(1 + exp(-m))`` with m the margin ``logit_k - logsumexp(other
    logits)``, which keeps its last digits at any margin.
    """
    logits = np.asarray(logits, dtype=np.float64)
    others = np.where(np.eye(logits.shape[-1], dtype=bool)[None], -np.inf, logits[:, None, :])
    margins = logits - scipy.special.logsumexp(others, axis=-1)
    return -np.logaddexp(0.0, -margins)


def cluster_labels(validation_logits, validation_labels):
    """Names each cluster after one validation image (paper Section 6).

    For cluster k, the validation image with the highest q(y = k | x) gives
    its label to the whole cluster. The ranking is by log q(y = k | x) from
    the logits: in float32 a saturated softmax gives 1.0 to tens or hundreds
    of images per cluster, and taking the first of them (what an argmax over
    the probabilities does) names the cluster after whichever image comes
    first in the validation set.

    Args:
      validation_logits: ``[n_validation, n_clusters]`` logits of q(y|x).
      validation_labels: int ``[n_validation]``.

    Returns:
      int ``[n_clusters]``: the label of each cluster.
    """
    return np.asarray(validation_labels)[np.argmax(log_probabilities(validation_logits), axis=0)]


def cluster_report(test_clusters, test_labels, names, n_clusters, n_classes=10):
    """What a user needs to judge a clustering: the cluster x digit counts and each cluster's size.

    Args:
      test_clusters: int ``[n]``, the cluster of each test image.
      test_labels: int ``[n]``, its digit.
      names: int ``[n_clusters]``, the digit each cluster was named after
        (``cluster_labels``).
      n_clusters, n_classes: the table's shape.

    Returns:
      dict: ``confusion`` int ``[n_clusters, n_classes]`` (row k, column d:
      test images of digit d in cluster k), ``sizes`` int ``[n_clusters]``,
      ``clusters_used`` (non-empty clusters), ``largest_cluster`` (fraction
      of the images in the largest one), ``purity`` (% of the images whose
      digit is their cluster's most common one) and ``error`` (% whose digit
      differs from their cluster's name, the paper's measure).
    """
    test_clusters, test_labels = np.asarray(test_clusters), np.asarray(test_labels)
    confusion = np.zeros((n_clusters, n_classes), dtype=np.int64)
    np.add.at(confusion, (test_clusters, test_labels), 1)
    sizes = confusion.sum(axis=1)
    return {"confusion": confusion, "sizes": sizes, "clusters_used": int(np.count_nonzero(sizes)),
            "largest_cluster": float(sizes.max() / sizes.sum()),
            "purity": float(100.0 * confusion.max(axis=1).sum() / sizes.sum()),
            "error": classification_error(test_labels, np.asarray(names)[test_clusters])}


def parzen_log_densities(samples, points, sigmas, sample_batch=2000, point_batch=500):
    """Log-density of each point under Gaussian Parzen windows centered on the samples.

    log p(x) = logsumexp_i(-||x - s_i||^2 / (2 sigma^2)) - log m - d/2 log(2 pi sigma^2),
    computed in blocks of points x samples so memory stays bounded, with the
    log-sum-exp taken first within a block and then across blocks.

    Args:
      samples: float ``[m, d]``, the window centers (generated images).
      points: float ``[n, d]``, the images to score.
      sigmas: float ``[k]``, window widths; all are scored from the same distances.

    Returns:
      float64 ``[k, n]``: log p(points[j]) for each width.
    """
    import tensorflow as tf

    samples = tf.constant(np.asarray(samples, np.float32))
    sigmas64 = np.asarray(sigmas, np.float64)
    inv_two_var = tf.constant(1.0 / (2.0 * sigmas64 ** 2), tf.float32)[:, None, None]  # [k, 1, 1]
    m, d = samples.shape
    sample_sq = tf.reduce_sum(tf.square(samples), -1)
    out = []
    for start in range(0, len(points), point_batch):
        x = tf.constant(np.asarray(points[start:start + point_batch], np.float32))
        x_sq = tf.reduce_sum(tf.square(x), -1)
        block_lse = []
        for s_start in range(0, m, sample_batch):
            s = samples[s_start:s_start + sample_batch]
            dist = x_sq[:, None] + sample_sq[None, s_start:s_start + sample_batch] - 2.0 * tf.matmul(
                x, s, transpose_b=True)
            dist = tf.maximum(dist, 0.0)  # rounding can make a tiny distance negative
            block_lse.append(tf.reduce_logsumexp(-dist[None] * inv_two_var, axis=-1))  # [k, batch]
        lse = tf.reduce_logsumexp(tf.stack(block_lse, -1), axis=-1)
        out.append(lse.numpy().astype(np.float64))
    log_norm = np.log(m) + 0.5 * d * np.log(2.0 * np.pi * sigmas64 ** 2)
    return np.concatenate(out, axis=1) - log_norm[:, None]


def parzen_log_likelihood(samples, validation, test, sigmas=None, spacing=1.03):
    """The Parzen-window estimate of the paper's Table 1 (the GAN paper's protocol).

    The width is the one that gives the validation images (never trained on)
    the highest mean log-likelihood: first on ``sigmas``, then on a finer
    log-spaced grid between the best width's two neighbours, whose
    consecutive widths are at most ``spacing`` apart (a ratio: 1.03 is 3%).
    The test images are then scored with it.

    Args:
      samples: ``[m, d]`` generated images, flattened.
      validation: ``[n_val, d]`` images to choose the width on.
      test: ``[n_test, d]`` images to report on.
      sigmas: the coarse widths (default: 20 values from 0.05 to 1, log-spaced).
      spacing: the largest ratio of neighbouring widths of the fine grid (None: no fine grid).

    Returns:
      dict with ``log_likelihood`` (mean over test images, nats),
      ``log_likelihood_sem`` (its standard error), ``parzen_sigma``,
      ``parzen_sigma_spacing`` (ratio of the chosen width's neighbours on
      the grid it was chosen from) and ``validation_log_likelihood``.
    """
    sigmas = np.logspace(np.log10(0.05), 0.0, 20) if sigmas is None else np.sort(np.asarray(sigmas, np.float64))
    val_ll = parzen_log_densities(samples, validation, sigmas).mean(axis=1)
    best = int(np.argmax(val_ll))
    chosen, chosen_ll = sigmas[best], val_ll[best]
    grid_ratio = float(sigmas[1] / sigmas[0]) if len(sigmas) > 1 else 1.0
    if spacing is not None and len(sigmas) > 1:
        low, high = sigmas[max(best - 1, 0)], sigmas[min(best + 1, len(sigmas) - 1)]
        n = int(np.ceil(np.log(high / low) / np.log(spacing))) + 1
        fine = np.geomspace(low, high, n)
        fine_ll = parzen_log_densities(samples, validation, fine).mean(axis=1)
        best_fine = int(np.argmax(fine_ll))
        chosen, chosen_ll, grid_ratio = fine[best_fine], fine_ll[best_fine], float((high / low) ** (1.0 / (n - 1)))
    test_ll = parzen_log_densities(samples, test, [chosen])[0]
    return {"log_likelihood": float(test_ll.mean()),
            "log_likelihood_sem": float(test_ll.std(ddof=1) / np.sqrt(len(test_ll))),
            "parzen_sigma": float(chosen),
            "parzen_sigma_spacing": grid_ratio,
            "validation_log_likelihood": float(chosen_ll)}
