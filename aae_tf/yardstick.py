"""What the benchmark measures the project's step against: a minimal Keras step, and the machine's matmul rate.

The minimal step is the unsupervised adversarial autoencoder's three phases
(reconstruction, discriminator, generator) written as plainly as Keras allows,
on networks of the same classes and sizes, with none of the engine's
machinery: no phases table, no per-replica randomness, no readback. If the
project's step is slower than this, the difference is the engine's cost.
"""

import time

import keras
import tensorflow as tf

from aae_tf import models


class FusedAdam:
    """Adam through TensorFlow's fused kernel, one ``ResourceApplyAdam`` op per variable.

    The same update as ``keras.optimizers.Adam`` (its bias-corrected rate, its
    epsilon outside the square root), which in a graph without XLA runs as
    several separate element-wise ops per variable. Only for the yardstick:
    it shows what an unfused optimizer costs the step.
    """

    def __init__(self, learning_rate, beta_1, variables, beta_2=0.999, epsilon=1e-7):
        self.learning_rate, self.beta_1, self.beta_2, self.epsilon = learning_rate, beta_1, beta_2, epsilon
        self.slots = {id(v): (tf.Variable(tf.zeros(v.shape)), tf.Variable(tf.zeros(v.shape))) for v in variables}
        self.steps = tf.Variable(0.0)

    def apply_gradients(self, pairs):
        t = self.steps.assign_add(1.0)
        for gradient, variable in pairs:
            m, v = self.slots[id(variable)]
            tf.raw_ops.ResourceApplyAdam(var=variable.value.handle, m=m.handle, v=v.handle,
                                         beta1_power=self.beta_1 ** t, beta2_power=self.beta_2 ** t,
                                         lr=self.learning_rate, beta1=self.beta_1, beta2=self.beta_2,
                                         epsilon=self.epsilon, grad=gradient)


def minimal_unsupervised_step(ncode, hidden, jit_compile, precision="float32", fused_adam=False):
    """A plain three-phase AAE step: ``step(images [batch, 28, 28, 1] in [-1, 1], seed [2]) -> reconstruction loss``.

    With ``fused_adam`` the optimizers are ``FusedAdam`` instead of Keras's Adam (the same update).
    """
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        encoder = models.Encoder(ncode, hidden=hidden)
        decoder = models.Decoder(hidden=hidden)
        discriminator = models.Discriminator(hidden=hidden)
        encoder(tf.zeros([2, 28, 28, 1]))
        decoder(tf.zeros([2, ncode]))
        discriminator(tf.zeros([2, ncode]))
    finally:
        keras.config.set_dtype_policy(previous)
    autoencoder_vars = encoder.trainable_variables + decoder.trainable_variables
    phase_vars = (autoencoder_vars, discriminator.trainable_variables, encoder.trainable_variables)
    if fused_adam:
        optimizers = [FusedAdam(2e-4, 0.5, variables) for variables in phase_vars]
    else:
        optimizers = [keras.optimizers.Adam(2e-4, beta_1=0.5) for _ in range(3)]
        for optimizer, variables in zip(optimizers, phase_vars):
            optimizer.build(variables)
    bce = keras.losses.BinaryCrossentropy(from_logits=True)

    @tf.function(jit_compile=jit_compile)
    def step(images, seed):
        with tf.GradientTape() as tape:
            recon = decoder(encoder(images, training=True)["mean"], training=True)
            rec_loss = tf.reduce_mean(tf.square(images - recon))
        optimizers[0].apply_gradients(zip(tape.gradient(rec_loss, autoencoder_vars), autoencoder_vars))
        prior = tf.random.stateless_normal([tf.shape(images)[0], ncode], seed)
        with tf.GradientTape() as tape:
            code = tf.stop_gradient(encoder(images, training=True)["mean"])
            real, fake = discriminator(prior), discriminator(code)
            d_loss = bce(tf.ones_like(real), real) + bce(tf.zeros_like(fake), fake)
        d_vars = discriminator.trainable_variables
        optimizers[1].apply_gradients(zip(tape.gradient(d_loss, d_vars), d_vars))
        with tf.GradientTape() as tape:
            fake = discriminator(encoder(images, training=True)["mean"])
            g_loss = bce(tf.ones_like(fake), fake)
        g_vars = encoder.trainable_variables
        optimizers[2].apply_gradients(zip(tape.gradient(g_loss, g_vars), g_vars))
        return rec_loss

    return step


def unsupervised_flops_per_image(ncode, hidden, pixels=784):
    """Multiply-add count of one unsupervised training step per image, times 2 (FLOPs).

    With E, D and Z the multiply-adds of one forward pass of the encoder,
    decoder and discriminator, and a backward pass costing two forward ones:
    reconstruction 3(E + D); discriminator E + 2 * 3Z (prior samples and
    codes); generator 3E + 3Z. Activations and the optimizer are left out.
    """
    encoder = pixels * hidden + hidden * hidden + hidden * ncode
    decoder = ncode * hidden + hidden * hidden + hidden * pixels
    discriminator = ncode * hidden + hidden * hidden + hidden
    macs = 3 * (encoder + decoder) + encoder + 6 * discriminator + 3 * encoder + 3 * discriminator
    return 2 * macs


def matmul_gflops(dtype, rows=128, inner=1000, cols=1000, repeats=200):
    """The machine's rate (GFLOP/s) for one ``[rows, inner] x [inner, cols]`` matmul, the shape of a hidden layer."""
    a = tf.cast(tf.random.normal([rows, inner]), dtype)
    b = tf.cast(tf.random.normal([inner, cols]), dtype)
    product = tf.function(lambda: tf.matmul(a, b))
    for _ in range(10):
        product()
    start = time.perf_counter()
    for _ in range(repeats):
        out = product()
    out.numpy()
    return 2.0 * rows * inner * cols * repeats / (time.perf_counter() - start) / 1e9


def paired_ratios(numerators, denominators):
    """Median, lowest and highest of the per-round ratios ``numerators[i] / denominators[i]``.

    Two steps timed in turn within each round share that round's state of the machine (a virtual machine's
    neighbours, its clock), so the ratio of a pair drifts less than two rates timed minutes apart.

    Args:
      numerators, denominators: one rate per round each, the same number of rounds (at least one).
    Returns:
      (median, lowest, highest) of the ratios; the median of an even count is the mean of the middle two.
    """
    if len(numerators) != len(denominators) or not numerators:
        raise ValueError("paired_ratios needs one rate of each per round, at least one round")
    ratios = sorted(n / d for n, d in zip(numerators, denominators))
    middle = len(ratios) // 2
    median = ratios[middle] if len(ratios) % 2 else (ratios[middle - 1] + ratios[middle]) / 2
    return median, ratios[0], ratios[-1]
