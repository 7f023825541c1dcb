"""Encoder, decoder and discriminators as Keras subclassed models.

Every network has two hidden layers of ``hidden`` ReLU units (1000 in the
paper and the reference). Sizes come from the constructor; nothing here reads
flags.
"""

import keras
import tensorflow as tf


def _hidden_stack(hidden, n_layers, dropout_rate, prefix):
    layers = []
    for i in range(n_layers):
        layers.append(keras.layers.Dense(hidden, activation="relu", name=f"{prefix}_dense{i}"))
        if dropout_rate > 0:
            layers.append(keras.layers.Dropout(dropout_rate, name=f"{prefix}_dropout{i}"))
    return layers


def _run(layers, x, training):
    for layer in layers:
        x = layer(x, training=training) if isinstance(layer, keras.layers.Dropout) else layer(x)
    return x


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
    """

    def __init__(self, ncode, ncat=0, hidden=1000, n_layers=2, dropout_rate=0.0,
                 variational=False, **kwargs):
        super().__init__(**kwargs)
        self.ncode, self.ncat, self.hidden, self.n_layers = ncode, ncat, hidden, n_layers
        self.dropout_rate, self.variational = dropout_rate, variational
        self.flatten = keras.layers.Flatten()
        self.body = _hidden_stack(hidden, n_layers, dropout_rate, "encoder")
        self.mean_head = keras.layers.Dense(ncode, name="style_code")
        self.log_std_head = keras.layers.Dense(ncode, name="log_std") if variational else None
        self.label_head = keras.layers.Dense(ncat, name="label_logits") if ncat else None

    def call(self, images, training=False, seed=None):
        """Encodes ``[batch, 28, 28, 1]`` images; ``seed`` (stateless ``[2]``) drives the sampling of a variational encoder."""
        h = _run(self.body, self.flatten(images), training)
        mean = self.mean_head(h)
        out = {"mean": mean}
        if self.variational:
            log_std = self.log_std_head(h)
            noise = (tf.random.stateless_normal(tf.shape(mean), seed) if seed is not None
                     else tf.random.normal(tf.shape(mean)))
            out.update(log_std=log_std, style_code=mean + tf.exp(log_std) * noise)
        else:
            out.update(log_std=tf.zeros_like(mean), style_code=mean)
        if self.label_head is not None:
            logits = self.label_head(h)
            out.update(label_logits=logits, label_code=tf.nn.softmax(logits))
        return out

    def get_config(self):
        return dict(super().get_config(), ncode=self.ncode, ncat=self.ncat, hidden=self.hidden,
                    n_layers=self.n_layers, dropout_rate=self.dropout_rate, variational=self.variational)


class Decoder(keras.Model):
    """p(x|z): a code (optionally joined with a one-hot label) to an image in [-1, 1] (tanh)."""

    def __init__(self, image_shape=(28, 28, 1), hidden=1000, n_layers=2, dropout_rate=0.0, **kwargs):
        super().__init__(**kwargs)
        self.image_shape, self.hidden, self.n_layers = tuple(image_shape), hidden, n_layers
        self.dropout_rate = dropout_rate
        self.body = _hidden_stack(hidden, n_layers, dropout_rate, "decoder")
        n_pixels = 1
        for d in self.image_shape:
            n_pixels *= d
        self.out = keras.layers.Dense(n_pixels, activation="tanh", name="image")
        self.reshape = keras.layers.Reshape(self.image_shape)

    def call(self, code, training=False):
        """Decodes ``[batch, ncode]`` (or ``[batch, ncode + ncat]``) to ``[batch, *image_shape]``."""
        return self.reshape(self.out(_run(self.body, code, training)))

    def get_config(self):
        return dict(super().get_config(), image_shape=self.image_shape, hidden=self.hidden,
                    n_layers=self.n_layers, dropout_rate=self.dropout_rate)


class Discriminator(keras.Model):
    """Tells prior samples from codes: ``[batch, features]`` to a logit ``[batch, 1]``.

    ``features`` is the code, joined with a one-hot label when the label is
    given to the discriminator (paper Fig. 3).
    """

    def __init__(self, hidden=1000, n_layers=2, **kwargs):
        super().__init__(**kwargs)
        self.hidden, self.n_layers = hidden, n_layers
        self.body = _hidden_stack(hidden, n_layers, 0.0, "discriminator")
        self.logit = keras.layers.Dense(1, name="logit")

    def call(self, features, training=False):
        return self.logit(_run(self.body, features, training))

    def get_config(self):
        return dict(super().get_config(), hidden=self.hidden, n_layers=self.n_layers)


class ClusterHeads(keras.Model):
    """The learned cluster heads W_C of paper Section 7: ``[batch, m]`` label code to ``[batch, n]``.

    The representation of an image is ``W_C y + z``; the heads are the rows of
    the ``m x n`` matrix W_C.
    """

    def __init__(self, ncluster, ncode, **kwargs):
        super().__init__(**kwargs)
        self.ncluster, self.ncode = ncluster, ncode
        self.heads = self.add_weight(name="cluster_heads", shape=(ncluster, ncode),
                                     initializer=keras.initializers.RandomNormal(stddev=1.0))

    def call(self, label_code):
        return tf.matmul(label_code, self.heads)

    def get_config(self):
        return dict(super().get_config(), ncluster=self.ncluster, ncode=self.ncode)
