"""Semi-supervised classification (paper Section 5, Fig. 8, Table 2)."""

from aae_tf.experiments.base import NUM_CLASSES
from aae_tf.experiments.categorical import WithLabelCode


class SemiSupervised(WithLabelCode):
    """y is a softmax over the 10 digits, trained on the labeled images and regularized toward Cat(10)."""

    name = "semisupervised"
    defaults = {"nlabel": 1000}  # one of Table 2's columns
    # Table 2's setting: a 10-D style code, noise of std 0.3 on the [0, 1] input, batch normalization in the
    # encoder, the classification phase at the adversarial phases' rate.
    paper_recipe = {"ncode": 10, "input_noise_std": 0.3, "encoder_batchnorm": True,
                    "classification_learning_rate": 0.1}
    selection_metric = "validation_error"

    @classmethod
    def run_name(cls, config):
        return f"aae_semisupervised_z{config.ncode}_labels{config.nlabel}"

    @classmethod
    def check(cls, config):
        super().check(config)
        if config.nlabel == 0:
            raise ValueError("--train_semisupervised needs labeled images: set --nlabel above 0")

    @classmethod
    def uses_labels(cls, config):
        return True

    def label_categories(self):
        return NUM_CLASSES

    def evaluate_outputs(self, outputs, metrics):
        """The classifier's error; ``<split>_error`` is the same figure, the one Table 2 reports."""
        self.classification_metrics(outputs, metrics)
        for split_name in ("validation", "test"):
            if f"{split_name}_classification_error" in metrics:
                metrics[f"{split_name}_error"] = metrics[f"{split_name}_classification_error"]
