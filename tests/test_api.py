"""The trained-run API (aae_tf.load_run) and the export, on tiny runs trained through the command line."""

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

import aae_tf
from aae_tf import run as run_lib
from conftest import FAST, cli, ok, one_line_error


@pytest.fixture(scope="module")
def semi_run(tiny_idx, tmp_path_factory):
    save = str(tmp_path_factory.mktemp("api") / "semi")
    ok("--train_semisupervised", "--nlabel", "100", "--ncode", "3", "--maxepoch", "2", "--data_path", tiny_idx,
       "--save_path", save, *FAST, "--precision", "mixed_bfloat16")
    return save


def test_load_run_encodes_decodes_classifies(semi_run, small_mnist):
    model = aae_tf.load_run(semi_run)
    assert model.epoch == 1 and model.config.mode == "semisupervised" and model.label_categories == 10
    # Trained in mixed bfloat16, restored to compute in float32 (its weights are float32 either way).
    assert {net.compute_dtype for net in model.experiment.networks.values()} == {"float32"}
    images = small_mnist.test_images[:6]
    codes = model.encode(images)
    assert codes.shape == (6, 3) and codes.dtype == np.float32
    # uint8 pixels and the same pixels as floats in [0, 1] are the same images.
    np.testing.assert_allclose(model.encode(images.astype(np.float32)[..., None] / 255.0), codes, atol=1e-5)
    digits = model.classify(images)
    assert digits.shape == (6,) and digits.dtype == np.int64 and digits.min() >= 0 and digits.max() < 10
    # The API's reconstruction is the experiment's own, moved to [0, 1].
    experiment = model.experiment
    out = experiment.encode(experiment.images(images))
    argmax = np.argmax(out["label_code"], -1)
    expected = experiment.unit(experiment.decode(out["style_code"], tf.one_hot(argmax, 10)))
    decoded = model.decode(codes, argmax)
    assert decoded.shape == (6, 28, 28, 1) and decoded.min() >= 0 and decoded.max() <= 1
    np.testing.assert_allclose(decoded, expected, atol=1e-5)
    samples = model.sample(4, seed=3)
    assert samples.shape == (4, 28, 28, 1)
    np.testing.assert_array_equal(samples, model.sample(4, seed=3))
    assert not np.array_equal(samples, model.sample(4, seed=4))


def test_load_run_restores_the_epoch_asked_for(semi_run, small_mnist):
    images = small_mnist.test_images[:5]
    newest, first, again = (aae_tf.load_run(semi_run), aae_tf.load_run(semi_run, epoch=0),
                            aae_tf.load_run(semi_run, epoch=0))
    assert first.epoch == 0
    np.testing.assert_array_equal(first.encode(images), again.encode(images))
    assert not np.allclose(first.encode(images), newest.encode(images))
    with pytest.raises(run_lib.UserError, match="no checkpoint for epoch 7"):
        aae_tf.load_run(semi_run, epoch=7)


def test_api_refuses_what_the_model_cannot_do(semi_run, small_mnist, tmp_path):
    model = aae_tf.load_run(semi_run)
    with pytest.raises(ValueError, match="no clusters"):
        model.cluster(small_mnist.test_images[:2])
    with pytest.raises(ValueError, match="pass labels"):
        model.decode(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 10\)"):
        model.decode(np.zeros((2, 3)), np.array([0, 10]))
    with pytest.raises(ValueError, match=r"codes must be \[n, 3\]"):
        model.decode(np.zeros((2, 4)), np.array([0, 1]))
    with pytest.raises(ValueError, match="must lie in"):
        model.encode(np.full((2, 28, 28), 2.0, np.float32))
    with pytest.raises(ValueError, match="28, 28"):
        model.encode(np.zeros((2, 32, 32), np.uint8))
    with pytest.raises(run_lib.UserError, match="no trained model"):
        aae_tf.load_run(str(tmp_path))


FRESH_PROCESS = textwrap.dedent("""
    import sys, numpy as np, tensorflow as tf
    assert not any(name.startswith("aae_tf") for name in sys.modules)
    model = tf.saved_model.load(sys.argv[1])
    images = tf.constant(np.load(sys.argv[2]), tf.float32)
    codes = model.encode(images)["code"]
    labels = model.classify(images)["label"]
    decoded = model.decode(codes, tf.cast(labels, tf.int32))["images"]
    serving = model.signatures["encode"](images=images)["code"]
    samples = model.sample(tf.constant(4), tf.constant([3, 0]))["images"]
    np.savez(sys.argv[3], codes=codes.numpy(), labels=labels.numpy(), decoded=decoded.numpy(),
             serving=serving.numpy(), samples=samples.numpy())
    assert not any(name.startswith("aae_tf") for name in sys.modules)
""")


def test_export_reloads_without_the_project(semi_run, small_mnist, tmp_path):
    result = ok("--export", "--load", "1", "--save_path", semi_run)
    folder = os.path.join(semi_run, "export", "epoch_1")
    assert folder in result.stdout
    images = small_mnist.test_images[:6].astype(np.float32)[..., None] / 255.0
    np.save(tmp_path / "images.npy", images)
    script = tmp_path / "reload.py"
    script.write_text(FRESH_PROCESS)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH="")
    done = subprocess.run([sys.executable, str(script), os.path.join(folder, "saved_model"),
                           str(tmp_path / "images.npy"), str(tmp_path / "out.npz")],
                          capture_output=True, text=True, cwd=str(tmp_path), env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    got = np.load(tmp_path / "out.npz")
    model = aae_tf.load_run(semi_run, epoch=1)
    np.testing.assert_allclose(got["codes"], model.encode(images), atol=1e-5)
    np.testing.assert_allclose(got["serving"], got["codes"], atol=1e-6)
    np.testing.assert_array_equal(got["labels"], model.classify(images))
    np.testing.assert_allclose(got["decoded"], model.decode(model.encode(images), model.classify(images)), atol=1e-5)
    np.testing.assert_allclose(got["samples"], model.sample(4, seed=3), atol=1e-5)
    # The Keras files reload (with the project's layers registered) into the same networks.
    encoder = keras.saving.load_model(os.path.join(folder, "encoder.keras"))
    mine = model.experiment.networks["encoder"](model.model_images(images), training=False)["mean"]
    np.testing.assert_allclose(encoder(model.model_images(images), training=False)["mean"], mine, atol=1e-5)
    # An export is never overwritten.
    assert "exists already" in one_line_error(cli("--export", "--load", "1", "--save_path", semi_run))
