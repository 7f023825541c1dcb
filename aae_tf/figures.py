"""The figures of --viz, drawn from a trained experiment: what each experiment's ``figures()`` is made of."""

import os

import numpy as np
import tensorflow as tf

from aae_tf import evaluation
from aae_tf import plots
from aae_tf import priors
from aae_tf import runfiles


class FigureError(ValueError):
    """A figure this run cannot have; the message is one line."""


def latent(experiment, save_path, mnist):
    """``latent.png``: the test images' 2-D codes colored by digit (paper Fig. 2, 4, 11)."""
    config = experiment.config
    if config.ncode != 2:
        raise FigureError(f"--viz draws 2-D codes: this run has --ncode {config.ncode}; train with --ncode 2")
    out = experiment.encode(experiment.images(mnist.test_images))
    path = os.path.join(save_path, "latent.png")
    plots.save_latent(path, out["code"].numpy(), mnist.test_labels, title=f"{config.mode}, {config.dist_type} prior")
    return path


def manifolds(experiment, save_path):
    """The learned manifold over the walks the prior gives (``priors.manifold_walks``); 2-D codes only."""
    if experiment.config.ncode != 2:
        return []
    written = []
    for name, points, rows, cols in priors.manifold_walks(experiment.config.dist_type,
                                                           scale=experiment.config.prior_scale):
        path = os.path.join(save_path, f"{name}.png")
        plots.save_grid(path, experiment.unit(experiment.decode(tf.constant(points, tf.float32))), rows, cols)
        written.append(path)
    return written


def cluster_heads(experiment, save_path, n_styles=10, seed=0):
    """``cluster_heads.png``: each cluster's row, its head (style code 0) first, then random styles (Fig. 9)."""
    ncat, ncode = experiment.ncat, experiment.config.ncode
    styles = tf.concat([tf.zeros([1, ncode]),
                        experiment.prior.sample(n_styles - 1, tf.constant([seed, 2], tf.int32))], 0)
    code = tf.tile(styles, [ncat, 1])
    clusters = tf.repeat(tf.range(ncat), n_styles)
    images = experiment.unit(experiment.decode(code, tf.one_hot(clusters, ncat)))
    path = os.path.join(save_path, "cluster_heads.png")
    plots.save_grid(path, images, ncat, n_styles)
    return path


def cluster_members(experiment, save_path, mnist, n_members=9):
    """Paper Fig. 9 from the test set, and the cluster x digit table.

    ``cluster_members.png``: one row per cluster, its head (style code 0)
    first, then the test images it is most confident of (blank where it has
    fewer). ``cluster_confusion.csv``: per cluster, the digit it is named
    after (the paper's protocol, on validation images), its size and its
    count of each test digit.
    """
    def label_logits(images):
        return evaluation.batched(lambda x: experiment.encode(experiment.images(x))["label_logits"], images)

    validation = experiment.data.validation
    names = evaluation.cluster_labels(label_logits(validation[0]), validation[1])
    log_probs = evaluation.log_probabilities(label_logits(mnist.test_images))
    clusters = np.argmax(log_probs, -1)
    ncat = experiment.ncat
    heads = experiment.unit(experiment.decode(tf.zeros([ncat, experiment.config.ncode]), tf.eye(ncat)))
    rows = []
    for k in range(ncat):
        members = np.flatnonzero(clusters == k)
        members = members[np.argsort(-log_probs[members, k], kind="stable")][:n_members]
        row = np.zeros((n_members + 1,) + heads.shape[1:], np.float32)
        row[0] = heads[k]
        row[1:1 + len(members)] = experiment.unit(experiment.images(mnist.test_images[members]))
        rows.append(row)
    figure = os.path.join(save_path, "cluster_members.png")
    plots.save_grid(figure, np.concatenate(rows), ncat, n_members + 1)
    report = evaluation.cluster_report(clusters, mnist.test_labels, names, ncat)
    table = os.path.join(save_path, "cluster_confusion.csv")

    def write(f):
        f.write("cluster,named,size," + ",".join(f"digit_{d}" for d in range(report["confusion"].shape[1])) + "\n")
        for k in range(ncat):
            f.write(f"{k},{names[k]},{report['sizes'][k]}," + ",".join(map(str, report["confusion"][k])) + "\n")

    runfiles.write_atomically(table, write)
    return [figure, table]
