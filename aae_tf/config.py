"""The configuration of one experiment: everything the training engine needs, and nothing else."""

import dataclasses
import json
from typing import Optional

MODES = ("unsupervised", "label", "supervised", "semisupervised", "cluster", "dimreduce", "vae")

# Settings that fix the shapes of the networks and optimizer slots: a checkpoint can only be restored
# into a configuration that agrees on all of them.
ARCHITECTURE_KEYS = ("mode", "ncode", "dist_type", "hidden", "ncluster", "variational_encoder", "optimizer")


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    """One experiment of the paper as a configuration of the training engine.

    Attributes:
      mode: which model (see MODES): ``unsupervised`` (Fig. 1-2), ``label``
        (label information in the regularization, Fig. 3-4), ``supervised``
        (Fig. 6-7), ``semisupervised`` (Fig. 8, Table 2), ``cluster``
        (Section 6, Table 3), ``dimreduce`` (Section 7), ``vae`` (the
        variational autoencoder the paper compares with in Fig. 2).
      ncode: dimension of the style code z.
      dist_type: prior on z: gaussian, gmm or swiss_roll.
      learning_rate: initial Adam learning rate, divided by 10 at each of
        ``lr_decay_epochs``.
      beta1: Adam's beta1 (0.5, as in the reference).
      optimizer: ``adam`` (the reference: one Adam per phase) or ``sgd``
        (the paper: SGD with momentum 0.9 in the reconstruction and
        classification phases and 0.1 in the adversarial ones).
      adversarial_learning_rate: initial learning rate of the discriminator
        and generator phases; None means ``learning_rate``.
      dropout_keep: keep probability of dropout on the hidden layers of the
        encoder and decoder (1.0: no dropout).
      input_noise_std: standard deviation of the Gaussian noise added to the
        encoder's input during training (0: none).
      batch_size, max_epoch: mini-batch size and number of epochs.
      encw, genw, disw: weights of the reconstruction, z-generator and
        z-discriminator costs.
      clsw, ygenw, ydisw: weights of the classification, y-generator and
        y-discriminator costs.
      nlabel: training images that keep their label (-1: all of them).
      ncluster: categories of the label code in the cluster and
        dimensionality-reduction modes.
      eta: distance threshold of the cluster-head cost (Section 7).
      variational_encoder: use the reference's reparameterized Gaussian
        encoder instead of the paper's deterministic one.
      hidden: units in each of the two hidden layers of every network.
      validation_size: training images held out for model choice.
      seed: seed of every random choice (labeled subset, shuffling, noise,
        prior samples, initial weights).
      summary_every: steps between TensorBoard scalar summaries.
    """

    mode: str = "unsupervised"
    ncode: int = 2
    dist_type: str = "gaussian"
    learning_rate: float = 2e-4
    beta1: float = 0.5
    lr_decay_epochs: tuple = (100, 300)
    optimizer: str = "adam"
    adversarial_learning_rate: Optional[float] = None
    dropout_keep: float = 1.0
    input_noise_std: float = 0.0
    batch_size: int = 128
    max_epoch: int = 100
    encw: float = 1.0
    genw: float = 6.0
    disw: float = 6.0
    clsw: float = 1.0
    ygenw: float = 6.0
    ydisw: float = 6.0
    nlabel: int = -1
    ncluster: int = 16
    eta: float = 1.0
    variational_encoder: bool = False
    hidden: int = 1000
    validation_size: int = 10000
    seed: int = 0
    summary_every: int = 50

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r}; choose one of {', '.join(MODES)}")
        for name in ("ncode", "batch_size", "max_epoch", "hidden", "ncluster", "summary_every"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        if not 0.0 < self.dropout_keep <= 1.0:
            raise ValueError(f"the dropout keep probability must be in (0, 1], got {self.dropout_keep}")
        if self.optimizer not in ("adam", "sgd"):
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose adam or sgd")
        if self.learning_rate <= 0 or (self.adversarial_learning_rate or 1.0) <= 0:
            raise ValueError(f"the learning rate must be positive, got {self.learning_rate}")
        if self.validation_size < 0:
            raise ValueError(f"validation_size must not be negative, got {self.validation_size}")

    def to_json(self):
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, values):
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in values.items() if k in known}
        if "lr_decay_epochs" in values:
            values["lr_decay_epochs"] = tuple(values["lr_decay_epochs"])
        return cls(**values)

    def architecture_mismatch(self, other):
        """Names the architecture settings on which two configurations differ (empty if none)."""
        return [f"{k}: {getattr(other, k)!r} vs {getattr(self, k)!r}" for k in ARCHITECTURE_KEYS
                if getattr(self, k) != getattr(other, k)]
