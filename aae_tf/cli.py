"""What the command-line scripts share: one-line errors and the edge where exceptions become them."""

import os
import shutil
import signal
import sys

from absl import logging


def fail(message, code=2):
    """Prints ``error: message`` on one line and exits with ``code``."""
    print(f"error: {message}", file=sys.stderr)
    sys.exit(code)


def check_ranges(mode, values, flag_of_field):
    """Each typed setting's own range, before TensorFlow loads (a tenth of a second instead of seconds).

    Args:
      mode: the experiment's name.
      values: {config field: typed value}; the range checks look at one field each, so the defaults of the
        other fields do not matter here.
      flag_of_field: {config field: flag name}, to name the flag in the one-line error.
    """
    from aae_tf import config as config_lib  # free of TensorFlow
    try:
        config_lib.ExperimentConfig(mode=mode, **values)
    except config_lib.ConfigError as e:
        fail(f"--{flag_of_field.get(e.field, e.field)} {e.reason}")


class Terminated(BaseException):
    """SIGTERM (what ``kill`` and cluster schedulers send), raised where the process is."""


def _on_sigterm(signum, frame):
    from aae_tf import train  # imported already by run_guarded
    train.request_stop()
    # A training loop stops at its next step on the flag alone; an exception raised here could land in a
    # finalizer, which prints it as a traceback and swallows it. Outside the loop nothing checks the flag.
    if not train.loop_running():
        raise Terminated()


def _resume_point(save_path, advice="run the same command again to"):
    """Says which checkpoint is intact, and so where a rerun resumes."""
    from aae_tf import runfiles  # free of TensorFlow
    epochs = runfiles.checkpoints_on_disk(os.path.join(save_path or ".", runfiles.CHECKPOINT_DIR))
    if not epochs:
        return f"no checkpoint was written yet in {save_path}; {advice} start over"
    return f"the checkpoint of epoch {epochs[-1]} in {save_path} is intact; {advice} resume after it"


def _outermost_new_folder(save_path):
    """The outermost folder of ``save_path`` that does not exist yet, or None."""
    if not save_path:
        return None
    path, new = os.path.abspath(save_path), None
    while not os.path.exists(path) and os.path.dirname(path) != path:
        path, new = os.path.dirname(path), path
    return new


def _remove_if_left_empty(folder):
    """Removes ``folder`` (which this command created) if a failure left nothing in it but run locks."""
    if folder is None or not os.path.isdir(folder):
        return
    from aae_tf import runfiles  # free of TensorFlow
    for _, _, files in os.walk(folder):
        if any(name != runfiles.LOCK_FILE for name in files):
            return
    shutil.rmtree(folder, ignore_errors=True)


def run_guarded(command, save_path, argv):
    """Runs ``command()`` with the errors a user can cause turned into one line each.

    Args:
      command: the script's work; raises run.UserError for anything the user can fix.
      save_path: named in the message when the user interrupts a run.
      argv: absl's remaining arguments; any beyond the program name are refused.
    """
    logging.set_verbosity(logging.WARNING)
    if len(argv) > 1:
        fail(f"unexpected arguments: {' '.join(argv[1:])}")
    from aae_tf import run
    from aae_tf import train
    signal.signal(signal.SIGTERM, _on_sigterm)
    created = _outermost_new_folder(save_path)
    try:
        _guarded(command, save_path, run, train)
    except BaseException:
        _remove_if_left_empty(created)  # a failed command leaves no empty run folder behind
        raise


def _guarded(command, save_path, run, train):
    try:
        command()
    except run.UserError as e:
        fail(str(e), code=1)
    except run.RESOURCE_ERRORS as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:160]
        fail(f"ran out of memory or disk space ({first}); "
             + _resume_point(save_path, "free some (or lower --hidden / --bsize) and rerun to"), code=1)
    except run.CLUSTER_ERRORS as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
        fail(f"the cluster lost a worker ({first}); "
             + _resume_point(save_path, "start every worker again with the same command to"), code=1)
    except OSError as e:  # a folder that cannot be written, a path that is a file, a full disk
        fail(f"{e.strerror or e}: {e.filename or save_path}; {_resume_point(save_path)}", code=1)
    except KeyboardInterrupt:
        fail(f"interrupted; {_resume_point(save_path)}", 130)
    except (Terminated, train.StopRequested):
        fail(f"stopped by SIGTERM; {_resume_point(save_path)}", 143)
