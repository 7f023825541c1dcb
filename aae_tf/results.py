"""The results table and learning curves, built from the runs' own files (flags.json and history.jsonl).

No figure in the table is typed: each comes from a run folder, grouped over
seeds (mean ± sd) when several runs differ only in their seed.
"""

import dataclasses
import json
import math
import os

import numpy as np

from aae_tf import config as config_lib
from aae_tf import plots
from aae_tf import runfiles

# The paper's figures (error in %, or nats for the likelihood), by experiment and setting.
PAPER = {
    ("semisupervised", 100): "1.90 ± 0.10", ("semisupervised", 1000): "1.60 ± 0.08",
    ("semisupervised", -1): "0.85 ± 0.02",
    ("cluster", 16): "9.55", ("cluster", 30): "4.10",
    # Fig. 11's caption: (c) 2-D, unsupervised, 20 clusters; (d) 10-D with 100 labels, projected to 2-D.
    ("dimreduce", 1000, 2): "4.20", ("dimreduce", 100, 2): "6.08", ("dimreduce", 0, 2): "13.95",
    ("dimreduce", 100, 10): "3.90",
    ("unsupervised", "parzen"): "340 ± 2 nats",
}
# The best figure a public reimplementation reports for the same setting (PAPER.md, "What others reached").
PUBLIC = {
    ("semisupervised", 100): "about 5 (several, thousands of epochs)",
    ("semisupervised", 1000): "2.90 with 1,280 labels (conan7882, ~200 epochs)",
    ("cluster", 16): "none reported", ("cluster", 30): "none reported",
    # Computed with scikit-learn's KernelDensity, which differs from the exact estimate (docs/results.md).
    ("unsupervised", "parzen"): "340.1 ± 2.9 nats (1henrypage, 2,000 epochs; scikit-learn's inexact KDE)",
}
# Settings that do not make two runs different experiments.
NOT_A_SETTING = ("seed", "max_epoch", "summary_every", "jit_compile", "precision", "data_path", "changes", "command",
                 "parzen_every")
# What a run recorded before a setting existed trained with: the setting's default.
_DEFAULTS = {f.name: f.default for f in dataclasses.fields(config_lib.ExperimentConfig)}


def setting(flags):
    """The key of a run's row in the paper's tables, after its mode: its label count (with the code's width
    for dimensionality reduction), its cluster count, or ``parzen``."""
    if flags["mode"] == "dimreduce":
        return flags["nlabel"], flags["ncode"]
    if flags["mode"] == "cluster":
        return (flags["ncluster"],)
    if flags["mode"] == "unsupervised":
        return ("parzen",)
    return (flags["nlabel"],)


def describe(flags):
    """A short name of the experiment and its setting."""
    mode = flags["mode"]
    if mode == "cluster":
        return f"clustering, {flags['ncluster']} clusters, {flags['ncode']}-D style"
    if mode == "dimreduce":
        labels = "unsupervised" if flags["nlabel"] == 0 else f"{flags['nlabel']} labels"
        return f"dimensionality reduction to {flags['ncode']}-D, {labels}"
    if mode == "semisupervised":
        labels = "all labels" if flags["nlabel"] == -1 else f"{flags['nlabel']} labels"
        return f"semi-supervised, {labels}, {flags['ncode']}-D style"
    return f"{mode}, {flags['dist_type']}, {flags['ncode']}-D code"


def run_summary(save_path, epochs=None):
    """One run's row: its flags, how far it trained, and the figure its experiment reports.

    The figure is the test error at the epoch the validation set chose where
    the run has a selection metric, else the last epoch's test error; for the
    unsupervised model, the Parzen log-likelihood (nats) at the epoch the
    validation likelihood chose among those its history scored
    (``--parzen_every``), else the one ``--parzen`` recorded in its
    ``metrics.json``, with the epoch it scored.

    Args:
      save_path: the run folder.
      epochs: (first, last) to read only those epochs of the history (both included), e.g. every seed of a
        row at the same budget; None for all.

    Raises:
      runfiles.RunFileError: a folder without flags.json or history (or none in ``epochs``), or ``epochs``
        given for a Parzen row scored once by ``--parzen``, whose figure is not per epoch.
    """
    flags = runfiles.read_json_object(os.path.join(save_path, "flags.json"))
    records = _in_epochs(runfiles.read_history(save_path), epochs)
    if flags is None or not records:
        within = f" within epochs {epochs[0]}-{epochs[1]}" if epochs and flags is not None else ""
        raise runfiles.RunFileError(f"{save_path} has no flags.json or no history.jsonl{within}: not a trained run")
    # The experiment's selection metric: the classifier's validation error where there is one, else the
    # clustering error of the validation images, else the validation likelihood (runs from before each
    # existed have none).
    metric = next((m for m in ("validation_error", "validation_cluster_error", "validation_log_likelihood")
                   if any(m in r for r in records)), None)
    scored_once = flags["mode"] == "unsupervised" and metric is None
    if epochs and scored_once:
        raise runfiles.RunFileError(f"{save_path} reports a Parzen likelihood scored once, not per epoch: "
                                    "leave out --epochs for it")
    key = runfiles.figure_key(flags)
    metrics = runfiles.summary(records, metric=metric, figure=key)
    chosen = metrics.get("test_error_at_best_validation")
    figure = chosen if chosen is not None else records[-1].get(key)
    # How the validation set ranks copies of one run (the higher the better); the longest history wins a tie.
    validation = metrics.get("best_validation_error") if metric == "validation_log_likelihood" else None
    if scored_once:
        recorded = runfiles.read_json_object(os.path.join(save_path, "metrics.json")) or {}
        figure = recorded.get("log_likelihood")
        validation = recorded.get("validation_log_likelihood")
        metrics["best_epoch"] = recorded.get("parzen_epoch")
    return {"path": save_path, "flags": flags, "epochs": len(records), "figure": figure,
            "chosen_epoch": metrics.get("best_epoch"), "records": records, "validation": validation}


def folder_name(path):
    """The run folder's own name (what the tables and the curve files call a run)."""
    return os.path.basename(os.path.normpath(path))


def run_labels(paths):
    """What a table calls each run: its folder's name, or ``parent/name`` where two of ``paths`` share a name
    (two runs of one seed trained on two machines, say), so that the rows can be told apart."""
    names = [folder_name(p) for p in paths]
    return [f"{folder_name(os.path.dirname(os.path.normpath(p)))}/{n}" if names.count(n) > 1 else n
            for p, n in zip(paths, names)]


# The settings that name a row of the paper's tables (``setting``, ``describe``): not departures from a recipe.
ROW_SETTINGS = ("mode", "recipe", "nlabel", "ncode", "ncluster", "dist_type")


def departures(flags):
    """What a run set differently from its recipe: ``{setting: value}`` for each setting of its flags that is
    neither its row's own (``ROW_SETTINGS``) nor ``NOT_A_SETTING`` and differs from what ``--recipe`` gives its
    experiment, e.g. ``{"encw": 0.1}`` for ``--recipe paper --encw 0.1``. A setting the run's flags do not
    record (it came later) is not counted.
    """
    # Imported here, not at the top: the recipes live with the experiments (TensorFlow), which the per-epoch
    # and budget tables do not need.
    from aae_tf import experiments
    row = {k: flags[k] for k in ROW_SETTINGS[2:] if k in flags}
    config = experiments.default_config(flags["mode"], flags.get("recipe", "reference"), **row)
    recipe = json.loads(config.to_json())  # as flags.json records it (tuples as lists)
    return {k: flags[k] for k, v in recipe.items()
            if k in flags and k not in ROW_SETTINGS and k not in NOT_A_SETTING and flags[k] != v}


def recipe_cell(flags):
    """The table's recipe column: the recipe's name, and each departure from it (``paper; encw 0.1``)."""
    changed = departures(flags)
    return "; ".join([flags.get("recipe", "reference")] + [f"{k} {v}" for k, v in sorted(changed.items())])


def command_cell(flags):
    """The table's command column: the command that started the run, then each command that changed one of
    its settings on a resume (``--allow_change``, a branch), with the epoch it took effect."""
    command = flags.get("command")
    cells = [f"`{command}`" if command else "–"]
    for change in flags.get("changes", []):
        changed = [k for k in change if k not in ("at_epoch", "command") and k not in NOT_A_SETTING]
        if changed and change.get("command"):
            cells.append(f"from epoch {change['at_epoch']}: `{change['command']}`")
        elif changed:
            cells.append(f"from epoch {change['at_epoch']}: " + ", ".join(f"{k} {change[k][1]}" for k in changed))
    return "; ".join(cells)


def _group_key(flags):
    flags = dict({k: _DEFAULTS[k] for k in config_lib.ADDED_LATER if k not in flags}, **flags)
    return tuple(sorted((k, str(v)) for k, v in flags.items() if k not in NOT_A_SETTING))


def _mean_sd(values):
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return "–"
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{np.mean(values):.2f} ± {np.std(values, ddof=1):.2f}"


def _one_per_seed(members):
    """One folder per seed: folders of one setting and seed are copies of one run at different epochs
    (e.g. scored by ``--parzen``), not seeds; the validation set chooses among them
    (``validation``, higher is better), else the longest history, which holds the shorter ones' (also for
    two runs of one seed trained apart, e.g. started again on another machine).

    Returns:
      (the chosen summaries, in the order given; for each, how it was chosen, e.g. "the validation set's
      choice of 3 copies", or None when its seed has one folder).
    """
    by_seed = {}
    for m in members:
        by_seed.setdefault(m["flags"].get("seed"), []).append(m)
    chosen = {}
    for seed, copies in by_seed.items():
        best = max(copies, key=lambda m: (m["validation"] if m["validation"] is not None else -math.inf,
                                          m["epochs"]))
        by_validation = any(m["validation"] is not None for m in copies)
        chosen[id(best)] = (None if len(copies) == 1 else f"the validation set's choice of {len(copies)} copies"
                            if by_validation else f"the longest of {len(copies)} runs of this seed")
    return [m for m in members if id(m) in chosen], [chosen[id(m)] for m in members if id(m) in chosen]


def table(summaries):
    """The markdown results table: one row per setting, over its seeds (one folder each, see ``_one_per_seed``)."""
    groups = {}
    for s in summaries:
        groups.setdefault(_group_key(s["flags"]), []).append(s)
    lines = ["| experiment | paper | best public | ours (test error %, or nats) | epoch chosen | seeds | "
             "epochs trained | recipe (and departures) | run folders | command |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for members in groups.values():
        members, copies = _one_per_seed(members)
        flags = members[0]["flags"]
        key = (flags["mode"],) + setting(flags)
        paper, public = PAPER.get(key, "–"), PUBLIC.get(key, "–")
        epochs = ", ".join(str(m["epochs"]) for m in members)
        chosen = ", ".join("–" if m["chosen_epoch"] is None else str(m["chosen_epoch"]) for m in members)
        folders = ", ".join(f"`{folder_name(m['path'])}`"
                            + (f" ({how})" if how else "") for m, how in zip(members, copies))
        lines.append(f"| {describe(flags)} | {paper} | {public} | {_mean_sd([m['figure'] for m in members])} | "
                     f"{chosen} | {len(members)} | {epochs} | {recipe_cell(flags)} | {folders} | "
                     f"{command_cell(flags)} |")
    return "\n".join(lines) + "\n"


# test_cluster_purity beside the clustering error: 100 minus it is the least error any naming of the clusters gives.
ERROR_CURVES = ("test_error", "validation_error", "validation_cluster_error", "test_cluster_purity",
                "test_clusters_used", "validation_reconstruction_error")
LIKELIHOOD_CURVES = ("log_likelihood", "validation_log_likelihood")


def learning_curve(summary, path, keys=None):
    """Draws the run's per-epoch ``keys`` (those it has) against the epoch; returns the path.

    ``keys`` None: the Parzen likelihoods where the run's history has them (nats, on an axis of their
    own), else ``ERROR_CURVES``.

    Raises:
      runfiles.RunFileError: the run has none of ``keys``.
    """
    records = summary["records"]
    if keys is None:
        scored = any(r.get("validation_log_likelihood") is not None for r in records)
        keys = LIKELIHOOD_CURVES if scored else ERROR_CURVES
    series = {k: [r.get(k) for r in records] for k in keys if any(r.get(k) is not None for r in records)}
    if not series:
        raise runfiles.RunFileError(f"{summary['path']} records none of {', '.join(keys)}: no curve to draw")
    plots.save_curves(path, [r["epoch"] for r in records], series, title=describe(summary["flags"]))
    return path


def _cells(values, keys):
    """Table cells of ``values[k]`` for each of ``keys``: 4 significant digits, ``–`` where absent."""
    return " | ".join("–" if values.get(k) is None else
                      (f"{values[k]:.4g}" if isinstance(values[k], float) else str(values[k])) for k in keys)


def _in_epochs(records, epochs):
    """The records whose epoch lies in ``epochs`` (first, last), both included; all for None."""
    if epochs is None:
        return list(records)
    return [r for r in records if epochs[0] <= r["epoch"] <= epochs[1]]


def epochs_table(summaries, keys, every=1, epochs=None):
    """A markdown table of each run's per-epoch ``keys`` (every ``every``-th epoch, and its last), of the
    epochs in ``epochs`` (first, last) if given."""
    lines = ["| run | epoch | " + " | ".join(keys) + " |", "|---|---|" + "---|" * len(keys)]
    for s, name in zip(summaries, run_labels([s["path"] for s in summaries])):
        records = _in_epochs(s["records"], epochs)
        for i, r in enumerate(records):
            if i % every and i != len(records) - 1:
                continue
            lines.append(f"| `{name}` | {r['epoch']} | " + _cells(r, keys) + " |")
    return "\n".join(lines) + "\n"


def span_table(summaries, keys, epochs):
    """Runs side by side over the same epochs (a screen against its baseline): for each of ``keys``, the mean
    and the range (min-max) over each run's epochs in ``epochs`` (first, last)."""
    lines = ["| run | epochs | " + " | ".join(f"{k}: mean (min-max)" for k in keys) + " |",
             "|---|---|" + "---|" * len(keys)]
    for s, name in zip(summaries, run_labels([s["path"] for s in summaries])):
        records = _in_epochs(s["records"], epochs)
        cells = []
        for k in keys:
            values = [r[k] for r in records if isinstance(r.get(k), (int, float)) and math.isfinite(r[k])]
            cells.append(f"{np.mean(values):.4g} ({min(values):.4g}-{max(values):.4g})" if values else "–")
        span = f"{records[0]['epoch']}-{records[-1]['epoch']} ({len(records)})" if records else "none"
        lines.append(f"| `{name}` | {span} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def budget_table(paths, budgets):
    """Each run's figure (the test error at the validation-chosen epoch) had it stopped after each of
    ``budgets`` epochs: the choice made among epochs 0 to budget - 1 only, with the epoch chosen.

    A budget a run has not reached reads ``–``.
    """
    lines = ["| run | " + " | ".join(f"first {b} epochs" for b in budgets) + " |",
             "|---|" + "---|" * len(budgets)]
    for path, name in zip(paths, run_labels(paths)):
        trained = len(runfiles.read_history(path))
        cells = []
        for budget in budgets:
            if budget > trained:
                cells.append("–")
                continue
            summary = run_summary(path, epochs=(0, budget - 1))
            cells.append("–" if summary["figure"] is None else
                         f"{summary['figure']:.2f} ({summary['chosen_epoch']})")
        lines.append(f"| `{name}` | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def metrics_table(paths, keys):
    """A markdown table of each run's ``metrics.json`` ``keys`` (e.g. the Parzen scores of copies of a run)."""
    lines = ["| run | " + " | ".join(keys) + " |", "|---|" + "---|" * len(keys)]
    for path, name in zip(paths, run_labels(paths)):
        recorded = runfiles.read_json_object(os.path.join(path, runfiles.METRICS_FILE)) or {}
        lines.append(f"| `{name}` | " + _cells(recorded, keys) + " |")
    return "\n".join(lines) + "\n"


def _markers(name):
    """The lines that open and close section ``name`` of a document."""
    return f"<!-- results:{name} -->", f"<!-- /results:{name} -->"


def replace_section(document, name, text):
    """``document`` with what lies between the lines ``<!-- results:NAME -->`` and ``<!-- /results:NAME -->``
    replaced by ``text`` (the markers stay, so the next build finds them again).

    Raises:
      ValueError: the pair of markers is missing, repeated or out of order; the message is one line.
    """
    start, end = _markers(name)
    lines = document.split("\n")
    starts = [i for i, line in enumerate(lines) if line.strip() == start]
    ends = [i for i, line in enumerate(lines) if line.strip() == end]
    if len(starts) != 1 or len(ends) != 1 or ends[0] < starts[0]:
        raise ValueError(f"the document needs exactly one line {start} followed by one line {end}")
    return "\n".join(lines[:starts[0] + 1] + text.rstrip("\n").split("\n") + lines[ends[0]:])


def sections(document):
    """Each ``<!-- results:NAME -->`` ... ``<!-- /results:NAME -->`` section of ``document`` as (NAME, the text
    between the markers), in the order they appear; a start marker without its end marker is left out."""
    lines = document.split("\n")
    found = []
    for i, line in enumerate(lines):
        text = line.strip()
        if text.startswith("<!-- results:") and text.endswith(" -->"):
            name = text[len("<!-- results:"):-len(" -->")]
            end = _markers(name)[1]
            for j in range(i + 1, len(lines)):
                if lines[j].strip() == end:
                    found.append((name, "\n".join(lines[i + 1:j])))
                    break
    return found

