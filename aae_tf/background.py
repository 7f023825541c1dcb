"""Long runs in the background: a frozen copy of the code, a script that resumes, a process that outlives the shell.

A run of hundreds of epochs outlives the session, the shell and often the
checkout that started it. Each run named NAME in a folder of runs gets:

- ``code/<commit>/``: the committed tree it runs on (``git archive``), so that
  editing or checking out the working tree never changes a running or a
  resumed run;
- ``NAME.sh``: the exact command, on that copy, with ``--save_path`` NAME; run
  again, it resumes from the run's newest intact checkpoint;
- ``NAME.log`` (appended) and ``NAME.pid``; the process runs under ``nice``,
  in a session of its own, so a closed terminal does not stop it.

Free of TensorFlow, like ``runfiles``.
"""

import os
import shlex
import shutil
import signal
import statistics
import subprocess

from aae_tf import runfiles

CODE_DIR = "code"
SCRIPT = "experiment/aae_mnist.py"


class BackgroundError(Exception):
    """Something the user can fix (a name in use, a running run, uncommitted code); the message is one line."""


def paths(runs_dir, name):
    """{"save_path", "script", "log", "pid"} of run ``name`` in ``runs_dir``."""
    base = os.path.join(os.path.abspath(runs_dir), name)
    return {"save_path": base, "script": base + ".sh", "log": base + ".log", "pid": base + ".pid"}


def _git(repo, *args):
    done = subprocess.run(["git", "-C", repo, *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise BackgroundError(f"git {' '.join(args)} failed in {repo}: "
                              f"{(done.stderr.strip().splitlines() or ['no message'])[0]}")
    return done.stdout


def freeze_code(repo, runs_dir):
    """Copies the committed tree of ``repo`` (HEAD) to ``runs_dir/code/<short commit>`` once; returns that path.

    Raises:
      BackgroundError: ``repo`` is not a git checkout, or tracked files have uncommitted changes (the copy
        would not be the code the user sees).
    """
    try:
        commit = _git(repo, "rev-parse", "--short=7", "HEAD").strip()
    except BackgroundError:
        raise BackgroundError(f"{repo} is not a git checkout with a commit; a background run runs on a copy of the "
                              "committed code") from None
    changed = [line for line in _git(repo, "status", "--porcelain", "--untracked-files=no").splitlines() if line]
    if changed:
        first = changed[0][3:]  # "XY path"
        raise BackgroundError(f"{repo} has uncommitted changes ({first}...); commit them first, so that the run's "
                              "frozen copy is the code you see")
    target = os.path.join(os.path.abspath(runs_dir), CODE_DIR, commit)
    if os.path.isdir(target):
        return target
    partial = target + ".partial"
    os.makedirs(partial, exist_ok=True)
    archive = subprocess.run(["git", "-C", repo, "archive", "--format=tar", "HEAD"], capture_output=True)
    if archive.returncode != 0:
        raise BackgroundError(f"git archive failed in {repo}")
    subprocess.run(["tar", "-x", "-C", partial], input=archive.stdout, check=True)
    os.replace(partial, target)  # complete copies only: an interrupted one is redone
    return target


def script_text(name, code, python, args, save_path):
    """The text of ``NAME.sh``: ``python SCRIPT args --save_path save_path`` run in ``code``."""
    command = " ".join(shlex.quote(a) for a in [python, SCRIPT, *args, "--save_path", save_path])
    return (_script_head(name) + f"code {os.path.basename(code)} frozen in {code}; rerun this script to resume "
            "from the run's newest intact checkpoint\n"
            f"cd {shlex.quote(code)} && exec {command}\n")


def _script_head(name):
    """How ``NAME.sh`` begins: the shebang and the comment naming the run (what marks it as a run's script)."""
    return f"#!/usr/bin/env bash\n# {name}: "


PAUSED = ("T", "t")  # /proc/PID/stat's states of a process stopped by a signal, or by a tracer


def _process(runs_dir, name):
    """(process id, whether it is paused) of run ``name`` if that process is alive and is running its script,
    else None."""
    try:
        with open(paths(runs_dir, name)["pid"]) as f:
            pid = int(f.read().strip())
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
    except (OSError, ValueError, IndexError):
        return None
    if state in ("Z", "X"):  # ended, not yet reaped by its parent
        return None
    # The command line guards against a reused process id; it reads empty for an instant while nice and bash
    # exec into the next program.
    return (pid, state in PAUSED) if not cmdline or name in cmdline else None


def running_pid(runs_dir, name):
    """The process id of run ``name`` if that process is alive and is running its script, else None."""
    process = _process(runs_dir, name)
    return process[0] if process else None


def _last_error(path):
    """The last line of the log at ``path`` that reads as an error (the scripts' ``error:``, absl's ``FATAL``),
    else its last line."""
    with open(path, errors="replace") as f:
        lines = [line.strip() for line in f.read().replace("\r", "\n").splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith(("error:", "FATAL"))]
    return (errors or lines or ["nothing in its log"])[-1]


def start(runs_dir, name, niceness=10, settle_seconds=3.0):
    """Starts (or resumes) run ``name`` from its script, detached; returns the process id.

    Waits ``settle_seconds`` for the errors a command reports at once (a mistyped flag, a setting out of
    range: the scripts refuse those before TensorFlow loads), so that they are not left in the log alone.

    Raises:
      BackgroundError: no such script, the run is running (or paused) already, or it failed within ``settle_seconds``
        (the message ends with its log's last line).
    """
    where = paths(runs_dir, name)
    if not os.path.exists(where["script"]):
        raise BackgroundError(f"no run named {name} in {runs_dir} (no {where['script']}); start it with --start")
    existing = _process(runs_dir, name)
    if existing:
        pid, paused = existing
        if paused:
            raise BackgroundError(f"{name} is paused (process {pid}); continue it with kill -CONT {pid}, "
                                  f"or end it with --stop {name}")
        raise BackgroundError(f"{name} is running already (process {pid}); stop it with kill {pid}")
    with open(where["log"], "a") as log:
        process = subprocess.Popen(["nice", "-n", str(niceness), "bash", where["script"]], stdout=log,
                                   stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    runfiles.write_atomically(where["pid"], lambda f: f.write(f"{process.pid}\n"))
    try:
        code = process.wait(timeout=settle_seconds)
    except subprocess.TimeoutExpired:
        return process.pid
    if code != 0:
        raise BackgroundError(f"{name} stopped at once with exit code {code}: {_last_error(where['log'])}")
    return process.pid


def absolute_paths(args, cwd):
    """``args`` with the value of every ``--data_path`` made absolute against ``cwd``: the script runs in the
    frozen copy, where a path relative to the user's folder would point elsewhere."""
    out, follows = [], False
    for arg in args:
        if follows and not os.path.isabs(arg):
            arg = os.path.join(cwd, arg)
        elif arg.startswith("--data_path=") and not os.path.isabs(arg.split("=", 1)[1]):
            arg = "--data_path=" + os.path.join(cwd, arg.split("=", 1)[1])
        follows = arg == "--data_path"
        out.append(arg)
    return out


def create(runs_dir, name, repo, python, args, niceness=10, settle_seconds=3.0, branch=None):
    """Freezes the code, writes run ``name``'s script and starts it; returns (process id, script path).

    Args:
      branch: (run, epoch): the new run starts as a copy of run ``run`` of ``runs_dir`` after its epoch
        ``epoch`` (``runfiles.copy_run_at_epoch``) and resumes from there with ``args``, which typically change
        a setting with ``--allow_change``; None: from scratch.

    Raises:
      BackgroundError: the name is in use or not a plain name, ``args`` name a save path, or ``freeze_code``'s.
      runfiles.RunFileError: ``branch`` names no run, or an epoch it has no checkpoint of.
    """
    if not name or name != os.path.basename(name) or name.startswith(".") or name == CODE_DIR:
        raise BackgroundError(f"the run's name {name!r} must be a plain folder name")
    if any(a == "--save_path" or a.startswith("--save_path=") for a in args):
        raise BackgroundError("the run's folder is RUNS_DIR/NAME; leave --save_path out of the training flags")
    if os.path.exists(runs_dir) and not os.path.isdir(runs_dir):
        raise BackgroundError(f"the folder of the runs, {runs_dir}, is a file")
    where = paths(runs_dir, name)
    if os.path.exists(where["script"]) or os.path.exists(where["save_path"]):
        raise BackgroundError(f"{name} exists in {runs_dir} already; resume it with --resume {name}, "
                              "or choose another name")
    if branch is not None and branch[0] not in names(runs_dir):
        raise BackgroundError(f"no run named {branch[0]} in {runs_dir} to branch from")
    code = freeze_code(repo, runs_dir)
    if branch is not None:
        runfiles.copy_run_at_epoch(paths(runs_dir, branch[0])["save_path"], branch[1], where["save_path"])
    text = script_text(name, code, python, absolute_paths(args, os.getcwd()), where["save_path"])
    runfiles.write_atomically(where["script"], lambda f: f.write(text))
    os.chmod(where["script"], 0o755)
    try:
        return start(runs_dir, name, niceness, settle_seconds), where["script"]
    except BackgroundError:  # refused at once: the name stays free for the corrected command (the log stays)
        for path in (where["script"], where["pid"]):
            os.remove(path)
        if branch is not None:  # the copy this call made, nothing trained on it
            shutil.rmtree(where["save_path"])
        raise


def names(runs_dir):
    """The runs of ``runs_dir``, sorted: each ``NAME.sh`` that ``script_text`` wrote (other scripts there
    are not runs)."""
    if not os.path.isdir(runs_dir):
        return []
    return sorted(f[:-3] for f in os.listdir(runs_dir) if f.endswith(".sh") and _is_run_script(runs_dir, f[:-3]))


def _is_run_script(runs_dir, name):
    """Whether ``NAME.sh`` begins with ``_script_head(name)``, as ``script_text`` writes it."""
    head = _script_head(name)
    try:
        with open(paths(runs_dir, name)["script"]) as f:
            return f.read(len(head)) == head
    except (OSError, UnicodeDecodeError):
        return False


def status(runs_dir, name):
    """{"name", "pid" (None when stopped), "paused" (alive but held by ``kill -STOP``), "epochs" (in its
    history), "seconds_per_epoch" (the median of its last five epochs' ``epoch_seconds``, to plan by; None
    without them), and its metrics.json's choice:
    "best_epoch", "best_validation_error", "test_error_at_best_validation" (each None before the first epoch),
    the last being the figure the results tables report (``runfiles.figure_key``) at that epoch.

    Raises:
      runfiles.RunFileError: the run's history or metrics file is damaged.
    """
    save_path = paths(runs_dir, name)["save_path"]
    metrics = runfiles.read_metrics(save_path) if os.path.isdir(save_path) else {}
    history = runfiles.read_history(save_path)
    pid, paused = _process(runs_dir, name) or (None, False)
    row = {"name": name, "pid": pid, "paused": paused, "epochs": len(history)}
    seconds = [r["epoch_seconds"] for r in history[-5:] if r.get("epoch_seconds") is not None]
    row["seconds_per_epoch"] = float(statistics.median(seconds)) if seconds else None
    row.update({key: metrics.get(key) for key in runfiles.BEST_KEYS})
    # The figure the results tables report at the chosen epoch, also for runs whose metrics.json was written
    # under an older naming (labeled dimensionality reduction before f93b323 called its cluster naming test_error).
    flags = runfiles.read_json_object(os.path.join(save_path, "flags.json"))  # None before the run wrote it
    key = runfiles.figure_key(flags) if flags else "test_error"
    chosen = next((r for r in history if r.get("epoch") == row["best_epoch"]), None)
    if key != "test_error" and chosen is not None and chosen.get(key) is not None:
        row["test_error_at_best_validation"] = chosen[key]
    return row


def stop(runs_dir, name):
    """Sends SIGTERM to a running run (it ends at its next step, its checkpoints intact), and SIGCONT in case it
    was paused with ``kill -STOP``; returns the pid or None."""
    pid = running_pid(runs_dir, name)
    if pid:
        # The process itself, not its group: nice and bash exec into the training script, so the id is the
        # script's; and a run started by hand (``nohup script &``) leads no process group of its own.
        os.kill(pid, signal.SIGTERM)
        # A paused process would hold the SIGTERM until continued: continue it, so that it ends now.
        os.kill(pid, signal.SIGCONT)
    return pid
