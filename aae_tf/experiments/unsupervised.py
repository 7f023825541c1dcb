"""The unsupervised adversarial autoencoder (paper Fig. 1 and 2): the base experiment as it is."""

from aae_tf.experiments.base import Experiment


class Unsupervised(Experiment):
    """A prior imposed on the code z; nothing else (paper Section 2)."""

    name = "unsupervised"
    # Table 1's likelihood model: an 8-D code under a Gaussian prior of standard deviation 5 (pass --ncode 2
    # for the 2-D figures of Fig. 2), scored by Parzen after every epoch so that the validation images choose
    # its epoch.
    paper_recipe = {"ncode": 8, "prior_scale": 5.0, "parzen_every": 1}
