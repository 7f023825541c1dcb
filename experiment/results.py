"""The results table and learning curves of docs/results.md, built from run folders.

  python experiment/results.py --runs ~/aae_runs/cluster16_a,~/aae_runs/cluster16_b \
      --table docs/results_table.md --figures docs/figures

  python experiment/results.py --runs ~/aae_runs/semi100_paper,~/aae_runs/semi100_truelabel \
      --span_keys validation_error,test_error --epochs 245:275     # a screen beside its baseline
  python experiment/results.py --runs ~/aae_runs/semi_all_paper --copy_to docs/runs   # keep the records
  python experiment/results.py --runs docs/runs/semi_all_paper --into docs/results.md --section main

Every figure comes from the runs' own flags.json and history.jsonl; runs that
differ only in their seed are one row (mean ± sd).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

from aae_tf.cli import fail  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("runs", [], "Run folders (each with flags.json and history.jsonl).")
flags.DEFINE_string("table", None, "Write the markdown table here (default: print it).")
flags.DEFINE_list("epoch_keys", [], "Instead of the results table, a per-epoch table of these metrics.")
flags.DEFINE_list("metrics_keys", [], "Instead of the results table, a table of these keys of each run's "
                  "metrics.json (e.g. log_likelihood,validation_log_likelihood,parzen_epoch).")
flags.DEFINE_integer("every", 1, "With --epoch_keys: every how many epochs a row (the last is always shown).")
flags.DEFINE_string("epochs", None, "Only the epochs FIRST:LAST (both included, counted from 0): of the per-epoch "
                    "tables, or, for the results table, the epochs among which the validation set chooses (every "
                    "seed of a row at the same budget; not for Parzen rows).")
flags.DEFINE_list("span_keys", [], "Instead of the results table, the runs side by side over --epochs (a screen "
                  "against its baseline): the mean and range of these metrics.")
flags.DEFINE_list("budgets", [], "Instead of the results table, each run's test error at the validation-chosen "
                  "epoch had it stopped after each of these numbers of epochs (e.g. 50,100,200), with that epoch.")
flags.DEFINE_string("into", None, "Write the table into this markdown file between the lines "
                    "<!-- results:SECTION --> and <!-- /results:SECTION --> (with --section), after a line giving "
                    "the command that built it; the rest of the file is kept.")
flags.DEFINE_string("section", None, "With --into: the name in the markers of the section to rewrite.")
flags.DEFINE_string("copy_to", None, "First copy each run's flags.json, history.jsonl and metrics.json to "
                    "COPY_TO/<run folder name>/ and build from the copies (docs/runs/: the tables then survive the "
                    "machine that trained the runs).")
flags.DEFINE_string("figures", None, "Folder for one learning-curve PNG per run (<run folder name>_curve.png).")


def parse_epochs(text):
    """``FIRST:LAST`` as (first, last), None for None; a one-line error for anything else."""
    if text is None:
        return None
    try:
        first, last = (int(part) for part in text.split(":"))
    except ValueError:
        fail(f"--epochs {text} should be FIRST:LAST, two epochs counted from 0 (e.g. 245:275)")
    if not 0 <= first <= last:
        fail(f"--epochs {text}: FIRST must be at least 0 and at most LAST")
    return first, last


def parse_budgets(texts):
    """--budgets as positive integers; a one-line error for anything else."""
    try:
        budgets = [int(text) for text in texts]
    except ValueError:
        fail(f"--budgets {','.join(texts)} should be numbers of epochs, e.g. 50,100,200")
    if any(b < 1 for b in budgets):
        fail(f"--budgets {','.join(texts)}: each must be at least 1 epoch")
    return budgets


def command_without_into(args):
    """The arguments without --into and --section (what built the table, not where it went)."""
    shown, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg in ("--into", "--section"):
            skip = True
        elif not arg.startswith(("--into=", "--section=")):
            shown.append(arg)
    return shown


def main(argv):
    if len(argv) > 1:
        fail(f"unexpected arguments: {' '.join(argv[1:])}")
    if not FLAGS.runs:
        fail("no runs: pass --runs with one or more run folders")
    if bool(FLAGS.into) != bool(FLAGS.section):
        fail("--into and --section go together")
    from aae_tf import results, runfiles
    epochs = parse_epochs(FLAGS.epochs)
    # With the results table, --epochs restricts each history before the model choice (every seed of a row
    # at the same budget); the other tables read whole histories and pick their epochs themselves.
    table_epochs = epochs if not (FLAGS.epoch_keys or FLAGS.span_keys or FLAGS.metrics_keys or FLAGS.budgets) else None
    summaries = []
    for path in FLAGS.runs:
        path = os.path.expanduser(path)
        if not os.path.isdir(path):
            fail(f"--runs: {path} is not a folder")
        try:
            if FLAGS.copy_to:
                copy = os.path.join(os.path.expanduser(FLAGS.copy_to), results.folder_name(path))
                runfiles.copy_records(path, copy)
                print(f"copied the records of {path} to {copy}")
                path = copy
            summaries.append(results.run_summary(path, epochs=table_epochs))
        except runfiles.RunFileError as e:
            fail(str(e), code=1)
    if FLAGS.every < 1:
        fail("--every must be at least 1")
    if sum(bool(k) for k in (FLAGS.epoch_keys, FLAGS.metrics_keys, FLAGS.span_keys, FLAGS.budgets)) > 1:
        fail("pass one of --epoch_keys, --metrics_keys, --span_keys, --budgets")
    budgets = parse_budgets(FLAGS.budgets)
    if budgets and epochs:
        fail("--budgets sets the epochs of each choice itself; leave out --epochs")
    if epochs and FLAGS.metrics_keys:
        fail("--epochs does not go with --metrics_keys (a table of metrics.json, not of the epochs)")
    if FLAGS.span_keys and not epochs:
        fail("--span_keys needs --epochs FIRST:LAST, the same epochs for every run")
    if FLAGS.metrics_keys:
        text = results.metrics_table([s["path"] for s in summaries], FLAGS.metrics_keys)
    elif budgets:
        try:
            text = results.budget_table([s["path"] for s in summaries], budgets)
        except runfiles.RunFileError as e:
            fail(str(e), code=1)
    elif FLAGS.span_keys:
        text = results.span_table(summaries, FLAGS.span_keys, epochs)
    elif FLAGS.epoch_keys:
        text = results.epochs_table(summaries, FLAGS.epoch_keys, FLAGS.every, epochs)
    else:
        text = results.table(summaries)
    if FLAGS.into:
        try:
            with open(FLAGS.into) as f:
                document = f.read()
        except OSError as e:
            fail(f"--into {FLAGS.into}: {e.strerror}")
        command = " ".join(["python experiment/results.py", *command_without_into(sys.argv[1:])])
        try:
            document = results.replace_section(document, FLAGS.section, f"Generated by `{command}`:\n\n{text}")
        except ValueError as e:
            fail(f"--into {FLAGS.into}: {e}")
        runfiles.write_atomically(FLAGS.into, lambda f: f.write(document))
        print(f"wrote section {FLAGS.section} of {FLAGS.into}")
    elif FLAGS.table:
        runfiles.write_atomically(FLAGS.table, lambda f: f.write(text))
        print(f"wrote {FLAGS.table}")
    else:
        print(text, end="")
    if FLAGS.figures:
        os.makedirs(FLAGS.figures, exist_ok=True)
        for s in summaries:
            name = results.folder_name(s["path"])
            try:
                print("wrote " + results.learning_curve(s, os.path.join(FLAGS.figures, f"{name}_curve.png")))
            except runfiles.RunFileError as e:
                print(f"skipped: {e}")


if __name__ == "__main__":
    app.run(main)
