"""The files of a run folder other than checkpoints: atomic JSON, the per-epoch history, the lock.

A run folder is the user's work. Everything here is written so that a crash
at any moment leaves either the old or the new file, never a torn one (the
history is appended line by line and read tolerantly of a torn last line),
and so that two processes never train one folder.
"""

import fcntl
import glob
import json
import math
import os
import re
import shutil
import tempfile

FLAGS_FILE = "flags.json"
METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.jsonl"
LOCK_FILE = ".lock"
# What a run's figures are built from (experiment/results.py): small text files, kept in the repository
# (docs/runs/) so that the results tables survive the machine whose disk held the checkpoints.
RECORD_FILES = (FLAGS_FILE, HISTORY_FILE, METRICS_FILE)
CHECKPOINT_DIR = "checkpoints"
BEST_DIR = "best"  # under CHECKPOINT_DIR: the validation-chosen epoch's checkpoint, kept past the rotation
BEST_KEYS = ("best_epoch", "best_validation_error", "test_error_at_best_validation")


class RunFileError(Exception):
    """A run file is damaged or the folder is busy; the message is one line that says what to do."""


def write_atomically(path, write, binary=False):
    """Calls ``write(file)`` on a temporary file beside ``path``, then renames it to ``path``.

    A crash at any moment leaves the old file or the new one, never a torn one.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=os.path.splitext(path)[1] + ".partial")
    try:
        with os.fdopen(fd, "wb" if binary else "w") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def write_json_atomically(path, payload):
    """Writes JSON through a temporary file and a rename."""
    write_atomically(path, lambda f: json.dump(payload, f, indent=2, sort_keys=True))


def read_json_object(path):
    """The JSON object in ``path``, or None if there is no such file.

    Raises:
      RunFileError: the file holds no JSON object (garbage, empty, a list...).
    """
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            value = json.load(f)
    except (OSError, ValueError, UnicodeDecodeError) as e:
        raise RunFileError(f"{path} is damaged ({type(e).__name__})") from None
    if not isinstance(value, dict):
        raise RunFileError(f"{path} is damaged (it holds a JSON {type(value).__name__}, not an object)")
    return value


# --------------------------------------------------------------------------- history

def read_history(save_path):
    """The per-epoch records of a run, in order; a torn last line (a crash mid-append) is ignored.

    Raises:
      RunFileError: a line other than the last is damaged.
    """
    path = os.path.join(save_path, HISTORY_FILE)
    if not os.path.exists(path):
        return []
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")
    records = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            if not isinstance(record, dict) or not isinstance(record.get("epoch"), int):
                raise ValueError("not an epoch record")
        except (ValueError, UnicodeDecodeError):
            if all(not rest.strip() for rest in lines[i + 1:]):
                break  # torn last line
            raise RunFileError(f"{path} is damaged at line {i + 1}; the checkpoints are intact: move the file "
                               "aside to resume (the epochs before will be missing from the history)") from None
        records.append(record)
    return records


def checkpoints_on_disk(directory):
    """Epoch numbers of the complete checkpoints (an index file and its data) in ``directory``, ascending.

    The files, not the ``checkpoint`` state file, say how far a run got.
    """
    epochs = []
    for index in glob.glob(os.path.join(directory, "ckpt-*.index")):
        match = re.fullmatch(r"ckpt-(\d+)\.index", os.path.basename(index))
        if match and glob.glob(index[:-len(".index")] + ".data-*"):
            epochs.append(int(match.group(1)))
    return sorted(epochs)


def copy_run_at_epoch(save_path, epoch, destination):
    """A new run folder ``destination`` that is run ``save_path`` as it stood after epoch ``epoch``: its
    flags, its history up to that epoch, that epoch's checkpoint and the kept best one if not later. Training
    on ``destination`` resumes from there (a branch: e.g. the same run with another setting and
    ``--allow_change``); ``save_path`` is only read. TensorBoard's folders are not copied (they hold later
    epochs); the branch writes its own from the next epoch on.

    Raises:
      RunFileError: ``destination`` exists, ``save_path`` is not a trained run, or it has no checkpoint of
        ``epoch`` (the message lists those it has).
    """
    if os.path.exists(destination):
        raise RunFileError(f"{destination} exists already: branch into a new folder")
    flags = read_json_object(os.path.join(save_path, FLAGS_FILE))
    if flags is None:
        raise RunFileError(no_trained_model(save_path))
    checkpoints = os.path.join(save_path, CHECKPOINT_DIR)
    best = os.path.join(checkpoints, BEST_DIR)
    best_epochs = checkpoints_on_disk(best)
    found = {e: checkpoints for e in checkpoints_on_disk(checkpoints)}
    for e in best_epochs:
        found.setdefault(e, best)
    if epoch not in found:
        have = ", ".join(map(str, sorted(found))) or "none"
        raise RunFileError(f"{save_path} has no checkpoint of epoch {epoch} (epochs with checkpoints: {have})")
    partial = destination + ".partial"
    shutil.rmtree(partial, ignore_errors=True)  # an interrupted earlier branch
    os.makedirs(os.path.join(partial, CHECKPOINT_DIR, BEST_DIR))
    for name in (FLAGS_FILE, HISTORY_FILE):
        if os.path.exists(os.path.join(save_path, name)):
            shutil.copy2(os.path.join(save_path, name), os.path.join(partial, name))
    keep_history_before(partial, epoch + 1)  # the epochs after the branch point are the trunk's, not its own
    for path in glob.glob(os.path.join(found[epoch], f"ckpt-{epoch}.*")):
        shutil.copy2(path, os.path.join(partial, CHECKPOINT_DIR))
    for kept in best_epochs:
        if kept <= epoch:
            for path in glob.glob(os.path.join(best, f"ckpt-{kept}.*")):
                shutil.copy2(path, os.path.join(partial, CHECKPOINT_DIR, BEST_DIR))
    os.replace(partial, destination)


def no_trained_model(save_path):
    """The one-line error for a command that reads a trained run from a folder without one."""
    return f"no trained model in {save_path} (no {FLAGS_FILE}): train one first, or pass --save_path"


def copy_records(save_path, destination):
    """Copies the run's RECORD_FILES into ``destination`` (created if missing), each atomically.

    A refresh of an earlier copy of the same run is the purpose; anything else there is kept.

    Raises:
      RunFileError: ``destination`` holds another run's records (its history is not the start of this
        run's), or the run has no history.
    """
    records = read_history(save_path)
    if not records:
        raise RunFileError(f"{save_path} has no {HISTORY_FILE}: not a trained run")
    kept = read_history(destination) if os.path.isdir(destination) else []
    if kept != records[:len(kept)]:
        raise RunFileError(f"{destination} holds the records of another run (its history is not the start of "
                           f"{save_path}'s): move it aside or copy to another folder")
    os.makedirs(destination, exist_ok=True)
    for name in RECORD_FILES:
        source = os.path.join(save_path, name)
        if os.path.exists(source):
            with open(source, "rb") as f:
                content = f.read()
            write_atomically(os.path.join(destination, name), lambda out: out.write(content), binary=True)


def append_history(save_path, record):
    """Appends one epoch's record as one line, flushed to disk."""
    path = os.path.join(save_path, HISTORY_FILE)
    line = json.dumps(record, sort_keys=True, allow_nan=True)
    if os.path.exists(path):
        with open(path, "r+b") as f:
            content = f.read()
            if content and not content.endswith(b"\n"):  # a torn last line from a crash: cut it off
                f.truncate(content.rfind(b"\n") + 1)
    with open(path, "ab") as f:
        f.write(line.encode() + b"\n")
        f.flush()
        os.fsync(f.fileno())


def keep_history_before(save_path, epochs_done):
    """Drops records of epochs not covered by a checkpoint (written just before a crash); returns the rest."""
    records = [r for r in read_history(save_path) if r["epoch"] < epochs_done]
    path = os.path.join(save_path, HISTORY_FILE)
    if os.path.exists(path):
        fd, tmp = tempfile.mkstemp(dir=save_path, suffix=".jsonl.partial")
        with os.fdopen(fd, "w") as f:
            for record in records:
                f.write(json.dumps(record, sort_keys=True) + "\n")
        os.replace(tmp, path)
    return records


# Selection metrics where higher is better, each with the test figure reported at its best epoch (the others
# are errors, lowest best, reported with ``test_error``).
HIGHER_IS_BETTER = {"validation_log_likelihood": "log_likelihood"}


def figure_key(flags):
    """The history key of a run's test figure: the classifier's error for dimensionality reduction with labels
    (runs before the seventeenth session recorded the paper's cluster naming as its ``test_error``; the labels
    already name each head's digit), else ``test_error``."""
    if flags.get("mode") == "dimreduce" and flags.get("nlabel", 0) != 0:
        return "test_classification_error"
    return "test_error"


def best_record(records, metric="validation_error", figure="test_error"):
    """Model choice on the validation set only: the epoch with the best ``metric``, and its test figure.

    ``metric`` is the experiment's ``selection_metric`` (None: no choice): the
    lowest wins, or the highest for those in ``HIGHER_IS_BETTER``, whose test
    figure is reported instead of ``figure`` (under the same keys).

    Returns:
      {best_epoch, best_validation_error, test_error_at_best_validation}, or {}
      when no record has the metric.
    """
    best = {}
    if metric is None:
        return best
    sign, figure = (-1, HIGHER_IS_BETTER[metric]) if metric in HIGHER_IS_BETTER else (1, figure)
    for record in records:
        value = record.get(metric)
        if value is None or not math.isfinite(value):
            continue
        if not best or sign * value < sign * best["best_validation_error"]:
            best = {"best_epoch": record["epoch"], "best_validation_error": value,
                    "test_error_at_best_validation": record.get(figure)}
    return best


def summary(records, metric="validation_error", figure="test_error"):
    """What ``metrics.json`` holds: the last epoch's record and the epoch ``metric`` chooses (``best_record``)."""
    if not records:
        return {}
    return dict(records[-1], **best_record(records, metric, figure))


def write_metrics(save_path, records, extra=None, metric="validation_error"):
    """Rewrites ``metrics.json`` from the history (plus ``extra`` evaluations); returns what it wrote."""
    metrics = dict(summary(records, metric), **(extra or {}))
    write_json_atomically(os.path.join(save_path, METRICS_FILE), metrics)
    return metrics


def read_metrics(save_path):
    """The run's metrics: ``metrics.json`` if it is intact, else rebuilt from the history."""
    try:
        metrics = read_json_object(os.path.join(save_path, METRICS_FILE))
    except RunFileError:
        metrics = None
    return metrics if metrics is not None else summary(read_history(save_path))


# --------------------------------------------------------------------------- folder

def remove_partial_writes(save_path):
    """Deletes what interrupted writes left: ``*.partial`` files and ``ckpt-N_temp`` folders."""
    for pattern in ("*.partial", os.path.join("checkpoints", "*.partial"), os.path.join("checkpoints", "*_temp*")):
        for path in glob.glob(os.path.join(save_path, pattern)):
            if os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.remove(path)


class RunLock:
    """An exclusive OS lock on a run folder, held while a process trains it.

    The lock dies with the process (``flock``), so a killed run leaves none
    behind; the file keeps the holder's process id for the message.
    """

    def __init__(self, save_path):
        self.path = os.path.join(save_path, LOCK_FILE)
        self._file = None

    def __enter__(self):
        f = open(self.path, "a+")
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.seek(0)
            holder = f.read().strip() or "unknown"
            f.close()
            raise RunFileError(f"{os.path.dirname(self.path)} is being trained by another process (pid {holder}); "
                               "wait for it to finish or use another --save_path") from None
        f.seek(0)
        f.truncate()
        f.write(str(os.getpid()))
        f.flush()
        self._file = f
        return self

    def __exit__(self, *exc):
        fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
        self._file.close()
        self._file = None
        return False
