"""The run folder's own files: history, metrics, lock, and the strict reading of a recorded configuration."""

import json
import os

import numpy as np
import pytest

from aae_tf import config as config_lib
from aae_tf import data
from aae_tf import runfiles


def test_history_survives_a_torn_last_line(tmp_path):
    runfiles.append_history(str(tmp_path), {"epoch": 0, "validation_error": 5.0, "test_error": 6.0})
    runfiles.append_history(str(tmp_path), {"epoch": 1, "validation_error": 4.0, "test_error": 7.0})
    with open(tmp_path / runfiles.HISTORY_FILE, "ab") as f:
        f.write(b'{"epoch": 2, "valid')  # a crash in the middle of an append
    assert [r["epoch"] for r in runfiles.read_history(str(tmp_path))] == [0, 1]
    runfiles.append_history(str(tmp_path), {"epoch": 2, "validation_error": 4.5, "test_error": 1.0})
    records = runfiles.read_history(str(tmp_path))
    assert [r["epoch"] for r in records] == [0, 1, 2]
    assert runfiles.summary(records) == {"epoch": 2, "validation_error": 4.5, "test_error": 1.0, "best_epoch": 1,
                                         "best_validation_error": 4.0, "test_error_at_best_validation": 7.0}


def test_a_damaged_line_before_the_last_is_reported(tmp_path):
    (tmp_path / runfiles.HISTORY_FILE).write_text('{"epoch": 0}\ngarbage\n{"epoch": 2}\n')
    with pytest.raises(runfiles.RunFileError, match="damaged at line 2"):
        runfiles.read_history(str(tmp_path))


def test_history_keeps_only_epochs_with_a_checkpoint(tmp_path):
    for epoch in range(4):
        runfiles.append_history(str(tmp_path), {"epoch": epoch})
    assert [r["epoch"] for r in runfiles.keep_history_before(str(tmp_path), 3)] == [0, 1, 2]
    assert [r["epoch"] for r in runfiles.read_history(str(tmp_path))] == [0, 1, 2]


def fake_checkpoint(folder, epoch):
    os.makedirs(folder, exist_ok=True)
    for suffix in (".index", ".data-00000-of-00001"):
        (folder / f"ckpt-{epoch}{suffix}").write_text(f"epoch {epoch}{suffix}")


def test_a_branch_is_the_run_as_it_stood_after_an_epoch(tmp_path):
    run = tmp_path / "run"
    checkpoints = run / runfiles.CHECKPOINT_DIR
    run.mkdir()
    for epoch in range(5):
        runfiles.append_history(str(run), {"epoch": epoch, "validation_error": 9.0 - epoch})
    (run / runfiles.FLAGS_FILE).write_text('{"seed": 3}')
    for epoch in (2, 3, 4):
        fake_checkpoint(checkpoints, epoch)
    for epoch in (1, 4):  # kept best checkpoints: the one of epoch 4 is after the branch point
        fake_checkpoint(checkpoints / runfiles.BEST_DIR, epoch)
    (checkpoints / "ckpt-0.index").write_text("an index without its data is no checkpoint")
    before = sorted(str(p) for p in run.rglob("*"))
    branch = tmp_path / "branch"
    runfiles.copy_run_at_epoch(str(run), 3, str(branch))
    assert [r["epoch"] for r in runfiles.read_history(str(branch))] == [0, 1, 2, 3]
    assert (branch / runfiles.FLAGS_FILE).read_text() == '{"seed": 3}'
    assert runfiles.checkpoints_on_disk(str(branch / runfiles.CHECKPOINT_DIR)) == [3]
    assert (branch / runfiles.CHECKPOINT_DIR / "ckpt-3.index").read_text() == "epoch 3.index"
    assert runfiles.checkpoints_on_disk(str(branch / runfiles.CHECKPOINT_DIR / runfiles.BEST_DIR)) == [1]
    # An epoch whose checkpoint survives only as the kept best one branches too.
    runfiles.copy_run_at_epoch(str(run), 1, str(tmp_path / "early"))
    assert runfiles.checkpoints_on_disk(str(tmp_path / "early" / runfiles.CHECKPOINT_DIR)) == [1]
    with pytest.raises(runfiles.RunFileError, match=r"no checkpoint of epoch 0 \(epochs with checkpoints: 1, 2, 3, 4"):
        runfiles.copy_run_at_epoch(str(run), 0, str(tmp_path / "none"))
    with pytest.raises(runfiles.RunFileError, match="exists already"):
        runfiles.copy_run_at_epoch(str(run), 2, str(branch))
    with pytest.raises(runfiles.RunFileError, match="no trained model"):
        runfiles.copy_run_at_epoch(str(tmp_path / "missing"), 2, str(tmp_path / "other"))
    assert not os.path.exists(tmp_path / "none") and not os.path.exists(tmp_path / "other")
    assert sorted(str(p) for p in run.rglob("*")) == before  # the source is only read


@pytest.mark.parametrize("content", ["garbage", "", "plain text", "[1, 2]"])
def test_damaged_metrics_are_rebuilt_from_the_history(tmp_path, content):
    runfiles.append_history(str(tmp_path), {"epoch": 0, "validation_error": 3.0, "test_error": 2.0})
    (tmp_path / runfiles.METRICS_FILE).write_text(content)
    assert runfiles.read_metrics(str(tmp_path))["best_validation_error"] == 3.0


def test_a_second_holder_of_the_lock_is_refused_with_the_first_ones_pid(tmp_path):
    with runfiles.RunLock(str(tmp_path)):
        with pytest.raises(runfiles.RunFileError, match=f"pid {os.getpid()}"):
            with runfiles.RunLock(str(tmp_path)):
                pass
    with runfiles.RunLock(str(tmp_path)):  # released: free again
        pass


def test_partial_writes_are_cleaned_up(tmp_path):
    (tmp_path / "checkpoints" / "ckpt-3_temp").mkdir(parents=True)
    (tmp_path / "metrics.json.partial").write_text("{")
    (tmp_path / "checkpoints" / "ckpt-2.index").write_text("kept")
    runfiles.remove_partial_writes(str(tmp_path))
    assert sorted(os.listdir(tmp_path / "checkpoints")) == ["ckpt-2.index"]
    assert not (tmp_path / "metrics.json.partial").exists()


def test_recorded_configuration_must_be_complete_and_typed():
    recorded = json.loads(config_lib.ExperimentConfig(mode="cluster", ncode=5).to_json())
    assert config_lib.ExperimentConfig.from_dict(recorded).ncode == 5
    with pytest.raises(config_lib.ConfigError, match="ncode should be of type int"):
        config_lib.ExperimentConfig.from_dict(dict(recorded, ncode=5.0))
    with pytest.raises(config_lib.ConfigError, match="dist_type is missing"):
        config_lib.ExperimentConfig.from_dict({k: v for k, v in recorded.items() if k != "dist_type"})
    with pytest.raises(config_lib.ConfigError, match="mode is missing"):
        config_lib.ExperimentConfig.from_dict({})
    # A run recorded before the later options existed trained with their defaults.
    old = {k: v for k, v in recorded.items() if k not in config_lib.ADDED_LATER}
    assert config_lib.ExperimentConfig.from_dict(old).encoder_batchnorm is False


@pytest.mark.parametrize("field, value, expected", [
    ("learning_rate", float("nan"), "positive finite"), ("learning_rate", float("inf"), "positive finite"),
    ("batch_size", 1, "at least 2"), ("ncluster", 1, "at least 2"), ("eta", -1.0, "not negative"),
    ("disw", -1.0, "not negative"), ("encw", 0.0, "must be positive"), ("nlabel", -5, "-1 (all labels)"),
    ("input_dropout", 1.0, "[0, 1)"), ("init_std", 0.0, "positive"), ("parzen_every", -1, "must not be negative"),
])
def test_settings_out_of_range_name_their_field(field, value, expected):
    with pytest.raises(config_lib.ConfigError, match=expected.replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[")) as caught:
        config_lib.ExperimentConfig(**{field: value})
    assert caught.value.field == field


def test_a_cache_of_the_right_shapes_but_the_wrong_kind_is_refused(tmp_path, mnist):
    path = str(tmp_path / "cache.npz")
    np.savez(path, train_images=mnist.train_images.astype(np.float32), train_labels=mnist.train_labels,
             test_images=mnist.test_images, test_labels=mnist.test_labels)
    with pytest.raises(data.DataError, match="wrong kind"):
        data.load_cached_npz(path)
    np.savez(path, train_images=mnist.train_images, train_labels=mnist.train_labels[:100],
             test_images=mnist.test_images, test_labels=mnist.test_labels)
    with pytest.raises(data.DataError, match="wrong kind"):
        data.load_cached_npz(path)


def test_a_likelihood_chooses_its_highest_epoch_and_reports_its_test_likelihood():
    records = [{"epoch": 0, "validation_log_likelihood": 10.0, "log_likelihood": 11.0, "test_error": 1.0},
               {"epoch": 1, "validation_log_likelihood": 30.0, "log_likelihood": 29.0},
               {"epoch": 2, "validation_log_likelihood": 20.0, "log_likelihood": 25.0},
               {"epoch": 3}]  # an epoch not scored
    assert runfiles.best_record(records, "validation_log_likelihood") == {
        "best_epoch": 1, "best_validation_error": 30.0, "test_error_at_best_validation": 29.0}
    errors = [{"epoch": 0, "validation_error": 3.0, "test_error": 4.0},
              {"epoch": 1, "validation_error": 2.0, "test_error": 5.0}]
    assert runfiles.best_record(errors)["best_epoch"] == 1  # errors: the lowest
