"""Shared fixtures: real MNIST (fetched once, offline-safe) and a small IDX slice of it."""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import pytest  # noqa: E402

from aae_tf import data  # noqa: E402


@pytest.fixture(scope="session")
def mnist():
    return data.load_mnist()


@pytest.fixture(scope="session")
def small_mnist(mnist):
    """1,200 training and 300 test images of real MNIST."""
    return data.Mnist(mnist.train_images[:1200], mnist.train_labels[:1200],
                      mnist.test_images[:300], mnist.test_labels[:300], source="slice")


@pytest.fixture(scope="session")
def tiny_idx(small_mnist, tmp_path_factory):
    """The small slice written as the four standard IDX files."""
    folder = tmp_path_factory.mktemp("mnist_idx")
    data.write_idx_folder(small_mnist, str(folder))
    return str(folder)
