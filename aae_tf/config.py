"""The configuration of one experiment: everything the training engine needs, and nothing else."""

import dataclasses
import json
import math
from typing import Optional

# Settings that fix the shapes of the networks and optimizer slots: a checkpoint can only be restored
# into a configuration that agrees on all of them.
ARCHITECTURE_KEYS = ("mode", "ncode", "dist_type", "hidden", "ncluster", "variational_encoder", "optimizer",
                     "encoder_batchnorm", "logits_batchnorm", "fixed_logits_scale", "pixel_range", "dataset")


# Settings added after the first release: a run recorded before them trained with their defaults.
ADDED_LATER = ("encoder_batchnorm", "input_dropout", "logits_batchnorm", "discriminator_noise_std", "init_std",
               "jit_compile", "logits_scale", "precision", "prior_scale", "pixel_range", "reconstruction_cost",
               "classification_learning_rate", "recipe", "dataset", "labeled_reconstruction", "gradient_clip_norm",
               "parzen_every", "head_init_std", "label_balance", "label_recon_gradient", "fixed_logits_scale")

# Settings that may differ when a run is resumed: how long it trains, and how the step is executed.
RESUMABLE_KEYS = ("max_epoch", "summary_every", "jit_compile", "precision", "parzen_every")


# mixed_float16 is for GPUs: the engine scales each phase's loss (Keras's LossScaleOptimizer).
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")
# signed: images in [-1, 1] and a tanh decoder (the reference); unit: [0, 1] and a sigmoid decoder (the paper).
PIXEL_RANGES = ("signed", "unit")
# mean: squared error averaged over pixels (the reference); sum: summed over each image's pixels, the
# squared Euclidean distance (the paper's Euclidean cost); both averaged over the batch.
RECONSTRUCTION_COSTS = ("mean", "sum")
RECIPES = ("reference", "paper")
# What --parzen places its windows on: the model's samples (Table 1), or, to calibrate the estimate, the
# model's reconstructions of training images or the training images themselves.
PARZEN_CENTERS = ("prior", "reconstructions", "training")


class ConfigError(ValueError):
    """A setting out of its range; ``field`` names it, the message says why in one line."""

    def __init__(self, field, reason):
        super().__init__(f"{field} {reason}".strip())
        self.field, self.reason = field, reason


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    """One experiment of the paper as a configuration of the training engine.

    Attributes:
      mode: which experiment (a name in ``experiments.REGISTRY``): ``unsupervised`` (Fig. 1-2), ``label``
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
      head_init_std: the cluster heads W_C start from N(0, head_init_std^2)
        (1.0 in every recipe; 0.01 would match the N(0, 0.01^2) that the
        paper recipe gives every other weight).
      variational_encoder: use the reference's reparameterized Gaussian
        encoder instead of the paper's deterministic one.
      hidden: units in each of the two hidden layers of every network.
      validation_size: training images held out for model choice.
      seed: seed of every random choice (labeled subset, shuffling, noise,
        prior samples, initial weights).
      summary_every: steps between TensorBoard scalar summaries.
      encoder_batchnorm: batch normalization after each hidden layer of the
        encoder (the paper's semi-supervised and clustering encoders, as
        public reimplementations give them).
      input_dropout: dropout rate on the encoder's input pixels during
        training (0.2 in the paper's clustering model).
      logits_batchnorm: batch normalization of the label logits before the
        softmax (a departure from the paper, against the clustering collapse).
      logits_scale: with logits_batchnorm, the initial scale (standard
        deviation over a batch) of the normalized logits.
      fixed_logits_scale: with logits_batchnorm, keep that scale fixed rather
        than learned (a departure on the departure: the learned scale grows
        and saturates q(y|x)).
      discriminator_noise_std: standard deviation of Gaussian noise added to
        both discriminators' inputs, prior samples and codes alike (a
        departure from the paper, against the clustering collapse).
      init_std: initial kernels from N(0, init_std^2) (the paper: 0.01);
        None keeps Keras's Glorot uniform (the reference).
      jit_compile: compile the training step with XLA.
      precision: ``float32``, ``mixed_bfloat16`` or ``mixed_float16`` (Keras's
        mixed precision: layers compute in bfloat16 or float16, variables,
        optimizer state and losses stay float32; bfloat16 is fast on CPUs with
        bfloat16 units such as AMX, float16 is for GPUs and scales each
        phase's loss against underflow).
      prior_scale: the prior's samples multiplied by this (the paper's
        likelihood model: a Gaussian of standard deviation 5).
      pixel_range: ``signed`` (images in [-1, 1], tanh decoder output: the
        reference) or ``unit`` ([0, 1], sigmoid output: the paper).
      reconstruction_cost: ``mean`` (squared error averaged over pixels: the
        reference) or ``sum`` (summed over each image's pixels: the paper's
        Euclidean cost).
      classification_learning_rate: initial learning rate of the
        semi-supervised classification phase; None means ``learning_rate``
        (the paper's SGD recipe: the adversarial phases' 0.1).
      labeled_reconstruction: the reconstruction phase also reconstructs the
        labeled mini-batch from its style code joined with its true one-hot
        label (a departure from the paper, a public trick for the
        semi-supervised model).
      gradient_clip_norm: each phase's gradients scaled down together so that
        their global norm is at most this (Keras's ``global_clipnorm``); None
        for no clipping (the paper). A departure, a public trick for the
        semi-supervised model.
      parzen_every: every this many epochs (0: never), the Parzen-window
        log-likelihood of the test images (Table 1's protocol, the width
        chosen on validation images) is scored on the model's samples and
        kept in the epoch's history; the validation likelihood then chooses
        the unsupervised model's epoch.
      dataset: ``mnist`` (found offline), or the name of an image dataset of
        tensorflow-datasets with ten classes (``fashion_mnist``, ``kmnist``,
        ``svhn_cropped``); the networks take its image shape.
      recipe: the named recipe the settings started from (``reference`` or
        ``paper``; ``experiments.default_config``); a record, read by nothing
        in training.
      label_balance: weight of a cost, in the regularization phase's
        generator update, on the batch's mean q(y|x) against the uniform
        categorical (``losses.label_balance_loss``); 0 for none (the paper).
        A departure, for the models with a label code y.
      label_recon_gradient: how much of the reconstruction cost's gradient
        goes back through the label code y into the encoder: 1 (the paper)
        all of it, 0 none, so that y learns only from the classification and
        adversarial phases. The decoder sees the same y either way, and the
        cluster heads are trained as before. A departure, for the models
        with a label code y.
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
    encoder_batchnorm: bool = False
    input_dropout: float = 0.0
    logits_batchnorm: bool = False
    logits_scale: float = 1.0
    fixed_logits_scale: bool = False
    discriminator_noise_std: float = 0.0
    init_std: Optional[float] = None
    jit_compile: bool = True
    precision: str = "float32"
    prior_scale: float = 1.0
    pixel_range: str = "signed"
    reconstruction_cost: str = "mean"
    classification_learning_rate: Optional[float] = None
    recipe: str = "reference"
    dataset: str = "mnist"
    labeled_reconstruction: bool = False
    gradient_clip_norm: Optional[float] = None
    parzen_every: int = 0
    head_init_std: float = 1.0
    label_balance: float = 0.0
    label_recon_gradient: float = 1.0

    def __post_init__(self):
        def need(ok, field, reason):
            if not ok:
                raise ConfigError(field, f"{reason}, got {getattr(self, field)!r}")

        need(isinstance(self.mode, str) and self.mode, "mode", "must name an experiment")
        for name in ("ncode", "max_epoch", "hidden", "summary_every"):
            need(getattr(self, name) > 0, name, "must be positive")
        # Batch statistics (and a discriminator that compares samples) need two images at least.
        need(self.batch_size >= 2, "batch_size", "must be at least 2")
        need(self.ncluster >= 2, "ncluster", "must be at least 2 (one cluster clusters nothing)")
        need(0.0 < self.dropout_keep <= 1.0, "dropout_keep", "must be in (0, 1]")
        need(self.optimizer in ("adam", "sgd"), "optimizer", "must be adam or sgd")
        need(math.isfinite(self.learning_rate) and self.learning_rate > 0, "learning_rate",
             "must be a positive finite number")
        for name in ("adversarial_learning_rate", "classification_learning_rate"):
            value = getattr(self, name)
            need(value is None or (math.isfinite(value) and value > 0), name, "must be a positive finite number")
        need(math.isfinite(self.prior_scale) and self.prior_scale > 0, "prior_scale", "must be positive")
        need(math.isfinite(self.head_init_std) and self.head_init_std > 0, "head_init_std", "must be positive")
        need(self.pixel_range in PIXEL_RANGES, "pixel_range", f"must be one of {', '.join(PIXEL_RANGES)}")
        need(self.reconstruction_cost in RECONSTRUCTION_COSTS, "reconstruction_cost",
             f"must be one of {', '.join(RECONSTRUCTION_COSTS)}")
        need(isinstance(self.dataset, str) and self.dataset.strip() != "", "dataset", "must name a dataset")
        need(self.recipe in RECIPES, "recipe", f"must be one of {', '.join(RECIPES)}")
        need(self.validation_size >= 0, "validation_size", "must not be negative")
        need(self.nlabel >= -1, "nlabel", "must be -1 (all labels) or a number of labeled images")
        for name in ("genw", "disw", "clsw", "ygenw", "ydisw", "eta", "input_noise_std",
                     "discriminator_noise_std", "label_balance"):
            need(math.isfinite(getattr(self, name)) and getattr(self, name) >= 0, name,
                 "must be a finite number, not negative")
        need(0.0 <= self.label_recon_gradient <= 1.0, "label_recon_gradient", "must be between 0 and 1")
        need(math.isfinite(self.encw) and self.encw > 0, "encw",
             "must be positive (without the reconstruction cost there is no autoencoder)")
        need(math.isfinite(self.logits_scale) and self.logits_scale > 0, "logits_scale", "must be positive")
        need(self.logits_batchnorm or not self.fixed_logits_scale, "fixed_logits_scale",
             "needs --logits_batchnorm (it fixes the scale of the normalized logits)")
        need(self.precision in PRECISIONS, "precision", f"must be one of {', '.join(PRECISIONS)}")
        need(0.0 <= self.input_dropout < 1.0, "input_dropout", "must be in [0, 1)")
        need(self.init_std is None or (math.isfinite(self.init_std) and self.init_std > 0), "init_std",
             "must be a positive number")
        clip = self.gradient_clip_norm
        need(clip is None or (math.isfinite(clip) and clip > 0), "gradient_clip_norm", "must be a positive number")
        decays = self.lr_decay_epochs
        need(all(isinstance(e, int) and e > 0 for e in decays) and list(decays) == sorted(set(decays)),
             "lr_decay_epochs", "must be increasing epochs above 0 (a rate divided at epoch 0 is just a lower rate)")
        need(self.parzen_every >= 0, "parzen_every", "must not be negative (0: never)")
        need(self.parzen_every == 0 or self.validation_size > 0, "parzen_every",
             "needs validation images to choose the window width on (a --validation_size above 0)")

    def to_json(self):
        return json.dumps(dataclasses.asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, values):
        """The configuration a run recorded; every setting must be there, with its own type.

        Settings added after the first release (ADDED_LATER) may be absent: a
        run recorded before they existed trained with their defaults.

        Raises:
          ConfigError: a missing setting, or one of another type.
        """
        if not isinstance(values, dict):
            raise ConfigError("", "the recorded configuration is not a JSON object")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        missing = [name for name in fields if name not in values and name not in ADDED_LATER]
        if missing:
            raise ConfigError(missing[0], "is missing from the recorded configuration")
        kwargs = {}
        for name, value in values.items():
            if name not in fields:
                continue
            kind = _KINDS[name]
            if value is None and kind.startswith("optional"):
                kwargs[name] = None
                continue
            ok = {"int": isinstance(value, int) and not isinstance(value, bool),
                  "bool": isinstance(value, bool),
                  "str": isinstance(value, str),
                  "tuple": isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool)
                                                           for v in value)}.get(
                kind.replace("optional ", ""),
                isinstance(value, (int, float)) and not isinstance(value, bool))
            if not ok:
                raise ConfigError(name, f"should be of type {kind}, but the recorded value is {value!r}")
            kwargs[name] = tuple(value) if kind == "tuple" else value
        return cls(**kwargs)


_KINDS = {"mode": "str", "ncode": "int", "dist_type": "str", "learning_rate": "float", "beta1": "float",
          "lr_decay_epochs": "tuple", "optimizer": "str", "adversarial_learning_rate": "optional float",
          "dropout_keep": "float", "input_noise_std": "float", "batch_size": "int", "max_epoch": "int",
          "encw": "float", "genw": "float", "disw": "float", "clsw": "float", "ygenw": "float", "ydisw": "float",
          "nlabel": "int", "ncluster": "int", "eta": "float", "variational_encoder": "bool", "hidden": "int",
          "validation_size": "int", "seed": "int", "summary_every": "int", "encoder_batchnorm": "bool",
          "input_dropout": "float", "logits_batchnorm": "bool", "logits_scale": "float",
          "fixed_logits_scale": "bool",
          "discriminator_noise_std": "float",
          "init_std": "optional float", "jit_compile": "bool", "precision": "str", "prior_scale": "float",
          "pixel_range": "str", "reconstruction_cost": "str", "classification_learning_rate": "optional float",
          "recipe": "str", "dataset": "str", "labeled_reconstruction": "bool",
          "gradient_clip_norm": "optional float", "parzen_every": "int", "head_init_std": "float",
          "label_balance": "float", "label_recon_gradient": "float"}
assert set(_KINDS) == {f.name for f in dataclasses.fields(ExperimentConfig)}
