"""Figures: image grids, latent scatter plots and manifolds, written as PNG.

Each file is written whole or not at all (``runfiles.write_atomically``): an interrupted --viz or
--generate leaves the earlier figure of the same name as it was.
"""

import matplotlib

matplotlib.use("Agg")  # figures are files; no display is needed or assumed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from aae_tf import runfiles  # noqa: E402


def tile(images, rows, cols):
    """Arranges images into one picture.

    Args:
      images: ``[rows * cols, h, w]`` or ``[rows * cols, h, w, c]`` (c is 1 or 3), values in [0, 1].

    Returns:
      float ``[rows * h, cols * w]`` (grayscale) or ``[rows * h, cols * w, 3]`` in [0, 1], row-major: image i
      is at row i // cols.
    """
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    n, h, w, c = images.shape
    if n != rows * cols:
        raise ValueError(f"{n} images do not fill a {rows}x{cols} grid")
    grid = images.reshape(rows, cols, h, w, c).transpose(0, 2, 1, 3, 4).reshape(rows * h, cols * w, c)
    grid = np.clip(grid, 0.0, 1.0)
    return grid[..., 0] if c == 1 else grid


def save_grid(path, images, rows, cols):
    """Writes ``rows x cols`` images in [0, 1] as one PNG (grayscale, or color for three channels)."""
    grid = tile(images, rows, cols)
    colors = dict(cmap="gray", vmin=0.0, vmax=1.0) if grid.ndim == 2 else {}
    runfiles.write_atomically(path, lambda f: plt.imsave(f, grid, format="png", **colors), binary=True)


def _save_figure(path, fig):
    """Writes a Matplotlib figure as PNG through ``runfiles.write_atomically`` and closes it."""
    try:
        runfiles.write_atomically(path, lambda f: fig.savefig(f, format="png", dpi=100), binary=True)
    finally:
        plt.close(fig)


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
    _save_figure(path, fig)


def save_curves(path, epochs, series, title=None):
    """Per-epoch curves, one panel per series (a learning curve of a run).

    Args:
      epochs: int ``[n]``.
      series: name -> ``[n]`` values (None where an epoch has none).
    """
    fig, axes = plt.subplots(len(series), 1, figsize=(7, 2.4 * len(series)), sharex=True, squeeze=False)
    for ax, (name, values) in zip(axes[:, 0], series.items()):
        points = [(e, v) for e, v in zip(epochs, values) if v is not None]
        ax.plot([e for e, _ in points], [v for _, v in points], lw=1)
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("epoch (counted from 0)")
    if title:
        axes[0, 0].set_title(title)
    fig.tight_layout()
    _save_figure(path, fig)
