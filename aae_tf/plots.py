"""Figures: image grids, latent scatter plots and manifolds, written as PNG."""

import matplotlib

matplotlib.use("Agg")  # figures are files; no display is needed or assumed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402


def tile(images, rows, cols):
    """Arranges images into one picture.

    Args:
      images: ``[rows * cols, h, w]`` or ``[rows * cols, h, w, 1]``, values in [-1, 1].

    Returns:
      float ``[rows * h, cols * w]`` in [0, 1], row-major: image i is at row i // cols.
    """
    images = np.asarray(images)
    if images.ndim == 4:
        images = images[..., 0]
    n, h, w = images.shape
    if n != rows * cols:
        raise ValueError(f"{n} images do not fill a {rows}x{cols} grid")
    grid = images.reshape(rows, cols, h, w).transpose(0, 2, 1, 3).reshape(rows * h, cols * w)
    return np.clip((grid + 1.0) / 2.0, 0.0, 1.0)


def save_grid(path, images, rows, cols):
    """Writes ``rows x cols`` images in [-1, 1] as one grayscale PNG."""
    plt.imsave(path, tile(images, rows, cols), cmap="gray", vmin=0.0, vmax=1.0)


def save_latent(path, codes, labels, title=None):
    """Scatter plot of 2-D codes colored by digit (paper Fig. 2, 4, 11).

    Args:
      codes: ``[n, 2]``.
      labels: int ``[n]``.
    """
    codes = np.asarray(codes)
    fig, ax = plt.subplots(figsize=(7, 6))
    scatter = ax.scatter(codes[:, 0], codes[:, 1], c=np.asarray(labels), cmap="tab10", s=2, vmin=-0.5, vmax=9.5)
    fig.colorbar(scatter, ax=ax, ticks=range(10), label="digit")
    ax.set_xlabel("code dimension 1")
    ax.set_ylabel("code dimension 2")
    if title:
        ax.set_title(title)
    ax.set_aspect("equal", adjustable="datalim")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def normal_percentile_grid(n, low=0.05, high=0.95):
    """Points of a 2-D standard normal at evenly spaced percentiles (paper Fig. 2e).

    Returns:
      float32 ``[n * n, 2]``, row-major with the second coordinate falling down the rows.
    """
    q = stats.norm.ppf(np.linspace(low, high, n))
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
