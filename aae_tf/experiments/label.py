"""Label information in the adversarial regularization (paper Section 2.3, Fig. 3 and 4)."""

import tensorflow as tf

from aae_tf.experiments.base import NUM_CLASSES, Experiment, replica_rows, split


class LabelConditioned(Experiment):
    """The z discriminator also sees a one-hot of N+1 classes: the digit, or N for an unlabeled image.

    A labeled image's positive sample comes from its digit's own mixture
    component, an unlabeled one's from the whole mixture.
    """

    name = "label"
    defaults = {"nlabel": 10000}  # the paper's 10K labeled and 40K unlabeled

    @classmethod
    def check(cls, config):
        super().check(config)
        if config.dist_type == "gaussian":
            raise ValueError("--label needs a prior with one component per digit: use --dist_type gmm or swiss_roll")

    @classmethod
    def uses_labels(cls, config):
        return config.nlabel != 0

    def z_features_width(self):
        return self.config.ncode + NUM_CLASSES + 1

    def batch_arrays(self):
        return dict(super().batch_arrays(), labeled=tf.constant(self.data.labeled))

    def z_features(self, code, batch):
        # The extra class N marks an unlabeled image (paper Fig. 3).
        cls = tf.where(batch["labeled"], batch["label"], tf.cast(NUM_CLASSES, tf.int64))
        return tf.concat([code, tf.one_hot(cls, NUM_CLASSES + 1)], -1)

    def prior_codes(self, batch, seed):
        s_all, s_own = split(seed, 2)
        own = self.prior.sample_for_labels(batch["label"], s_own, rows=replica_rows)
        return tf.where(batch["labeled"][:, None], own, self.prior_sample(tf.shape(batch["image"])[0], s_all))
