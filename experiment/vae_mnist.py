"""The variational autoencoder the paper compares with (Fig. 2), as in the reference repository.

  python experiment/vae_mnist.py --train --ncode 2
  python experiment/vae_mnist.py --viz --load 99      # latent.png, beside the AAE's
  python experiment/vae_mnist.py --test --load 99     # negative ELBO of the test images
  python experiment/vae_mnist.py --train --precision mixed_bfloat16 --noxla   # bfloat16 layers, unfused step

Built from the same encoder (in its Gaussian form), decoder, priors, data,
training engine and checkpoints as the adversarial autoencoder. The KL term
is in closed form for the Gaussian prior and a one-sample Monte Carlo
estimate for the mixture, which has none.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

from aae_tf import config as config_lib  # noqa: E402  (free of TensorFlow)
from aae_tf.cli import check_ranges, fail, run_guarded  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_bool("train", False, "Train the VAE.")
flags.DEFINE_bool("generate", False, "Decode random prior samples (generate_im.png).")
flags.DEFINE_bool("viz", False, "Draw the latent space and the manifold (only with --ncode 2).")
flags.DEFINE_bool("test", False, "Negative ELBO of the test images and their reconstructions.")
flags.DEFINE_integer("load", 99, "Epoch (counted from 0) of the checkpoint to restore.")
flags.DEFINE_float("lr", 1e-3, "Initial learning rate.")
flags.DEFINE_integer("ncode", 2, "Dimension of the code z.")
flags.DEFINE_integer("bsize", 128, "Batch size.")
flags.DEFINE_integer("maxepoch", 100, "Number of epochs to train.")
flags.DEFINE_enum("dist_type", "gaussian", ["gaussian", "gmm"], "Prior p(z).")
flags.DEFINE_string("save_path", None, "Folder of the run (default: runs/vae_<dist_type>_z<ncode>).")
flags.DEFINE_string("data_path", None, "Folder with the four MNIST IDX files (default: found offline).")
flags.DEFINE_integer("validation_size", 10000, "Training images held out.")
flags.DEFINE_integer("hidden", 1000, "Units in each hidden layer.")
flags.DEFINE_integer("seed", 0, "Seed of every random choice.")
flags.DEFINE_bool("xla", True, "Compile the training step with XLA.")
flags.DEFINE_enum("precision", "float32", list(config_lib.PRECISIONS),
                  "mixed_bfloat16 / mixed_float16: layers compute in bfloat16 / float16 (variables and losses in "
                  "float32; float16 scales each loss against underflow, for GPUs). Unlike aae_mnist.py there is no "
                  "auto: the VAE is a quick baseline, trained in float32 unless asked.")

flags.DEFINE_bool("allow_change", False, "Resume a run with typed flags that differ from the ones it was trained "
                  "with (each change is recorded in its flags.json).")

ACTIONS = ("generate", "viz", "test")
# Each flag that sets a field of the configuration, by the field's name.
FLAG_OF_FIELD = {"ncode": "ncode", "dist_type": "dist_type", "learning_rate": "lr", "batch_size": "bsize",
                 "max_epoch": "maxepoch", "hidden": "hidden", "validation_size": "validation_size", "seed": "seed",
                 "jit_compile": "xla", "precision": "precision"}


def typed():
    """{config field: flag name} of the flags the user typed."""
    return {field: flag for field, flag in FLAG_OF_FIELD.items() if FLAGS[flag].present}


def main(argv):
    actions = [a for a in ACTIONS if FLAGS[a].value]
    if FLAGS.train and actions:
        fail(f"--train cannot be combined with --{actions[0]}: train first, then run --{actions[0]}")
    if not FLAGS.train and not actions:
        fail("nothing to do: pass one of --train, --generate, --viz, --test")
    if FLAGS.data_path is not None and not FLAGS.data_path.strip():
        fail("--data_path is empty: name the folder with the four MNIST IDX files, or leave the flag out")
    values = {field: FLAGS[flag].value for field, flag in typed().items()}
    check_ranges("vae", values, FLAG_OF_FIELD)
    from aae_tf import experiments
    from aae_tf.config import ConfigError
    try:
        config = experiments.default_config("vae", **values)
    except ConfigError as e:
        fail(f"--{FLAG_OF_FIELD.get(e.field, e.field)} {e.reason}")
    save_path = FLAGS.save_path or os.path.join("runs", experiments.get("vae").run_name(config))
    run_guarded(lambda: command(config, save_path), save_path, argv)


def command(config, save_path):
    from aae_tf import run
    if FLAGS.train:
        run.train(config, save_path, run.load_data, explicit=typed(), data_path=FLAGS.data_path,
                  allow_change=FLAGS.allow_change, command=" ".join(["python experiment/vae_mnist.py"] + sys.argv[1:]))
        return
    explicit = {key: getattr(config, key) for key in ("ncode", "dist_type", "hidden") if FLAGS[key].present}
    config, trained_data_path = run.trained_config(save_path, explicit)
    if config.mode != "vae":
        raise run.UserError(f"the run in {save_path} is an adversarial autoencoder: use experiment/aae_mnist.py")
    mnist = run.load_data(FLAGS.data_path or trained_data_path, config.dataset)
    engine = run.restore_trained(config, save_path, mnist, FLAGS.load)
    written = []
    if FLAGS.generate:
        written.append(run.generate(engine, save_path, seed=FLAGS.seed))
    if FLAGS.viz:
        written.extend(run.viz(engine, save_path, mnist))
    if FLAGS.test:
        result, path = run.test_vae(engine, save_path, mnist)
        print(f"test negative ELBO: {result['test_negative_elbo']:.2f} per image "
              f"(reconstruction {result['test_reconstruction_loss']:.2f}, KL {result['test_kl_divergence']:.2f})")
        written.append(path)
    print("wrote " + ", ".join(written))


if __name__ == "__main__":
    app.run(main)
