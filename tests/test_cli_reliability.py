"""What a user does or a machine suffers never loses work or shows a traceback (issue 7)."""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from conftest import FAST, SCRIPT, cli, ok, one_line_error

# 1,000 training images in batches of 50: 20 steps an epoch.
TRAIN = ["--train", "--dist_type", "gmm", *FAST]


@pytest.fixture(scope="module")
def run2(tiny_idx, tmp_path_factory):
    """A finished two-epoch run; tests copy it before damaging anything."""
    save = str(tmp_path_factory.mktemp("rel") / "run2")
    ok(*TRAIN, "--maxepoch", "2", "--data_path", tiny_idx, "--save_path", save)
    return save


def copy_of(run, tmp_path, name="copy"):
    target = str(tmp_path / name)
    shutil.copytree(run, target)
    return target


def flags_of(save):
    with open(os.path.join(save, "flags.json")) as f:
        return json.load(f)


def history_epochs(save):
    with open(os.path.join(save, "history.jsonl")) as f:
        return [json.loads(line)["epoch"] for line in f if line.strip()]


def weights(save, epoch):
    reader = tf.train.load_checkpoint(os.path.join(save, "checkpoints", f"ckpt-{epoch}"))
    names = sorted(n for n in reader.get_variable_to_shape_map()
                   if "OPTIMIZER_SLOT" not in n and "save_counter" not in n)
    return {n: reader.get_tensor(n) for n in names}


def popen_train(save, tiny_idx, maxepoch):
    return subprocess.Popen([sys.executable, SCRIPT, *TRAIN, "--maxepoch", str(maxepoch), "--data_path", tiny_idx,
                             "--save_path", save], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))


def wait_for(path, proc, timeout=300):
    deadline = time.time() + timeout
    while not os.path.exists(path) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert os.path.exists(path), proc.poll()


def test_a_second_process_on_the_same_folder_is_refused(tiny_idx, tmp_path):
    save = str(tmp_path / "busy")
    first = popen_train(save, tiny_idx, 1000)
    try:
        wait_for(os.path.join(save, "history.jsonl"), first)
        line = one_line_error(cli(*TRAIN, "--lr", "1e-3", "--data_path", tiny_idx, "--save_path", save))
        assert f"pid {first.pid}" in line and "another process" in line
        # Drawing from a folder being trained needs no lock: paused (so that its newest checkpoint is not
        # rotated away meanwhile), the trainer keeps its lock while --generate reads.
        wait_for(os.path.join(save, "checkpoints", "checkpoint"), first)
        first.send_signal(signal.SIGSTOP)
        newest = max(int(n[5:-6]) for n in os.listdir(os.path.join(save, "checkpoints")) if n.endswith(".index"))
        ok("--generate", "--load", str(newest), "--save_path", save)
        first.send_signal(signal.SIGCONT)
        assert first.poll() is None
    finally:
        first.send_signal(signal.SIGTERM)
        _, err = first.communicate(timeout=120)
    assert first.returncode == 143
    assert "stopped by SIGTERM" in err and "is intact; run the same command again to resume after it" in err
    assert "Traceback" not in err


def test_a_deleted_or_damaged_state_file_loses_no_epoch(run2, tiny_idx, tmp_path):
    for damage in ("delete", "garbage"):
        save = copy_of(run2, tmp_path, damage)
        state = os.path.join(save, "checkpoints", "checkpoint")
        if damage == "delete":
            os.remove(state)
        else:
            with open(state, "w") as f:
                f.write("model_checkpoint_path: ][\n")
        result = ok(*TRAIN, "--maxepoch", "3", "--data_path", tiny_idx, "--save_path", save)
        assert "resuming" in result.stdout and "after epoch 1" in result.stdout
        assert history_epochs(save) == [0, 1, 2]


def test_resuming_takes_the_runs_settings_and_refuses_contradicting_ones(run2, tiny_idx, tmp_path):
    save = copy_of(run2, tmp_path)
    before = open(os.path.join(save, "flags.json")).read()
    for flag, value in (("--lr", "0.001"), ("--validation_size", "300")):  # an optimizer and a data setting
        line = one_line_error(cli(*TRAIN, "--maxepoch", "3", flag, value, "--data_path", tiny_idx,
                                  "--save_path", save))
        assert f"{flag} {value} differs from the run's" in line and "--allow_change" in line
    assert one_line_error(cli(*TRAIN, "--maxepoch", "3", "--data_path", str(tmp_path), "--save_path", save))
    assert open(os.path.join(save, "flags.json")).read() == before
    # Flags left out come from the run: a plain resume needs only --train and --save_path.
    ok("--train", "--maxepoch", "3", "--save_path", save)
    assert flags_of(save)["dist_type"] == "gmm" and flags_of(save)["max_epoch"] == 3
    ok(*TRAIN, "--maxepoch", "4", "--lr", "1e-3", "--allow_change", "--data_path", tiny_idx, "--save_path", save)
    recorded = flags_of(save)
    assert recorded["learning_rate"] == 1e-3
    # (The plain resume above may have recorded an execution change of its own: XLA follows the machine.)
    typed = next(c for c in recorded["changes"] if c["at_epoch"] == 3)
    assert (typed["learning_rate"], typed["max_epoch"]) == ([2e-4, 1e-3], [3, 4])


def test_a_run_with_nothing_left_to_do_rewrites_nothing(run2, tiny_idx, tmp_path):
    save = copy_of(run2, tmp_path)
    before = open(os.path.join(save, "flags.json")).read()
    result = ok("--train", "--maxepoch", "2", "--save_path", save)
    assert "already holds 2 trained epochs" in result.stdout
    assert open(os.path.join(save, "flags.json")).read() == before


def test_missing_or_incomplete_flags_are_refused(run2, tiny_idx, tmp_path):
    save = copy_of(run2, tmp_path)
    (tmp_path / "copy" / "flags.json").write_text("{}")
    assert "flags.json is damaged: mode is missing" in one_line_error(
        cli("--generate", "--load", "0", "--save_path", save))
    recorded = flags_of(run2)
    (tmp_path / "copy" / "flags.json").write_text(json.dumps(dict(recorded, ncode=2.0)))
    assert "ncode should be of type int" in one_line_error(cli("--viz", "--load", "0", "--save_path", save))
    os.remove(os.path.join(save, "flags.json"))
    line = one_line_error(cli(*TRAIN, "--maxepoch", "3", "--data_path", tiny_idx, "--save_path", save))
    assert "holds checkpoints but no flags.json" in line
    checkpoints = os.path.join(save, "checkpoints")
    assert sorted(os.listdir(checkpoints)) == sorted(os.listdir(os.path.join(run2, "checkpoints")))


def test_damaged_metrics_and_checkpoints(run2, tiny_idx, tmp_path):
    save = copy_of(run2, tmp_path)
    (tmp_path / "copy" / "metrics.json").write_text("[1, 2]")
    # The newest checkpoint's data file truncated to nothing: training falls back to the one before.
    data_file = [n for n in os.listdir(os.path.join(save, "checkpoints")) if n.startswith("ckpt-1.data")][0]
    open(os.path.join(save, "checkpoints", data_file), "w").close()
    line = one_line_error(cli("--generate", "--load", "1", "--save_path", save))
    assert "ckpt-1" in line and "damaged" in line
    result = ok(*TRAIN, "--maxepoch", "2", "--data_path", tiny_idx, "--save_path", save)
    assert "checkpoint of epoch 1 is damaged" in result.stdout and "resumed from epoch 0" in result.stdout
    assert os.path.exists(os.path.join(save, "checkpoints", data_file + ".damaged"))
    assert history_epochs(save) == [0, 1]
    with open(os.path.join(save, "metrics.json")) as f:
        assert json.load(f)["epoch"] == 1


@pytest.mark.parametrize("args, expected", [
    (["--train_semisupervised", "--nlabel", "5"], "--nlabel 5 must be a multiple of 10"),
    (["--train_semisupervised", "--nlabel", "5000"], "exceeds"),
    (["--train_semisupervised", "--validation_size", "0"], "--validation_size 0 leaves no images"),
    (["--train", "--hidden", "100000"], "of memory available: lower --hidden"),
])
def test_settings_the_model_cannot_use(args, expected, tiny_idx, tmp_path):
    assert expected in one_line_error(cli(*FAST, *args, "--data_path", tiny_idx,
                                          "--save_path", str(tmp_path / "r")))


def test_killed_at_random_moments_ends_with_the_uninterrupted_weights(tiny_idx, tmp_path):
    straight = str(tmp_path / "straight")
    ok(*TRAIN, "--maxepoch", "3", "--data_path", tiny_idx, "--save_path", straight)
    killed = str(tmp_path / "killed")
    moments = random.Random(7)
    for _ in range(3):
        proc = popen_train(killed, tiny_idx, 3)
        wait_for(os.path.join(killed, "flags.json"), proc)
        time.sleep(moments.uniform(0.5, 6.0))
        proc.kill()
        proc.wait()
    ok(*TRAIN, "--maxepoch", "3", "--data_path", tiny_idx, "--save_path", killed)
    expected, got = weights(straight, 2), weights(killed, 2)
    assert expected.keys() == got.keys()
    for name in expected:
        np.testing.assert_array_equal(expected[name], got[name], err_msg=name)
    assert history_epochs(killed) == [0, 1, 2]


def test_running_out_of_memory_is_one_line_naming_the_resume_point(tmp_path, capsys):
    from aae_tf import cli as cli_lib

    def command():
        raise tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor with shape[7,7]\nmore")
    previous = signal.getsignal(signal.SIGTERM)
    try:
        with pytest.raises(SystemExit) as exit_info:
            cli_lib.run_guarded(command, str(tmp_path), ["prog"])
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: ran out of memory or disk space (OOM when allocating tensor with shape[7,7]); "
                   f"no checkpoint was written yet in {tmp_path}; free some (or lower --hidden / --bsize) "
                   "and rerun to start over"]


def test_a_failed_command_leaves_no_empty_run_folder_but_keeps_the_users(tmp_path):
    mine = tmp_path / "mine"  # a folder the user made: kept, even empty
    mine.mkdir()
    line = one_line_error(cli(*TRAIN, "--data_path", str(tmp_path / "no_such_folder"),
                              "--save_path", str(mine / "new" / "run")))
    assert "is not a folder" in line
    assert os.listdir(mine) == []  # "new" and "run", made by the command for nothing, are gone
