"""Each experiment of the paper as a configuration of the one training engine.

``build_setup`` turns an ExperimentConfig into a Setup: the networks, the
priors, the ordered training phases (each a loss over named networks with its
own Adam optimizer), the per-epoch training batches, and the evaluation. The
engine in ``train.py`` runs any Setup; nothing here loops over data.
"""

import dataclasses
from typing import Callable, Dict, List, Optional

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from aae_tf import data as data_lib
from aae_tf import evaluation
from aae_tf import losses
from aae_tf import models
from aae_tf import priors

NUM_CLASSES = data_lib.NUM_CLASSES


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


@dataclasses.dataclass
class TrainingData:
    """The splits of MNIST a run uses.

    Attributes:
      train_images: float32 ``[n_train, 28, 28, 1]`` in [-1, 1].
      train_labels: int64 ``[n_train]``.
      labeled: bool ``[n_train]``, True where a training image keeps its label.
      validation, test: (uint8 images ``[n, 28, 28]``, int64 labels ``[n]``).
    """

    train_images: tf.Tensor
    train_labels: tf.Tensor
    labeled: np.ndarray
    validation: tuple
    test: tuple

    @property
    def n_train(self):
        return int(self.train_images.shape[0])

    @property
    def n_labeled(self):
        return int(self.labeled.sum())


def prepare_data(mnist, config):
    """Splits MNIST for ``config``: validation held out, labeled subset chosen (balanced, seeded)."""
    tr_x, tr_y, va_x, va_y = data_lib.split_validation(mnist, config.validation_size)
    labeled = np.ones(len(tr_y), dtype=bool)
    if config.nlabel > len(tr_y):
        raise data_lib.DataError(f"--nlabel {config.nlabel} exceeds the {len(tr_y)} training images "
                                 "(pass -1 to keep every label)")
    if 0 <= config.nlabel < len(tr_y):
        labeled[:] = False
        labeled[data_lib.balanced_labeled_subset(tr_y, config.nlabel, config.seed)] = True
    return TrainingData(data_lib.to_float_images(tr_x), tf.constant(tr_y, tf.int64), labeled,
                        (va_x, va_y), (mnist.test_images, mnist.test_labels))


@dataclasses.dataclass
class Setup:
    """A configured experiment: what the engine trains, and how to evaluate it.

    Attributes:
      config: the ExperimentConfig.
      networks: name -> Keras model, all built.
      phases: the training phases in the order a step runs them.
      prior: the prior imposed on the style code z.
      label_prior: the categorical prior on y, for the modes with a label code.
      steps_per_epoch: full batches per epoch.
      train_batches: ``epoch -> tf.data.Dataset`` of dict batches.
      evaluate: ``() -> {metric: float}`` on the validation and test sets.
      encode: ``images [n, 28, 28, 1] -> dict`` of the encoder's outputs, in
        inference mode (the representation plotted by --viz is ``code``).
      decode: ``(code [n, ncode], label_code [n, k] or None) -> images``.
      reconstruct: ``(images [n, 28, 28, 1], labels [n]) -> images``.
      sample_images: ``(n, seed) -> images [n, 28, 28, 1]`` decoded from
        prior samples (with label codes cycling through the classes where the
        decoder takes one).
      summary_batch: (float images ``[n, 28, 28, 1]``, labels ``[n]``), the
        first (up to) 1,000 test images: TensorBoard shows the first few and
        the histogram of all their codes each epoch.
    """

    config: object
    networks: Dict[str, keras.Model]
    phases: List[Phase]
    prior: priors.Prior
    label_prior: Optional[object]
    steps_per_epoch: int
    train_batches: Callable
    evaluate: Callable
    encode: Callable
    decode: Callable
    reconstruct: Callable
    sample_images: Callable
    summary_batch: tuple

    @property
    def ncat(self):
        return self.networks["encoder"].ncat


SGD_MOMENTUM = {"reconstruction": 0.9, "adversarial": 0.1}  # the paper's Appendix


def _optimizer(config, steps_per_epoch, kind="reconstruction"):
    """A phase's own optimizer; its learning rate is divided by 10 at each of ``lr_decay_epochs``.

    Args:
      kind: ``reconstruction`` (also the classification and ELBO phases) or
        ``adversarial`` (the discriminator and generator phases).
    """
    initial = config.learning_rate
    if kind == "adversarial" and config.adversarial_learning_rate is not None:
        initial = config.adversarial_learning_rate
    # PiecewiseConstantDecay switches after a boundary; the step counter reads e * steps_per_epoch
    # during the first step of epoch e, so the boundary sits one step before it.
    boundaries = [e * steps_per_epoch - 1 for e in config.lr_decay_epochs]
    values = [initial / 10 ** i for i in range(len(boundaries) + 1)]
    schedule = keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)
    if config.optimizer == "sgd":
        return keras.optimizers.SGD(learning_rate=schedule, momentum=SGD_MOMENTUM[kind])
    return keras.optimizers.Adam(learning_rate=schedule, beta_1=config.beta1)


def _noisy(images, std, seed):
    if std <= 0:
        return images
    return images + std * tf.random.stateless_normal(tf.shape(images), seed)


def _split(seed, n):
    return tfp.random.split_seed(seed, n)


def _n_label_code(config):
    """Categories of the encoder's label code y (0: the mode has none)."""
    if config.mode == "semisupervised":
        return NUM_CLASSES
    if config.mode in ("cluster", "dimreduce"):
        return config.ncluster  # a dimreduce run with labels has 10, one per digit
    return 0


def build_networks(config):
    """Builds (and creates the variables of) every network ``config`` needs.

    The initial weights depend only on ``config.seed``.
    """
    keras.utils.set_random_seed(config.seed)
    rate = 1.0 - config.dropout_keep
    ncat = _n_label_code(config)
    nets = {
        "encoder": models.Encoder(config.ncode, ncat=ncat, hidden=config.hidden, dropout_rate=rate,
                                  variational=config.variational_encoder, batchnorm=config.encoder_batchnorm,
                                  input_dropout_rate=config.input_dropout,
                                  logits_batchnorm=config.logits_batchnorm, init_std=config.init_std,
                                  name="encoder"),
        "decoder": models.Decoder(data_lib.IMAGE_SHAPE, hidden=config.hidden, dropout_rate=rate,
                                  init_std=config.init_std, name="decoder"),
    }
    if config.mode != "vae":
        nets["discriminator"] = models.Discriminator(hidden=config.hidden, init_std=config.init_std,
                                                     name="discriminator")
    if ncat:
        nets["label_discriminator"] = models.Discriminator(hidden=config.hidden, init_std=config.init_std,
                                                           name="label_discriminator")
    if config.mode == "dimreduce":
        nets["cluster_heads"] = models.ClusterHeads(ncat, config.ncode, name="cluster_heads")
    # Calling each network once on zeros creates its variables, so that optimizers can be built and
    # checkpoints restored before the first step. The decoder also takes the label code where the
    # mode joins it to the style code (dimreduce adds its cluster head to the code instead).
    decoder_labels = {"supervised": NUM_CLASSES, "semisupervised": ncat, "cluster": ncat}.get(config.mode, 0)
    nets["encoder"](tf.zeros((2,) + data_lib.IMAGE_SHAPE))
    nets["decoder"](tf.zeros((2, config.ncode + decoder_labels)))
    if "discriminator" in nets:
        disc_width = config.ncode + (NUM_CLASSES + 1 if config.mode == "label" else 0)
        nets["discriminator"](tf.zeros((2, disc_width)))
    if ncat:
        nets["label_discriminator"](tf.zeros((2, ncat)))
    if "cluster_heads" in nets:
        nets["cluster_heads"](tf.zeros((2, ncat)))
    return nets


def build_setup(config, training_data, steps_per_epoch=None):
    """Configures the engine for ``config.mode``.

    Args:
      config: an ExperimentConfig.
      training_data: a TrainingData (from prepare_data).
      steps_per_epoch: overrides n_train // batch_size (benchmarks only).

    Returns:
      A Setup.

    Raises:
      ValueError: for a configuration the paper's model does not allow.
    """
    mode = config.mode
    if config.nlabel > 0 and mode in ("label", "semisupervised", "dimreduce") and config.nlabel % NUM_CLASSES:
        raise ValueError(f"--nlabel {config.nlabel} must be a multiple of {NUM_CLASSES}, so that every digit keeps "
                         "as many labels")
    if config.validation_size == 0 and mode in ("semisupervised", "cluster", "dimreduce"):
        raise ValueError("--validation_size 0 leaves no images to choose the model on (and to name the clusters): "
                         "hold out some, e.g. 10000")
    if mode == "label" and config.dist_type == "gaussian":
        raise ValueError("--label needs a prior with one component per digit: use --dist_type gmm or swiss_roll")
    if mode == "vae" and not config.variational_encoder:
        raise ValueError("the VAE needs the Gaussian (variational) encoder")
    prior = priors.make_prior(config.dist_type, config.ncode, NUM_CLASSES)
    nets = build_networks(config)
    ncat = nets["encoder"].ncat
    label_prior = priors.categorical(ncat) if ncat else None
    steps = steps_per_epoch or training_data.n_train // config.batch_size
    if steps <= 0:
        raise ValueError(f"the batch size {config.batch_size} exceeds the {training_data.n_train} training images")
    labeled_idx = np.flatnonzero(training_data.labeled)
    uses_classifier = mode in ("semisupervised", "dimreduce") and len(labeled_idx) > 0 and config.nlabel != 0
    if mode == "semisupervised" and not uses_classifier:
        raise ValueError("--train_semisupervised needs labeled images: set --nlabel above 0")
    if uses_classifier and ncat != NUM_CLASSES:
        raise ValueError(f"a label code trained on digit labels needs {NUM_CLASSES} categories, not {ncat}")
    encoder, decoder = nets["encoder"], nets["decoder"]
    noise = config.input_noise_std

    def encode_train(images, seed):
        s_noise, s_code = _split(seed, 2)
        return encoder(_noisy(images, noise, s_noise), training=True, seed=s_code)

    def label_code_for_decoder(out, labels):
        """The label part of the decoder's input: the true label when supervised, else q(y|x)."""
        if mode == "supervised":
            return tf.one_hot(labels, NUM_CLASSES)
        return out.get("label_code")

    def decode(code, label_code=None, training=False):
        """What the mode passes to the decoder: the code, joined with the label code or moved to its cluster head."""
        if mode in ("supervised", "semisupervised", "cluster"):
            code = tf.concat([code, label_code], -1)
        elif mode == "dimreduce" and label_code is not None:
            code = nets["cluster_heads"](label_code) + code
        return decoder(code, training=training)

    def z_features(code, batch):
        """What the z discriminator sees: the code, joined in label mode with a one-hot of N+1 classes."""
        if mode != "label":
            return code
        return tf.concat([code, label_condition(batch)], -1)

    def label_condition(batch):
        # The extra class N marks an unlabeled image (paper Fig. 3).
        cls = tf.where(batch["labeled"], batch["label"], tf.cast(NUM_CLASSES, tf.int64))
        return tf.one_hot(cls, NUM_CLASSES + 1)

    def prior_codes(batch, seed):
        n = tf.shape(batch["image"])[0]
        if mode != "label":
            return prior.sample(n, seed)
        s_all, s_own = _split(seed, 2)
        # A labeled image is paired with a sample of its own component, an unlabeled one with the mixture.
        own = prior.sample_for_labels(batch["label"], s_own)
        return tf.where(batch["labeled"][:, None], own, prior.sample(n, s_all))

    def reconstruction(batch, seed):
        out = encode_train(batch["image"], seed)
        recon = decode(out["style_code"], label_code_for_decoder(out, batch.get("label")), training=True)
        rec = losses.reconstruction_loss(batch["image"], recon)
        logs = {"reconstruction_loss": rec}
        loss = config.encw * rec
        if mode == "dimreduce":
            head_cost = losses.cluster_head_cost(nets["cluster_heads"].heads, config.eta)
            logs["cluster_head_cost"] = head_cost
            loss += head_cost
        return loss, logs

    d_noise = config.discriminator_noise_std

    def discriminators(batch, seed):
        s_enc, s_z, s_y = _split(seed, 3)
        n_real_z, n_fake_z, n_real_y, n_fake_y = tfp.random.split_seed(seed, 4, salt="discriminator_noise")
        out = encode_train(batch["image"], s_enc)
        d = nets["discriminator"]
        real = d(_noisy(z_features(prior_codes(batch, s_z), batch), d_noise, n_real_z))
        fake = d(_noisy(z_features(tf.stop_gradient(out["style_code"]), batch), d_noise, n_fake_z))
        z_loss = losses.discriminator_loss(real, fake)
        logs = {"z_discriminator_loss": z_loss}
        loss = config.disw * z_loss
        if ncat:
            dy = nets["label_discriminator"]
            n = tf.shape(batch["image"])[0]
            y_loss = losses.discriminator_loss(dy(_noisy(label_prior.sample(n, seed=s_y), d_noise, n_real_y)),
                                               dy(_noisy(tf.stop_gradient(out["label_code"]), d_noise, n_fake_y)))
            logs["y_discriminator_loss"] = y_loss
            loss += config.ydisw * y_loss
        return loss, logs

    def generator(batch, seed):
        s_z, s_y = tfp.random.split_seed(seed, 2, salt="discriminator_noise")
        out = encode_train(batch["image"], seed)
        z_loss = losses.generator_loss(nets["discriminator"](_noisy(z_features(out["style_code"], batch),
                                                                    d_noise, s_z)))
        logs = {"z_generator_loss": z_loss}
        loss = config.genw * z_loss
        if ncat:
            y_loss = losses.generator_loss(nets["label_discriminator"](_noisy(out["label_code"], d_noise, s_y)))
            logs["y_generator_loss"] = y_loss
            loss += config.ygenw * y_loss
        return loss, logs

    def classification(batch, seed):
        out = encode_train(batch["labeled_image"], seed)
        cls = losses.classification_loss(batch["labeled_label"], out["label_logits"])
        return config.clsw * cls, {"classification_loss": cls}

    def negative_elbo(batch, seed):
        s_enc, s_kl = _split(seed, 2)
        out = encode_train(batch["image"], s_enc)
        rec = losses.vae_reconstruction_loss(batch["image"], decode(out["style_code"], training=True))
        if config.dist_type == "gaussian":
            kl = losses.gaussian_kl(out["mean"], out["log_std"])
        else:  # no closed form for a mixture: one-sample Monte Carlo estimate
            kl = losses.monte_carlo_kl(out["style_code"], out["mean"], out["log_std"],
                                       prior.distribution.log_prob(out["style_code"]))
        return rec + kl, {"reconstruction_loss": rec, "kl_divergence": kl, "negative_elbo": rec + kl}

    ae_nets = ("encoder", "decoder") + (("cluster_heads",) if mode == "dimreduce" else ())
    disc_nets = ("discriminator",) + (("label_discriminator",) if ncat else ())
    if mode == "vae":
        phases = [Phase("elbo", ae_nets, negative_elbo, _optimizer(config, steps))]
    else:
        phases = [Phase("reconstruction", ae_nets, reconstruction, _optimizer(config, steps)),
                  Phase("discriminator", disc_nets, discriminators, _optimizer(config, steps, "adversarial")),
                  Phase("generator", ("encoder",), generator, _optimizer(config, steps, "adversarial"))]
    if uses_classifier:
        phases.append(Phase("classification", ("encoder",), classification, _optimizer(config, steps)))
    for phase in phases:
        phase.optimizer.build([v for n in phase.networks for v in nets[n].trainable_variables])

    arrays = {"image": training_data.train_images, "label": training_data.train_labels}
    if mode == "label":
        arrays["labeled"] = tf.constant(training_data.labeled)
    labeled_arrays = {"labeled_image": tf.gather(training_data.train_images, labeled_idx),
                      "labeled_label": tf.gather(training_data.train_labels, labeled_idx)}

    def train_batches(epoch):
        epoch_seed = config.seed * 100_003 + int(epoch)
        ds = data_lib.gather_batches(data_lib.index_batches(training_data.n_train, config.batch_size,
                                                            epoch_seed), arrays)
        if uses_classifier:
            # The labeled set is small: its batches cycle through it, reshuffled, alongside each epoch.
            lab = data_lib.gather_batches(
                data_lib.index_batches(len(labeled_idx), min(config.batch_size, len(labeled_idx)),
                                       epoch_seed, repeat=True), labeled_arrays)
            ds = tf.data.Dataset.zip(ds, lab).map(lambda a, b: {**a, **b})
        return ds.take(steps).prefetch(tf.data.AUTOTUNE)

    def encode(images):
        out = encoder(images, training=False)
        out = dict(out, style_code=out["mean"])
        if mode == "dimreduce":
            out["code"] = nets["cluster_heads"](out["label_code"]) + out["mean"]
        else:
            out["code"] = out["mean"]
        return out

    def reconstruct(images, labels):
        out = encode(images)
        return decode(out["style_code"], label_code_for_decoder(out, labels))

    def sample_images(n, seed):
        code = prior.sample(n, seed)
        label_code = None
        if mode == "supervised" or ncat:
            label_code = tf.one_hot(tf.range(n) % (ncat or NUM_CLASSES), ncat or NUM_CLASSES)
        return decode(code, label_code)

    def evaluate():
        metrics, outputs = {}, {}
        for split, (images, labels) in (("validation", training_data.validation), ("test", training_data.test)):
            if len(images) == 0:
                continue
            out = outputs[split] = evaluation.batched(lambda x: encode(data_lib.to_float_images(x)), images)
            label_code = label_code_for_decoder(out, labels)  # None where the decoder takes only z
            recon = evaluation.batched(decode, out["style_code"],
                                       *([] if label_code is None else [np.asarray(label_code)]))
            metrics[f"{split}_reconstruction_error"] = evaluation.mean_squared_error(
                data_lib.to_float_images(images).numpy(), recon)
            if uses_classifier:
                metrics[f"{split}_error"] = evaluation.classification_error(
                    labels, np.argmax(out["label_logits"], -1))
        if mode in ("cluster", "dimreduce") and "validation" in outputs:
            # The paper's clustering error, also for a dimreduce run with labels (whose classifier's
            # own test error is kept beside it).
            if "test_error" in metrics:
                metrics["test_classification_error"] = metrics.pop("test_error")
            metrics["test_error"] = evaluation.cluster_assignment_error(
                outputs["validation"]["label_code"], training_data.validation[1],
                np.argmax(outputs["test"]["label_code"], -1), training_data.test[1])
            # A collapse of the label code onto few clusters shows here first.
            test_clusters = np.argmax(outputs["test"]["label_code"], -1)
            metrics["test_clusters_used"] = int(len(np.unique(test_clusters)))
            metrics["test_largest_cluster"] = float(np.bincount(test_clusters).max() / len(test_clusters))
        return metrics

    test_images, test_labels = training_data.test
    summary_batch = (data_lib.to_float_images(test_images[:1000]), tf.constant(test_labels[:1000], tf.int64))
    return Setup(config, nets, phases, prior, label_prior, steps, train_batches, evaluate, encode, decode,
                 reconstruct, sample_images, summary_batch)
