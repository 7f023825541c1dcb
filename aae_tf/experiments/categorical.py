"""What the experiments with a label code y share (paper Fig. 8): a softmax q(y|x) under a categorical prior."""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from aae_tf import data as data_lib
from aae_tf import evaluation
from aae_tf import figures
from aae_tf import losses
from aae_tf.experiments.base import Experiment, Phase, make_optimizer


def scale_gradient(values, scale):
    """``values`` unchanged going forward; the gradient flowing back through them multiplied by ``scale``."""
    if scale == 1.0:
        return values
    return scale * values + (1.0 - scale) * tf.stop_gradient(values)


class WithLabelCode(Experiment):
    """The encoder also outputs y, a softmax over ``label_categories()``; a second discriminator imposes Cat(y).

    With labeled images, a classification phase trains q(y|x) on them
    (paper Section 5); the decoder takes z joined with y.
    """

    needs_validation = True
    has_label_code = True

    def extra_networks(self, widths):
        nets = super().extra_networks(widths)
        nets["label_discriminator"] = self.discriminator("label_discriminator")
        widths["label_discriminator"] = (2, self.ncat)
        return nets

    def decoder_label_width(self):
        return self.ncat

    def decoder_input(self, code, label_code):
        return tf.concat([code, label_code], -1)

    def label_code_for_decoder(self, out, labels):
        """q(y|x), whose gradient from the decoder is scaled by ``label_recon_gradient`` (1: the paper)."""
        return scale_gradient(out["label_code"], self.config.label_recon_gradient)

    def sample_label_codes(self, n):
        return tf.one_hot(tf.range(n) % self.ncat, self.ncat)

    # ------------------------------------------------------------ labeled images

    def has_classifier(self):
        return self.uses_labels(self.config)

    def has_clusters(self):
        return not self.uses_labels(self.config)

    def uses_classifier(self):
        return self.uses_labels(self.config) and self.data.n_labeled > 0

    @classmethod
    def has_labeled_batches(cls, config):
        return cls.uses_labels(config) and config.nlabel != 0

    def reconstruction(self, batch, seed):
        """The reconstruction phase; with ``labeled_reconstruction`` also the labeled mini-batch, decoded from
        its style code joined with its true one-hot label (a departure from the paper)."""
        loss, logs = super().reconstruction(batch, seed)
        if not self.config.labeled_reconstruction:
            return loss, logs
        images = batch["labeled_image"]
        out = self.encode_train(images, tfp.random.split_seed(seed, 1, salt="labeled_reconstruction")[0])
        recon = self.decode(out["style_code"], tf.one_hot(batch["labeled_label"], self.ncat), training=True)
        rec = losses.reconstruction_loss(images, recon, self.config.reconstruction_cost)
        return loss + self.config.encw * rec, {**logs, "labeled_reconstruction_loss": rec}

    def classification(self, batch, seed):
        """The semi-supervised classification phase: q(y|x) on a labeled mini-batch."""
        out = self.encode_train(batch["labeled_image"], seed)
        cls = losses.classification_loss(batch["labeled_label"], out["label_logits"])
        return self.config.clsw * cls, {"classification_loss": cls}

    def build_phases(self):
        phases = super().build_phases()
        if self.uses_classifier():
            phases.append(Phase("classification", ("encoder",), self.classification,
                                make_optimizer(self.config, self.steps_per_epoch, "classification")))
        return phases

    def join_batches(self, ds, epoch):
        if not self.uses_classifier():
            return ds
        labeled_idx = np.flatnonzero(self.data.labeled)
        arrays = {"labeled_image": tf.gather(self.data.train_images, labeled_idx),
                  "labeled_label": tf.gather(self.data.train_labels, labeled_idx)}
        # The labeled set is small: its batches cycle through it, reshuffled, alongside each epoch.
        lab = data_lib.gather_batches(
            data_lib.index_batches(len(labeled_idx), min(self.config.batch_size, len(labeled_idx)),
                                   self.epoch_seed(epoch), repeat=True), arrays)
        return tf.data.Dataset.zip(ds, lab).map(lambda a, b: {**a, **b})

    # ------------------------------------------------------------ evaluation

    def classification_metrics(self, outputs, metrics):
        """``<split>_classification_error``: the classifier q(y|x) against the digits, in percent."""
        if not self.uses_classifier():
            return
        for split_name, (_, labels) in (("validation", self.data.validation), ("test", self.data.test)):
            if split_name in outputs:
                metrics[f"{split_name}_classification_error"] = evaluation.classification_error(
                    labels, np.argmax(outputs[split_name]["label_logits"], -1))

    def cluster_metrics(self, outputs, metrics):
        """The paper's clustering error (``test_cluster_error``), its validation twin, and what shows a collapse."""
        if "validation" not in outputs or "test" not in outputs:
            return
        names = evaluation.cluster_labels(outputs["validation"]["label_logits"], self.data.validation[1])
        report = evaluation.cluster_report(np.argmax(outputs["test"]["label_code"], -1), self.data.test[1],
                                           names, self.ncat)
        metrics["test_cluster_error"] = report["error"]
        # The same naming applied to the validation images themselves: what chooses the epoch, since the
        # test set may only be reported.
        metrics["validation_cluster_error"] = evaluation.classification_error(
            self.data.validation[1], names[np.argmax(outputs["validation"]["label_code"], -1)])
        metrics["test_clusters_used"] = report["clusters_used"]
        metrics["test_largest_cluster"] = report["largest_cluster"]
        # Report only (it names each cluster by its test images' most common digit): the error no naming of
        # these clusters can beat, so what the paper's one-image naming adds to the clusters' own mixing.
        metrics["test_cluster_purity"] = report["purity"]

    # ------------------------------------------------------------ figures

    def figures(self, save_path, mnist):
        """``cluster_members.png`` and ``cluster_confusion.csv`` (each category's test images by digit; with
        labels, category k is the classifier's digit k, so the table is its confusion), at any ``ncode``;
        ``latent.png`` in 2-D."""
        written = figures.cluster_members(self, save_path, mnist)
        if self.config.ncode == 2:
            written.append(figures.latent(self, save_path, mnist))
        return written
