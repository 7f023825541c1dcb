"""One short run of every further experiment through the command line, on real MNIST."""

import json
import os
import subprocess
import sys

from conftest import FAST, VAE_SCRIPT as VAE, cli, ok, one_line_error, png_shape



def metrics_of(save):
    with open(os.path.join(save, "metrics.json")) as f:
        return json.load(f)


def train(tiny_idx, save, *args):
    return ok(*args, "--maxepoch", "1", "--data_path", tiny_idx, "--save_path", save, *FAST)


def test_label_gmm_and_its_component_manifolds(tiny_idx, tmp_path):
    save = str(tmp_path / "label")
    train(tiny_idx, save, "--train", "--label", "--dist_type", "gmm", "--nlabel", "500")
    with open(os.path.join(save, "flags.json")) as f:
        assert json.load(f)["mode"] == "label"
    ok("--viz", "--generate", "--label", "--dist_type", "gmm", "--load", "0", "--save_path", save)
    assert png_shape(os.path.join(save, "manifold_9.png")) == (280, 280)
    assert os.path.exists(os.path.join(save, "generate_im.png"))


def test_label_swiss_roll_walks_the_roll(tiny_idx, tmp_path):
    save = str(tmp_path / "roll")
    train(tiny_idx, save, "--train", "--label", "--dist_type", "swiss_roll", "--nlabel", "500")
    ok("--viz", "--label", "--dist_type", "swiss_roll", "--load", "0", "--save_path", save)
    assert png_shape(os.path.join(save, "manifold_swiss_roll.png")) == (280, 280)


def test_supervised_style_grid(tiny_idx, tmp_path):
    save = str(tmp_path / "sup")
    train(tiny_idx, save, "--train_supervised")
    ok("--generate", "--supervise", "--load", "0", "--save_path", save)
    assert png_shape(os.path.join(save, "sample_style.png")) == (280, 280)


def test_semisupervised_reports_test_error(tiny_idx, tmp_path):
    save = str(tmp_path / "semi")
    result = train(tiny_idx, save, "--train_semisupervised", "--ncode", "10", "--nlabel", "100")
    metrics = metrics_of(save)
    assert 0.0 <= metrics["test_error"] <= 100.0 and "validation_error" in metrics
    assert f"test error: {metrics['test_error']:.2f}%" in result.stdout
    # --viz at Table 2's 10-D: the classifier's categories and its confusion on the 300 test images, whose
    # diagonal counts the images the reported test error did not count
    ok("--viz", "--generate", "--load", "0", "--save_path", save)
    with open(os.path.join(save, "cluster_confusion.csv")) as f:
        rows = [r.split(",") for r in f.read().splitlines()[1:]]
    assert len(rows) == 10 and sum(int(r[2]) for r in rows) == 300
    right = sum(int(rows[k][3 + k]) for k in range(10))
    assert right == round(300 * (1 - metrics["test_error"] / 100))
    assert png_shape(os.path.join(save, "cluster_members.png")) == (10 * 28, 10 * 28)
    assert not os.path.exists(os.path.join(save, "latent.png"))


def test_cluster_reports_error_and_draws_heads(tiny_idx, tmp_path):
    save = str(tmp_path / "cluster")
    train(tiny_idx, save, "--train_cluster", "--ncluster", "16", "--ncode", "5")
    assert 0.0 <= metrics_of(save)["test_error"] <= 100.0
    # The default recipe (batch norm, input dropout, batch-normalized logits) does not collapse at once.
    assert 1 < metrics_of(save)["test_clusters_used"] <= 16
    assert 0.0 < metrics_of(save)["test_largest_cluster"] < 0.5
    with open(os.path.join(save, "flags.json")) as f:
        recorded = json.load(f)
    assert recorded["encoder_batchnorm"] and recorded["logits_batchnorm"] and recorded["input_dropout"] == 0.2
    ok("--viz", "--load", "0", "--save_path", save)
    assert png_shape(os.path.join(save, "cluster_heads.png")) == (16 * 28, 10 * 28)
    assert png_shape(os.path.join(save, "cluster_members.png")) == (16 * 28, 10 * 28)
    with open(os.path.join(save, "cluster_confusion.csv")) as f:
        rows = f.read().splitlines()
    assert rows[0].startswith("cluster,named,size,digit_0") and len(rows) == 17
    assert sum(int(r.split(",")[2]) for r in rows[1:]) == 300  # every test image of the slice, once
    assert "leave --nlabel out" in one_line_error(cli("--train_cluster", "--nlabel", "10"))


def test_dimreduce_unsupervised_and_its_representation(tiny_idx, tmp_path):
    save = str(tmp_path / "dim")
    train(tiny_idx, save, "--train_dimreduce", "--nlabel", "0")
    metrics = metrics_of(save)
    assert "cluster_head_cost" in metrics and 0.0 <= metrics["test_error"] <= 100.0
    # the heads' spread against the style's, in the epoch's line of the history too
    assert 0 < metrics["cluster_head_min_distance"] <= metrics["cluster_head_median_distance"]
    with open(os.path.join(save, "history.jsonl")) as f:
        last = json.loads(f.read().splitlines()[-1])
    assert last["cluster_head_min_distance"] == metrics["cluster_head_min_distance"]
    assert last["validation_style_std"] > 0
    with open(os.path.join(save, "flags.json")) as f:
        assert json.load(f)["ncluster"] == 20
    ok("--viz", "--load", "0", "--save_path", save)
    assert os.path.exists(os.path.join(save, "latent.png"))
    with open(os.path.join(save, "cluster_confusion.csv")) as f:
        assert len(f.read().splitlines()) == 1 + 20


def test_parzen_adds_likelihood_to_metrics(tiny_idx, tmp_path):
    save = str(tmp_path / "parzen")
    train(tiny_idx, save, "--train", "--ncode", "8")
    result = ok("--parzen", "--load", "0", "--save_path", save)
    metrics = metrics_of(save)
    assert "Parzen log-likelihood" in result.stdout
    assert metrics["log_likelihood_sem"] > 0 and metrics["parzen_samples"] == 10000
    assert metrics["parzen_epoch"] == 0
    assert metrics["reconstruction_loss"] > 0  # the training metrics are kept
    # The calibrating references (windows on all 1,000 training images of the slice, or on their
    # reconstructions) are recorded beside the model's figure, never over it.
    ok("--parzen", "--parzen_centers", "training", "--load", "0", "--save_path", save)
    ok("--parzen", "--parzen_centers", "reconstructions", "--load", "0", "--save_path", save)
    both = metrics_of(save)
    assert {k: both[k] for k in metrics} == metrics
    assert both["training_centers_parzen_samples"] == both["reconstructions_centers_parzen_samples"] == 1000
    assert both["training_centers_log_likelihood"] != both["reconstructions_centers_log_likelihood"]
    assert "--parzen_centers goes with --parzen" in one_line_error(cli("--viz", "--parzen_centers", "training",
                                                                         "--save_path", save))


def test_vae_trains_and_draws(tiny_idx, tmp_path):
    save = str(tmp_path / "vae")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    common = ["--save_path", save, "--data_path", tiny_idx, "--hidden", "32", "--validation_size", "200"]

    def vae(*args):
        return subprocess.run([sys.executable, VAE, *args, *common], capture_output=True, text=True, env=env,
                              timeout=600)
    trained = vae("--train", "--maxepoch", "1", "--bsize", "50", "--dist_type", "gmm", "--precision",
                  "mixed_bfloat16", "--noxla")
    assert trained.returncode == 0, trained.stderr[-2000:]
    assert "kl_divergence" in metrics_of(save)
    with open(os.path.join(save, "flags.json")) as f:
        recorded = json.load(f)
    assert (recorded["precision"], recorded["jit_compile"]) == ("mixed_bfloat16", False)
    drawn = vae("--viz", "--test", "--generate", "--load", "0")  # the rest comes from flags.json
    assert drawn.returncode == 0, drawn.stderr[-2000:]
    for name in ("latent.png", "generate_im.png", "test_reconstruction.png", "manifold_0.png"):
        assert os.path.exists(os.path.join(save, name))
    assert metrics_of(save)["test_negative_elbo"] > 0
    bad = vae("--train", "--viz")
    assert bad.returncode != 0 and "Traceback" not in bad.stderr and "cannot be combined" in bad.stderr


def test_dimreduce_with_labels_reports_both_errors(tiny_idx, tmp_path):
    save = str(tmp_path / "dim_semi")
    train(tiny_idx, save, "--train_dimreduce", "--nlabel", "100", "--ncode", "3")
    metrics = metrics_of(save)
    assert {"test_error", "test_classification_error", "validation_error", "best_epoch"} <= set(metrics)
    # --viz of a representation that is not 2-D: the categories' members and confusion table, no latent.png
    ok("--viz", "--load", "0", "--save_path", save)
    with open(os.path.join(save, "cluster_confusion.csv")) as f:
        rows = f.read().splitlines()
    assert len(rows) == 1 + 10 and sum(int(r.split(",")[2]) for r in rows[1:]) == 300
    assert os.path.exists(os.path.join(save, "cluster_members.png"))
    assert not os.path.exists(os.path.join(save, "latent.png"))
    assert "ncluster" in one_line_error(cli("--train_dimreduce", "--ncluster", "20", "--nlabel", "100"))


def test_paper_recipe_through_the_command_line(tiny_idx, tmp_path):
    save = str(tmp_path / "paper")
    # --bsize and --ncode typed beside --recipe win over it; --noise is the reference's noise on [0, 1] pixels.
    train(tiny_idx, save, "--train", "--recipe", "paper", "--ncode", "2", "--noise", "--lr_decay_epochs", "7,20")
    with open(os.path.join(save, "flags.json")) as f:
        recorded = json.load(f)
    assert (recorded["recipe"], recorded["optimizer"], recorded["pixel_range"], recorded["reconstruction_cost"],
            recorded["prior_scale"], recorded["init_std"], recorded["batch_size"], recorded["ncode"],
            recorded["input_noise_std"], recorded["adversarial_learning_rate"], recorded["lr_decay_epochs"]) == (
        "paper", "sgd", "unit", "sum", 5.0, 0.01, 50, 2, 0.3, 0.1, [7, 20])
    # Table 1's model is scored by Parzen after every epoch; a resumed run adds its epochs' scores, and the
    # validation likelihood chooses among all of them.
    assert recorded["parzen_every"] == 1
    # (resumed with a constant rate: a changed schedule, recorded with the epoch it took effect)
    ok("--train", "--recipe", "paper", "--ncode", "2", "--noise", "--maxepoch", "2", "--lr_decay_epochs", "none",
       "--allow_change", "--data_path", tiny_idx, "--save_path", save, *FAST)
    with open(os.path.join(save, "flags.json")) as f:
        recorded = json.load(f)
    assert recorded["lr_decay_epochs"] == []
    assert next(c for c in recorded["changes"] if "lr_decay_epochs" in c)["lr_decay_epochs"] == [[7, 20], []]
    with open(os.path.join(save, "history.jsonl")) as f:
        history = [json.loads(line) for line in f]
    assert [r["epoch"] for r in history] == [0, 1]
    assert all(r["parzen_samples"] == 10000 and r["parzen_sigma"] > 0 for r in history)
    best = max(history, key=lambda r: r["validation_log_likelihood"])
    assert (metrics_of(save)["best_epoch"], metrics_of(save)["test_error_at_best_validation"]) == (
        best["epoch"], best["log_likelihood"])
    ok("--viz", "--generate", "--load", "0", "--save_path", save)
    assert png_shape(os.path.join(save, "manifold.png")) == (560, 560)
    refused = cli("--train", "--recipe", "reference", "--maxepoch", "2", "--data_path", tiny_idx, "--save_path",
                  save, *FAST)
    assert "--recipe" in one_line_error(refused)

