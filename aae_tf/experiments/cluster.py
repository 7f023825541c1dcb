"""Unsupervised clustering (paper Section 6, Table 3, Fig. 9)."""

from aae_tf import figures
from aae_tf.experiments.categorical import WithLabelCode


class Cluster(WithLabelCode):
    """The semi-supervised architecture without labels: y is a categorical over ``ncluster`` clusters.

    Its default recipe is the one that does not collapse (docs/results.md):
    the paper's encoder (batch normalization, 20% input dropout) with
    batch-normalized label logits (a departure from the paper).
    """

    name = "cluster"
    selection_metric = "validation_cluster_error"
    defaults = {"nlabel": 0, "ncluster": 16, "encoder_batchnorm": True, "input_dropout": 0.2,
                "logits_batchnorm": True}
    # Table 3's model as public reimplementations give it: 3000 hidden units, the encoder above without the
    # logits' batch normalization, a 5-D style code.
    paper_recipe = {"hidden": 3000, "ncode": 5, "encoder_batchnorm": True, "input_dropout": 0.2,
                    "logits_batchnorm": False}

    @classmethod
    def run_name(cls, config):
        return f"aae_cluster_k{config.ncluster}_z{config.ncode}"

    @classmethod
    def check(cls, config):
        super().check(config)
        if config.nlabel != 0:
            raise ValueError("--train_cluster is unsupervised: it uses no labels (leave --nlabel out)")

    def label_categories(self):
        return self.config.ncluster

    def evaluate_outputs(self, outputs, metrics):
        """``test_error`` is the paper's clustering error (``test_cluster_error``)."""
        self.cluster_metrics(outputs, metrics)
        if "test_cluster_error" in metrics:
            metrics["test_error"] = metrics["test_cluster_error"]

    def figures(self, save_path, mnist):
        """``cluster_heads.png`` (Fig. 9's heads with random styles), then the categories' figures."""
        return [figures.cluster_heads(self, save_path)] + super().figures(save_path, mnist)
