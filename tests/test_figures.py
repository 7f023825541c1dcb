"""The figures of --viz (aae_tf.figures) on a fabricated experiment whose label codes are known."""

import os
from types import SimpleNamespace

import matplotlib.pyplot as plt
import numpy as np
import pytest

from aae_tf import figures

H, W = 4, 5  # small, distinct: a swapped height and width would misplace every cell
TOLERANCE = 2 / 255  # the gray colormap's 256 levels round a value by up to about 1.5 of them


def constant_images(values):
    return np.stack([np.full((H, W), v, np.float32) for v in values])


def grid_cells(path, rows, cols):
    """The PNG grid at ``path`` (gray) as ``[rows, cols, H, W]``, after checking its size."""
    picture = plt.imread(path)[..., 0]
    assert picture.shape == (rows * H, cols * W)
    return picture.reshape(rows, H, cols, W).transpose(0, 2, 1, 3)


class LabelCodeExperiment:
    """Three categories; each image's q(y|x) is looked up by its (constant) pixel value."""

    ncat = 3
    config = SimpleNamespace(ncode=2)

    def __init__(self, label_codes, validation):
        self.label_codes = label_codes  # pixel value (in hundredths) -> q(y|x)
        self.data = SimpleNamespace(validation=validation)

    def images(self, x):
        return np.asarray(x)

    def unit(self, x):
        return np.asarray(x)

    def encode(self, images):
        codes = np.stack([self.label_codes[int(round(100 * v))] for v in images[:, 0, 0]])
        return {"label_code": codes, "label_logits": np.log(np.maximum(codes, 1e-9))}  # q(y|x) = softmax(logits)

    def decode(self, code, label_code):
        # category k's head (style code 0) is the constant image 0.6 + 0.1 k
        assert np.all(np.asarray(code) == 0)
        return constant_images(0.6 + 0.1 * np.argmax(np.asarray(label_code), -1))


def test_cluster_members_rows_and_table(tmp_path):
    # Test images 0.1 ... 0.5: three in category 0 (confidence 0.6, 0.9, 0.7 for 0.1, 0.2, 0.4), two in
    # category 1 (0.8 for 0.3, 0.55 for 0.5), none in category 2. Validation images 0.01-0.03 name the
    # categories after digits 4, 7 and 1.
    codes = {10: [0.6, 0.3, 0.1], 20: [0.9, 0.05, 0.05], 30: [0.1, 0.8, 0.1], 40: [0.7, 0.2, 0.1],
             50: [0.3, 0.55, 0.15], 1: [1.0, 0.0, 0.0], 2: [0.0, 1.0, 0.0], 3: [0.0, 0.0, 1.0]}
    experiment = LabelCodeExperiment({k: np.array(v) for k, v in codes.items()},
                                     (constant_images([0.01, 0.02, 0.03]), np.array([4, 7, 1])))
    mnist = SimpleNamespace(test_images=constant_images([0.1, 0.2, 0.3, 0.4, 0.5]),
                            test_labels=np.array([4, 4, 7, 9, 7]))
    written = figures.cluster_members(experiment, str(tmp_path), mnist, n_members=3)
    assert written == [os.path.join(str(tmp_path), "cluster_members.png"),
                       os.path.join(str(tmp_path), "cluster_confusion.csv")]
    # Each row: the head, then the members most confident first, blank where the category has fewer.
    cells = grid_cells(written[0], 3, 4)
    assert np.all(cells.max(axis=(2, 3)) - cells.min(axis=(2, 3)) < 1e-6)  # every cell one image, unmixed
    np.testing.assert_allclose(cells[:, :, 0, 0], [[0.6, 0.2, 0.4, 0.1],
                                                   [0.7, 0.3, 0.5, 0.0],
                                                   [0.8, 0.0, 0.0, 0.0]], atol=TOLERANCE)
    with open(written[1]) as f:
        rows = f.read().splitlines()
    assert rows == ["cluster,named,size," + ",".join(f"digit_{d}" for d in range(10)),
                    "0,4,3,0,0,0,0,2,0,0,0,0,1",
                    "1,7,2,0,0,0,0,0,0,0,2,0,0",
                    "2,1,0,0,0,0,0,0,0,0,0,0,0"]


class StyleExperiment(LabelCodeExperiment):
    """A prior whose n samples are the style codes 1, 2, ..., n (each coordinate); the decoder writes
    0.1 k + 0.02 s for category k and style code s."""

    def __init__(self):
        super().__init__({}, None)
        self.prior = SimpleNamespace(sample=lambda n, seed: np.repeat(np.arange(1, n + 1, dtype=np.float32)[:, None],
                                                                       self.config.ncode, 1))

    def decode(self, code, label_code):
        code, label_code = np.asarray(code), np.asarray(label_code)
        return constant_images(0.1 * np.argmax(label_code, -1) + 0.02 * code[:, 0])


def test_cluster_heads_rows(tmp_path):
    path = figures.cluster_heads(StyleExperiment(), str(tmp_path), n_styles=4)
    assert path == os.path.join(str(tmp_path), "cluster_heads.png")
    cells = grid_cells(path, 3, 4)
    # row k: category k with style code 0 (its head), then with the prior's samples 1, 2, 3
    np.testing.assert_allclose(cells[:, :, 0, 0], [[0.0, 0.02, 0.04, 0.06],
                                                   [0.1, 0.12, 0.14, 0.16],
                                                   [0.2, 0.22, 0.24, 0.26]], atol=TOLERANCE)


def test_an_interrupted_figure_leaves_the_earlier_one(tmp_path, monkeypatch):
    # --viz and --generate write the reference's fixed names over an earlier figure; one stopped half-way
    # (here: the PNG writer dies after 7 bytes) must leave the earlier file whole and no partial file.
    from aae_tf import plots
    grid, latent = tmp_path / "generate_im.png", tmp_path / "latent.png"
    plots.save_grid(str(grid), constant_images([0.25, 0.75]), 1, 2)
    plots.save_latent(str(latent), np.array([[0.0, 1.0], [2.0, 3.0]]), np.array([3, 8]))
    before = {path: path.read_bytes() for path in (grid, latent)}

    def torn(f, *args, **kwargs):
        f.write(b"\x89PNG\r\n\x1a")
        raise KeyboardInterrupt

    monkeypatch.setattr(plt, "imsave", torn)
    monkeypatch.setattr(plt.Figure, "savefig", lambda figure, f, *args, **kwargs: torn(f))
    with pytest.raises(KeyboardInterrupt):
        plots.save_grid(str(grid), constant_images([0.5, 0.5]), 1, 2)
    with pytest.raises(KeyboardInterrupt):
        plots.save_latent(str(latent), np.zeros((2, 2)), np.array([1, 2]))
    assert {path: path.read_bytes() for path in (grid, latent)} == before
    assert sorted(os.listdir(tmp_path)) == ["generate_im.png", "latent.png"]
    monkeypatch.undo()
    np.testing.assert_allclose(grid_cells(str(grid), 1, 2)[0, :, 0, 0], [0.25, 0.75], atol=TOLERANCE)
