"""Encoder, decoder and discriminators as Keras subclassed models.

Every network has two hidden layers of ``hidden`` ReLU units (1000 in the
paper and the reference). Sizes come from the constructor; nothing here reads
flags. Built under a Keras mixed-precision policy, the layers compute in its
compute dtype with float32 variables; every output is float32.
"""

import keras
import tensorflow as tf


def _hidden_stack(hidden, n_layers, dropout_rate, prefix, batchnorm=False, kernel_initializer="glorot_uniform",
                  synchronized=False):
    """Dense ReLU layers; with ``batchnorm``, each dense layer is batch-normalized before its ReLU.

    ``synchronized``: batch statistics over every replica of a tf.distribute strategy (Keras computes them
    as E(x^2) - E(x)^2 from all-reduced sums, so it is only asked for when there are several replicas).
    """
    if n_layers > 1:
        _check_fits(hidden)
    layers = []
    for i in range(n_layers):
        if batchnorm:
            layers.append(keras.layers.Dense(hidden, name=f"{prefix}_dense{i}",
                                             kernel_initializer=kernel_initializer))
            layers.append(keras.layers.BatchNormalization(synchronized=synchronized, name=f"{prefix}_batchnorm{i}"))
            layers.append(keras.layers.ReLU(name=f"{prefix}_relu{i}"))
        else:
            layers.append(keras.layers.Dense(hidden, activation="relu", name=f"{prefix}_dense{i}",
                                             kernel_initializer=kernel_initializer))
        if dropout_rate > 0:
            layers.append(keras.layers.Dropout(dropout_rate, name=f"{prefix}_dropout{i}"))
    return layers


def available_memory_bytes():
    """MemAvailable of /proc/meminfo, or None where there is none (not Linux)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _check_fits(hidden, available=None):
    """Refuses, in a second, a hidden-to-hidden float32 kernel larger than the memory available: TensorFlow
    would otherwise spend tens of seconds filling it with random numbers before it runs out of memory."""
    available = available_memory_bytes() if available is None else available
    needed = 4 * hidden * hidden
    if available is not None and needed > available:
        raise ValueError(f"a hidden layer of {hidden} units needs {needed / 2**30:.1f} GiB for one weight matrix "
                         f"alone, more than the {available / 2**30:.1f} GiB of memory available: lower --hidden")


_TRAINING_AWARE = (keras.layers.Dropout, keras.layers.BatchNormalization)


def _track(model, layers):
    """Makes each layer of ``layers`` an attribute of ``model`` (named after the layer).

    tf.train.Checkpoint does not follow a Keras 3 model's lists of layers: the dense kernels of such a list
    were saved only through the optimizers that train them, and variables no optimizer holds (batch
    normalization's moving mean and variance) not at all.
    """
    for layer in layers:
        setattr(model, layer.name, layer)


def _run(layers, x, training):
    for layer in layers:
        x = layer(x, training=training) if isinstance(layer, _TRAINING_AWARE) else layer(x)
    return x


def _float32(x):
    """Outputs leave every network in float32 (under a mixed-precision policy the layers compute in
    bfloat16 or float16), so that losses, priors and discriminator logits stay in float32."""
    return tf.cast(x, tf.float32)


def kernel_initializer(init_std):
    """Keras's default (Glorot uniform) for None, else N(0, init_std^2) (the paper's Appendix: 0.01)."""
    return "glorot_uniform" if init_std is None else keras.initializers.RandomNormal(stddev=init_std)


@keras.saving.register_keras_serializable(package="aae_tf")
class Encoder(keras.Model):
    """q(z|x) and, optionally, q(y|x): images to a style code and a label code.

    Deterministic by default, as in the paper (Section 2, choice 1). With
    ``variational=True`` it is the reference repository's Gaussian encoder:
    it outputs a mean and a log standard deviation and samples z by the
    reparameterization trick.

    Call returns a dict:
      ``style_code``: float32 ``[batch, ncode]``.
      ``mean``, ``log_std``: ``[batch, ncode]`` (the mean is the style code of
        a deterministic encoder, and log_std is zero there).
      ``label_logits``, ``label_code``: ``[batch, ncat]`` logits and softmax,
        present when ``ncat > 0``.

    Options beyond the reference (all off by default, so older checkpoints restore):
      ``batchnorm``: batch normalization after each hidden dense layer, before
        its ReLU (the encoder of the paper's semi-supervised and clustering
        models as public reimplementations give it).
      ``input_dropout_rate``: dropout on the input pixels during training
        (20% in the paper's clustering model).
      ``logits_batchnorm``: batch normalization (with a learned scale, no offset) of
        the label logits before the softmax, so that a bias alone cannot send
        every image to one category (a departure from the paper against the
        collapse of the clustering model).
      ``logits_scale``: the initial learned scale of the normalized logits
        (their standard deviation over a batch, so how sharp the softmax
        starts).
      ``fixed_logits_scale``: keep that scale fixed instead of learning it
        (the learned scale grows to about 5 over 100 epochs, and q(y|x)
        rounds to exactly 1 for many images).
      ``init_std``: N(0, init_std^2) initial kernels (None: Glorot uniform).
    """

    def __init__(self, ncode, ncat=0, hidden=1000, n_layers=2, dropout_rate=0.0,
                 variational=False, batchnorm=False, input_dropout_rate=0.0, logits_batchnorm=False,
                 init_std=None, logits_scale=1.0, fixed_logits_scale=False, synchronized_batchnorm=False,
                 **kwargs):
        super().__init__(**kwargs)
        self.ncode, self.ncat, self.hidden, self.n_layers = ncode, ncat, hidden, n_layers
        self.synchronized_batchnorm = synchronized_batchnorm
        self.logits_scale, self.fixed_logits_scale = logits_scale, fixed_logits_scale
        self.dropout_rate, self.variational = dropout_rate, variational
        self.batchnorm, self.input_dropout_rate = batchnorm, input_dropout_rate
        self.logits_batchnorm, self.init_std = logits_batchnorm, init_std
        init = kernel_initializer(init_std)
        self.flatten = keras.layers.Flatten()
        self.input_dropout = (keras.layers.Dropout(input_dropout_rate, name="encoder_input_dropout")
                              if input_dropout_rate > 0 else None)
        self.body = _hidden_stack(hidden, n_layers, dropout_rate, "encoder", batchnorm, init, synchronized_batchnorm)
        _track(self, self.body)
        self.mean_head = keras.layers.Dense(ncode, name="style_code", kernel_initializer=init)
        self.log_std_head = keras.layers.Dense(ncode, name="log_std") if variational else None
        self.label_head = keras.layers.Dense(ncat, name="label_logits", kernel_initializer=init) if ncat else None
        self.label_norm = (keras.layers.BatchNormalization(
            center=False, scale=not fixed_logits_scale, gamma_initializer=keras.initializers.Constant(logits_scale),
            synchronized=synchronized_batchnorm,
            name="label_logits_batchnorm")
                           if ncat and logits_batchnorm else None)

    def call(self, images, training=False, seed=None):
        """Encodes ``[batch, 28, 28, 1]`` images; ``seed`` (stateless ``[2]``) drives the sampling of a
        variational encoder."""
        x = self.flatten(images)
        if self.input_dropout is not None:
            x = self.input_dropout(x, training=training)
        h = _run(self.body, x, training)
        mean = _float32(self.mean_head(h))
        out = {"mean": mean}
        if self.variational:
            log_std = _float32(self.log_std_head(h))
            noise = (tf.random.stateless_normal(tf.shape(mean), seed) if seed is not None
                     else tf.random.normal(tf.shape(mean)))
            out.update(log_std=log_std, style_code=mean + tf.exp(log_std) * noise)
        else:
            out.update(log_std=tf.zeros_like(mean), style_code=mean)
        if self.label_head is not None:
            logits = self.label_head(h)
            if self.label_norm is not None:
                logits = self.label_norm(logits, training=training)
                if self.fixed_logits_scale:
                    logits = logits * self.logits_scale
            logits = _float32(logits)
            out.update(label_logits=logits, label_code=tf.nn.softmax(logits))
        return out

    def hidden_batchnorms(self):
        """The batch normalizations of the hidden layers, in order."""
        return [layer for layer in self.body if isinstance(layer, keras.layers.BatchNormalization)]

    def set_batchnorm_statistics(self, images, batch_size):
        """Re-estimates the moving mean and variance of the hidden batch normalizations from ``images``.

        As training estimates them: the encoder runs in training mode (input dropout and batch statistics),
        and each moving statistic becomes the average of the per-batch statistics (Keras's moving average
        with momentum 1 - 1/k at the k-th batch). Every other variable keeps its value. For checkpoints
        written before those statistics were saved (see ``_track``).
        """
        norms = self.hidden_batchnorms()
        others = [layer for layer in (self.label_norm,) if layer is not None]
        kept = [(v, v.numpy()) for layer in others for v in layer.non_trainable_variables]
        momentum = [norm.momentum for norm in norms]
        try:
            for k, start in enumerate(range(0, int(images.shape[0]) - batch_size + 1, batch_size), 1):
                for norm in norms:
                    norm.momentum = 1.0 - 1.0 / k
                self(images[start:start + batch_size], training=True)
        finally:
            for norm, value in zip(norms, momentum):
                norm.momentum = value
            for variable, value in kept:
                variable.assign(value)

    def get_config(self):
        return dict(super().get_config(), ncode=self.ncode, ncat=self.ncat, hidden=self.hidden,
                    n_layers=self.n_layers, dropout_rate=self.dropout_rate, variational=self.variational,
                    batchnorm=self.batchnorm, input_dropout_rate=self.input_dropout_rate,
                    logits_batchnorm=self.logits_batchnorm, init_std=self.init_std, logits_scale=self.logits_scale,
                    fixed_logits_scale=self.fixed_logits_scale)


@keras.saving.register_keras_serializable(package="aae_tf")
class Decoder(keras.Model):
    """p(x|z): a code (optionally joined with a one-hot label) to an image.

    The output is in [-1, 1] with ``output_activation`` tanh (the reference)
    and in [0, 1] with sigmoid (the paper).
    """

    def __init__(self, image_shape=(28, 28, 1), hidden=1000, n_layers=2, dropout_rate=0.0, init_std=None,
                 output_activation="tanh", **kwargs):
        super().__init__(**kwargs)
        self.image_shape, self.hidden, self.n_layers = tuple(image_shape), hidden, n_layers
        self.dropout_rate, self.init_std, self.output_activation = dropout_rate, init_std, output_activation
        init = kernel_initializer(init_std)
        self.body = _hidden_stack(hidden, n_layers, dropout_rate, "decoder", kernel_initializer=init)
        _track(self, self.body)
        n_pixels = 1
        for d in self.image_shape:
            n_pixels *= d
        self.out = keras.layers.Dense(n_pixels, activation=output_activation, name="image",
                                      kernel_initializer=init)
        self.reshape = keras.layers.Reshape(self.image_shape)

    def call(self, code, training=False):
        """Decodes ``[batch, ncode]`` (or ``[batch, ncode + ncat]``) to ``[batch, *image_shape]``."""
        return _float32(self.reshape(self.out(_run(self.body, code, training))))

    def get_config(self):
        return dict(super().get_config(), image_shape=self.image_shape, hidden=self.hidden,
                    n_layers=self.n_layers, dropout_rate=self.dropout_rate, init_std=self.init_std,
                    output_activation=self.output_activation)


@keras.saving.register_keras_serializable(package="aae_tf")
class Discriminator(keras.Model):
    """Tells prior samples from codes: ``[batch, features]`` to a logit ``[batch, 1]``.

    ``features`` is the code, joined with a one-hot label when the label is
    given to the discriminator (paper Fig. 3).
    """

    def __init__(self, hidden=1000, n_layers=2, init_std=None, **kwargs):
        super().__init__(**kwargs)
        self.hidden, self.n_layers, self.init_std = hidden, n_layers, init_std
        init = kernel_initializer(init_std)
        self.body = _hidden_stack(hidden, n_layers, 0.0, "discriminator", kernel_initializer=init)
        _track(self, self.body)
        self.logit = keras.layers.Dense(1, name="logit", kernel_initializer=init)

    def call(self, features, training=False):
        return _float32(self.logit(_run(self.body, features, training)))

    def get_config(self):
        return dict(super().get_config(), hidden=self.hidden, n_layers=self.n_layers, init_std=self.init_std)


@keras.saving.register_keras_serializable(package="aae_tf")
class ClusterHeads(keras.Model):
    """The learned cluster heads W_C of paper Section 7: ``[batch, m]`` label code to ``[batch, n]``.

    The representation of an image is ``W_C y + z``; the heads are the rows of
    the ``m x n`` matrix W_C.
    """

    def __init__(self, ncluster, ncode, init_std=1.0, **kwargs):
        super().__init__(**kwargs)
        self.ncluster, self.ncode, self.init_std = ncluster, ncode, init_std
        self.heads = self.add_weight(name="cluster_heads", shape=(ncluster, ncode),
                                     initializer=keras.initializers.RandomNormal(stddev=init_std))

    def call(self, label_code):
        return _float32(tf.matmul(label_code, tf.cast(self.heads, label_code.dtype)))

    def get_config(self):
        return dict(super().get_config(), ncluster=self.ncluster, ncode=self.ncode, init_std=self.init_std)
