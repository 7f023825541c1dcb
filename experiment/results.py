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
import shlex
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

from aae_tf.cli import fail  # noqa: E402

FLAGS = flags.FLAGS


def define_flags(flag_values):
    """The flags that choose a table; defined on FLAGS below and, for --check, on a fresh set per section."""
    def define(kind, name, default, text):
        getattr(flags, f"DEFINE_{kind}")(name, default, text, flag_values=flag_values)
    define("list", "runs", [], "Run folders (each with flags.json and history.jsonl).")
    define("string", "table", None, "Write the markdown table here (default: print it).")
    define("list", "epoch_keys", [], "Instead of the results table, a per-epoch table of these metrics.")
    define("list", "metrics_keys", [], "Instead of the results table, a table of these keys of each run's "
           "metrics.json (e.g. log_likelihood,validation_log_likelihood,parzen_epoch).")
    define("integer", "every", 1, "With --epoch_keys: every how many epochs a row (the last is always shown).")
    define("string", "epochs", None, "Only the epochs FIRST:LAST (both included, counted from 0): of the per-epoch "
           "tables, or, for the results table, the epochs among which the validation set chooses (every "
           "seed of a row at the same budget; not for Parzen rows).")
    define("list", "span_keys", [], "Instead of the results table, the runs side by side over --epochs (a screen "
           "against its baseline): the mean and range of these metrics.")
    define("list", "budgets", [], "Instead of the results table, each run's test error at the validation-chosen "
           "epoch had it stopped after each of these numbers of epochs (e.g. 50,100,200), with that epoch.")
    define("string", "into", None, "Write the table into this markdown file between the lines "
           "<!-- results:SECTION --> and <!-- /results:SECTION --> (with --section), after a line giving "
           "the command that built it; the rest of the file is kept.")
    define("string", "section", None, "With --into: the name in the markers of the section to rewrite.")
    define("string", "copy_to", None, "First copy each run's flags.json, history.jsonl and metrics.json to "
           "COPY_TO/<run folder name>/ and build from the copies (docs/runs/: the tables then survive the "
           "machine that trained the runs).")
    define("string", "figures", None, "Folder for one learning-curve PNG per run (<run folder name>_curve.png).")


define_flags(FLAGS)
flags.DEFINE_string("check", None, "Instead of building a table: rebuild every marked table of this markdown file "
                    "(e.g. docs/results.md) from the command written above it, and exit 1 if any differs from what "
                    "the records now give. Tables whose command reads folders outside the repository (~/..., "
                    "/...) are listed as skipped. Run it from the folder the commands were run from (the "
                    "repository's root).")


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


GENERATED = "Generated by `python experiment/results.py "  # how --into begins the line above a table


def build(options):
    """(the runs' summaries, the table's markdown) for the table ``options`` (a parsed set of the flags above)
    asks for; copies the records first with --copy_to. A one-line error for anything wrong."""
    from aae_tf import results, runfiles
    if not options.runs:
        fail("no runs: pass --runs with one or more run folders")
    epochs = parse_epochs(options.epochs)
    kinds = (options.epoch_keys, options.metrics_keys, options.span_keys, options.budgets)
    # With the results table, --epochs restricts each history before the model choice (every seed of a row
    # at the same budget); the other tables read whole histories and pick their epochs themselves.
    table_epochs = None if any(kinds) else epochs
    summaries = []
    for path in options.runs:
        path = os.path.expanduser(path)
        if not os.path.isdir(path):
            fail(f"--runs: {path} is not a folder")
        try:
            if options.copy_to:
                copy = os.path.join(os.path.expanduser(options.copy_to), results.folder_name(path))
                runfiles.copy_records(path, copy)
                print(f"copied the records of {path} to {copy}")
                path = copy
            summaries.append(results.run_summary(path, epochs=table_epochs))
        except runfiles.RunFileError as e:
            fail(str(e), code=1)
    if options.every < 1:
        fail("--every must be at least 1")
    if sum(bool(k) for k in kinds) > 1:
        fail("pass one of --epoch_keys, --metrics_keys, --span_keys, --budgets")
    budgets = parse_budgets(options.budgets)
    if budgets and epochs:
        fail("--budgets sets the epochs of each choice itself; leave out --epochs")
    if epochs and options.metrics_keys:
        fail("--epochs does not go with --metrics_keys (a table of metrics.json, not of the epochs)")
    if options.span_keys and not epochs:
        fail("--span_keys needs --epochs FIRST:LAST, the same epochs for every run")
    if options.metrics_keys:
        return summaries, results.metrics_table([s["path"] for s in summaries], options.metrics_keys)
    if budgets:
        try:
            return summaries, results.budget_table([s["path"] for s in summaries], budgets)
        except runfiles.RunFileError as e:
            fail(str(e), code=1)
    if options.span_keys:
        return summaries, results.span_table(summaries, options.span_keys, epochs)
    if options.epoch_keys:
        return summaries, results.epochs_table(summaries, options.epoch_keys, options.every, epochs)
    return summaries, results.table(summaries)


def check_one(name, body):
    """None if the section ``body`` is what its own command builds now, else why not (one line); raises
    LookupError with the reason for a section that cannot be rebuilt here (not built by this script, or from
    folders outside the repository)."""
    first = body.split("\n", 1)[0]
    if not (first.startswith(GENERATED) and first.endswith("`:")):
        raise LookupError("not built by experiment/results.py")
    options = flags.FlagValues()
    define_flags(options)
    try:
        options(["results.py", *shlex.split(first[len(GENERATED):-2])])
    except (flags.Error, ValueError) as e:
        return f"its command does not parse: {e}"
    outside = [r for r in options.runs if os.path.isabs(os.path.expanduser(r))]
    if outside:
        raise LookupError(f"reads folders outside the repository ({outside[0]})")
    if options.copy_to or options.table:
        raise LookupError("its command writes files (--copy_to or --table)")
    missing = [r for r in options.runs if not os.path.isdir(r)]
    if missing:
        return f"its run folder {missing[0]} is missing (run --check from the repository's root)"
    options.figures = None  # a check writes nothing
    try:
        _, text = build(options)
    except SystemExit:
        return "its command fails (the error above)"
    if body != f"{first}\n\n{text}".rstrip("\n"):  # as --into writes it (replace_section)
        return "differs from what its records give now (rerun the command above it with --into and --section)"
    return None


def check(path):
    """Rebuilds every marked section of the document at ``path``; exits 1 if any differs."""
    from aae_tf import results
    try:
        with open(path) as f:
            document = f.read()
    except OSError as e:
        fail(f"--check {path}: {e.strerror}")
    found = results.sections(document)
    same = differ = 0
    for name, body in found:
        try:
            problem = check_one(name, body)
        except LookupError as e:
            print(f"skipped {name}: {e}")
            continue
        if problem:
            differ += 1
            print(f"DIFFERS {name}: {problem}")
        else:
            same += 1
    summary = f"{path}: {same} tables as their records give them, {differ} not, " \
              f"{len(found) - same - differ} skipped"
    if differ:
        fail(summary, code=1)
    print(summary)


def main(argv):
    if len(argv) > 1:
        fail(f"unexpected arguments: {' '.join(argv[1:])}")
    if FLAGS.check:
        if FLAGS.runs or FLAGS.into or FLAGS.table or FLAGS.copy_to or FLAGS.figures:
            fail("--check reads the commands from the document; pass it alone")
        check(FLAGS.check)
        return
    if bool(FLAGS.into) != bool(FLAGS.section):
        fail("--into and --section go together")
    from aae_tf import results, runfiles
    summaries, text = build(FLAGS)
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
        # Named as the tables name the runs, so that two runs sharing a folder name do not overwrite one curve.
        for s, name in zip(summaries, results.run_labels([s["path"] for s in summaries])):
            curve = os.path.join(FLAGS.figures, f"{name}_curve.png")
            os.makedirs(os.path.dirname(curve), exist_ok=True)
            try:
                print("wrote " + results.learning_curve(s, curve))
            except runfiles.RunFileError as e:
                print(f"skipped: {e}")

if __name__ == "__main__":
    app.run(main)
