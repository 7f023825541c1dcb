"""Every experiment of the paper, one module each, looked up by name.

  experiment = experiments.create(config, mnist)   # config.mode names the experiment
  engine = train.Engine(experiment, save_path)

To add an experiment (or a variant of one), subclass the closest class,
override what differs, and register it in REGISTRY; docs/design.md lists
what each class overrides.
"""

from aae_tf.experiments.base import NOISE_STD, PAPER_RECIPE, SGD_RECIPE, Experiment, Phase
from aae_tf.experiments.cluster import Cluster
from aae_tf.experiments.dimreduce import DimensionalityReduction
from aae_tf.experiments.label import LabelConditioned
from aae_tf.experiments.semisupervised import SemiSupervised
from aae_tf.experiments.supervised import Supervised
from aae_tf.experiments.training_data import TrainingData, prepare_data
from aae_tf.experiments.unsupervised import Unsupervised
from aae_tf.experiments.vae import VAE

REGISTRY = {cls.name: cls for cls in (Unsupervised, LabelConditioned, Supervised, SemiSupervised, Cluster,
                                      DimensionalityReduction, VAE)}


def get(name):
    """The experiment class registered as ``name``."""
    if name not in REGISTRY:
        raise ValueError(f"unknown experiment {name!r}; choose one of {', '.join(REGISTRY)}")
    return REGISTRY[name]


def default_config(name, recipe="reference", **overrides):
    """The configuration experiment ``name`` trains with under ``recipe``, then ``overrides``."""
    return get(name).default_config(recipe, **overrides)


def create(config, mnist, steps_per_epoch=None):
    """Checks ``config``, splits ``mnist`` for it and builds its experiment (networks, phases, optimizers).

    Build it inside ``strategy.scope()`` for a strategy other than the default.

    Raises:
      ValueError, data.DataError: one line, for a configuration or data that does not fit.
    """
    cls = get(config.mode)
    cls.check(config)
    return cls(config, prepare_data(mnist, config), steps_per_epoch=steps_per_epoch)


__all__ = ["REGISTRY", "PAPER_RECIPE", "SGD_RECIPE", "NOISE_STD", "Experiment", "Phase", "TrainingData", "create",
           "default_config", "get", "prepare_data"]
