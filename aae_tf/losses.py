"""The cost terms of the adversarial autoencoder, one pure function each.

All return a float32 scalar averaged over the batch; weights are applied by
the caller (the training configuration), not here.
"""

import tensorflow as tf


def reconstruction_loss(images, reconstructions, cost="mean"):
    """The squared Euclidean reconstruction error (paper Section 2, the reconstruction phase).

    Args:
      images: ``[batch, 28, 28, 1]``.
      reconstructions: same shape.
      cost: ``mean``, averaged over pixels and batch (the reference
        repository, on [-1, 1] images and a tanh decoder), or ``sum``,
        summed over each image's pixels and averaged over the batch (the
        paper's Euclidean cost, on [0, 1] images and a sigmoid decoder).
    """
    squared = tf.square(tf.cast(images, tf.float32) - tf.cast(reconstructions, tf.float32))
    if cost == "sum":
        return tf.reduce_mean(tf.reduce_sum(tf.reshape(squared, [tf.shape(squared)[0], -1]), axis=1))
    return tf.reduce_mean(squared)


def _sigmoid_ce(labels_value, logits):
    return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(
        labels=tf.fill(tf.shape(logits), labels_value), logits=logits))


def discriminator_loss(prior_logits, code_logits):
    """GAN discriminator cost of the regularization phase (paper Section 2, Eq. 1).

    -E_p(z)[log D(z)] - E_q(z)[log(1 - D(q(z|x)))]: prior samples are the
    positives, the encoder's codes the negatives.

    Args:
      prior_logits: ``[batch, 1]`` D's logits on prior samples.
      code_logits: ``[batch, 1]`` D's logits on encoder codes.
    """
    return _sigmoid_ce(1.0, prior_logits) + _sigmoid_ce(0.0, code_logits)


def generator_loss(code_logits):
    """Generator cost of the regularization phase (paper Section 2, Eq. 1).

    The non-saturating form -E_q(z)[log D(q(z|x))], as in the GAN paper's
    practical recommendation and the reference repository.

    Args:
      code_logits: ``[batch, 1]`` D's logits on encoder codes.
    """
    return _sigmoid_ce(1.0, code_logits)


def classification_loss(labels, label_logits):
    """Cross-entropy of q(y|x) on a labeled mini-batch (paper Section 5, semi-supervised phase).

    Args:
      labels: int ``[batch]``.
      label_logits: ``[batch, n_classes]``.
    """
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(
        labels=tf.cast(labels, tf.int32), logits=label_logits))


def label_balance_loss(label_probs):
    """KL(the batch's mean q(y|x) || the uniform categorical): zero when the batch uses every category equally.

    sum over k of m_k log(m_k K), with m the batch mean of ``label_probs`` and K its categories; log K when
    every image goes to one category. Not in the paper (a departure, ``label_balance``): the adversary on y
    compares each q(y|x) with one-hot samples, and once q(y|x) saturates its gradient vanishes, so it cannot
    keep the categories' sizes even; this cost acts on their sizes directly (while q(y|x) is not saturated).

    Args:
      label_probs: ``[batch, K]`` rows of q(y|x), each summing to 1.
    """
    probs = tf.cast(label_probs, tf.float32)
    mean = tf.reduce_mean(probs, axis=0)
    k = tf.cast(tf.shape(probs)[-1], tf.float32)
    return tf.reduce_sum(mean * tf.math.log(tf.maximum(mean * k, 1e-12)))


def cluster_head_cost(heads, eta):
    """Pushes apart cluster heads closer than ``eta`` (paper Section 7).

    sum over pairs i < j of max(0, eta - ||W_i - W_j||): zero for heads at
    least eta apart, linear in the distance below it.

    Args:
      heads: ``[m, n]`` the rows of W_C.
      eta: the distance threshold.
    """
    distance = pairwise_distances(heads)
    m = tf.shape(heads)[0]
    upper = tf.linalg.band_part(tf.ones([m, m]), 0, -1) - tf.eye(m)
    return tf.reduce_sum(upper * tf.nn.relu(eta - distance))


def pairwise_distances(points):
    """``[m, m]`` Euclidean distances between the rows of ``points`` (``[m, n]``); the diagonal is 1e-6, not 0.

    The small constant under the root keeps the norm's gradient finite on the diagonal.
    """
    diff = points[:, None, :] - points[None, :, :]
    return tf.sqrt(tf.reduce_sum(tf.square(diff), axis=-1) + 1e-12)


def gaussian_kl(mean, log_std):
    """KL(N(mean, exp(log_std)^2) || N(0, I)), summed over code dimensions, averaged over the batch.

    Args:
      mean, log_std: ``[batch, ncode]``.
    """
    kl = 0.5 * tf.reduce_sum(tf.square(mean) + tf.exp(2.0 * log_std) - 1.0 - 2.0 * log_std, axis=-1)
    return tf.reduce_mean(kl)


def monte_carlo_kl(code, mean, log_std, prior_log_prob):
    """One-sample Monte Carlo KL(q(z|x) || p(z)) for priors without a closed form.

    log q(z|x) - log p(z) at the sampled code, averaged over the batch.

    Args:
      code: ``[batch, ncode]`` a sample from q(z|x).
      mean, log_std: ``[batch, ncode]`` the Gaussian q(z|x).
      prior_log_prob: ``[batch]`` log p(code).
    """
    log_q = tf.reduce_sum(-0.5 * tf.square((code - mean) / tf.exp(log_std)) - log_std
                          - 0.5 * tf.math.log(2.0 * 3.141592653589793), axis=-1)
    return tf.reduce_mean(log_q - prior_log_prob)


def vae_reconstruction_loss(images, reconstructions):
    """Negative log-likelihood of the images under a unit-variance Gaussian decoder, per image.

    0.5 * sum over pixels of the squared error (constants dropped), averaged
    over the batch: the ELBO's reconstruction term, on the same [-1, 1] scale
    as the AAE.
    """
    return tf.reduce_mean(0.5 * tf.reduce_sum(tf.square(images - reconstructions), axis=[1, 2, 3]))
