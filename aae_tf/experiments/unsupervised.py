"""The unsupervised adversarial autoencoder (paper Fig. 1 and 2): the base experiment as it is."""

from aae_tf.experiments.base import Experiment


class Unsupervised(Experiment):
    """A prior imposed on the code z; nothing else (paper Section 2)."""

    name = "unsupervised"
