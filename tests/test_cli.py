"""The command line end to end, on a small slice of real MNIST written as IDX files."""

import json
import os
import subprocess
import sys

import pytest

from aae_tf import hardware, runfiles
from conftest import (FAST, OWN_PROCESS_VARIABLE, SCRIPT, SMALL, VAE_SCRIPT, _script, cli, ok, one_line_error,
                      png_shape)


# What this machine trains with when the command does not say, and the other precision.
MACHINE = hardware.execution_defaults(hardware.read_cpuinfo(), has_gpu=False)
OTHER_PRECISION = "float32" if MACHINE["precision"] == "mixed_bfloat16" else "mixed_bfloat16"


@pytest.fixture(scope="module")
def gmm_run(tiny_idx, tmp_path_factory):
    """Trained one epoch in the precision this machine would not choose (test_same_command_resumes resumes it
    without naming one)."""
    save = str(tmp_path_factory.mktemp("cli") / "gmm")
    ok("--train", "--dist_type", "gmm", "--maxepoch", "1", "--data_path", tiny_idx, "--save_path", save, *SMALL,
       "--precision", OTHER_PRECISION)
    return save


def test_training_leaves_every_file(gmm_run, tiny_idx):
    with open(os.path.join(gmm_run, "flags.json")) as f:
        flags = json.load(f)
    assert flags["dist_type"] == "gmm" and flags["data_path"] == tiny_idx and flags["max_epoch"] == 1
    with open(os.path.join(gmm_run, "metrics.json")) as f:
        metrics = json.load(f)
    assert metrics["epoch"] == 0 and metrics["reconstruction_loss"] > 0
    assert os.path.exists(os.path.join(gmm_run, "checkpoints", "ckpt-0.index"))
    for folder in ("train", "eval"):
        events = os.listdir(os.path.join(gmm_run, folder))
        assert any(name.startswith("events.out.tfevents") for name in events)


def test_tensorboard_sees_losses_images_and_histograms(gmm_run):
    from tensorboard.backend.event_processing import event_accumulator
    acc = event_accumulator.EventAccumulator(os.path.join(gmm_run, "eval"), size_guidance={"tensors": 0})
    acc.Reload()
    tags = set(acc.Tags()["tensors"])
    assert {"reconstruction_loss", "z_discriminator_loss", "learning_rate", "input", "reconstruction",
            "generated", "prior_z/dim0", "encoder_z/dim1"} <= tags


def test_generate_and_viz_draw_the_trained_model(gmm_run):
    ok("--generate", "--dist_type", "gmm", "--load", "0", "--save_path", gmm_run)
    assert png_shape(os.path.join(gmm_run, "generate_im.png")) == (560, 560)
    ok("--viz", "--dist_type", "gmm", "--load", "0", "--save_path", gmm_run)
    assert os.path.exists(os.path.join(gmm_run, "latent.png"))
    for k in range(10):
        assert png_shape(os.path.join(gmm_run, f"manifold_{k}.png")) == (280, 280)


def test_same_command_resumes(gmm_run, tiny_idx):
    with open(os.path.join(gmm_run, "flags.json")) as f:
        trained = json.load(f)
    assert trained["precision"] == OTHER_PRECISION and trained["jit_compile"] == (OTHER_PRECISION == "float32")
    result = ok("--train", "--dist_type", "gmm", "--maxepoch", "2", "--data_path", tiny_idx,
                "--save_path", gmm_run, *SMALL)
    assert "resuming" in result.stdout
    assert os.path.exists(os.path.join(gmm_run, "checkpoints", "ckpt-1.index"))
    with open(os.path.join(gmm_run, "metrics.json")) as f:
        assert json.load(f)["epoch"] == 1
    # Left unnamed, the precision and XLA are this machine's, and the switch is recorded.
    with open(os.path.join(gmm_run, "flags.json")) as f:
        resumed = json.load(f)
    assert {key: resumed[key] for key in MACHINE} == MACHINE
    assert resumed["changes"] == [{"precision": [OTHER_PRECISION, MACHINE["precision"]],
                                   "jit_compile": [not MACHINE["jit_compile"], MACHINE["jit_compile"]],
                                   "max_epoch": [1, 2], "at_epoch": 1, "command": resumed["changes"][0]["command"]}]
    assert resumed["changes"][0]["command"].startswith("python experiment/aae_mnist.py --train --dist_type gmm")


@pytest.mark.parametrize("args, expected", [
    (["--train", "--generate"], "cannot be combined"),
    ([], "nothing to do"),
    (["--train", "--bsize", "0"], "--bsize must be at least 2"),
    (["--train", "--maxepoch", "-1"], "--maxepoch must be positive"),
    (["--train", "--dist_type", "cauchy"], "dist_type"),
    (["--train", "--dropout", "0"], "--dropout must be in (0, 1]"),
    (["--train_supervised", "--label"], "--label goes with --train"),
    (["--train", "--extra"], "Unknown command line flag"),
    (["--train", "stray"], "unexpected arguments"),
    (["--train", "--label"], "gmm or swiss_roll"),
    (["--train_cluster", "--ncluster", "1"], "--ncluster must be at least 2"),
    (["--train", "--eta", "-1"], "--eta must be a finite number, not negative"),
    (["--train_dimreduce", "--head_init_std", "0"], "--head_init_std must be positive"),
    (["--train", "--disw", "-1"], "--disw must be a finite number, not negative"),
    (["--train", "--encw", "0"], "--encw must be positive"),
    (["--train", "--bsize", "1"], "--bsize must be at least 2"),
    (["--train", "--lr", "nan"], "--lr must be a positive finite number"),
    (["--train", "--lr", "inf"], "--lr must be a positive finite number"),
    (["--train_semisupervised", "--nlabel", "-5"], "--nlabel must be -1 (all labels)"),
    (["--train", "--data_path", ""], "--data_path is empty"),
    (["--viz", "--supervise"], "--supervise goes with --generate"),
    (["--train_cluster", "--labeled_reconstruction"], "needs one of them with --nlabel above 0"),
    (["--train_semisupervised", "--clip_norm", "0"], "--clip_norm must be a positive number"),
    (["--train_semisupervised", "--label_balance", "-1"], "--label_balance must be a finite number, not negative"),
    (["--train_supervised", "--label_balance", "1"], "--label_balance evens out the label code"),
    (["--train_dimreduce", "--label_recon_gradient", "1.5"], "--label_recon_gradient must be between 0 and 1"),
    (["--train_cluster", "--nologits_batchnorm", "--fixed_logits_scale"],
     "--fixed_logits_scale needs --logits_batchnorm"),
    (["--train", "--parzen_every", "-2"], "--parzen_every must not be negative"),
    (["--train", "--parzen_every", "1", "--validation_size", "0"], "--parzen_every needs validation images"),
    (["--train", "--lr_decay_epochs", "50,x"], "--lr_decay_epochs=50,x: should be epochs separated by commas"),
    (["--train", "--lr_decay_epochs", "50,20"], "--lr_decay_epochs must be increasing epochs above 0"),
    (["--train", "--lr_decay_epochs", "0"], "--lr_decay_epochs must be increasing epochs above 0"),
])
def test_bad_flags_give_one_line(args, expected, tiny_idx, tmp_path):
    result = cli(*FAST, "--save_path", str(tmp_path / "bad"), *args,
                 *([] if "--data_path" in args else ["--data_path", tiny_idx]))
    assert expected in one_line_error(result)
    assert not os.path.exists(tmp_path / "bad" / "checkpoints")


@pytest.mark.parametrize("text, epochs", [("50,1000", (50, 1000)), ("7", (7,)), ("none", ()), ("None", ())])
def test_lr_decay_epochs_parse_to_a_tuple_of_epochs(text, epochs):
    assert _script().EpochsParser().parse(text) == epochs


def test_lr_decay_epochs_refuse_words():
    with pytest.raises(ValueError, match="should be epochs separated by commas"):
        _script().EpochsParser().parse("50,never")


def test_missing_checkpoint_lists_the_existing_ones(gmm_run):
    line = one_line_error(cli("--generate", "--dist_type", "gmm", "--load", "7", "--save_path", gmm_run))
    # The shared run holds one or two epochs, as test_same_command_resumes ran on this worker or not.
    on_disk = sorted(int(n[len("ckpt-"):-len(".index")]) for n in os.listdir(os.path.join(gmm_run, "checkpoints"))
                     if n.endswith(".index"))
    assert on_disk[0] == 0
    assert "no checkpoint for epoch 7" in line and f"(epochs with checkpoints: {', '.join(map(str, on_disk))})" in line


def test_viz_needs_a_two_dimensional_code(tiny_idx, tmp_path):
    save = str(tmp_path / "z4")
    ok("--train", "--ncode", "4", "--maxepoch", "1", "--data_path", tiny_idx, "--save_path", save, *FAST)
    assert "--ncode 2" in one_line_error(cli("--viz", "--ncode", "4", "--load", "0", "--save_path", save))


def test_other_settings_on_an_existing_run_are_refused(gmm_run, tiny_idx):
    before = sorted(os.listdir(os.path.join(gmm_run, "checkpoints")))
    line = one_line_error(cli("--train", "--dist_type", "gaussian", "--data_path", tiny_idx,
                              "--save_path", gmm_run, *FAST))
    assert "--dist_type gaussian does not fit the run" in line
    assert sorted(os.listdir(os.path.join(gmm_run, "checkpoints"))) == before


def test_bad_data_paths(tiny_idx, tmp_path):
    assert "not a folder" in one_line_error(cli("--train", "--data_path", str(tmp_path / "nowhere")))
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "train-images-idx3-ubyte.gz" in one_line_error(cli("--train", "--data_path", str(empty)))
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in os.listdir(tiny_idx):
        data = open(os.path.join(tiny_idx, name), "rb").read()
        (broken / name).write_bytes(data[: len(data) // 2] if name.startswith("train-images") else data)
    assert "gzip" in one_line_error(cli("--train", "--data_path", str(broken), "--save_path", str(tmp_path / "r")))


def test_killed_run_resumes_from_its_last_checkpoint(tiny_idx, tmp_path):
    import signal
    import time
    save = str(tmp_path / "killed")
    args = [sys.executable, SCRIPT, "--train", "--data_path", tiny_idx, "--save_path", save, *FAST]
    proc = subprocess.Popen([*args, "--maxepoch", "1000"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    index = os.path.join(save, "checkpoints", "ckpt-1.index")
    deadline = time.time() + 300
    while not os.path.exists(index) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert os.path.exists(index)
    # The complete checkpoint files say how far the run got (the state file may lag one save behind them).
    latest = runfiles.checkpoints_on_disk(os.path.join(save, "checkpoints"))[-1]
    result = ok("--train", "--data_path", tiny_idx, "--save_path", save, *FAST, "--maxepoch", str(latest + 2))
    assert f"resuming {save} after epoch {latest}" in result.stdout
    assert os.path.exists(os.path.join(save, "checkpoints", f"ckpt-{latest + 1}.index"))
    with open(os.path.join(save, "metrics.json")) as f:
        assert json.load(f)["epoch"] == latest + 1


def test_save_path_that_is_a_file_or_lies_under_one(tiny_idx, tmp_path):
    a_file = tmp_path / "a_file"
    a_file.write_text("mine")
    assert "is a file" in one_line_error(cli("--train", *FAST, "--data_path", tiny_idx, "--save_path", str(a_file)))
    # Creating a folder under a file fails even for root: the OSError becomes one line.
    line = one_line_error(cli("--train", *FAST, "--maxepoch", "1", "--data_path", tiny_idx,
                              "--save_path", str(a_file / "run")))
    assert "Not a directory" in line
    assert a_file.read_text() == "mine"


def test_damaged_flags_json_is_reported(gmm_run, tmp_path):
    import shutil
    copy = tmp_path / "damaged"
    shutil.copytree(gmm_run, copy)
    (copy / "flags.json").write_text("[1, 2]")
    assert "flags.json is damaged" in one_line_error(cli("--generate", "--load", "0", "--save_path", str(copy)))
    (copy / "flags.json").write_text("{not json")
    assert "flags.json is damaged" in one_line_error(cli("--viz", "--load", "0", "--save_path", str(copy)))


@pytest.mark.parametrize("script, args, expected", [
    (SCRIPT, ["--train", "--bsize", "1"], "--bsize must be at least 2"),
    (SCRIPT, ["--train_semisupervised", "--nlabel", "-5"], "--nlabel must be -1 (all labels)"),
    (VAE_SCRIPT, ["--train", "--hidden", "0"], "--hidden must be positive"),
    (VAE_SCRIPT, ["--train", "--maxepoch", "0"], "--maxepoch must be positive"),
    (SCRIPT, ["--generate"], "no trained model in"),  # --save_path names a folder that does not exist
])
def test_range_errors_come_before_tensorflow_loads(script, args, expected, tmp_path):
    # A "tensorflow" that fails when imported: the error must be the flag's, not this one.
    fake = tmp_path / "fake" / "tensorflow"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('tensorflow was imported')\n")
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "fake"))
    result = subprocess.run([sys.executable, script, *args, "--save_path", str(tmp_path / "r")],
                            capture_output=True, text=True, env=env, timeout=120)
    assert expected in one_line_error(result)
    assert "tensorflow was imported" not in result.stderr


def test_gradient_norms_are_printed_for_each_phase(gmm_run):
    lines = ok("--gradient_norms", "--load", "0", "--save_path", gmm_run).stdout.splitlines()
    assert "gradient norms of each phase at epoch 0" in lines[0]
    rows = {line.split()[0]: [float(x) for x in line.split()[1:]] for line in lines[1:4]}
    assert set(rows) == {"reconstruction", "discriminator", "generator"}
    assert all(0 < median <= high <= largest for median, high, largest in rows.values())


def test_a_command_in_the_test_process_does_what_it_does_in_a_process_of_its_own(tiny_idx, tmp_path, monkeypatch):
    """The harness of conftest.cli: after whatever ran before it in this worker, a command run in the test
    process trains the same numbers, writes the same files and refuses with the same line as in a fresh one."""
    train_args = ["--train_semisupervised", "--nlabel", "100", "--maxepoch", "1", "--data_path", tiny_idx, *FAST]
    refusals = [["--train", "--dist_type", "cube"], ["--train", "--bsize", "0"]]
    results = {}
    for where in ("here", "own"):
        if where == "own":
            monkeypatch.setenv(OWN_PROCESS_VARIABLE, "1")
        save = str(tmp_path / where)
        done = ok(*train_args, "--save_path", save)
        lines = [one_line_error(cli(*args, "--save_path", str(tmp_path / "refused"))) for args in refusals]
        with open(os.path.join(save, "history.jsonl")) as f:
            history = [json.loads(line) for line in f]
        results[where] = (done.stdout.count("epoch 0 done"), sorted(os.listdir(save)), lines, history)
    here, own = results["here"], results["own"]
    assert here[:3] == own[:3] and here[0] == 1
    assert not os.path.exists(tmp_path / "refused")
    (mine,), (theirs,) = here[3], own[3]
    assert set(mine) == set(theirs)
    for key, value in mine.items():
        if not key.endswith("seconds") and isinstance(value, float):
            assert value == pytest.approx(theirs[key], rel=1e-4, abs=1e-6), key
