import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from aae_tf import models

BATCH, NCODE, HIDDEN, NCAT = 3, 5, 7, 4


def test_encoder_shapes_and_determinism():
    encoder = models.Encoder(NCODE, ncat=NCAT, hidden=HIDDEN)
    out = encoder(tf.random.uniform([BATCH, 28, 28, 1]))
    assert out["style_code"].shape == (BATCH, NCODE)
    assert out["label_logits"].shape == (BATCH, NCAT)
    np.testing.assert_allclose(out["label_code"].numpy().sum(-1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(out["style_code"].numpy(), out["mean"].numpy())
    assert len(encoder.layers) > 0 and encoder.get_config()["ncode"] == NCODE


def test_variational_encoder_samples_around_its_mean():
    encoder = models.Encoder(NCODE, hidden=HIDDEN, variational=True)
    images = tf.random.uniform([BATCH, 28, 28, 1])
    a = encoder(images, seed=tf.constant([1, 2]))
    b = encoder(images, seed=tf.constant([3, 4]))
    assert a["log_std"].shape == (BATCH, NCODE)
    np.testing.assert_array_equal(a["mean"].numpy(), b["mean"].numpy())
    assert not np.allclose(a["style_code"].numpy(), b["style_code"].numpy())


def test_decoder_outputs_images_in_tanh_range():
    decoder = models.Decoder(hidden=HIDDEN)
    images = decoder(tf.random.normal([BATCH, NCODE]) * 100.0)
    assert images.shape == (BATCH, 28, 28, 1)
    assert np.all(np.abs(images.numpy()) <= 1.0)
    assert decoder.get_config()["image_shape"] == (28, 28, 1)


def test_sigmoid_decoder_outputs_images_in_unit_range():
    decoder = models.Decoder(hidden=HIDDEN, output_activation="sigmoid")
    images = decoder(tf.random.normal([BATCH, NCODE]) * 100.0).numpy()
    assert images.min() >= 0.0 and images.max() <= 1.0 and images.min() < 0.5 < images.max()
    assert decoder.get_config()["output_activation"] == "sigmoid"


def test_discriminator_gives_one_logit_per_example():
    disc = models.Discriminator(hidden=HIDDEN)
    assert disc(tf.zeros([BATCH, NCODE + 11])).shape == (BATCH, 1)
    assert disc.layers[0].kernel.shape == (NCODE + 11, HIDDEN)


def test_models_have_two_hidden_layers_of_the_given_width():
    encoder = models.Encoder(NCODE, hidden=HIDDEN)
    encoder(tf.zeros([BATCH, 28, 28, 1]))
    widths = [v.shape[-1] for v in encoder.trainable_variables if len(v.shape) == 2]
    assert widths == [HIDDEN, HIDDEN, NCODE]


def test_cluster_heads_map_one_hot_to_rows():
    heads = models.ClusterHeads(NCAT, NCODE)
    y = tf.one_hot([2, 0, 3], NCAT)
    np.testing.assert_allclose(heads(y).numpy(), tf.gather(heads.heads, [2, 0, 3]).numpy())


def test_cluster_heads_start_at_the_given_scale():
    keras.utils.set_random_seed(3)
    small, default = models.ClusterHeads(40, 25, init_std=0.01), models.ClusterHeads(40, 25)
    # 1,000 draws each: the sample standard deviation is within 10% of the scale.
    assert abs(np.std(small.heads.numpy()) - 0.01) < 0.001
    assert abs(np.std(default.heads.numpy()) - 1.0) < 0.1


def test_encoder_batchnorm_uses_batch_statistics_only_in_training():
    encoder = models.Encoder(NCODE, ncat=NCAT, hidden=HIDDEN, batchnorm=True, logits_batchnorm=True)
    images = tf.random.uniform([6, 28, 28, 1], seed=1)
    encoder(images)  # builds: moving means 0, variances 1
    norms = [layer for layer in encoder.body if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(norms) == 2 and encoder.label_norm is not None
    # In training mode the label logits are standardized over the batch: each category's mean is 0.
    logits = encoder(images, training=True)["label_logits"].numpy()
    np.testing.assert_allclose(logits.mean(axis=0), 0.0, atol=1e-4)
    # In inference mode a single image gives the same output however it is batched.
    alone = encoder(images[:1])["label_logits"].numpy()
    np.testing.assert_allclose(alone, encoder(images)["label_logits"].numpy()[:1], rtol=1e-5, atol=1e-6)
    moved = norms[0].moving_mean.numpy()
    assert np.any(moved != 0.0)  # the training call updated the moving statistics


def test_a_fixed_logits_scale_is_the_batch_std_of_the_logits_and_no_variable():
    images = tf.random.stateless_uniform([7, 28, 28, 1], [3, 5])
    fixed = models.Encoder(2, ncat=5, hidden=9, logits_batchnorm=True, logits_scale=2.5, fixed_logits_scale=True)
    learned = models.Encoder(2, ncat=5, hidden=9, logits_batchnorm=True, logits_scale=2.5)
    fixed(images), learned(images)
    # In training mode: 2.5 (x - mean) / sqrt(var + 1e-3) over the batch, x the logits before the normalization
    # (known answer from the dense layers' own outputs), whether or not the scale is learned.
    for encoder in (fixed, learned):
        raw = encoder.label_head(models._run(encoder.body, tf.reshape(images, [7, -1]), False)).numpy()
        expected = 2.5 * (raw - raw.mean(0)) / np.sqrt(raw.var(0) + 1e-3)
        np.testing.assert_allclose(encoder(images, training=True)["label_logits"].numpy(), expected,
                                   rtol=1e-4, atol=1e-5)
    # Only the learned one has a scale to train: the fixed one's is not a variable, so no step moves it.
    assert [v.name for v in learned.label_norm.trainable_variables] == ["gamma"]
    assert fixed.label_norm.trainable_variables == []
    assert models.Encoder.from_config(fixed.get_config()).fixed_logits_scale


def test_input_dropout_only_in_training():
    encoder = models.Encoder(NCODE, hidden=HIDDEN, input_dropout_rate=0.5)
    images = tf.ones([BATCH, 28, 28, 1])
    np.testing.assert_array_equal(encoder(images)["mean"].numpy(), encoder(images)["mean"].numpy())
    dropped = encoder.input_dropout(tf.ones([1, 1000]), training=True).numpy()
    assert 300 < np.count_nonzero(dropped) < 700 and set(np.unique(dropped)) <= {0.0, 2.0}
    np.testing.assert_array_equal(encoder.input_dropout(tf.ones([1, 1000]), training=False).numpy(), 1.0)


def test_initial_kernels_follow_init_std():
    encoder = models.Encoder(NCODE, hidden=300, init_std=0.01)
    encoder(tf.zeros([1, 28, 28, 1]))
    kernel = encoder.trainable_variables[0].numpy()
    assert abs(kernel.std() - 0.01) < 0.001 and abs(kernel.mean()) < 0.001


def test_a_checkpoint_holds_every_variable_of_the_hidden_layers(tmp_path):
    # tf.train.Checkpoint does not follow Keras 3 lists of layers; batch normalization's moving statistics
    # (held by no optimizer) were lost from every checkpoint before the layers were tracked one by one.
    encoder = models.Encoder(ncode=3, ncat=4, hidden=6, batchnorm=True, logits_batchnorm=True)
    encoder(tf.zeros([2, 28, 28, 1]))
    for norm in encoder.hidden_batchnorms():
        norm.moving_mean.assign(tf.fill(norm.moving_mean.shape, 0.25))
    path = tf.train.Checkpoint(encoder=encoder).write(str(tmp_path / "ckpt"))
    saved = dict(tf.train.list_variables(path))
    for name in ("encoder_dense0/_kernel", "encoder_batchnorm0/moving_mean", "encoder_batchnorm1/moving_variance",
                 "label_norm/moving_mean"):
        assert f"encoder/{name}/.ATTRIBUTES/VARIABLE_VALUE" in saved, name
    fresh = models.Encoder(ncode=3, ncat=4, hidden=6, batchnorm=True, logits_batchnorm=True)
    fresh(tf.zeros([2, 28, 28, 1]))
    tf.train.Checkpoint(encoder=fresh).read(path).assert_consumed()
    np.testing.assert_array_equal(fresh.hidden_batchnorms()[1].moving_mean.numpy(), np.full([6], 0.25))
    assert len(fresh.weights) == len(encoder.weights) == 4 + 2 * 4 + 2 + 2 + 3  # no variable listed twice


def test_batchnorm_statistics_are_the_mean_of_the_batch_statistics():
    encoder = models.Encoder(ncode=2, ncat=3, hidden=5, n_layers=1, batchnorm=True, logits_batchnorm=True)
    images = tf.random.stateless_uniform([12, 28, 28, 1], [4, 2])
    encoder(images[:2])
    label_before = [v.numpy() for v in encoder.label_norm.non_trainable_variables]
    encoder.set_batchnorm_statistics(images, batch_size=4)  # three batches of 4
    dense = encoder.body[0]
    pre = (tf.reshape(images, [12, -1]) @ dense.kernel + dense.bias).numpy().reshape(3, 4, 5)
    norm = encoder.hidden_batchnorms()[0]
    np.testing.assert_allclose(norm.moving_mean.numpy(), pre.mean(1).mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(norm.moving_variance.numpy(), pre.var(1).mean(0), rtol=1e-4, atol=1e-6)
    assert norm.momentum == 0.99
    for before, after in zip(label_before, encoder.label_norm.non_trainable_variables):
        np.testing.assert_array_equal(before, after.numpy())


def test_a_hidden_layer_larger_than_the_memory_is_refused_before_it_is_filled(monkeypatch):
    models._check_fits(300, available=4 * 300 * 300)  # exactly fits: 360,000 bytes
    with pytest.raises(ValueError, match=r"300 units needs 0.0 GiB .* lower --hidden"):
        models._check_fits(300, available=4 * 300 * 300 - 1)
    monkeypatch.setattr(models, "available_memory_bytes", lambda: 4 * 16 * 16 - 1)
    with pytest.raises(ValueError, match="16 units needs"):  # through a network's constructor
        models.Discriminator(hidden=16)
    models.Discriminator(hidden=15)


def test_available_memory_is_read_where_the_system_reports_it():
    available = models.available_memory_bytes()
    if os.path.exists("/proc/meminfo"):
        assert isinstance(available, int) and available > 0
    else:
        assert available is None
