"""Background runs (aae_tf.background, experiment/background.py) on a throwaway git repository whose
experiment/aae_mnist.py stands in for training: it records its arguments and writes a known history."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from aae_tf import background
from conftest import ROOT

FAKE_TRAINING = '''
import json, os, sys, time
save = sys.argv[sys.argv.index("--save_path") + 1]
os.makedirs(save, exist_ok=True)
with open(os.path.join(save, "history.jsonl"), "a") as f:
    for epoch, (validation, test) in enumerate([(5.0, 6.0), (2.0, 2.5), (3.0, 3.5)]):
        f.write(json.dumps({"epoch": epoch, "validation_error": validation, "test_error": test}) + "\\n")
print("arguments", json.dumps(sys.argv[1:]), "in", os.getcwd(), flush=True)
if "--fail" in sys.argv:
    print("error: --fail is not a flag of this script", file=sys.stderr)
    print("see --help", file=sys.stderr)
    sys.exit(2)
if "--sleep" in sys.argv:
    time.sleep(120)
'''


def git(repo, *args):
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args], check=True,
                   capture_output=True)


@pytest.fixture
def repo(tmp_path):
    folder = tmp_path / "repo"
    (folder / "experiment").mkdir(parents=True)
    (folder / "experiment" / "aae_mnist.py").write_text(FAKE_TRAINING)
    git(folder, "init", "-q")
    git(folder, "add", ".")
    git(folder, "commit", "-q", "-m", "fake training")
    return str(folder)


def wait_until(condition, seconds=30):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_a_run_starts_on_a_frozen_copy_and_reports_its_history(repo, tmp_path):
    runs = str(tmp_path / "runs")
    pid, script = background.create(runs, "first", repo, sys.executable, ["--train", "--seed", "3"])
    where = background.paths(runs, "first")
    assert wait_until(lambda: background.running_pid(runs, "first") is None
                      and "arguments" in open(where["log"]).read())
    commit = subprocess.run(["git", "-C", repo, "rev-parse", "--short=7", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    code = os.path.join(runs, "code", commit)
    logged = open(where["log"]).read()
    assert json.loads(logged.split("arguments ")[1].split(" in ")[0]) == ["--train", "--seed", "3", "--save_path",
                                                                        where["save_path"]]
    assert logged.strip().endswith(f"in {code}")  # ran on the copy, not on the checkout
    assert os.path.exists(os.path.join(code, "experiment", "aae_mnist.py"))
    assert open(where["pid"]).read().strip() == str(pid)
    # The model choice of the history: epoch 1 has the lowest validation error.
    assert background.status(runs, "first") == {"name": "first", "pid": None, "paused": False, "epochs": 3,
                                                "seconds_per_epoch": None,
                                                "best_epoch": 1, "best_validation_error": 2.0,
                                                "test_error_at_best_validation": 2.5}
    # Editing the checkout does not touch the copy; resuming runs the script again, appending to the log.
    with open(os.path.join(repo, "experiment", "aae_mnist.py"), "a") as f:
        f.write("raise SystemExit('edited')\n")
    background.start(runs, "first")
    assert wait_until(lambda: open(where["log"]).read().count("arguments") == 2)
    assert "edited" not in open(where["log"]).read()
    assert background.names(runs) == ["first"]


def test_what_is_refused(repo, tmp_path):
    runs = str(tmp_path / "runs")
    for name in ("", "a/b", ".hidden", "code"):
        with pytest.raises(background.BackgroundError, match="plain folder name"):
            background.create(runs, name, repo, sys.executable, ["--train"])
    with pytest.raises(background.BackgroundError, match="leave --save_path out"):
        background.create(runs, "r", repo, sys.executable, ["--train", "--save_path=x"])
    with pytest.raises(background.BackgroundError, match="no run named nothing"):
        background.start(runs, "nothing")
    with pytest.raises(background.BackgroundError, match="not a git checkout"):
        background.create(runs, "r", str(tmp_path), sys.executable, ["--train"])
    # A running run is neither started twice nor created again; --stop ends it.
    pid, _ = background.create(runs, "busy", repo, sys.executable, ["--sleep"])
    assert wait_until(lambda: background.running_pid(runs, "busy") == pid)
    with pytest.raises(background.BackgroundError, match="running already"):
        background.start(runs, "busy")
    with pytest.raises(background.BackgroundError, match="exists in"):
        background.create(runs, "busy", repo, sys.executable, ["--train"])
    assert background.stop(runs, "busy") == pid
    assert wait_until(lambda: background.running_pid(runs, "busy") is None)
    # A command that fails at once (a mistyped flag) is reported with its log's last line, not only logged.
    with pytest.raises(background.BackgroundError, match="exit code 2: error: --fail is not a flag"):
        background.create(runs, "typo", repo, sys.executable, ["--fail"], settle_seconds=20)
    assert "typo" not in background.names(runs)  # the corrected command may take the name
    # Uncommitted changes to tracked code would not be in the frozen copy.
    with open(os.path.join(repo, "experiment", "aae_mnist.py"), "a") as f:
        f.write("# changed\n")
    with pytest.raises(background.BackgroundError, match=r"uncommitted changes \(experiment/aae_mnist.py"):
        background.create(runs, "later", repo, sys.executable, ["--train"])


def test_a_branch_starts_from_a_copy_of_another_run_after_one_epoch(repo, tmp_path):
    runs = str(tmp_path / "runs")
    background.create(runs, "trunk", repo, sys.executable, ["--train", "--seed", "3"])
    assert wait_until(lambda: background.running_pid(runs, "trunk") is None)
    trunk = background.paths(runs, "trunk")["save_path"]
    with open(os.path.join(trunk, "flags.json"), "w") as f:
        json.dump({"seed": 3}, f)
    os.makedirs(os.path.join(trunk, "checkpoints"))
    for epoch in (1, 2):
        for suffix in (".index", ".data-00000-of-00001"):
            with open(os.path.join(trunk, "checkpoints", f"ckpt-{epoch}{suffix}"), "w") as f:
                f.write(str(epoch))
    background.create(runs, "branch", repo, sys.executable, ["--train", "--allow_change"], branch=("trunk", 1))
    where = background.paths(runs, "branch")
    assert wait_until(lambda: background.running_pid(runs, "branch") is None
                      and "arguments" in open(where["log"]).read())
    assert sorted(os.listdir(os.path.join(where["save_path"], "checkpoints"))) == [
        "best", "ckpt-1.data-00000-of-00001", "ckpt-1.index"]
    # The trunk's epochs 0-1, then what the (fake) training appended when it resumed there.
    assert [r["epoch"] for r in map(json.loads, open(os.path.join(where["save_path"], "history.jsonl")))][:2] == [0, 1]
    with pytest.raises(Exception, match="no checkpoint of epoch 0"):
        background.create(runs, "early", repo, sys.executable, ["--train"], branch=("trunk", 0))
    with pytest.raises(background.BackgroundError, match="no run named elsewhere"):
        background.create(runs, "other", repo, sys.executable, ["--train"], branch=("elsewhere", 1))
    # Refused at once: the copy goes with the script, so the name is free again.
    with pytest.raises(background.BackgroundError, match="exit code 2"):
        background.create(runs, "typo", repo, sys.executable, ["--fail"], settle_seconds=20, branch=("trunk", 2))
    assert not os.path.exists(background.paths(runs, "typo")["save_path"]) and "typo" not in background.names(runs)


def test_the_command_line_refuses_with_one_line(tmp_path):
    script = os.path.join(ROOT, "experiment", "background.py")
    runs = str(tmp_path / "runs")
    for args, expected in [(["--start", "a"], "needs the training flags after --"),
                           (["--start", "a", "--stop", "b"], "one at a time"),
                           (["--", "--train"], "training flags go after -- with --start"),
                           (["--stop", "b"], "no run named b"),
                           (["--resume", "b"], "no run named b"),
                           (["--nice", "30"], "--nice must be within 0-19"),
                           (["--branch_from", "a:1"], "--branch_from goes with --start"),
                           (["--start", "b", "--branch_from", "a", "--", "--train"], "should be RUN:EPOCH"),
                           (["--start", "b", "--branch_from", "a:1", "--", "--train"], "no run named a"),
                           (["--runs_dir", __file__, "--start", "a", "--", "--train"], "is a file")]:
        done = subprocess.run([sys.executable, script, "--runs_dir", runs, *args], capture_output=True, text=True)
        assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
        errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
        assert len(errors) == 1 and expected in errors[0], (args, done.stderr)
    done = subprocess.run([sys.executable, script, "--runs_dir", runs], capture_output=True, text=True)
    assert done.returncode == 0 and "no runs in" in done.stdout


def test_resume_all_restarts_the_stopped_runs_and_the_status_lists_them(repo, tmp_path):
    script = os.path.join(ROOT, "experiment", "background.py")
    runs = str(tmp_path / "runs")
    background.create(runs, "done", repo, sys.executable, ["--train"])
    log = background.paths(runs, "done")["log"]
    assert wait_until(lambda: background.running_pid(runs, "done") is None and "arguments" in open(log).read())
    resumed = subprocess.run([sys.executable, script, "--runs_dir", runs, "--resume", "all"], capture_output=True,
                             text=True)
    assert resumed.returncode == 0 and resumed.stdout.startswith("resumed done (process "), resumed.stderr
    assert wait_until(lambda: open(log).read().count("arguments") == 2
                      and background.running_pid(runs, "done") is None)
    shown = subprocess.run([sys.executable, script, "--runs_dir", runs], capture_output=True, text=True).stdout
    # Two sittings appended three epochs each to the fake history: six epochs, the best still epoch 1.
    # (the fake history records no epoch_seconds: no seconds per epoch)
    assert shown.splitlines()[1].split()[:7] == ["done", "stopped", "6", "1", "2", "2.5", "-"], shown
    # A reader that stops early (`| head`, here one gone before the listing) gets no error message.
    read_end, write_end = os.pipe()
    os.close(read_end)
    cut = subprocess.run([sys.executable, script, "--runs_dir", runs], stdout=write_end, stderr=subprocess.PIPE,
                         text=True)
    os.close(write_end)
    assert cut.returncode == 1 and cut.stderr == "", cut.stderr


def test_a_paused_run_is_listed_as_paused_and_stop_still_ends_it(repo, tmp_path):
    script = os.path.join(ROOT, "experiment", "background.py")
    runs = str(tmp_path / "runs")
    pid, _ = background.create(runs, "held", repo, sys.executable, ["--sleep"])
    assert wait_until(lambda: background.running_pid(runs, "held") == pid)
    assert background.status(runs, "held")["paused"] is False
    os.kill(pid, signal.SIGSTOP)  # as around a benchmark
    try:
        assert wait_until(lambda: background.status(runs, "held")["paused"])
        shown = subprocess.run([sys.executable, script, "--runs_dir", runs], capture_output=True, text=True).stdout
        assert shown.splitlines()[1].split()[:3] == ["held", "paused", f"({pid})"], shown
        with pytest.raises(background.BackgroundError, match=rf"held is paused \(process {pid}\); continue it "
                                                             rf"with kill -CONT {pid}, or end it with --stop held"):
            background.start(runs, "held")
        # SIGTERM alone would wait for a SIGCONT that may never come; --stop ends the paused run at once.
        assert background.stop(runs, "held") == pid
        assert wait_until(lambda: background.running_pid(runs, "held") is None, seconds=10)
    finally:
        if background.running_pid(runs, "held"):
            os.kill(pid, signal.SIGKILL)


def test_a_relative_data_path_is_made_absolute_for_the_frozen_copy():
    args = ["--train", "--data_path", "mnist", "--data_path=b", "--seed", "3"]
    assert background.absolute_paths(args, "/home/u") == [
        "--train", "--data_path", "/home/u/mnist", "--data_path=/home/u/b", "--seed", "3"]
    assert background.absolute_paths(["--data_path", "/d", "--data_path=/e"], "/home/u") == [
        "--data_path", "/d", "--data_path=/e"]


def test_only_the_scripts_it_wrote_are_runs(tmp_path):
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "b_run.sh").write_text(background.script_text("b_run", "/code/abc1234", "python", ["--train"], "/x"))
    (runs / "a_helper.sh").write_text("#!/bin/bash\nuntil false; do sleep 5; done\n")
    (runs / "c_other.sh").write_text(background.script_text("b_run", "/code/abc1234", "python", [], "/x"))  # another's
    (runs / "d_binary.sh").write_bytes(b"\xff\xfe\x00")
    assert background.names(str(runs)) == ["b_run"]


def test_the_status_reports_the_figure_of_the_results_tables(tmp_path):
    # A labeled dimensionality-reduction run written before its test_error became the classifier's: its
    # metrics.json holds the cluster naming (7.5) at the chosen epoch 2; the tables report the classifier (4.25).
    runs = tmp_path / "runs"
    save = runs / "dr"
    save.mkdir(parents=True)
    (runs / "dr.sh").write_text(background.script_text("dr", "/code/abc1234", "python", ["--train"], str(save)))
    (save / "flags.json").write_text(json.dumps({"mode": "dimreduce", "nlabel": 100}))
    history = [{"epoch": 0, "validation_error": 9.0, "test_error": 11.0, "test_classification_error": 10.5,
                "epoch_seconds": 30.0},
               {"epoch": 1, "validation_error": 8.0, "test_error": 9.5, "test_classification_error": 6.75,
                "epoch_seconds": 52.0},
               {"epoch": 2, "validation_error": 4.0, "test_error": 7.5, "test_classification_error": 4.25,
                "epoch_seconds": 41.0}]
    (save / "history.jsonl").write_text("".join(json.dumps(r) + "\n" for r in history))
    (save / "metrics.json").write_text(json.dumps(dict(history[-1], best_epoch=2, best_validation_error=4.0,
                                                       test_error_at_best_validation=7.5)))
    assert background.status(str(runs), "dr")["test_error_at_best_validation"] == 4.25
    assert background.status(str(runs), "dr")["seconds_per_epoch"] == 41.0  # the median epoch, to plan by
    # Resumed on a faster machine: the last five epochs (52, 41, 20, 20, 20) count, not the first sitting's.
    with open(save / "history.jsonl", "a") as f:
        for epoch in (3, 4, 5):
            f.write(json.dumps({"epoch": epoch, "validation_error": 9.0, "test_classification_error": 9.0,
                                "epoch_seconds": 20.0}) + "\n")
    assert background.status(str(runs), "dr")["seconds_per_epoch"] == 20.0
    # Without labels (unsupervised clustering) the figure stays the cluster naming.
    (save / "flags.json").write_text(json.dumps({"mode": "dimreduce", "nlabel": 0}))
    assert background.status(str(runs), "dr")["test_error_at_best_validation"] == 7.5
