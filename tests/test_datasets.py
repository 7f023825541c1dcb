"""Datasets other than MNIST through tensorflow-datasets, on TFDS's own mock data (no network)."""

import os

import matplotlib.image
import numpy as np
import pytest
import tensorflow_datasets as tfds

from aae_tf import api
from aae_tf import data
from aae_tf import experiments
from aae_tf import run
from conftest import cli, one_line_error


def load(data_path, dataset):
    # Under mock_data, "downloading" is a no-op that yields TFDS's random examples of the right shape.
    return run.load_data(data_path, dataset, tfds_download=True)


@pytest.mark.parametrize("name, shape", [("fashion_mnist", (28, 28, 1)), ("svhn_cropped", (32, 32, 3))])
def test_tfds_dataset_trains_encodes_and_draws(name, shape, tmp_path):
    save = str(tmp_path / name)
    config = experiments.default_config("semisupervised", dataset=name, nlabel=50, ncode=2, hidden=8,
                                        batch_size=20, validation_size=40, max_epoch=1)
    with tfds.testing.mock_data(num_examples=240):
        metrics = run.train(config, save, load, verbose=False)
        images = load(None, name)
    assert metrics["epoch"] == 0 and 0.0 <= metrics["test_error"] <= 100.0
    assert data.image_shape(images.test_images) == shape
    engine = run.restore_trained(config, save, images, 0)
    experiment = engine.setup
    assert experiment.image_shape == shape
    assert experiment.networks["encoder"].trainable_variables[0].shape[0] == int(np.prod(shape))
    picture = matplotlib.image.imread(run.generate(engine, save))
    assert picture.shape[:2] == (20 * shape[0], 20 * shape[1])
    model = api.TrainedModel(experiment, 0, save)
    codes = model.encode(images.test_images[:5])
    assert codes.shape == (5, 2)
    decoded = model.decode(codes, model.classify(images.test_images[:5]))
    assert decoded.shape == (5,) + shape and 0.0 <= decoded.min() and decoded.max() <= 1.0
    with pytest.raises(ValueError, match="images must be"):
        model.encode(np.zeros((2, 30, 30), np.uint8))


def test_color_grid_keeps_its_channels(tmp_path):
    from aae_tf import plots
    images = np.zeros((4, 3, 5, 3), np.float32)
    images[1, ..., 0] = 1.0  # the second image is red
    grid = plots.tile(images, 2, 2)
    assert grid.shape == (6, 10, 3)
    np.testing.assert_array_equal(grid[0, 5:, 0], 1.0)
    np.testing.assert_array_equal(grid[:3, :5], 0.0)
    plots.save_grid(str(tmp_path / "grid.png"), images, 2, 2)
    assert matplotlib.image.imread(str(tmp_path / "grid.png")).shape[:2] == (6, 10)


def test_dataset_errors_are_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "empty_tfds"))
    missing = cli("--train", "--dataset", "fashion_mnist", "--save_path", str(tmp_path / "f"))
    assert "fashion_mnist is not prepared" in one_line_error(missing)
    unknown = cli("--train", "--dataset", "no_such_set", "--save_path", str(tmp_path / "g"))
    assert "no dataset named 'no_such_set'" in one_line_error(unknown)
    assert not os.path.exists(tmp_path / "f" / "checkpoints")
