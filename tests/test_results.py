"""The results table from fabricated run folders with a known answer."""

import json
import os
import subprocess
import sys

import pytest

from aae_tf import experiments
from aae_tf import results
from aae_tf import runfiles
from conftest import ROOT


def fabricate(folder, history, mode, recipe="reference", **settings):
    """A run folder of experiment ``mode`` trained with ``recipe`` and ``settings`` typed beside it."""
    os.makedirs(folder)
    flags = json.loads(experiments.default_config(mode, recipe, **settings).to_json())
    flags.update(command=f"python experiment/aae_mnist.py --seed {settings.get('seed', 0)}")
    with open(os.path.join(folder, "flags.json"), "w") as f:
        json.dump(flags, f)
    for record in history:
        runfiles.append_history(folder, record)
    return folder


def test_seeds_of_one_setting_make_one_row_with_mean_and_sd(tmp_path):
    semi = dict(mode="semisupervised", ncode=10, nlabel=100)
    a = fabricate(str(tmp_path / "semi_a"), [
        {"epoch": 0, "validation_error": 5.0, "test_error": 6.0},
        {"epoch": 1, "validation_error": 4.0, "test_error": 3.0},   # chosen: test 3.0
        {"epoch": 2, "validation_error": 4.5, "test_error": 1.0}], seed=0, **semi)
    b = fabricate(str(tmp_path / "semi_b"), [
        {"epoch": 0, "validation_error": 2.0, "test_error": 5.0}], seed=1, **semi)   # chosen: test 5.0
    c = fabricate(str(tmp_path / "clu"), [
        {"epoch": 0, "test_error": 30.0, "test_clusters_used": 16},
        {"epoch": 1, "test_error": 20.0, "test_clusters_used": 15}], mode="cluster", ncode=5, ncluster=16, nlabel=0)
    summaries = [results.run_summary(p) for p in (a, b, c)]
    lines = results.table(summaries).splitlines()
    assert len(lines) == 4
    # mean 4.00, sd of (3, 5) = 1.41; the paper's 1.90 ± 0.10 beside it.
    assert ("| semi-supervised, 100 labels, 10-D style | 1.90 ± 0.10 | about 5 (several, thousands of epochs) | "
            "4.00 ± 1.41 | 1, 0 | 2 | 3, 1 | reference |") in lines[2]
    # No selection metric: the last epoch's test error.
    assert "| clustering, 16 clusters, 5-D style | 9.55 | none reported | 20.00 | – | 1 | 2 | reference |" in lines[3]
    per_epoch = results.epochs_table(summaries[2:], ["test_error", "test_clusters_used"]).splitlines()
    assert per_epoch[2:] == ["| `clu` | 0 | 30 | 16 |", "| `clu` | 1 | 20 | 15 |"]
    path = results.learning_curve(summaries[2], str(tmp_path / "curve.png"))
    assert os.path.getsize(path) > 0


def test_the_likelihood_row_reads_the_parzen_figure(tmp_path):
    run = fabricate(str(tmp_path / "parzen"), [{"epoch": 0}, {"epoch": 1}], mode="unsupervised", ncode=8,
                    prior_scale=5.0, recipe="paper")
    with open(os.path.join(run, "metrics.json"), "w") as f:
        json.dump({"log_likelihood": 301.25, "parzen_epoch": 1}, f)
    summary = results.run_summary(run)
    lines = results.table([summary]).splitlines()
    with pytest.raises(runfiles.RunFileError, match="no curve to draw"):  # its history has no metric at all
        results.learning_curve(summary, str(tmp_path / "none.png"))
    assert ("| unsupervised, gaussian, 8-D code | 340 ± 2 nats | 340.1 ± 2.9 nats (1henrypage, 2,000 epochs; "
            "scikit-learn's inexact KDE) | "
            "301.25 | 1 | 1 | 2 | paper |") in lines[2]


def test_a_likelihood_scored_every_epoch_chooses_its_epoch_like_an_error(tmp_path):
    parzen = dict(mode="unsupervised", ncode=8, prior_scale=5.0, recipe="paper", parzen_every=1)
    scores = [(136.0, 134.0), (300.0, 302.0), (306.0, 305.5), (301.0, 307.0)]  # validation, test
    run = fabricate(str(tmp_path / "scored"), [
        {"epoch": e, "validation_log_likelihood": v, "log_likelihood": t} for e, (v, t) in enumerate(scores)],
        seed=0, **parzen)
    row = results.table([results.run_summary(run)]).splitlines()[2]
    assert "| 305.50 | 2 | 1 | 4 | paper |" in row  # epoch 2 has the highest validation likelihood
    # A budget: epochs 0-1 only, so epoch 1 (test 302).
    assert "| 302.00 | 1 | 1 | 2 | paper |" in results.table([results.run_summary(run, epochs=(0, 1))]).splitlines()[2]
    # Its curve is the likelihoods (it records no error at all, so the error curves would draw nothing).
    assert os.path.getsize(results.learning_curve(results.run_summary(run), str(tmp_path / "nats.png"))) > 0


def test_copies_of_one_run_are_not_seeds_the_validation_set_chooses(tmp_path):
    parzen = dict(mode="unsupervised", ncode=8, prior_scale=5.0, recipe="paper")
    scored = {"early": (305.25, 305.0, 26), "late": (298.5, 296.0, 113)}  # test, validation, epoch
    for name, (test, validation, epoch) in scored.items():
        run = fabricate(str(tmp_path / name), [{"epoch": e} for e in range(epoch + 1)], seed=0, **parzen)
        with open(os.path.join(run, "metrics.json"), "w") as f:
            json.dump({"log_likelihood": test, "validation_log_likelihood": validation, "parzen_epoch": epoch}, f)
    fabricate(str(tmp_path / "live"), [{"epoch": e} for e in range(130)], seed=0, **parzen)  # not scored
    other_seed = fabricate(str(tmp_path / "seed1"), [{"epoch": 0}], seed=1, **parzen)
    with open(os.path.join(other_seed, "metrics.json"), "w") as f:
        json.dump({"log_likelihood": 301.25, "validation_log_likelihood": 300.0, "parzen_epoch": 0}, f)
    with open(os.path.join(tmp_path, "early", "flags.json")) as f:  # recorded before --dataset existed
        flags = json.load(f)
    del flags["dataset"]
    with open(os.path.join(tmp_path, "early", "flags.json"), "w") as f:
        json.dump(flags, f)
    summaries = [results.run_summary(str(tmp_path / n)) for n in ("late", "live", "early", "seed1")]
    row = results.table(summaries).splitlines()[2]
    # seed 0: the early copy (higher validation likelihood), not the mean of the copies; seed 1 beside it:
    # mean of 305.25 and 301.25 = 303.25, sd 2.83
    assert ("| 303.25 ± 2.83 | 26, 0 | 2 | 27, 1 | paper | `early` (the validation set's choice of 3 copies), "
            "`seed1` |") in row
    scores = results.metrics_table([str(tmp_path / n) for n in ("early", "late", "live")],
                                   ["validation_log_likelihood", "log_likelihood", "parzen_epoch"]).splitlines()
    assert scores[2:] == ["| `early` | 305 | 305.2 | 26 |", "| `late` | 296 | 298.5 | 113 |",
                          "| `live` | – | – | – |"]


def test_two_runs_of_one_seed_trained_apart_the_longest_stands_and_each_table_tells_them_apart(tmp_path):
    semi = dict(mode="semisupervised", ncode=10, nlabel=100, seed=0)
    short = fabricate(str(tmp_path / "machine_a" / "semi100"), [
        {"epoch": 0, "validation_error": 3.0, "test_error": 4.0},
        {"epoch": 1, "validation_error": 2.0, "test_error": 2.5}], **semi)
    long = fabricate(str(tmp_path / "machine_b" / "semi100"), [
        {"epoch": e, "validation_error": v, "test_error": t}
        for e, (v, t) in enumerate([(3.5, 4.5), (2.5, 3.5), (2.25, 3.25)])], **semi)
    summaries = [results.run_summary(p) for p in (short, long)]
    # Not copies the validation set ranks (it scored no Parzen): the longer run's epoch 2 (test 3.25), not a
    # mean over the two, and not the short run's lower validation error.
    row = results.table(summaries).splitlines()[2]
    assert "| 3.25 | 2 | 1 | 3 | reference |" in row
    assert "`semi100` (the longest of 2 runs of this seed)" in row
    spans = results.span_table(summaries, ["test_error"], (0, 1)).splitlines()
    assert spans[2:] == ["| `machine_a/semi100` | 0-1 (2) | 3.25 (2.5-4) |",
                         "| `machine_b/semi100` | 0-1 (2) | 4 (3.5-4.5) |"]
    # A name that appears once keeps its own name.
    assert results.run_labels([short, str(tmp_path / "machine_b" / "other")]) == ["semi100", "other"]
    # Their learning curves are two files, not one written over the other.
    figures = tmp_path / "figures"
    done = subprocess.run([sys.executable, os.path.join(ROOT, "experiment", "results.py"), "--runs",
                           f"{short},{long}", "--figures", str(figures)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert sorted(p.relative_to(figures).as_posix() for p in figures.rglob("*.png")) == [
        "machine_a/semi100_curve.png", "machine_b/semi100_curve.png"]


def test_the_recipe_column_names_each_departure_from_the_recipe(tmp_path):
    parzen = dict(mode="unsupervised", ncode=8, recipe="paper", parzen_every=1)
    scored = [{"epoch": 0, "validation_log_likelihood": 300.0, "log_likelihood": 301.0}]
    faithful = fabricate(str(tmp_path / "faithful"), scored, seed=0, **parzen)
    weighted = [fabricate(str(tmp_path / f"encw_{seed}"), scored, seed=seed, encw=0.1, **parzen) for seed in (0, 1)]
    both = fabricate(str(tmp_path / "both"), scored, seed=0, encw=0.1, reconstruction_cost="mean", **parzen)
    reference = fabricate(str(tmp_path / "ref"), scored, mode="unsupervised", ncode=8, seed=0, hidden=7)
    assert results.departures(json.load(open(os.path.join(faithful, "flags.json")))) == {}
    rows = results.table([results.run_summary(p) for p in [faithful, *weighted, both, reference]]).splitlines()
    assert "| recipe (and departures) |" in rows[0]
    assert "| 1 | 1 | paper | `faithful` |" in rows[2]
    assert "| 2 | 1, 1 | paper; encw 0.1 | `encw_0`, `encw_1` |" in rows[3]   # the seeds of one departure: one row
    assert "| 1 | 1 | paper; encw 0.1; reconstruction_cost mean | `both` |" in rows[4]
    assert "| 1 | 1 | reference; hidden 7 | `ref` |" in rows[5]


def test_the_command_column_adds_each_command_that_changed_a_setting(tmp_path):
    scored = [{"epoch": e, "validation_log_likelihood": 300.0, "log_likelihood": 301.0} for e in range(3)]
    run = fabricate(str(tmp_path / "branch"), scored, mode="unsupervised", recipe="paper", ncode=8, encw=0.1,
                    lr_decay_epochs=(1000,))
    flags = json.load(open(os.path.join(run, "flags.json")))
    flags["changes"] = [{"max_epoch": [2, 3], "precision": ["float32", "mixed_bfloat16"], "at_epoch": 1,
                         "command": "python experiment/aae_mnist.py --train --maxepoch 3"},   # not a setting
                        {"lr_decay_epochs": [[50, 1000], [1000]], "at_epoch": 2,
                         "command": "python experiment/aae_mnist.py --train --lr_decay_epochs 1000 --allow_change"},
                        {"encw": [1.0, 0.1], "at_epoch": 2}]   # recorded before changes named their command
    with open(os.path.join(run, "flags.json"), "w") as f:
        json.dump(flags, f)
    row = results.table([results.run_summary(run)]).splitlines()[2]
    assert row.endswith("| paper; encw 0.1; lr_decay_epochs [1000] | `branch` | "
                        "`python experiment/aae_mnist.py --seed 0`; from epoch 2: "
                        "`python experiment/aae_mnist.py --train --lr_decay_epochs 1000 --allow_change`; "
                        "from epoch 2: encw 0.1 |")


def test_a_folder_that_is_not_a_run_is_refused(tmp_path):
    with pytest.raises(runfiles.RunFileError, match="not a trained run"):
        results.run_summary(str(tmp_path))
    result = subprocess.run([sys.executable, os.path.join(ROOT, "experiment", "results.py"),
                             "--runs", str(tmp_path / "none")], capture_output=True, text=True)
    assert result.returncode != 0 and "is not a folder" in result.stderr and "Traceback" not in result.stderr


def test_every_seed_of_a_row_at_the_same_budget(tmp_path):
    semi = dict(mode="semisupervised", ncode=10, nlabel=-1)
    long = fabricate(str(tmp_path / "long"), [{"epoch": e, "validation_error": 9.0 - e, "test_error": 10.0 - e}
                                              for e in range(9)], seed=0, **semi)   # best at its last epoch, 8
    short = fabricate(str(tmp_path / "short"), [{"epoch": 0, "validation_error": 3.0, "test_error": 4.0},
                                                {"epoch": 1, "validation_error": 2.0, "test_error": 3.0}],
                      seed=1, **semi)
    whole = results.table([results.run_summary(p) for p in (long, short)]).splitlines()[2]
    assert "| 2.50 ± 0.71 | 8, 1 | 2 | 9, 2 |" in whole  # tests 2.0 (epoch 8) and 3.0 (epoch 1)
    # Epochs 0-1 of each: the long run's choice is its epoch 1 (test 9.0): mean of 9 and 3 = 6, sd 4.24.
    budget = results.table([results.run_summary(p, epochs=(0, 1)) for p in (long, short)]).splitlines()[2]
    assert "| 6.00 ± 4.24 | 1, 1 | 2 | 2, 2 |" in budget
    done = subprocess.run([sys.executable, os.path.join(ROOT, "experiment", "results.py"), "--runs",
                           f"{long},{short}", "--epochs", "0:1"], capture_output=True, text=True)
    assert done.returncode == 0 and "| 6.00 ± 4.24 | 1, 1 | 2 | 2, 2 |" in done.stdout, done.stderr


def test_the_figure_each_run_would_report_after_each_budget(tmp_path):
    semi = dict(mode="semisupervised", ncode=10, nlabel=-1)
    # validation 5, 3, 4, 1 over epochs 0-3, test 6, 2, 9, 0.5
    run = fabricate(str(tmp_path / "run"), [{"epoch": e, "validation_error": v, "test_error": t}
                                            for e, (v, t) in enumerate([(5, 6.0), (3, 2.0), (4, 9.0), (1, 0.5)])],
                    **semi)
    rows = results.budget_table([run], [1, 3, 4, 6]).splitlines()
    assert rows[0] == "| run | first 1 epochs | first 3 epochs | first 4 epochs | first 6 epochs |"
    assert rows[2] == "| `run` | 6.00 (0) | 2.00 (1) | 0.50 (3) | – |"
    done = subprocess.run([sys.executable, os.path.join(ROOT, "experiment", "results.py"), "--runs", run,
                           "--budgets", "3,4"], capture_output=True, text=True)
    assert done.returncode == 0 and "| `run` | 2.00 (1) | 0.50 (3) |" in done.stdout, done.stderr


def test_a_screen_beside_its_baseline_over_the_same_epochs(tmp_path):
    semi = dict(mode="semisupervised", ncode=10, nlabel=100)
    base = fabricate(str(tmp_path / "base"), [{"epoch": e, "validation_error": float(e), "test_error": 2.0 * e}
                                              for e in range(8)], **semi)
    screen = fabricate(str(tmp_path / "screen"), [{"epoch": e, "validation_error": 1.0, "test_error": None}
                                                  for e in range(5, 7)], **semi)
    summaries = [results.run_summary(base), results.run_summary(screen)]
    assert results.span_table(summaries, ["validation_error", "test_error"], (5, 6)).splitlines()[2:] == [
        "| `base` | 5-6 (2) | 5.5 (5-6) | 11 (10-12) |",  # epochs 5 and 6 only
        "| `screen` | 5-6 (2) | 1 (1-1) | – |"]
    rows = results.epochs_table(summaries[:1], ["test_error"], epochs=(2, 3)).splitlines()[2:]
    assert rows == ["| `base` | 2 | 4 |", "| `base` | 3 | 6 |"]
    screen_row = results.span_table(summaries[1:], ["validation_error"], (0, 1)).splitlines()[2]
    assert screen_row == "| `screen` | none | – |"


@pytest.mark.parametrize("args, message", [
    (["--span_keys", "test_error"], "--span_keys needs --epochs FIRST:LAST"),
    (["--span_keys", "test_error", "--epochs", "7"], "should be FIRST:LAST"),
    (["--epoch_keys", "test_error", "--epochs", "6:5"], "FIRST must be at least 0 and at most LAST"),
    (["--epochs", "0:2"], "scored once, not per epoch"),  # the results table of a Parzen row
    (["--epochs", "1:2"], "no history.jsonl within epochs 1-2"),
    (["--epochs", "0:1", "--metrics_keys", "log_likelihood"], "does not go with --metrics_keys"),
    (["--budgets", "10,x"], "should be numbers of epochs"),
    (["--budgets", "0"], "each must be at least 1 epoch"),
    (["--budgets", "2", "--epochs", "0:1"], "leave out --epochs"),
    (["--span_keys", "a", "--epoch_keys", "b", "--epochs", "1:2"], "pass one of"),
])
def test_bad_epoch_ranges_are_one_line(args, message, tmp_path):
    run = fabricate(str(tmp_path / "run"), [{"epoch": 0, "test_error": 1.0}], mode="unsupervised")
    result = subprocess.run([sys.executable, os.path.join(ROOT, "experiment", "results.py"), "--runs", run, *args],
                            capture_output=True, text=True)
    assert result.returncode != 0 and message in result.stderr and "Traceback" not in result.stderr


def test_dimensionality_reduction_rows_take_the_paper_figure_of_their_code_width(tmp_path):
    two = fabricate(str(tmp_path / "two"), [{"epoch": 0, "validation_cluster_error": 9.0, "test_error": 14.5}],
                    mode="dimreduce", nlabel=0, ncluster=20, ncode=2)
    ten = fabricate(str(tmp_path / "ten"), [{"epoch": 0, "validation_error": 7.0, "test_classification_error": 4.25}],
                    mode="dimreduce", nlabel=100, ncode=10)
    lines = results.table([results.run_summary(p) for p in (two, ten)]).splitlines()
    assert "| dimensionality reduction to 2-D, unsupervised | 13.95 | – | 14.50 |" in lines[2]
    assert "| dimensionality reduction to 10-D, 100 labels | 3.90 | – | 4.25 |" in lines[3]


def test_labeled_dimensionality_reduction_reports_the_classifier_at_the_chosen_epoch(tmp_path):
    # Older records kept the cluster naming as test_error; the table takes the classifier's error instead.
    run = fabricate(str(tmp_path / "two100"), [
        {"epoch": 0, "validation_error": 20.0, "test_classification_error": 21.0, "test_error": 29.0},
        {"epoch": 1, "validation_error": 16.0, "test_classification_error": 15.5, "test_error": 24.5},  # chosen
        {"epoch": 2, "validation_error": 17.0, "test_classification_error": 14.0, "test_error": 14.0}],
        mode="dimreduce", nlabel=100, ncode=2)
    summary = results.run_summary(run)
    assert summary["figure"] == 15.5 and summary["chosen_epoch"] == 1


def test_records_copied_to_the_repository_build_the_same_table_and_refresh(tmp_path):
    semi = dict(mode="semisupervised", ncode=10, nlabel=-1)
    run = fabricate(str(tmp_path / "runs" / "semi_all"), [
        {"epoch": 0, "validation_error": 3.0, "test_error": 3.5},
        {"epoch": 1, "validation_error": 2.0, "test_error": 2.5}], **semi)
    (tmp_path / "runs" / "semi_all" / "checkpoints").mkdir()  # not a record: stays behind
    docs = tmp_path / "docs_runs"
    script = [sys.executable, os.path.join(ROOT, "experiment", "results.py")]
    done = subprocess.run([*script, "--runs", run, "--copy_to", str(docs)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    copy = docs / "semi_all"
    assert sorted(os.listdir(copy)) == ["flags.json", "history.jsonl"]
    assert "| semi-supervised, all labels, 10-D style | 0.85 ± 0.02 | – | 2.50 | 1 | 1 | 2 |" in done.stdout
    # The run trains on: a second copy refreshes the first.
    runfiles.append_history(run, {"epoch": 2, "validation_error": 1.0, "test_error": 1.5})
    runfiles.copy_records(run, str(copy))
    assert [r["epoch"] for r in runfiles.read_history(str(copy))] == [0, 1, 2]
    # Another run's records under the same name are not overwritten.
    other = fabricate(str(tmp_path / "elsewhere" / "semi_all"), [{"epoch": 0, "validation_error": 9.0}], **semi)
    refused = subprocess.run([*script, "--runs", other, "--copy_to", str(docs)], capture_output=True, text=True)
    assert refused.returncode != 0 and "holds the records of another run" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert len(runfiles.read_history(str(copy))) == 3


def test_a_table_is_written_into_its_marked_section_of_a_document(tmp_path):
    run = fabricate(str(tmp_path / "semi_all"), [{"epoch": 0, "validation_error": 2.0, "test_error": 2.5}],
                    mode="semisupervised", ncode=10, nlabel=-1)
    doc = tmp_path / "results.md"
    doc.write_text("# Results\n\nkept above\n<!-- results:main -->\nold table\n<!-- /results:main -->\nkept below\n")
    script = [sys.executable, os.path.join(ROOT, "experiment", "results.py"), "--runs", run]
    done = subprocess.run([*script, "--into", str(doc), "--section", "main"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    lines = doc.read_text().split("\n")
    assert lines[:4] == ["# Results", "", "kept above", "<!-- results:main -->"]
    assert lines[4] == f"Generated by `python experiment/results.py --runs {run}`:"
    assert lines[6].startswith("| experiment | paper |") and "| 2.50 |" in lines[8]
    assert lines[9:] == ["<!-- /results:main -->", "kept below", ""]
    again = doc.read_text()
    assert subprocess.run([*script, "--into", str(doc), "--section", "main"]).returncode == 0
    assert doc.read_text() == again  # the markers stay: a second build finds them and changes nothing
    for args, message in ((["--into", str(doc)], "--into and --section go together"),
                          (["--into", str(doc), "--section", "other"], "exactly one line <!-- results:other -->")):
        refused = subprocess.run([*script, *args], capture_output=True, text=True)
        assert refused.returncode != 0 and message in refused.stderr and "Traceback" not in refused.stderr
    assert doc.read_text() == again


def test_sections_are_the_text_between_each_pair_of_markers():
    document = ("top\n<!-- results:a -->\nline 1\nline 2\n<!-- /results:a -->\nmiddle\n<!-- results:b -->\n"
                "<!-- /results:b -->\n<!-- results:c -->\nno end marker\n")
    assert results.sections(document) == [("a", "line 1\nline 2"), ("b", "")]


def test_check_rebuilds_each_table_and_fails_when_the_records_moved_on(tmp_path):
    fabricate(str(tmp_path / "semi_c"), [{"epoch": 0, "validation_error": 3.0, "test_error": 3.5},
                                         {"epoch": 1, "validation_error": 2.0, "test_error": 2.25}],
              mode="semisupervised", ncode=10, nlabel=1000, seed=0)
    elsewhere = fabricate(str(tmp_path / "outside"), [{"epoch": 0, "validation_error": 1.0, "test_error": 1.5}],
                          mode="semisupervised", ncode=10, nlabel=1000, seed=1)
    doc = tmp_path / "results.md"
    doc.write_text("<!-- results:main -->\n<!-- /results:main -->\n<!-- results:far -->\n<!-- /results:far -->\n"
                   "<!-- results:typed -->\n| typed | 1.00 |\n<!-- /results:typed -->\n")
    script = [sys.executable, os.path.join(ROOT, "experiment", "results.py")]
    for args in (["--runs", "semi_c", "--epoch_keys", "test_error", "--into", "results.md", "--section", "main"],
                 ["--runs", elsewhere, "--into", "results.md", "--section", "far"]):
        assert subprocess.run([*script, *args], cwd=tmp_path, capture_output=True).returncode == 0
    built = doc.read_text()
    done = subprocess.run([*script, "--check", "results.md"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "skipped far: reads folders outside the repository" in done.stdout
    assert "skipped typed: not built by experiment/results.py" in done.stdout
    assert "results.md: 1 tables as their records give them, 0 not, 2 skipped" in done.stdout
    runfiles.append_history(str(tmp_path / "semi_c"), {"epoch": 2, "validation_error": 1.75, "test_error": 2.0})
    done = subprocess.run([*script, "--check", "results.md"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 1 and "DIFFERS main: differs from what its records give now" in done.stdout
    assert "error: results.md: 0 tables as their records give them, 1 not, 2 skipped" in done.stderr
    assert doc.read_text() == built  # a check writes nothing
    for args, message in ((["--check", "missing.md"], "--check missing.md: No such file or directory"),
                          (["--check", "results.md", "--runs", "semi_c"], "--check reads the commands from the")):
        refused = subprocess.run([*script, *args], cwd=tmp_path, capture_output=True, text=True)
        assert refused.returncode != 0 and message in refused.stderr and "Traceback" not in refused.stderr

