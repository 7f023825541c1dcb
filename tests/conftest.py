"""Shared fixtures: real MNIST (fetched once, offline-safe) and a small IDX slice of it."""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import subprocess  # noqa: E402

import matplotlib.image  # noqa: E402
import pytest  # noqa: E402

from aae_tf import data  # noqa: E402


@pytest.fixture(scope="session")
def mnist():
    return data.load_mnist()


@pytest.fixture(scope="session")
def synthetic_mnist():
    """MNIST-shaped random images (600 training, 120 test), digits cycling 0-9: for tests where real images
    are not the point."""
    import numpy as np
    rng = np.random.default_rng(0)
    return data.Mnist(rng.integers(0, 256, (600, 28, 28), dtype=np.uint8), np.arange(600) % 10,
                      rng.integers(0, 256, (120, 28, 28), dtype=np.uint8), np.arange(120) % 10, source="synthetic")


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


# --------------------------------------------------------------------------- the command line

SCRIPT = os.path.join(ROOT, "experiment", "aae_mnist.py")
VAE_SCRIPT = os.path.join(ROOT, "experiment", "vae_mnist.py")
SMALL = ["--hidden", "32", "--bsize", "50", "--validation_size", "200"]
# Without XLA: its compile costs each process about 2 s here. The default, compiled path runs end to end in
# test_cli.py (gmm_run, trained and resumed with SMALL) and step by step in the compiled-vs-plain tests.
FAST = [*SMALL, "--noxla"]


def pytest_xdist_auto_num_workers(config):
    """``-n auto``: one worker more than the cores. Most tests run the command line in a subprocess that
    spends seconds single-threaded (importing TensorFlow, tracing), so one more worker keeps the cores busy."""
    return (os.cpu_count() or 1) + 1


def cli(*args, cwd=None):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True, env=env,
                          cwd=cwd or ROOT, timeout=600)


def ok(*args):
    result = cli(*args)
    assert result.returncode == 0, result.stderr[-2000:]
    return result


def one_line_error(result):
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines()
              if line.startswith("error:") or line.startswith("FATAL Flags parsing error")]
    assert len(errors) == 1, result.stderr
    return errors[0]


def png_shape(path):
    return matplotlib.image.imread(path).shape[:2]


