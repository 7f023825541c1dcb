"""Long training runs in the background, each on a frozen copy of the committed code, resumable in one command.

  python experiment/background.py --start semi100_seed1 -- \
      --train_semisupervised --recipe paper --nlabel 100 --seed 1 --maxepoch 1000
  python experiment/background.py                    # every run of --runs_dir: running or stopped, epochs, best
  python experiment/background.py --stop semi100_seed1
  python experiment/background.py --resume all       # after a reboot or a new session: every stopped run
  python experiment/background.py --start semi100_clip --branch_from semi100_seed1:199 -- \
      --train_semisupervised --clip_norm 5 --allow_change      # a screen from epoch 199 of another run

Each run NAME gets RUNS_DIR/NAME (its --save_path), NAME.sh (the exact command on RUNS_DIR/code/<commit>, a
copy of the committed tree; rerunning it resumes), NAME.log and NAME.pid. It runs under nice 10 in a session of
its own, so it outlives the shell; SIGTERM (--stop) ends it between two steps, its checkpoints intact.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

from aae_tf import background, runfiles  # noqa: E402  (free of TensorFlow)
from aae_tf.cli import fail  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("runs_dir", os.path.join("~", "aae_runs"), "Folder of the background runs (outside the "
                    "checkout, so that they survive a fresh clone).")
flags.DEFINE_string("start", None, "Start a new run of this name with the training flags given after --.")
flags.DEFINE_list("resume", [], "Start these stopped runs again from their checkpoints, or all for every stopped run.")
flags.DEFINE_list("stop", [], "Send these runs SIGTERM (they stop between two steps, checkpoints intact).")
flags.DEFINE_integer("nice", 10, "Niceness of the runs started (0-19).")
flags.DEFINE_string("branch_from", None, "With --start: RUN:EPOCH, the new run begins as a copy of run RUN (of "
                    "--runs_dir) after its epoch EPOCH and goes on with the flags after -- (a setting changed there "
                    "needs --allow_change); RUN itself is only read.")

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main(argv):
    runs_dir = os.path.expanduser(FLAGS.runs_dir)
    training_args = argv[1:]
    actions = [bool(FLAGS.start), bool(FLAGS.resume), bool(FLAGS.stop)]
    if sum(actions) > 1:
        fail("--start, --resume and --stop go one at a time")
    if training_args and not FLAGS.start:
        fail(f"unexpected arguments: {' '.join(training_args)} (training flags go after -- with --start)")
    if FLAGS.branch_from and not FLAGS.start:
        fail("--branch_from goes with --start (the new run's name)")
    if not 0 <= FLAGS.nice <= 19:
        fail(f"--nice must be within 0-19, got {FLAGS.nice}")
    try:
        if FLAGS.start:
            if not training_args:
                fail("--start needs the training flags after --, e.g. -- --train --maxepoch 1000")
            pid, script = background.create(runs_dir, FLAGS.start, REPO, sys.executable, training_args,
                                             niceness=FLAGS.nice, branch=parse_branch(FLAGS.branch_from))
            print(f"started {FLAGS.start} (process {pid}); resume it with: python experiment/background.py "
                  f"--resume {FLAGS.start} --runs_dir {FLAGS.runs_dir}  (or bash {script})")
        elif FLAGS.resume:
            names = FLAGS.resume
            if names == ["all"]:
                names = [n for n in background.names(runs_dir) if background.running_pid(runs_dir, n) is None]
                if not names:
                    print(f"no stopped run in {runs_dir}")
            for name in names:
                print(f"resumed {name} (process {background.start(runs_dir, name, FLAGS.nice)})")
        elif FLAGS.stop:
            for name in FLAGS.stop:
                if name not in background.names(runs_dir):
                    fail(f"no run named {name} in {runs_dir}")
                pid = background.stop(runs_dir, name)
                print(f"sent SIGTERM to {name} (process {pid})" if pid else f"{name} is not running")
        else:
            show_status(runs_dir)
        sys.stdout.flush()  # a reader that stopped early (| head) shows here, not at exit
    except BrokenPipeError:
        # The reader stopped reading: no message for it to miss, and none at exit either.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    except (background.BackgroundError, runfiles.RunFileError) as e:
        fail(str(e), code=1)
    except OSError as e:  # a --runs_dir that is a file or cannot be written
        fail(f"{e.strerror or e}: {e.filename or runs_dir}", code=1)


def parse_branch(text):
    """``RUN:EPOCH`` as (run, epoch), None for None; a one-line error for anything else."""
    if text is None:
        return None
    run, _, epoch = text.rpartition(":")
    if not run or not epoch.isdigit():
        fail(f"--branch_from {text} should be RUN:EPOCH, a run of --runs_dir and an epoch counted from 0 "
             "(e.g. parzen_seed0:49)")
    return run, int(epoch)


def show_status(runs_dir):
    names = background.names(runs_dir)
    if not names:
        print(f"no runs in {runs_dir}")
        return
    width = max(32, *(len(name) for name in names))
    print(f"{'run':{width}s} {'state':16s} {'epochs':>6s} {'best epoch':>10s} {'its validation':>14s} {'its test':>8s} "
          f"{'s/epoch':>7s}")
    for name in names:
        try:
            row = background.status(runs_dir, name)
        except runfiles.RunFileError as e:  # one damaged run does not hide the others
            print(f"{name:{width}s} {e}")
            continue
        state = f"{'paused' if row['paused'] else 'running'} ({row['pid']})" if row["pid"] else "stopped"

        def shown(key, spec="g"):
            return "-" if row[key] is None else format(row[key], spec)
        print(f"{name:{width}s} {state:16s} {row['epochs']:6d} {shown('best_epoch'):>10s} "
              f"{shown('best_validation_error'):>14s} {shown('test_error_at_best_validation'):>8s} "
              f"{shown('seconds_per_epoch', '.0f'):>7s}")


if __name__ == "__main__":
    app.run(main)
