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


# Commands that configure the process itself (logical CPUs must be set before TensorFlow starts; a process holds
# one strategy's collectives) run in a process of their own; so does every command when this variable is set.
OWN_PROCESS_FLAGS = ("--distribute", "--cpu_replicas")
OWN_PROCESS_VARIABLE = "AAE_TF_TESTS_OWN_PROCESS"


def cli(*args, cwd=None):
    """Runs ``experiment/aae_mnist.py args`` and returns its exit code, stdout and stderr (CompletedProcess).

    In this test process where it can: a process of its own spends about 6 s importing TensorFlow, Keras and
    TFP, most of a small command's time. The in-process run sees what a fresh process would (flags parsed
    anew, a cleared Keras session, the script's argv and working folder); nothing else differs, which the
    suite run with ``AAE_TF_TESTS_OWN_PROCESS=1`` checks.
    """
    own_process = os.environ.get(OWN_PROCESS_VARIABLE) or any(a.split("=")[0] in OWN_PROCESS_FLAGS for a in args)
    if not own_process:
        return _in_process(list(args), cwd or ROOT)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True, env=env,
                          cwd=cwd or ROOT, timeout=600)


_script_module = None


def _script():
    """experiment/aae_mnist.py as a module, loaded once: its flags join absl's global FLAGS."""
    global _script_module
    if _script_module is None:
        import importlib.util
        spec = importlib.util.spec_from_file_location("aae_mnist_under_test", SCRIPT)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _script_module = module
    return _script_module


def _in_process(args, cwd):
    """What ``absl.app.run(main)`` does in a fresh process, here: parse the flags (a parsing error exits 1 with
    absl's FATAL line), run main, and turn SystemExit or an uncaught exception into the exit code."""
    import contextlib
    import io
    import signal
    import traceback

    import keras
    from absl import flags

    script = _script()
    out, err = io.StringIO(), io.StringIO()
    saved_argv, saved_cwd, saved_sigterm = sys.argv, os.getcwd(), signal.getsignal(signal.SIGTERM)
    code = 0
    keras.backend.clear_session()  # layer names and seeds as in a fresh process
    try:
        os.chdir(cwd)
        sys.argv = [SCRIPT, *args]
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                flags.FLAGS.unparse_flags()
                argv = flags.FLAGS(sys.argv)
            except flags.Error as e:
                print(f"FATAL Flags parsing error: {e}", file=sys.stderr)
                code = 1
            else:
                try:
                    script.main(argv)
                except SystemExit as e:
                    code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
                except KeyboardInterrupt:
                    raise
                except BaseException:
                    traceback.print_exc()
                    code = 1
    finally:
        sys.argv = saved_argv
        os.chdir(saved_cwd)
        signal.signal(signal.SIGTERM, saved_sigterm)
        flags.FLAGS.unparse_flags()
    return subprocess.CompletedProcess([sys.executable, SCRIPT, *args], code, out.getvalue(), err.getvalue())


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


