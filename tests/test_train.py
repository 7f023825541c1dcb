import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from aae_tf import config as config_lib
from aae_tf import data
from aae_tf import runfiles
from aae_tf import experiments
from aae_tf import train

SMALL = dict(hidden=32, batch_size=25, validation_size=200, max_epoch=1, ncode=2)


def make_engine(small_mnist, save_path, **overrides):
    config = config_lib.ExperimentConfig(**dict(SMALL, **overrides))
    return train.Engine(experiments.create(config, small_mnist), str(save_path))


def test_steps_on_real_mnist_lower_the_reconstruction_loss(small_mnist, tmp_path):
    engine = make_engine(small_mnist, tmp_path, learning_rate=1e-3)
    before = engine.setup.evaluate()["validation_reconstruction_error"]
    batches = engine.setup.train_batches(0).repeat()
    for batch in batches.take(80):
        logs = engine.train_step(batch)
    after = engine.setup.evaluate()["validation_reconstruction_error"]
    assert set(logs) == {"reconstruction_loss", "z_discriminator_loss", "z_generator_loss"}
    assert after < 0.8 * before
    assert int(engine.step.numpy()) == 80


def test_each_phase_trains_only_its_own_networks(small_mnist, tmp_path):
    engine = make_engine(small_mnist, tmp_path)
    names = {p.name: p.networks for p in engine.setup.phases}
    assert names == {"reconstruction": ("encoder", "decoder"), "discriminator": ("discriminator",),
                     "generator": ("encoder",)}
    disc_before = [v.numpy().copy() for v in engine.setup.networks["discriminator"].trainable_variables]
    phase = engine.setup.phases[0]
    batch = next(iter(engine.setup.train_batches(0)))
    variables = [v for n in phase.networks for v in engine.setup.networks[n].trainable_variables]
    with tf.GradientTape() as tape:
        loss, _ = phase.loss_fn(batch, tf.constant([1, 2]))
    phase.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
    for old, new in zip(disc_before, engine.setup.networks["discriminator"].trainable_variables):
        np.testing.assert_array_equal(old, new.numpy())


def test_label_mode_discriminator_sees_code_and_n_plus_one_classes(small_mnist, tmp_path):
    engine = make_engine(small_mnist, tmp_path, mode="label", dist_type="gmm", nlabel=300)
    disc = engine.setup.networks["discriminator"]
    assert disc.layers[0].kernel.shape == (2 + 11, 32)
    assert engine.setup.steps_per_epoch == 1000 // 25
    batch = next(iter(engine.setup.train_batches(0)))
    assert batch["labeled"].dtype == tf.bool and 0 < batch["labeled"].numpy().sum() < 25


def test_semisupervised_discriminators_and_phases(small_mnist, tmp_path):
    engine = make_engine(small_mnist, tmp_path, mode="semisupervised", ncode=5, nlabel=50)
    nets = engine.setup.networks
    assert nets["discriminator"].layers[0].kernel.shape == (5, 32)
    assert nets["label_discriminator"].layers[0].kernel.shape == (10, 32)
    assert [p.name for p in engine.setup.phases] == ["reconstruction", "discriminator", "generator",
                                                     "classification"]
    batch = next(iter(engine.setup.train_batches(0)))
    assert batch["labeled_image"].shape == (25, 28, 28, 1) and batch["image"].shape == (25, 28, 28, 1)
    logs = engine.train_step(batch)
    assert {"classification_loss", "y_generator_loss", "y_discriminator_loss"} <= set(logs)
    assert set(engine.setup.evaluate()) >= {"test_error", "validation_error"}


def test_checkpoint_round_trip_and_resume(small_mnist, tmp_path):
    engine = make_engine(small_mnist, tmp_path)
    assert engine.restore_latest() == 0
    metrics = engine.fit(verbose=False)
    assert metrics["epoch"] == 0 and os.path.exists(tmp_path / "metrics.json")
    weights = [v.numpy() for v in engine.setup.networks["encoder"].weights]

    fresh = make_engine(small_mnist, tmp_path)
    fresh.restore_epoch(0)
    for old, new in zip(weights, fresh.setup.networks["encoder"].weights):
        np.testing.assert_array_equal(old, new.numpy())

    resumed = make_engine(small_mnist, tmp_path, max_epoch=2)
    assert resumed.restore_latest() == 1
    step_before = int(resumed.step.numpy())
    assert step_before == engine.setup.steps_per_epoch
    resumed.fit(verbose=False)
    assert resumed.available_epochs() == [0, 1]
    assert int(resumed.step.numpy()) == 2 * step_before
    with pytest.raises(train.CheckpointError, match="epochs with checkpoints: 0, 1"):
        resumed.restore_epoch(5)


def test_checkpoint_of_another_architecture_is_refused(small_mnist, tmp_path):
    make_engine(small_mnist, tmp_path).fit(verbose=False)
    other = make_engine(small_mnist, tmp_path, ncode=3)
    with pytest.raises(train.CheckpointError, match="does not fit"):
        other.restore_latest()


def test_nan_stops_training_and_keeps_the_last_good_checkpoint(small_mnist, tmp_path):
    engine = make_engine(small_mnist, tmp_path)
    engine.fit(verbose=False)
    index = tmp_path / "checkpoints" / "ckpt-0.index"
    saved = index.read_bytes()

    poisoned = make_engine(small_mnist, tmp_path, max_epoch=2)
    poisoned.restore_latest()
    phase = poisoned.setup.phases[1]
    original = phase.loss_fn

    def exploding(batch, seed):
        loss, logs = original(batch, seed)
        blown = tf.where(poisoned.step >= poisoned.setup.steps_per_epoch + 3, np.nan, 0.0)
        return loss + blown, dict(logs, z_discriminator_loss=logs["z_discriminator_loss"] + blown)
    phase.loss_fn = exploding
    with pytest.raises(train.TrainingDiverged, match=r"z_discriminator_loss became nan at epoch 1 step 3"):
        poisoned.fit(verbose=False)
    assert poisoned.available_epochs() == [0]
    assert index.read_bytes() == saved


def test_default_strategy_scope_builds_and_runs(small_mnist, tmp_path):
    strategy = tf.distribute.get_strategy()
    config = config_lib.ExperimentConfig(**SMALL)
    with strategy.scope():
        setup = experiments.create(config, small_mnist)
    engine = train.Engine(setup, str(tmp_path), strategy=strategy)
    logs = engine.train_step(next(iter(setup.train_batches(0))))
    assert all(np.isfinite(float(v)) for v in logs.values())


def test_label_mode_needs_a_mixture_prior(small_mnist):
    config = config_lib.ExperimentConfig(**dict(SMALL, mode="label"))
    with pytest.raises(ValueError, match="gmm or swiss_roll"):
        experiments.create(config, small_mnist)


def test_shuffling_is_seeded_per_epoch(small_mnist, tmp_path):
    engine = make_engine(small_mnist, tmp_path)
    first = next(iter(engine.setup.train_batches(0)))["label"].numpy()
    again = next(iter(engine.setup.train_batches(0)))["label"].numpy()
    other = next(iter(engine.setup.train_batches(1)))["label"].numpy()
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    assert data.NUM_CLASSES == 10


def test_the_validation_chosen_checkpoint_outlives_the_rotation(small_mnist, tmp_path):
    config = config_lib.ExperimentConfig(**dict(SMALL, mode="semisupervised", ncode=3, nlabel=50, max_epoch=4))
    engine = train.Engine(experiments.create(config, small_mnist), str(tmp_path), max_to_keep=1)
    validation = iter([6.0, 2.0, 3.0, 4.0])  # epoch 1 is the chosen one, three epochs before the last
    kernels = []

    def scripted_evaluation(epoch=None):
        kernels.append(engine.setup.networks["encoder"].weights[0].numpy().copy())
        return {"validation_error": next(validation), "test_error": 50.0}
    engine.setup.evaluate = scripted_evaluation
    metrics = engine.fit(verbose=False)
    assert metrics["best_epoch"] == 1
    assert runfiles.checkpoints_on_disk(tmp_path / "checkpoints") == [3]
    assert os.listdir(tmp_path / "checkpoints" / "best") and engine.available_epochs() == [1, 3]
    fresh = make_engine(small_mnist, tmp_path, mode="semisupervised", ncode=3, nlabel=50)
    fresh.restore_epoch(1)
    np.testing.assert_array_equal(fresh.setup.networks["encoder"].weights[0].numpy(), kernels[1])
    assert not np.array_equal(kernels[1], kernels[3])
    assert fresh.restore_latest() == 4  # resumes from the newest, never from the kept best


def _deterministic_normal(shape, seed, mean=0.0, stddev=1.0, dtype=tf.float32, **unused):
    """A stand-in for tf.random.stateless_normal that any backend computes alike: a sine wave, whatever the
    seed (seeds are derived by further draws, which differ between the backends too)."""
    count = tf.reduce_prod(tf.cast(shape, tf.int32))
    values = tf.sin(tf.cast(tf.range(count), dtype) * 0.37)
    return tf.reshape(values, shape) * tf.cast(stddev, dtype) + tf.cast(mean, dtype)


def _deterministic_categorical(logits, num_samples, seed, dtype=None, **unused):
    rows = tf.range(tf.shape(logits)[0], dtype=tf.int64)[:, None] + tf.range(num_samples, dtype=tf.int64)[None]
    return tf.cast(tf.math.floormod(rows, tf.cast(tf.shape(logits)[-1], tf.int64)), dtype or tf.int64)


@pytest.mark.parametrize("mode, overrides", [("unsupervised", {}),
                                             ("semisupervised", dict(nlabel=50, ncode=4, input_noise_std=0.3))])
def test_the_compiled_step_gives_the_losses_of_the_plain_one(small_mnist, tmp_path, monkeypatch, mode, overrides):
    # XLA draws other numbers than TensorFlow's kernels for the same stateless seed (even naming the
    # algorithm; docs/benchmarks.md), so the draws are replaced by a function both compute alike: what is
    # compared is the rest of the step (losses, gradients, optimizer updates, three steps in a row). Seen: at
    # most 5e-6 apart.
    for module in (tf.random, tf.compat.v2.random):  # TFP draws through the latter
        monkeypatch.setattr(module, "stateless_normal", _deterministic_normal)
        monkeypatch.setattr(module, "stateless_categorical", _deterministic_categorical)
    losses = {}
    for jit in (True, False):
        engine = make_engine(small_mnist, tmp_path / str(jit), mode=mode, jit_compile=jit, **overrides)
        assert engine.jit_compile == jit
        batches = iter(engine.setup.train_batches(0))
        steps = [engine.train_step(next(batches)) for _ in range(3)]
        losses[jit] = [{k: float(v) for k, v in logs.items()} for logs in steps]
    assert losses[True][0].keys() == losses[False][0].keys()
    for compiled, plain in zip(losses[True], losses[False]):
        for key in plain:
            np.testing.assert_allclose(compiled[key], plain[key], rtol=1e-5, err_msg=key)


def test_a_restored_batchnorm_encoder_evaluates_as_at_the_end_of_training(small_mnist, tmp_path):
    overrides = dict(mode="cluster", nlabel=0, ncode=3, ncluster=4, encoder_batchnorm=True, input_dropout=0.2,
                     logits_batchnorm=True)
    engine = make_engine(small_mnist, tmp_path, **overrides)
    trained = engine.fit(verbose=False)
    fresh = make_engine(small_mnist, tmp_path, **overrides)
    fresh.restore_epoch(0)
    for old, new in zip(engine.setup.networks["encoder"].weights, fresh.setup.networks["encoder"].weights):
        np.testing.assert_array_equal(old.numpy(), new.numpy(), err_msg=old.path)
    assert fresh.setup.evaluate()["validation_cluster_error"] == trained["validation_cluster_error"]


def test_model_choice_uses_validation_only():
    records = [{"epoch": 0, "validation_error": 9.0, "test_error": 8.0},
               {"epoch": 1, "validation_error": 7.0, "test_error": 9.5},
               {"epoch": 2, "validation_error": 7.5, "test_error": 1.0}]
    best = runfiles.best_record(records)
    assert best == {"best_epoch": 1, "best_validation_error": 7.0, "test_error_at_best_validation": 9.5}
    assert runfiles.best_record([{"epoch": 0, "test_error": 3.0}]) == {}


def test_paper_sgd_gives_each_phase_kind_its_momentum_and_rate(small_mnist, tmp_path):
    engine = make_engine(small_mnist, tmp_path, optimizer="sgd", learning_rate=0.01,
                         adversarial_learning_rate=0.1, lr_decay_epochs=(50, 1000))
    by_name = {p.name: p.optimizer for p in engine.setup.phases}
    assert by_name["reconstruction"].momentum == 0.9 and by_name["generator"].momentum == 0.1
    assert float(by_name["reconstruction"].learning_rate) == pytest.approx(0.01)
    assert float(by_name["discriminator"].learning_rate) == pytest.approx(0.1)
    logs = engine.train_step(next(iter(engine.setup.train_batches(0))))
    assert all(np.isfinite(float(v)) for v in logs.values())


def test_learning_rate_is_divided_by_ten_at_each_decay_epoch(small_mnist, tmp_path):
    engine = make_engine(small_mnist, tmp_path, learning_rate=1e-3, lr_decay_epochs=(1, 2))
    optimizer = engine.setup.phases[0].optimizer
    steps = engine.setup.steps_per_epoch
    rates = []
    for iteration in (0, steps - 1, steps, 2 * steps, 5 * steps):
        optimizer.iterations.assign(iteration)
        rates.append(float(optimizer.learning_rate))
    np.testing.assert_allclose(rates, [1e-3, 1e-3, 1e-4, 1e-5, 1e-5], rtol=1e-5)


def test_a_run_resumed_without_decay_epochs_keeps_its_rate(small_mnist, tmp_path):
    first = make_engine(small_mnist, tmp_path, learning_rate=1e-3, lr_decay_epochs=(1,), max_epoch=1)
    first.fit(verbose=False)
    # The same run resumed with a constant rate (the schedule changed, the optimizer's checkpoint still fits):
    # epoch 1 keeps 1e-3 where the decay would have made it 1e-4.
    constant = make_engine(small_mnist, tmp_path, learning_rate=1e-3, lr_decay_epochs=(), max_epoch=2)
    assert constant.restore_latest() == 1
    assert constant.fit(verbose=False)["learning_rate"] == pytest.approx(1e-3)
    optimizer = constant.setup.phases[0].optimizer
    optimizer.iterations.assign(1000 * constant.setup.steps_per_epoch)
    assert float(optimizer.learning_rate) == pytest.approx(1e-3)


def test_a_resumed_run_rotates_out_the_checkpoints_it_found(small_mnist, tmp_path):
    def engine(epochs):
        config = config_lib.ExperimentConfig(**dict(SMALL, max_epoch=epochs))
        return train.Engine(experiments.create(config, small_mnist), str(tmp_path), max_to_keep=2)
    engine(3).fit(verbose=False)
    checkpoints = os.path.join(str(tmp_path), runfiles.CHECKPOINT_DIR)
    assert runfiles.checkpoints_on_disk(checkpoints) == [1, 2]
    resumed = engine(5)
    assert resumed.restore_latest() == 3
    resumed.fit(verbose=False)
    assert runfiles.checkpoints_on_disk(checkpoints) == [3, 4]  # not 1, 2, 3, 4: those found at the resume rotate too


def test_initial_weights_follow_the_seed(synthetic_mnist):
    def first_kernel(seed):
        config = config_lib.ExperimentConfig(hidden=7, ncode=5, seed=seed, batch_size=20, validation_size=100)
        return experiments.create(config, synthetic_mnist).networks["encoder"].trainable_variables[0].numpy()
    np.testing.assert_array_equal(first_kernel(3), first_kernel(3))
    assert not np.array_equal(first_kernel(3), first_kernel(4))


def test_metrics_report_the_learning_rate_each_epoch_used(small_mnist, tmp_path):
    engine = make_engine(small_mnist, tmp_path, learning_rate=1e-3, lr_decay_epochs=(1,), max_epoch=2)
    engine.fit(verbose=False)
    assert engine.restore_latest() == 2
    first = make_engine(small_mnist, tmp_path / "one", learning_rate=1e-3, lr_decay_epochs=(1,), max_epoch=1)
    assert first.fit(verbose=False)["learning_rate"] == pytest.approx(1e-3)
    with open(tmp_path / "metrics.json") as f:
        import json
        assert json.load(f)["learning_rate"] == pytest.approx(1e-4)


@pytest.mark.parametrize("precision, compute", [("mixed_bfloat16", "bfloat16"),
                                                ("mixed_float16", "float16")])
def test_mixed_precision_trains_checkpoints_and_resumes_in_float32(precision, compute, small_mnist, tmp_path):
    engine = make_engine(small_mnist, tmp_path, precision=precision, mode="semisupervised", ncode=4, nlabel=100)
    encoder = engine.setup.networks["encoder"]
    assert encoder.body[0].compute_dtype == compute and encoder.body[0].kernel.dtype == "float32"
    # float16 scales each phase's loss (its own LossScaleOptimizer around the phase's optimizer); bfloat16 needs not.
    scaled = [isinstance(a, keras.optimizers.LossScaleOptimizer) for a in engine._appliers]
    assert scaled == [precision == "mixed_float16"] * len(engine.setup.phases)
    metrics = engine.fit(verbose=False)
    assert np.isfinite(metrics["reconstruction_loss"]) and metrics["test_error"] < 90.0
    out = engine.setup.encode(engine.setup.summary_batch[0][:3])
    assert out["label_code"].dtype == tf.float32 and out["style_code"].dtype == tf.float32
    # The same checkpoint restores into a float32 model (variables are float32 either way; the loss scale is
    # not checkpointed).
    resumed = make_engine(small_mnist, tmp_path, mode="semisupervised", ncode=4, nlabel=100, max_epoch=2)
    assert resumed.restore_latest() == 1
    assert resumed.setup.networks["encoder"].body[0].compute_dtype == "float32"
    assert resumed.fit(verbose=False)["epoch"] == 1


def test_float16_gradients_are_unscaled_before_the_update(small_mnist, tmp_path):
    """The decoder's first update (the reconstruction phase alone trains it) in float16 is float32's within
    float16's rounding, not 2**15 times it: the loss scale is undone before the optimizer sees the gradients."""
    deltas, norms = {}, {}
    for precision in ("float32", "mixed_float16"):
        engine = make_engine(small_mnist, tmp_path / precision, precision=precision, jit_compile=False,
                             optimizer="sgd", learning_rate=0.01)
        batch = next(iter(engine.setup.train_batches(0)))
        norms[precision] = engine.gradient_norms(batch, tf.constant([3, 4]))["reconstruction"]
        decoder = engine.setup.networks["decoder"]
        before = [v.numpy() for v in decoder.trainable_variables]
        engine.train_step(batch)
        deltas[precision] = np.concatenate([(v.numpy() - b).ravel()
                                            for v, b in zip(decoder.trainable_variables, before)])
    assert np.abs(deltas["float32"]).max() > 0
    error = np.linalg.norm(deltas["mixed_float16"] - deltas["float32"]) / np.linalg.norm(deltas["float32"])
    assert error < 0.05
    assert norms["mixed_float16"] == pytest.approx(norms["float32"], rel=0.05)


def test_a_requested_stop_ends_training_before_the_next_step_and_saves_nothing(small_mnist, tmp_path):
    engine = make_engine(small_mnist, tmp_path)
    train.request_stop()
    try:
        with pytest.raises(train.StopRequested):
            engine.fit(verbose=False)
    finally:
        train._STOP.clear()
    # The flag is checked before each epoch and after each step: a stop asked before training takes no step.
    assert int(engine.step.numpy()) == 0 and engine.available_epochs() == []


def test_gradient_norms_measure_each_phase_without_updating(small_mnist, tmp_path):
    one = make_engine(small_mnist, tmp_path / "one", mode="unsupervised")
    two = make_engine(small_mnist, tmp_path / "two", mode="unsupervised", encw=2.0)  # same seed: same weights
    batch = next(iter(one.setup.train_batches(0)))
    before = [v.numpy() for v in one.setup.networks["encoder"].weights]
    norms, doubled = one.gradient_norms(batch, tf.constant([3, 0])), two.gradient_norms(batch, tf.constant([3, 0]))
    assert set(norms) == {"reconstruction", "discriminator", "generator"} and all(n > 0 for n in norms.values())
    # The reconstruction phase's loss is encw x the cost: twice encw, twice the norm; the others are unchanged.
    assert doubled["reconstruction"] == pytest.approx(2 * norms["reconstruction"], rel=1e-4)
    assert doubled["generator"] == pytest.approx(norms["generator"], rel=1e-5)
    for old, new in zip(before, one.setup.networks["encoder"].weights):
        np.testing.assert_array_equal(old, new.numpy())
