"""Dimensionality reduction with learned cluster heads (paper Section 7, Fig. 10 and 11)."""

import numpy as np

from aae_tf import losses
from aae_tf import models
from aae_tf.experiments.base import NUM_CLASSES
from aae_tf.experiments.categorical import WithLabelCode


class DimensionalityReduction(WithLabelCode):
    """The representation is W_C y + z: y's cluster head plus the style code, decoded as one.

    Heads closer than ``eta`` are pushed apart (the cluster-head cost, added
    to the reconstruction phase, which also trains the heads). With labels,
    y has one category per digit and a classification phase; without, it has
    ``ncluster`` (default 20).
    """

    name = "dimreduce"
    defaults = {"nlabel": 1000, "ncluster": 20}
    # Section 7: the semi-supervised encoder (noise 0.3, batch normalization, classification at the
    # adversarial rate) with the cluster heads.
    paper_recipe = {"input_noise_std": 0.3, "encoder_batchnorm": True, "classification_learning_rate": 0.1}

    @classmethod
    def default_config(cls, recipe="reference", **overrides):
        """With labels (the default), y has one category per digit."""
        if overrides.get("nlabel", cls.defaults["nlabel"]) != 0 and "ncluster" not in overrides:
            overrides["ncluster"] = NUM_CLASSES
        return super().default_config(recipe, **overrides)

    @classmethod
    def run_name(cls, config):
        return f"aae_dimreduce_z{config.ncode}_labels{config.nlabel}"

    @classmethod
    def check(cls, config):
        super().check(config)
        if config.nlabel != 0 and config.ncluster != NUM_CLASSES:
            raise ValueError(f"--train_dimreduce with labels has one cluster per digit: --ncluster {NUM_CLASSES}, "
                             f"not {config.ncluster} (or pass --nlabel 0)")

    @classmethod
    def uses_labels(cls, config):
        return config.nlabel != 0

    @property
    def selection_metric(self):
        return "validation_error" if self.uses_classifier() else "validation_cluster_error"

    def label_categories(self):
        return self.config.ncluster

    def extra_networks(self, widths):
        nets = super().extra_networks(widths)
        nets["cluster_heads"] = models.ClusterHeads(self.ncat, self.config.ncode, self.config.head_init_std,
                                                     name="cluster_heads")
        widths["cluster_heads"] = (2, self.ncat)
        return nets

    def decoder_label_width(self):
        return 0  # the head is added to the code, not joined to it

    def decoder_label_categories(self):
        return self.ncat  # optional: without it, the code is the whole representation

    def decoder_input(self, code, label_code):
        if label_code is None:
            return code
        return self.networks["cluster_heads"](label_code) + code

    def representation(self, out):
        return self.networks["cluster_heads"](out["label_code"]) + out["mean"]

    def autoencoder_networks(self):
        return ("encoder", "decoder", "cluster_heads")

    def reconstruction(self, batch, seed):
        loss, logs = super().reconstruction(batch, seed)
        head_cost = losses.cluster_head_cost(self.networks["cluster_heads"].heads, self.config.eta)
        return loss + head_cost, dict(logs, cluster_head_cost=head_cost)

    def evaluate_outputs(self, outputs, metrics):
        """With labels, ``test_error`` is the classifier's error (the labels name each head's digit), and its
        validation error chooses the model; without, the paper's clustering error. Both models also keep
        ``test_cluster_error``, the paper's cluster naming by the most confident validation image."""
        self.classification_metrics(outputs, metrics)
        self.cluster_metrics(outputs, metrics)
        if "validation_classification_error" in metrics:
            metrics["validation_error"] = metrics["validation_classification_error"]
        figure = "test_classification_error" if self.uses_classifier() else "test_cluster_error"
        if figure in metrics:
            metrics["test_error"] = metrics[figure]
        metrics.update(self.head_metrics(outputs))

    def head_metrics(self, outputs):
        """How far apart the heads are against the style code's spread: whether y is still readable from W_C y + z.

        ``cluster_head_min_distance`` and ``cluster_head_median_distance`` over the pairs of heads, and
        ``validation_style_std``, the style code's standard deviation per dimension on the validation images
        (averaged over dimensions). Heads drawn together to ``eta`` apart while the style spreads as wide
        leave the category to the style.
        """
        distance = losses.pairwise_distances(self.networks["cluster_heads"].heads).numpy()
        pairs = distance[np.triu_indices(len(distance), 1)]
        metrics = {"cluster_head_min_distance": float(pairs.min()),
                   "cluster_head_median_distance": float(np.median(pairs))}
        if "validation" in outputs:
            metrics["validation_style_std"] = float(np.mean(np.std(outputs["validation"]["mean"], axis=0)))
        return metrics
