"""Adversarial autoencoders on MNIST: the command line of every experiment.

Mirrors the arguments of the TF1 reference repository
(conan7882/adversarial-autoencoders), with the paper's further experiments.

  python experiment/aae_mnist.py --train --dist_type gmm
  python experiment/aae_mnist.py --generate --dist_type gmm --load 99
  python experiment/aae_mnist.py --viz --dist_type gmm --load 99
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

from aae_tf import config as config_lib  # noqa: E402  (free of TensorFlow, like aae_tf.cli and aae_tf.runfiles)
from aae_tf import runfiles  # noqa: E402
from aae_tf.cli import check_ranges, fail, run_guarded  # noqa: E402

FLAGS = flags.FLAGS

# The reference repository's arguments, with its names and defaults.
flags.DEFINE_bool("train", False, "Train the model of Fig. 1 and 3 in the paper.")
flags.DEFINE_bool("train_supervised", False, "Train the supervised model of Fig. 6.")
flags.DEFINE_bool("train_semisupervised", False, "Train the semi-supervised model of Fig. 8.")
flags.DEFINE_bool("train_cluster", False, "Train the unsupervised clustering model of Section 6.")
flags.DEFINE_bool("train_dimreduce", False, "Train the dimensionality reduction model of Section 7.")
flags.DEFINE_bool("label", False, "Give label information to the adversarial regularization (Fig. 3).")
flags.DEFINE_bool("generate", False, "Decode random prior samples of a trained model.")
flags.DEFINE_bool("viz", False, "Draw what the model learned: the latent space and manifold (2-D codes); "
                  "a semi-supervised, clustering or dimensionality-reduction model's categories and their "
                  "confusion table at any --ncode (README).")
flags.DEFINE_bool("parzen", False, "Parzen-window log-likelihood of the test images (Table 1).")
flags.DEFINE_enum("parzen_centers", "prior", list(config_lib.PARZEN_CENTERS),
                  "With --parzen: the windows on the model's samples (prior, Table 1), or, to calibrate the estimate, "
                  "on its reconstructions of 10,000 training images or on those images themselves (recorded as "
                  "<centers>_centers_log_likelihood etc. in metrics.json, beside the model's).")
flags.DEFINE_bool("export", False, "Write the trained encoder and decoder as .keras files and one SavedModel with "
                  "encode/decode/sample(/classify/cluster) signatures, to <save_path>/export/epoch_<load>.")
flags.DEFINE_bool("gradient_norms", False, "Print each phase's gradient norm (median, 90th percentile, largest) on "
                  "40 training batches of a trained model, to choose --clip_norm.")
flags.DEFINE_bool("supervise", False, "With --generate: draw the supervised model's style/digit grid (Fig. 7).")
flags.DEFINE_integer("load", 99, "Epoch (counted from 0) of the checkpoint to restore for --generate / --viz.")
flags.DEFINE_integer("ncode", 2, "Dimension of the code z.")
flags.DEFINE_enum("dist_type", "gaussian", ["gaussian", "gmm", "swiss_roll"], "Prior imposed on z.")
flags.DEFINE_bool("noise", False, "Add Gaussian noise to the encoder input during training (std 0.6 on [-1, 1] "
                  "pixels, the reference's; 0.3 on [0, 1] pixels, the same noise).")
flags.DEFINE_float("lr", 2e-4, "Initial learning rate (divided by 10 at each of --lr_decay_epochs).")
flags.DEFINE_float("dropout", 1.0, "Keep probability of dropout in the encoder and decoder.")
flags.DEFINE_integer("bsize", 128, "Batch size.")
flags.DEFINE_integer("maxepoch", 100, "Number of epochs to train.")
flags.DEFINE_float("encw", 1.0, "Weight of the reconstruction loss.")
flags.DEFINE_float("genw", 6.0, "Weight of the z generator loss.")
flags.DEFINE_float("disw", 6.0, "Weight of the z discriminator loss.")
flags.DEFINE_float("clsw", 1.0, "Weight of the semi-supervised classification loss.")
flags.DEFINE_float("ygenw", 6.0, "Weight of the y generator loss.")
flags.DEFINE_float("ydisw", 6.0, "Weight of the y discriminator loss.")
# What the reference hard-codes or lacks.
flags.DEFINE_string("save_path", None, "Folder of the run (default: runs/<model>, named after the flags).")
flags.DEFINE_string("data_path", None, "Folder with the four MNIST IDX files (default: found offline).")
flags.DEFINE_integer("nlabel", None, "Training images that keep their label; -1 for all "
                     "(default: 10000 with --label, 1000 with --train_semisupervised and --train_dimreduce; "
                     "0 makes --train_dimreduce unsupervised).")
flags.DEFINE_integer("ncluster", None, "Clusters of --train_cluster (default 16) and of an unsupervised "
                     "--train_dimreduce (default 20; 10 when it has labels).")
flags.DEFINE_enum("optimizer", "adam", ["adam", "sgd"],
                  "adam (the reference: beta1 0.5, --lr 2e-4, decays at epochs 100 and 300) or sgd (the paper: "
                  "momentum 0.9 / 0.1, learning rates 0.01 / 0.1, decays at epochs 50 and 1000).")
flags.DEFINE_float("eta", 1.0, "Distance below which --train_dimreduce pushes two cluster heads apart.")
flags.DEFINE_float("head_init_std", 1.0, "--train_dimreduce: the cluster heads start from N(0, this^2) (0.01: what "
                   "--recipe paper gives every other weight).")
flags.DEFINE_integer("validation_size", 10000, "Training images held out for model choice.")
flags.DEFINE_enum("encoder", "deterministic", ["deterministic", "gaussian"],
                  "deterministic (the paper) or gaussian (the reference's reparameterized encoder).")
flags.DEFINE_integer("hidden", 1000, "Units in each hidden layer of every network (the paper: 1000).")
flags.DEFINE_integer("seed", 0, "Seed of every random choice.")
flags.DEFINE_bool("encoder_batchnorm", False, "Batch normalization after each hidden layer of the encoder "
                  "(default on for --train_cluster).")
flags.DEFINE_float("input_dropout", 0.0, "Dropout rate on the encoder's input pixels during training "
                   "(default 0.2 for --train_cluster).")
flags.DEFINE_bool("logits_batchnorm", False, "Batch-normalize the label logits before the softmax "
                  "(a departure from the paper, against the clustering collapse; default on for --train_cluster).")
flags.DEFINE_float("logits_scale", 1.0, "With --logits_batchnorm: the initial scale of the normalized logits.")
flags.DEFINE_bool("fixed_logits_scale", False, "With --logits_batchnorm: keep --logits_scale fixed rather than "
                  "learned (the learned scale grows and q(y|x) saturates).")
flags.DEFINE_float("discriminator_noise", 0.0, "Std of Gaussian noise on both discriminators' inputs "
                   "(a departure from the paper, against the clustering collapse).")
flags.DEFINE_bool("labeled_reconstruction", False, "Also reconstruct the labeled mini-batch from its style code "
                  "joined with its true one-hot label (a departure from the paper, a public trick for "
                  "--train_semisupervised).")
flags.DEFINE_float("clip_norm", None, "Scale each phase's gradients down to this global norm at most (a departure "
                   "from the paper, a public trick for --train_semisupervised; default: no clipping).")
flags.DEFINE_float("label_balance", 0.0, "Weight of a cost on each batch's mean q(y|x) against the uniform "
                   "categorical, beside the y adversary (a departure from the paper, for the models with a label "
                   "code; default 0: none).")
flags.DEFINE_float("label_recon_gradient", 1.0, "How much of the reconstruction's gradient flows back through the "
                   "label code y into the encoder, from 0 to 1 (below 1 a departure from the paper, for the models "
                   "with a label code; default 1: all of it).")
flags.DEFINE_integer("parzen_every", 0, "While training, score the Parzen-window log-likelihood of the test "
                     "images (Table 1's protocol, as --parzen) every this many epochs and keep it in the history; "
                     "the validation likelihood then chooses the unsupervised model's epoch (0: never).")


class EpochsParser(flags.ListParser):
    """Epochs separated by commas, as a tuple of ints; ``none`` is the empty tuple."""

    def parse(self, argument):
        items = super().parse(argument)
        if [str(v).lower() for v in items] == ["none"]:
            return ()
        try:
            return tuple(int(v) for v in items)
        except ValueError:
            raise ValueError("should be epochs separated by commas (e.g. 50,1000), or none") from None


flags.DEFINE(EpochsParser(), "lr_decay_epochs", None, "Epochs (counted from 0, increasing) at whose start every "
             "learning rate is divided by 10 (default: 100,300 with adam, the reference; 50,1000 with sgd, the "
             "paper); none for a constant rate.", serializer=flags.ListSerializer(","))
flags.DEFINE_float("init_std", None, "Initial kernels from N(0, init_std^2) (the paper: 0.01; default Glorot uniform).")
flags.DEFINE_enum("recipe", "reference", list(config_lib.RECIPES),
                  "reference: the reference repository's Adam recipe; paper: the paper's Appendix as far as it can be "
                  "established (SGD, batch 100, N(0, 0.01^2) kernels, sigmoid output with the Euclidean cost on "
                  "[0, 1], and each experiment's own settings; README.md lists them). Flags typed beside it win.")
flags.DEFINE_float("prior_scale", 1.0, "Multiply the prior's samples by this (the paper's likelihood model: 5).")
flags.DEFINE_enum("pixel_range", "signed", list(config_lib.PIXEL_RANGES),
                  "signed: images in [-1, 1], tanh decoder (the reference); unit: [0, 1], sigmoid decoder (the paper).")
flags.DEFINE_enum("reconstruction_cost", "mean", list(config_lib.RECONSTRUCTION_COSTS),
                  "Squared error averaged over pixels (the reference) or summed over each image (the paper).")
flags.DEFINE_float("cls_lr", None, "Initial learning rate of the classification phase (default --lr; the paper "
                   "recipe: 0.1).")
flags.DEFINE_bool("xla", None, "Compile the training step with XLA (default: on, except for mixed_bfloat16 on "
                 "a CPU, where XLA does not use the bfloat16 units).")
flags.DEFINE_enum("precision", "auto", ["auto", *config_lib.PRECISIONS],
                  "mixed_bfloat16: layers compute in bfloat16 (variables and losses in float32); mixed_float16: in "
                  "float16, each phase's loss scaled against underflow (for GPUs); auto: "
                  "mixed_bfloat16 on a CPU where it was measured 1.25-1.5x faster with the same results (AMX, or "
                  "AVX512_BF16 on AMD; docs/benchmarks.md) and no GPU, float32 elsewhere. Checkpoints are "
                  "interchangeable, so a resumed run takes the setting of the machine it runs on.")
flags.DEFINE_enum("distribute", "default", ["default", "mirrored", "multi_worker", "tpu"],
                  "tf.distribute strategy of training: default (one device), mirrored (all local GPUs, or the "
                  "--cpu_replicas logical CPUs), multi_worker (the cluster TF_CONFIG describes), tpu. The global "
                  "batch is --bsize, shared equally by the replicas.")
flags.DEFINE_integer("cpu_replicas", 0, "Split the CPU into this many logical devices (for --distribute mirrored "
                     "without GPUs; testing).")
flags.DEFINE_bool("allow_change", False, "Resume a run with typed flags that differ from the ones it was trained "
                  "with (each change is recorded in its flags.json).")
flags.DEFINE_string("dataset", "mnist", "mnist (found offline), or an image dataset of tensorflow-datasets with ten "
                    "classes, prepared on disk or fetched with --tfds_download: fashion_mnist, kmnist, svhn_cropped.")
flags.DEFINE_bool("tfds_download", False, "Let tensorflow-datasets download the dataset (needs internet).")

LOSS_WEIGHTS = ("encw", "genw", "disw", "clsw", "ygenw", "ydisw")
TRAIN_MODES = {"train": "unsupervised", "train_supervised": "supervised",
               "train_semisupervised": "semisupervised", "train_cluster": "cluster",
               "train_dimreduce": "dimreduce"}
ACTIONS = ("generate", "viz", "parzen", "export", "gradient_norms")
# Each flag that sets a field of the configuration, by the field's name.
FLAG_OF_FIELD = {"ncode": "ncode", "dist_type": "dist_type", "learning_rate": "lr", "dropout_keep": "dropout",
                 "input_noise_std": "noise", "batch_size": "bsize", "max_epoch": "maxepoch", "nlabel": "nlabel",
                 "variational_encoder": "encoder", "hidden": "hidden", "validation_size": "validation_size",
                 "seed": "seed", "ncluster": "ncluster", "eta": "eta", "head_init_std": "head_init_std",
                 "optimizer": "optimizer",
                 "encoder_batchnorm": "encoder_batchnorm", "input_dropout": "input_dropout",
                 "logits_batchnorm": "logits_batchnorm", "logits_scale": "logits_scale",
                 "fixed_logits_scale": "fixed_logits_scale",
                 "discriminator_noise_std": "discriminator_noise",
                 "init_std": "init_std", "jit_compile": "xla", "precision": "precision",
                 "adversarial_learning_rate": "lr", "prior_scale": "prior_scale", "pixel_range": "pixel_range",
                 "reconstruction_cost": "reconstruction_cost", "classification_learning_rate": "cls_lr",
                 "recipe": "recipe", "dataset": "dataset", "labeled_reconstruction": "labeled_reconstruction",
                 "gradient_clip_norm": "clip_norm", "parzen_every": "parzen_every", "label_balance": "label_balance",
                 "label_recon_gradient": "label_recon_gradient",
                 "lr_decay_epochs": "lr_decay_epochs",
                 **{name: name for name in LOSS_WEIGHTS}}


def chosen_mode():
    """The model the flags name, and whether they ask to train it."""
    trains = [name for name in TRAIN_MODES if FLAGS[name].value]
    actions = [name for name in ACTIONS if FLAGS[name].value]
    if len(trains) > 1:
        fail("choose one of " + ", ".join("--" + t for t in trains))
    if trains and actions:
        fail(f"--{trains[0]} cannot be combined with --{actions[0]}: train first, then run --{actions[0]}")
    if not trains and not actions:
        fail("nothing to do: pass one of " + ", ".join("--" + n for n in (*TRAIN_MODES, *ACTIONS)))
    if FLAGS.label and trains and trains[0] != "train":
        fail("--label goes with --train (the model of Fig. 3)")
    if FLAGS.supervise and not FLAGS.generate:
        fail("--supervise goes with --generate")
    if FLAGS["parzen_centers"].present and not FLAGS.parzen:
        fail("--parzen_centers goes with --parzen")
    if FLAGS.label and FLAGS.supervise:
        fail("--label and --supervise name different models: pass one")
    if trains:
        mode = TRAIN_MODES[trains[0]]
    else:
        mode = "supervised" if FLAGS.supervise else "unsupervised"
    if mode == "unsupervised" and FLAGS.label:
        mode = "label"
    return mode, bool(trains)


def recipe_setting(mode, field):
    """What the flags make of ``field`` before the typed flags are applied: the typed flag, else the recipe's."""
    from aae_tf import experiments
    if FLAGS[FLAG_OF_FIELD[field]].present:
        return FLAGS[FLAG_OF_FIELD[field]].value
    return experiments.get(mode).recipe(FLAGS.recipe).get(field, FLAGS[FLAG_OF_FIELD[field]].default)


def flag_value(mode, field, flag):
    """The configuration value of a typed flag."""
    from aae_tf import experiments
    if flag == "noise":  # the reference's noise, on the run's pixel scale
        scale = 0.5 if recipe_setting(mode, "pixel_range") == "unit" else 1.0
        return scale * experiments.NOISE_STD if FLAGS.noise else 0.0
    if flag == "encoder":
        return FLAGS.encoder == "gaussian"
    if field == "adversarial_learning_rate":  # an explicit --lr under sgd keeps the paper's ratio of 10
        return 10 * FLAGS.lr if recipe_setting(mode, "optimizer") == "sgd" else None
    return FLAGS[flag].value


def make_config(mode):
    """The experiment's own default configuration, with the flags the user typed."""
    if FLAGS.data_path is not None and not FLAGS.data_path.strip():
        fail("--data_path is empty: name the folder with the four MNIST IDX files, or leave the flag out")
    # The flags typed as the config takes them (noise, encoder and the adversarial rate are translated later).
    check_ranges(mode, {field: FLAGS[flag].value for field, flag in typed_fields().items()
                        if flag not in ("noise", "encoder") and field != "adversarial_learning_rate"}, FLAG_OF_FIELD)
    from aae_tf import experiments
    settings = {}
    try:
        if FLAGS.optimizer == "sgd" and FLAGS.recipe == "reference":
            # The paper's optimizer: its rates, schedule and unweighted costs, unless flags say otherwise.
            settings.update(experiments.SGD_RECIPE)
        settings.update(machine_settings())
        settings.update({field: flag_value(mode, field, flag) for field, flag in typed_fields().items()
                         if field != "recipe"})
        return experiments.default_config(mode, FLAGS.recipe, **settings)
    except config_lib.ConfigError as e:
        fail(f"--{FLAG_OF_FIELD.get(e.field, e.field)} {e.reason}")
    except ValueError as e:
        fail(str(e))


def typed_fields():
    """{config field: flag name} of the flags the user typed (``--precision auto`` leaves it to the machine)."""
    return {field: flag for field, flag in FLAG_OF_FIELD.items()
            if FLAGS[flag].present and not (flag == "precision" and FLAGS.precision == "auto")}


def machine_fields():
    """{config field: flag name} of the execution settings the user left to the machine."""
    return {field: flag for field, flag in (("precision", "precision"), ("jit_compile", "xla"))
            if field not in typed_fields()}


def machine_settings():
    """The values of ``machine_fields()`` this machine takes (``hardware.execution_defaults``)."""
    if not machine_fields():
        return {}
    import tensorflow as tf
    from aae_tf import hardware
    typed = FLAGS.precision if "precision" in typed_fields() else None
    defaults = hardware.execution_defaults(hardware.read_cpuinfo(), bool(tf.config.list_physical_devices("GPU")),
                                           precision=typed)
    return {field: defaults[field] for field in machine_fields()}


def explicit_flags(config):
    """The architecture flags the user typed, to check against a trained run."""
    return {key: getattr(config, key) for key in ("ncode", "dist_type", "hidden") if FLAGS[key].present}


def default_save_path(config):
    from aae_tf import experiments
    return os.path.join("runs", experiments.get(config.mode).run_name(config))


def main(argv):
    mode, training = chosen_mode() if len(argv) == 1 else (None, False)
    if mode and not training and FLAGS.save_path and not os.path.exists(
            os.path.join(FLAGS.save_path, runfiles.FLAGS_FILE)):
        fail(runfiles.no_trained_model(FLAGS.save_path), code=1)  # before TensorFlow loads
    config = make_config(mode) if mode else None
    save_path = FLAGS.save_path or (default_save_path(config) if config else "")
    run_guarded(lambda: (train_command if training else draw_command)(config, save_path), save_path, argv)


def make_strategy():
    from aae_tf import distribute
    try:
        if FLAGS.cpu_replicas:
            if FLAGS.cpu_replicas < 1:
                fail(f"--cpu_replicas must be positive, got {FLAGS.cpu_replicas}")
            distribute.use_logical_cpus(FLAGS.cpu_replicas)
        return distribute.make_strategy(FLAGS.distribute)
    except distribute.DistributeError as e:
        fail(str(e))


def train_command(config, save_path):
    from aae_tf import run
    strategy = make_strategy()
    metrics = run.train(config, save_path,
                        lambda data_path, dataset: run.load_data(data_path, dataset, FLAGS.tfds_download),
                        explicit={**typed_fields(), **machine_fields()}, data_path=FLAGS.data_path,
                        allow_change=FLAGS.allow_change,
                        command=" ".join(["python experiment/aae_mnist.py"] + sys.argv[1:]), strategy=strategy)
    from aae_tf import distribute
    if not distribute.is_chief(strategy):
        return
    if metrics.get("test_error") is not None:
        print(f"test error: {metrics['test_error']:.2f}%")


def draw_command(config, save_path):
    from aae_tf import run
    config, trained_data_path = run.trained_config(save_path, explicit_flags(config))
    mnist = run.load_data(FLAGS.data_path or trained_data_path, config.dataset, FLAGS.tfds_download)
    engine = run.restore_trained(config, save_path, mnist, FLAGS.load)
    written = []
    if FLAGS.generate:
        written.append(run.generate(engine, save_path, supervise=FLAGS.supervise, seed=FLAGS.seed))
    if FLAGS.viz:
        written.extend(run.viz(engine, save_path, mnist))
    if FLAGS.parzen:
        centers = FLAGS.parzen_centers
        result = run.parzen(engine, save_path, mnist, centers=centers)
        on = {"prior": "the model's samples", "reconstructions": "its reconstructions of training images",
              "training": "training images"}[centers]

        def metric(key):
            return result[run.parzen_key(centers, key)]
        print(f"Parzen log-likelihood of the test images, windows on {on}: {metric('log_likelihood'):.1f} "
              f"+- {metric('log_likelihood_sem'):.1f} nats (window {metric('parzen_sigma'):.3f})")
        written.append(os.path.join(save_path, "metrics.json"))
    if FLAGS.export:
        written.extend(run.export(engine, save_path, FLAGS.load))
    if FLAGS.gradient_norms:
        print(f"gradient norms of each phase at epoch {FLAGS.load}, 40 training batches (median, 90th percentile, "
              "largest):")
        for phase, (median, high, largest) in run.gradient_norms(engine).items():
            print(f"  {phase:15s} {median:.4g}  {high:.4g}  {largest:.4g}")
    if written:
        print("wrote " + ", ".join(written))


if __name__ == "__main__":
    app.run(main)
