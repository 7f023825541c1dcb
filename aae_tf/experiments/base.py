"""What every experiment shares: the adversarial autoencoder of paper Section 2, as a Setup of the engine.

An experiment is a subclass of ``Experiment`` that overrides only what makes
it different: which networks it has (``label_categories``,
``decoder_label_width``, ``z_features_width``), what the decoder and the z
discriminator are given (``decoder_input``, ``label_code_for_decoder``,
``z_features``), where positive samples come from (``prior_codes``), which
fields a batch carries (``batch_arrays``), its phases (``build_phases``),
its evaluation (``evaluate_outputs``) and the metric that chooses the model
(``selection_metric``), its figures (``figures``), its defaults
(``defaults``) and its run-folder name (``run_name``). The engine in
``train.py`` runs any of them.
"""

import dataclasses
from typing import Callable

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from aae_tf import config as config_lib
from aae_tf import data as data_lib
from aae_tf import evaluation
from aae_tf import figures
from aae_tf import losses
from aae_tf import models
from aae_tf import optimizers
from aae_tf import priors

NUM_CLASSES = data_lib.NUM_CLASSES
# The paper's Appendix gives 0.9 (reconstruction) and 0.1 (adversarial); the classification phase takes the
# reconstruction's (it is not stated).
SGD_MOMENTUM = {"reconstruction": 0.9, "adversarial": 0.1, "classification": 0.9}


@dataclasses.dataclass
class Phase:
    """One phase of a training step.

    Attributes:
      name: used in logs (``reconstruction``, ``discriminator``, ...).
      networks: names of the networks whose trainable variables this phase updates.
      loss_fn: ``(batch, seed) -> (weighted loss, {name: unweighted scalar})``;
        ``seed`` is a stateless seed ``[2]``.
      optimizer: this phase's own optimizer.
    """

    name: str
    networks: tuple
    loss_fn: Callable
    optimizer: keras.optimizers.Optimizer


def make_optimizer(config, steps_per_epoch, kind="reconstruction"):
    """A phase's own optimizer; its learning rate is divided by 10 at each of ``lr_decay_epochs``.

    Args:
      kind: ``reconstruction`` (also the ELBO phase), ``adversarial`` (the
        discriminator and generator phases) or ``classification``.
    """
    initial = config.learning_rate
    if kind == "adversarial" and config.adversarial_learning_rate is not None:
        initial = config.adversarial_learning_rate
    if kind == "classification" and config.classification_learning_rate is not None:
        initial = config.classification_learning_rate
    # PiecewiseConstantDecay switches after a boundary; the step counter reads e * steps_per_epoch
    # during the first step of epoch e, so the boundary sits one step before it.
    boundaries = [e * steps_per_epoch - 1 for e in config.lr_decay_epochs]
    values = [initial / 10 ** i for i in range(len(boundaries) + 1)]
    # Keras's piecewise schedule needs a boundary; without one the rate is constant, still as a schedule (a
    # decay rate of 1), so that the optimizer's checkpoint has the same variables either way and a run resumed
    # with other decay epochs restores.
    schedule = (keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values) if boundaries else
                keras.optimizers.schedules.ExponentialDecay(initial, decay_steps=1, decay_rate=1.0))
    # Keras's optimizers, each variable's update fused into one kernel (``aae_tf.optimizers``); Keras clips the
    # phase's gradients by their global norm before the update when ``gradient_clip_norm`` is set.
    clip = dict(global_clipnorm=config.gradient_clip_norm) if config.gradient_clip_norm else {}
    if config.optimizer == "sgd":
        return optimizers.FusedSGD(learning_rate=schedule, momentum=SGD_MOMENTUM[kind], **clip)
    return optimizers.FusedAdam(learning_rate=schedule, beta_1=config.beta1, **clip)


def replica_rows(draw, n, seed):
    """This replica's ``n`` rows of random values drawn for the whole global batch.

    Under a ``tf.distribute`` strategy with R replicas (each seeing ``n``
    rows of a global batch of ``n * R``), ``draw(n * R, seed)`` is drawn with
    the step's seed, the same on every replica, and replica r keeps rows
    ``[r * n, (r + 1) * n)``: the replicas draw different values, and a step
    draws the same values whatever the number of replicas.

    Args:
      draw: ``(rows, seed) -> [rows, ...]``.
      n: this replica's rows (a scalar tensor or int).
      seed: a stateless seed ``[2]``.
    """
    context = tf.distribute.get_replica_context()
    replicas = context.num_replicas_in_sync if context is not None else 1
    if replicas == 1:
        return draw(n, seed)
    first = tf.cast(context.replica_id_in_sync_group, tf.int32) * tf.cast(n, tf.int32)
    return tf.gather(draw(n * replicas, seed), first + tf.range(n))


def noisy(values, std, seed):
    """``values`` plus Gaussian noise of standard deviation ``std`` (none for 0)."""
    if std <= 0:
        return values
    shape = tf.shape(values)
    noise = replica_rows(lambda rows, s: tf.random.stateless_normal(tf.concat([[rows], shape[1:]], 0), s),
                         shape[0], seed)
    return values + std * noise


def split(seed, n):
    return tfp.random.split_seed(seed, n)


# The paper's SGD recipe (its Appendix): rates 0.01 (reconstruction) and 0.1 (adversarial), divided by 10
# after epochs 50 and 1000, unweighted costs.
SGD_RECIPE = dict(optimizer="sgd", learning_rate=0.01, adversarial_learning_rate=0.1, lr_decay_epochs=(50, 1000),
                  encw=1.0, genw=1.0, disw=1.0, clsw=1.0, ygenw=1.0, ydisw=1.0)
# What the paper's recipe sets in every experiment (PAPER.md, "Training details" and the settings public
# reimplementations give as its Appendix): the SGD recipe, mini-batches of 100, kernels from N(0, 0.01^2), a
# sigmoid decoder on [0, 1] pixels with the Euclidean (summed squared) cost.
PAPER_RECIPE = dict(SGD_RECIPE, batch_size=100, init_std=0.01, pixel_range="unit", reconstruction_cost="sum")
# The decoder's output layer for each pixel range.
OUTPUT_ACTIVATION = {"signed": "tanh", "unit": "sigmoid"}
# The reference's input noise (its --noise flag).
NOISE_STD = 0.6


class Experiment:
    """The unsupervised adversarial autoencoder (paper Fig. 1), and what every experiment shares.

    Attributes set by the constructor:
      config: the ExperimentConfig.
      data: the TrainingData.
      prior: the prior imposed on the style code z.
      ncat: categories of the label code y (0: none).
      label_prior: the categorical prior on y, where there is a label code.
      networks: name -> Keras model, all built.
      phases: the training phases in the order a step runs them.
      steps_per_epoch: full batches per epoch.
      image_shape: ``(height, width, channels)`` of the data's images.
      summary_batch: (float images ``[n, height, width, channels]``, labels ``[n]``), the
        first (up to) 1,000 test images: TensorBoard shows the first few and
        the histogram of all their codes each epoch.
    """

    name = "unsupervised"
    # Defaults of this experiment's configuration beyond ExperimentConfig's own.
    defaults = {}
    # What the paper's recipe sets in this experiment beyond PAPER_RECIPE (None: the experiment has none).
    paper_recipe = {}

    @property
    def selection_metric(self):
        """The metric (a key of ``evaluate()``) whose best epoch is the chosen model (lower is better, except
        for those in ``runfiles.HIGHER_IS_BETTER``); None: none. The unsupervised models have none unless
        scored by Parzen each few epochs (``parzen_every``): then the validation images' likelihood."""
        return "validation_log_likelihood" if self.config.parzen_every else None

    # ------------------------------------------------------------ configuration

    @classmethod
    def recipe(cls, name):
        """The settings recipe ``name`` gives this experiment, beyond its defaults.

        ``reference``: none (the reference repository's Adam recipe is the
        configuration's own default). ``paper``: PAPER_RECIPE and the
        experiment's ``paper_recipe``.

        Raises:
          ValueError: an unknown recipe, or one this experiment does not have.
        """
        if name == "reference":
            return {}
        if name != "paper":
            raise ValueError(f"unknown recipe {name!r}; choose one of {', '.join(config_lib.RECIPES)}")
        if cls.paper_recipe is None:
            raise ValueError(f"the {cls.name} experiment has no paper recipe: use --recipe reference")
        return dict(PAPER_RECIPE, **cls.paper_recipe)

    @classmethod
    def default_config(cls, recipe="reference", **overrides):
        """This experiment's configuration: its defaults, then recipe ``recipe``'s settings, then ``overrides``."""
        settings = {**cls.defaults, **cls.recipe(recipe), **overrides, "mode": cls.name, "recipe": recipe}
        return config_lib.ExperimentConfig(**settings)

    @classmethod
    def run_name(cls, config):
        """The default run folder's name."""
        return f"aae_{cls.name}_{config.dist_type}_z{config.ncode}"

    @classmethod
    def check(cls, config):
        """Refuses configurations this model does not allow (ValueError, one line)."""
        if config.nlabel > 0 and cls.uses_labels(config) and config.nlabel % NUM_CLASSES:
            raise ValueError(f"--nlabel {config.nlabel} must be a multiple of {NUM_CLASSES}, so that every digit "
                             "keeps as many labels")
        if config.validation_size == 0 and cls.needs_validation:
            raise ValueError("--validation_size 0 leaves no images to choose the model on (and to name the "
                             "clusters): hold out some, e.g. 10000")
        if config.label_balance and not cls.has_label_code:
            raise ValueError("--label_balance evens out the label code y's categories: it needs "
                             "--train_semisupervised, --train_cluster or --train_dimreduce")
        if config.label_recon_gradient != 1.0 and not cls.has_label_code:
            raise ValueError("--label_recon_gradient scales the reconstruction's gradient through the label code y: "
                             "it needs --train_semisupervised, --train_cluster or --train_dimreduce")
        if config.labeled_reconstruction and not cls.has_labeled_batches(config):
            raise ValueError("--labeled_reconstruction reconstructs the labeled mini-batches of "
                             "--train_semisupervised and --train_dimreduce: it needs one of them with --nlabel above 0")

    needs_validation = False
    has_label_code = False  # whether the encoder also outputs a softmax q(y|x)

    @classmethod
    def uses_labels(cls, config):
        """Whether some training images keep their label."""
        return False

    @classmethod
    def has_labeled_batches(cls, config):
        """Whether a step also takes a mini-batch of the labeled images (the semi-supervised phase)."""
        return False

    # ------------------------------------------------------------ construction

    def __init__(self, config, training_data, steps_per_epoch=None):
        """Builds the networks, phases and optimizers of ``config`` on ``training_data``.

        Args:
          steps_per_epoch: overrides n_train // batch_size (benchmarks only).
        """
        self.check(config)
        self.config, self.data = config, training_data
        self.image_shape = tuple(int(d) for d in training_data.train_images.shape[1:])  # (height, width, channels)
        self.prior = priors.make_prior(config.dist_type, config.ncode, NUM_CLASSES, scale=config.prior_scale)
        self.ncat = self.label_categories()
        self.label_prior = priors.categorical(self.ncat) if self.ncat else None
        self.networks = self.build_networks()
        self.steps_per_epoch = steps_per_epoch or training_data.n_train // config.batch_size
        if self.steps_per_epoch <= 0:
            raise ValueError(f"the batch size {config.batch_size} exceeds the {training_data.n_train} "
                             "training images")
        self.phases = self.build_phases()
        for phase in self.phases:
            phase.optimizer.build([v for n in phase.networks for v in self.networks[n].trainable_variables])
        test_images, test_labels = training_data.test
        self.summary_batch = (self.images(test_images[:1000]),
                              tf.constant(test_labels[:1000], tf.int64))
        # The evaluation's encode and decode, compiled like the training step (XLA cannot compile code whose
        # variables sit on several devices, so not with more than one replica).
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        self._evaluation_pass = tf.function(self._evaluate_batch, jit_compile=config.jit_compile and replicas == 1,
                                            autograph=False)  # no tensor-dependent control flow to convert

    def label_categories(self):
        """Categories of the encoder's label code y (0: none)."""
        return 0

    def decoder_label_width(self):
        """Width of the label part joined to the decoder's input (0: the decoder takes z alone)."""
        return 0

    def decoder_label_categories(self):
        """Categories of the label code the decoder can take (0: none)."""
        return self.decoder_label_width()

    def decoder_needs_label(self):
        """Whether the decoder cannot draw an image without a label code."""
        return self.decoder_label_width() > 0

    def has_classifier(self):
        """Whether q(y|x) names digits (it was trained on labeled images)."""
        return False

    def has_clusters(self):
        """Whether q(y|x) names clusters found without labels."""
        return False

    def z_features_width(self):
        """Width of what the z discriminator sees."""
        return self.config.ncode

    def encoder(self):
        config = self.config
        return models.Encoder(config.ncode, ncat=self.ncat, hidden=config.hidden,
                              dropout_rate=1.0 - config.dropout_keep, variational=config.variational_encoder,
                              batchnorm=config.encoder_batchnorm, input_dropout_rate=config.input_dropout,
                              logits_batchnorm=config.logits_batchnorm, logits_scale=config.logits_scale,
                              fixed_logits_scale=config.fixed_logits_scale,
                              init_std=config.init_std, name="encoder",
                              # batch statistics of the global batch when a strategy splits it over replicas
                              synchronized_batchnorm=tf.distribute.get_strategy().num_replicas_in_sync > 1)

    def discriminator(self, name):
        return models.Discriminator(hidden=self.config.hidden, init_std=self.config.init_std, name=name)

    def build_networks(self):
        """Builds (and creates the variables of) every network; the initial weights depend only on the seed.

        Calling each network once on zeros of its input width creates its
        variables, so that optimizers can be built and checkpoints restored
        before the first step. Under ``config.precision`` ``mixed_bfloat16``
        the layers compute in bfloat16 with float32 variables (checkpoints
        are the same as float32 ones).
        """
        config = self.config
        keras.utils.set_random_seed(config.seed)
        previous = keras.config.dtype_policy()
        keras.config.set_dtype_policy(config.precision)  # the layers built now take its compute dtype
        try:
            return self._build_networks()
        finally:
            keras.config.set_dtype_policy(previous)

    def _build_networks(self):
        config = self.config
        nets = {"encoder": self.encoder(),
                "decoder": models.Decoder(self.image_shape, hidden=config.hidden,
                                          dropout_rate=1.0 - config.dropout_keep, init_std=config.init_std,
                                          output_activation=OUTPUT_ACTIVATION[config.pixel_range],
                                          name="decoder")}
        widths = {"encoder": (2,) + self.image_shape,
                  "decoder": (2, config.ncode + self.decoder_label_width())}
        nets.update(self.extra_networks(widths))
        for name, shape in widths.items():
            nets[name](tf.zeros(shape))
        return nets

    def extra_networks(self, widths):
        """Networks beyond the encoder and decoder; records each one's input shape in ``widths``."""
        widths["discriminator"] = (2, self.z_features_width())
        return {"discriminator": self.discriminator("discriminator")}

    # ------------------------------------------------------------ what differs

    def decoder_input(self, code, label_code):
        """What the decoder receives, from the style code and (where there is one) the label code."""
        return code

    def label_code_for_decoder(self, out, labels):
        """The label part of the decoder's input (None where the decoder takes z alone)."""
        return None

    def z_features(self, code, batch):
        """What the z discriminator sees of a code."""
        return code

    def prior_codes(self, batch, seed):
        """The positive samples of the z discriminator."""
        return self.prior_sample(tf.shape(batch["image"])[0], seed)

    def prior_sample(self, n, seed):
        """``n`` codes from the prior for this replica's rows of a training batch (``replica_rows``)."""
        return replica_rows(self.prior.sample, n, seed)

    def batch_arrays(self):
        """Name -> training array; each batch carries these fields."""
        return {"image": self.data.train_images, "label": self.data.train_labels}

    def representation(self, out):
        """The code plotted by --viz, from the encoder's outputs."""
        return out["mean"]

    def images(self, images):
        """uint8 images ``[n, h, w(, c)]`` as the networks take them: float32 ``[n, h, w, c]`` in the run's range."""
        return data_lib.to_float_images(images, self.config.pixel_range)

    def unit(self, images):
        """Images in the run's range (the decoder's output) as numpy in [0, 1], for figures and Parzen."""
        return data_lib.to_unit_range(images, self.config.pixel_range)

    # ------------------------------------------------------------ phases

    def encode_train(self, images, seed):
        """The encoder in training mode on (noisy, with --noise) images."""
        s_noise, s_code = split(seed, 2)
        return self.networks["encoder"](noisy(images, self.config.input_noise_std, s_noise), training=True,
                                        seed=s_code)

    def decode(self, code, label_code=None, training=False):
        return self.networks["decoder"](self.decoder_input(code, label_code), training=training)

    def autoencoder_networks(self):
        return ("encoder", "decoder")

    def reconstruction(self, batch, seed):
        """The reconstruction phase (paper Section 2): encoder and decoder on the reconstruction cost."""
        out = self.encode_train(batch["image"], seed)
        recon = self.decode(out["style_code"], self.label_code_for_decoder(out, batch.get("label")), training=True)
        rec = losses.reconstruction_loss(batch["image"], recon, self.config.reconstruction_cost)
        return self.config.encw * rec, {"reconstruction_loss": rec}

    def discriminators(self, batch, seed):
        """The regularization phase's discriminator update: prior samples against codes."""
        config, d_noise = self.config, self.config.discriminator_noise_std
        s_enc, s_z, s_y = split(seed, 3)
        n_real_z, n_fake_z, n_real_y, n_fake_y = tfp.random.split_seed(seed, 4, salt="discriminator_noise")
        out = self.encode_train(batch["image"], s_enc)
        d = self.networks["discriminator"]
        real = d(noisy(self.z_features(self.prior_codes(batch, s_z), batch), d_noise, n_real_z))
        fake = d(noisy(self.z_features(tf.stop_gradient(out["style_code"]), batch), d_noise, n_fake_z))
        z_loss = losses.discriminator_loss(real, fake)
        logs = {"z_discriminator_loss": z_loss}
        loss = config.disw * z_loss
        if self.ncat:
            dy = self.networks["label_discriminator"]
            n = tf.shape(batch["image"])[0]
            label_samples = replica_rows(lambda rows, s: self.label_prior.sample(rows, seed=s), n, s_y)
            y_loss = losses.discriminator_loss(dy(noisy(label_samples, d_noise, n_real_y)),
                                               dy(noisy(tf.stop_gradient(out["label_code"]), d_noise, n_fake_y)))
            logs["y_discriminator_loss"] = y_loss
            loss += config.ydisw * y_loss
        return loss, logs

    def generator(self, batch, seed):
        """The regularization phase's generator update: the encoder learns to fool the discriminators."""
        config, d_noise = self.config, self.config.discriminator_noise_std
        s_z, s_y = tfp.random.split_seed(seed, 2, salt="discriminator_noise")
        out = self.encode_train(batch["image"], seed)
        z_loss = losses.generator_loss(self.networks["discriminator"](
            noisy(self.z_features(out["style_code"], batch), d_noise, s_z)))
        logs = {"z_generator_loss": z_loss}
        loss = config.genw * z_loss
        if self.ncat:
            y_loss = losses.generator_loss(self.networks["label_discriminator"](noisy(out["label_code"], d_noise, s_y)))
            logs["y_generator_loss"] = y_loss
            loss += config.ygenw * y_loss
            if config.label_balance:
                balance = losses.label_balance_loss(out["label_code"])
                logs["label_balance_loss"] = balance
                loss += config.label_balance * balance
        return loss, logs

    def build_phases(self):
        """Reconstruction, then the regularization phase's discriminator and generator updates."""
        config, steps = self.config, self.steps_per_epoch
        disc_nets = ("discriminator",) + (("label_discriminator",) if self.ncat else ())
        return [Phase("reconstruction", self.autoencoder_networks(), self.reconstruction,
                      make_optimizer(config, steps)),
                Phase("discriminator", disc_nets, self.discriminators, make_optimizer(config, steps, "adversarial")),
                Phase("generator", ("encoder",), self.generator, make_optimizer(config, steps, "adversarial"))]

    # ------------------------------------------------------------ data

    def train_batches(self, epoch):
        """The training batches of ``epoch``: their order depends only on the seed and the epoch."""
        config = self.config
        ds = data_lib.gather_batches(data_lib.index_batches(self.data.n_train, config.batch_size,
                                                            self.epoch_seed(epoch)), self.batch_arrays())
        return data_lib.training_pipeline(self.join_batches(ds, epoch).take(self.steps_per_epoch))

    def epoch_seed(self, epoch):
        return self.config.seed * 100_003 + int(epoch)

    def join_batches(self, ds, epoch):
        """Joins further batches (the labeled ones of the semi-supervised phase) to each training batch."""
        return ds

    # ------------------------------------------------------------ inference

    def encode(self, images):
        """The encoder's outputs in inference mode, with ``code``, the representation --viz plots."""
        out = self.networks["encoder"](images, training=False)
        out = dict(out, style_code=out["mean"])
        out["code"] = self.representation(out)
        return out

    def reconstruct(self, images, labels):
        out = self.encode(images)
        return self.decode(out["style_code"], self.label_code_for_decoder(out, labels))

    def sample_label_codes(self, n):
        """Label codes cycling through the categories, for decoders that take one (else None)."""
        return None

    def sample_images(self, n, seed):
        """``n`` images decoded from prior samples; ``seed`` is a stateless seed ``[2]``."""
        return self.decode(self.prior.sample(n, seed), self.sample_label_codes(n))

    # ------------------------------------------------------------ evaluation

    def _evaluate_batch(self, images, labels):
        """The encoder's outputs on uint8 ``images`` and each image's summed squared reconstruction error."""
        x = self.images(images)
        out = self.encode(x)
        recon = self.decode(out["style_code"], self.label_code_for_decoder(out, labels))
        return dict(out, squared_error=tf.reduce_sum(tf.square(x - recon), axis=[1, 2, 3]))

    def evaluate(self, epoch=None):
        """Metrics on the validation and test sets: reconstruction error, what the experiment adds, and after
        every ``parzen_every``-th epoch (``epoch`` counted from 0; None: never) the Parzen estimate."""
        metrics, outputs = {}, {}
        for split_name, (images, labels) in (("validation", self.data.validation), ("test", self.data.test)):
            if len(images) == 0:
                continue
            out = outputs[split_name] = evaluation.batched(self._evaluation_pass, images, labels)
            # the mean squared error per pixel
            metrics[f"{split_name}_reconstruction_error"] = float(np.mean(out.pop("squared_error"))) / float(
                np.prod(self.image_shape))
        self.evaluate_outputs(outputs, metrics)
        every = self.config.parzen_every
        if every and epoch is not None and (epoch + 1) % every == 0:
            metrics.update(self.parzen(self.data.test[0]))
        return metrics

    def parzen_samples(self, n_samples=10000, seed=0):
        """The ``n_samples`` images ``parzen`` decodes from prior samples (in batches of 1,000, each with its
        own stateless seed drawn from ``seed``), as a numpy array in the model's pixel range."""
        n_batches = -(-n_samples // 1000)
        seeds = tf.cast(tf.random.experimental.stateless_split(tf.constant([seed, 3], tf.int64), n_batches), tf.int32)
        return np.concatenate([self.sample_images(1000, seeds[i]).numpy() for i in range(n_batches)])[:n_samples]

    def parzen(self, test_images, n_samples=10000, n_validation=1000, seed=0, centers="prior"):
        """Parzen-window log-likelihood of ``test_images`` (paper Table 1, the GAN paper's protocol).

        ``n_samples`` images decoded from prior samples are the window centers;
        the width is chosen on the first ``n_validation`` validation images
        (never trained on) and ``test_images`` are scored with it. Pixels are
        on the [0, 1] scale of that protocol, so the figure is comparable with
        Table 1. ``centers``: ``prior`` (the above), or, as references for the
        same estimate, ``reconstructions`` (the model's reconstructions of the
        first ``n_samples`` training images) or ``training`` (those images).

        Returns:
          ``evaluation.parzen_log_likelihood``'s metrics and ``parzen_samples``.

        Raises:
          ValueError: an unknown ``centers``, or no validation images.
        """
        if centers not in config_lib.PARZEN_CENTERS:
            raise ValueError(f"centers must be one of {', '.join(config_lib.PARZEN_CENTERS)}, got {centers!r}")
        validation = self.data.validation[0][:n_validation]
        if len(validation) == 0:
            raise ValueError("the Parzen estimate chooses its window width on validation images, and there are none")
        if centers == "prior":
            samples = self.parzen_samples(n_samples, seed)
        else:
            images, labels = self.data.train_images[:n_samples], self.data.train_labels[:n_samples]
            samples = images.numpy() if centers == "training" else evaluation.batched(
                lambda x, y: self.reconstruct(x, y).numpy(), images, labels)

        def flat_unit(images):
            return self.unit(images).reshape(len(images), -1)

        result = evaluation.parzen_log_likelihood(
            flat_unit(samples), flat_unit(self.images(validation)), flat_unit(self.images(test_images)))
        return dict(result, parzen_samples=int(len(samples)))

    def evaluate_outputs(self, outputs, metrics):
        """Adds the experiment's own metrics from the encoder's outputs on each split."""

    # ------------------------------------------------------------ figures

    def figures(self, save_path, mnist):
        """Draws what the model learned (--viz); returns the paths written."""
        return [figures.latent(self, save_path, mnist)] + figures.manifolds(self, save_path)

    def style_grid(self, n_styles, seed):
        """The supervised model's style x digit grid (--generate --supervise); None for other experiments."""
        return None
