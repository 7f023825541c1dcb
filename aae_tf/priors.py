"""Priors p(z) imposed on the codes, as TensorFlow Probability distributions.

Every prior is a ``Prior``: the whole distribution, plus, for the mixtures,
its components so that a sample can be drawn from the component that belongs
to a given label (paper Section 2.3, Fig. 3 and 4).
"""

import dataclasses
import math
from typing import Optional

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from scipy import special

tfd = tfp.distributions
tfb = tfp.bijectors

DIST_TYPES = ("gaussian", "gmm", "swiss_roll")


@dataclasses.dataclass(frozen=True)
class Prior:
    """A prior over codes of ``ncode`` dimensions.

    Attributes:
      name: one of DIST_TYPES.
      distribution: the whole prior, event shape ``[ncode]``.
      components: for mixtures, a distribution with batch shape
        ``[n_components]`` and event shape ``[ncode]``; None for the Gaussian.
    """

    name: str
    distribution: tfd.Distribution
    components: Optional[tfd.Distribution] = None

    @property
    def ncode(self):
        return int(self.distribution.event_shape[-1])

    @property
    def n_components(self):
        return 0 if self.components is None else int(self.components.batch_shape[-1])

    def sample(self, n, seed):
        """Draws ``[n, ncode]`` codes from the whole prior; ``seed`` is a stateless seed ``[2]``."""
        return self.distribution.sample(n, seed=seed)

    def sample_for_labels(self, labels, seed, rows=None):
        """Draws one code per label from that label's own component.

        The Gaussian has a single component, which therefore belongs to every label.

        Args:
          labels: int ``[batch]``, each in ``[0, n_components)``.
          seed: stateless seed ``[2]``.
          rows: ``(draw, n, seed) -> [n, ...]``, how ``n`` rows are drawn
            (default ``draw(n, seed)``; a distributed step passes
            ``experiments.base.replica_rows``).

        Returns:
          float32 ``[batch, ncode]``.
        """
        rows = rows or (lambda draw, n, s: draw(n, s))
        if self.components is None:  # one component: every label's is the whole prior
            return rows(self.sample, tf.shape(labels)[0], seed)
        # [batch, K, ncode]
        per_component = rows(lambda n, s: self.components.sample(n, seed=s), tf.shape(labels)[0], seed)
        return tf.gather(per_component, tf.cast(labels, tf.int32), axis=1, batch_dims=1)


def gaussian(ncode):
    """N(0, I) over ``ncode`` dimensions (paper Fig. 2)."""
    return Prior("gaussian", tfd.MultivariateNormalDiag(loc=tf.zeros(ncode), scale_diag=tf.ones(ncode)))


# The mixture's geometry, the reference repository's: components on a circle of this radius, with these
# standard deviations along and across the radius.
GMM_RADIUS, GMM_RADIAL_STD, GMM_TANGENTIAL_STD = 1.4, 0.5, 0.1


def gmm_component_axes(n_components=10, radius=GMM_RADIUS):
    """Centers and unit radial / tangential directions of the 2-D gmm components.

    Component k sits at angle 2*pi*k/n_components.

    Returns:
      (centers ``[K, 2]``, radial ``[K, 2]``, tangential ``[K, 2]``) as numpy arrays.
    """
    angles = 2.0 * np.pi * np.arange(n_components) / n_components
    radial = np.stack([np.cos(angles), np.sin(angles)], -1)
    tangential = np.stack([-np.sin(angles), np.cos(angles)], -1)
    return radius * radial, radial, tangential


def gmm(ncode=2, n_components=10, radius=GMM_RADIUS, radial_std=GMM_RADIAL_STD, tangential_std=GMM_TANGENTIAL_STD):
    """A mixture of Gaussians on a circle, as the reference repository uses (paper Fig. 2, 4).

    In two dimensions, component k is centered at angle 2*pi*k/n_components
    on a circle of ``radius``, with standard deviation ``radial_std`` along
    the radius and ``tangential_std`` across it; the components are equally
    likely.

    Above two dimensions (``ncode`` must then be even), each consecutive pair
    of dimensions is an independent copy of that two-dimensional ring, all
    pairs sharing the same component: component k is the product of
    ``ncode / 2`` copies of the 2-D component k, so the mixture still has
    ``n_components`` modes and still says which label a code belongs to.

    Args:
      ncode: code dimension, 2 or an even number above.
      n_components: number of mixture components (one per class).

    Returns:
      A Prior with components.
    """
    if ncode < 2 or ncode % 2:
        raise ValueError(f"the gmm prior needs an even --ncode of at least 2, got {ncode}")
    centers, radial, tangential = gmm_component_axes(n_components, radius)
    # Columns of each component's scale: its radial and tangential axes, stretched by their deviations.
    scale_2d = np.stack([radial * radial_std, tangential * tangential_std], -1)  # [K, 2, 2]
    cov_2d = scale_2d @ np.transpose(scale_2d, (0, 2, 1))
    tril_2d = np.linalg.cholesky(cov_2d)
    pairs = ncode // 2
    tril = np.zeros((n_components, ncode, ncode))
    for p in range(pairs):
        tril[:, 2 * p:2 * p + 2, 2 * p:2 * p + 2] = tril_2d
    loc = np.tile(centers, (1, pairs))  # [K, ncode]
    components = tfd.MultivariateNormalTriL(loc=tf.constant(loc, tf.float32),
                                            scale_tril=tf.constant(tril, tf.float32))
    mixture = tfd.MixtureSameFamily(tfd.Categorical(logits=tf.zeros(n_components)), components)
    return Prior("gmm", mixture, components)


class SwissRollCurve(tfb.Bijector):
    """Maps a position u in [0, 1] (event ``[1]``) onto the swiss roll (event ``[2]``).

    The point is r * (cos a, sin a) with r = 3 sqrt(u) and a = 4 pi sqrt(u),
    the reference repository's roll. The roll is a curve, so the map has no
    Jacobian determinant: the prior can be sampled but has no density.
    """

    def __init__(self, name="swiss_roll_curve"):
        super().__init__(forward_min_event_ndims=1, inverse_min_event_ndims=1, name=name,
                         parameters=dict(locals()))

    def _forward(self, u):
        root = tf.sqrt(u)
        r, a = 3.0 * root, 4.0 * math.pi * root
        return tf.concat([r * tf.cos(a), r * tf.sin(a)], axis=-1)

    def _inverse(self, z):
        return tf.reduce_sum(tf.square(z), axis=-1, keepdims=True) / 9.0

    def _forward_event_shape(self, input_shape):
        return input_shape[:-1].concatenate([2])

    def _forward_event_shape_tensor(self, input_shape):
        return tf.concat([input_shape[:-1], [2]], 0)

    def _inverse_event_shape(self, output_shape):
        return output_shape[:-1].concatenate([1])

    def _inverse_event_shape_tensor(self, output_shape):
        return tf.concat([output_shape[:-1], [1]], 0)


def swiss_roll_position(n_components=10, fractions=None):
    """Points along the roll's main axis: u in [0, 1] mapped onto the roll.

    Args:
      fractions: positions u, float ``[m]``; defaults to 10 steps inside each component.

    Returns:
      float32 ``[m, 2]``.
    """
    if fractions is None:
        fractions = (np.arange(n_components * 10) + 0.5) / (n_components * 10)
    return SwissRollCurve().forward(tf.constant(np.asarray(fractions)[:, None], tf.float32))


def swiss_roll(ncode=2, n_components=10):
    """The swiss roll of the reference repository (paper Fig. 4c, d).

    Component k is the stretch of the roll with u in [k/K, (k+1)/K], u
    uniform; the mixture is uniform over the whole roll.
    """
    if ncode != 2:
        raise ValueError(f"the swiss_roll prior is two-dimensional: use --ncode 2, not {ncode}")
    k = np.arange(n_components, dtype=np.float32)[:, None]
    positions = tfd.Independent(tfd.Uniform(low=k / n_components, high=(k + 1) / n_components),
                                reinterpreted_batch_ndims=1)  # batch [K], event [1]
    components = tfd.TransformedDistribution(positions, SwissRollCurve())
    mixture = tfd.MixtureSameFamily(tfd.Categorical(logits=tf.zeros(n_components)), components)
    return Prior("swiss_roll", mixture, components)


def categorical(n_classes):
    """The one-hot categorical prior Cat(y) imposed on the label code (paper Fig. 8)."""
    return tfd.OneHotCategorical(logits=tf.zeros(n_classes), dtype=tf.float32)


def scaled(prior, scale):
    """``prior`` stretched by ``scale`` about the origin: its samples (and its components') times ``scale``.

    The paper's likelihood model imposes a Gaussian of standard deviation 5
    (``scaled(gaussian(8), 5.0)``).
    """
    if scale == 1.0:
        return prior
    stretch = tfb.Scale(tf.constant(scale, tf.float32))
    components = None if prior.components is None else tfd.TransformedDistribution(prior.components, stretch)
    return Prior(prior.name, tfd.TransformedDistribution(prior.distribution, stretch), components)


def make_prior(dist_type, ncode, n_components=10, scale=1.0):
    """Builds the prior named by ``--dist_type``, stretched by ``scale``."""
    if dist_type == "gaussian":
        prior = gaussian(ncode)
    elif dist_type == "gmm":
        prior = gmm(ncode, n_components)
    elif dist_type == "swiss_roll":
        prior = swiss_roll(ncode, n_components)
    else:
        raise ValueError(f"unknown prior {dist_type!r}; choose one of {', '.join(DIST_TYPES)}")
    return scaled(prior, scale)


# --------------------------------------------------------------------------- manifold walks

def normal_percentile_grid(n, low=0.05, high=0.95):
    """Points of a 2-D standard normal at evenly spaced percentiles (paper Fig. 2e).

    Returns:
      float32 ``[n * n, 2]``, row-major with the second coordinate falling down the rows.
    """
    q = special.ndtri(np.linspace(low, high, n))  # the standard normal's quantiles (scipy.stats' norm.ppf)
    first, second = np.meshgrid(q, q[::-1])
    return np.stack([first.ravel(), second.ravel()], -1).astype(np.float32)


def component_axes_grid(center, radial, tangential, radial_std, tangential_std, n):
    """Points of one Gaussian component along its own axes (paper Fig. 4b).

    Returns:
      float32 ``[n * n, 2]``: rows walk the radial axis, columns the tangential one,
      each over the 5th to 95th percentile of that axis.
    """
    grid = normal_percentile_grid(n)
    tangential_q, radial_q = grid[:, 0], grid[:, 1]
    points = (np.asarray(center)[None] + radial_q[:, None] * radial_std * np.asarray(radial)[None]
              + tangential_q[:, None] * tangential_std * np.asarray(tangential)[None])
    return points.astype(np.float32)


def manifold_walks(dist_type, grid=20, n_components=10, scale=1.0):
    """The grids of 2-D codes a manifold figure of this prior (stretched by ``scale``) decodes.

    Returns:
      A list of (figure name, float32 points ``[rows * cols, 2]``, rows, cols):
      the Gaussian's percentiles (Fig. 2e), each gmm component along its own
      axes (Fig. 4b), or a walk along the swiss roll, one row per component
      (Fig. 4d).
    """
    return [(name, scale * points, rows, cols) for name, points, rows, cols in _walks(dist_type, grid, n_components)]


def _walks(dist_type, grid, n_components):
    if dist_type == "gaussian":
        return [("manifold", normal_percentile_grid(grid), grid, grid)]
    if dist_type == "gmm":
        centers, radial, tangential = gmm_component_axes(n_components)
        return [(f"manifold_{k}", component_axes_grid(centers[k], radial[k], tangential[k], GMM_RADIAL_STD,
                                                      GMM_TANGENTIAL_STD, 10), 10, 10)
                for k in range(n_components)]
    if dist_type == "swiss_roll":
        return [("manifold_swiss_roll", np.asarray(swiss_roll_position(n_components)), n_components, 10)]
    raise ValueError(f"unknown prior {dist_type!r}; choose one of {', '.join(DIST_TYPES)}")
