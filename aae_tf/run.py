"""What a command does with a configuration: train, generate, visualize.

Command-line scripts turn flags into an ExperimentConfig and call these.
Every error a user can cause surfaces as ``UserError`` with a one-line
message; the scripts print it and exit non-zero.
"""

import json
import os

import numpy as np

import tensorflow as tf

from aae_tf import config as config_lib
from aae_tf import data as data_lib
from aae_tf import evaluation
from aae_tf import plots
from aae_tf import priors
from aae_tf import setups
from aae_tf import train as train_lib

FLAGS_FILE = "flags.json"


class UserError(Exception):
    """Something the user can fix; the message is one line."""


def read_run_flags(save_path):
    """The flags a training run recorded in ``save_path``, or None if it has none."""
    path = os.path.join(save_path, FLAGS_FILE)
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise UserError(f"{path} is unreadable ({e}); restore it or use another --save_path") from None


def _recorded_config(save_path):
    """(ExperimentConfig, data_path) from the run's flags.json, or None if it has none."""
    recorded = read_run_flags(save_path)
    if recorded is None:
        return None
    try:
        return config_lib.ExperimentConfig.from_dict(recorded), recorded.get("data_path")
    except (TypeError, ValueError, AttributeError) as e:
        raise UserError(f"{save_path}/{FLAGS_FILE} does not hold a configuration ({e})") from None


def load_data(data_path, tfds_download=False):
    try:
        return data_lib.load_mnist(data_path=data_path, tfds_download=tfds_download)
    except data_lib.DataError as e:
        raise UserError(str(e)) from None


def build(config, mnist, save_path, strategy=None):
    """Builds the Setup and the Engine for ``config`` (under ``strategy``'s scope)."""
    strategy = strategy or tf.distribute.get_strategy()
    try:
        with strategy.scope():
            setup = setups.build_setup(config, setups.prepare_data(mnist, config))
    except (ValueError, data_lib.DataError) as e:
        raise UserError(str(e)) from None
    return train_lib.Engine(setup, save_path, strategy)


def train(config, save_path, mnist, extra_flags=None, verbose=True):
    """Trains ``config`` in ``save_path``, resuming from its newest checkpoint.

    Args:
      config: the ExperimentConfig.
      save_path: the run's folder; created if needed.
      mnist: a data.Mnist.
      extra_flags: more settings to record in flags.json (e.g. data_path).

    Returns:
      The final metrics dict.
    """
    if os.path.exists(save_path) and not os.path.isdir(save_path):
        raise UserError(f"--save_path {save_path} is a file, not a folder")
    previous = _recorded_config(save_path)
    if previous is not None:
        mismatch = config.architecture_mismatch(previous[0])
        if mismatch:
            raise UserError(f"{save_path} holds a run with other settings ({'; '.join(mismatch)}): "
                            "use the same flags to resume, or another --save_path")
    engine = build(config, mnist, save_path)
    try:
        done = engine.restore_latest()
    except train_lib.CheckpointError as e:
        raise UserError(str(e)) from None
    os.makedirs(save_path, exist_ok=True)
    record = dict(json.loads(config.to_json()), **(extra_flags or {}))
    train_lib.write_json_atomically(os.path.join(save_path, FLAGS_FILE), record)
    if done >= config.max_epoch:
        if verbose:
            print(f"{save_path} already holds {done} trained epochs; raise --maxepoch to train further")
    elif done and verbose:
        print(f"resuming {save_path} after epoch {done - 1}")
    try:
        return engine.fit(verbose=verbose)
    except train_lib.TrainingDiverged as e:
        raise UserError(f"training diverged: {e}") from None


def trained_config(save_path, explicit=None):
    """The configuration the run in ``save_path`` was trained with, and the data folder it used.

    Args:
      explicit: settings the user gave on the command line ({name: value});
        each must agree with the run's.

    Returns:
      (ExperimentConfig, data_path or None).
    """
    recorded = _recorded_config(save_path)
    if recorded is None:
        raise UserError(f"no trained model in {save_path} (no {FLAGS_FILE}): train one first, or pass --save_path")
    trained, data_path = recorded
    for key, value in (explicit or {}).items():
        if getattr(trained, key) != value:
            raise UserError(f"--{key} {value} disagrees with the run in {save_path}, "
                            f"trained with {getattr(trained, key)}")
    return trained, data_path


def restore_trained(config, save_path, mnist, load):
    """An Engine for ``config`` with the checkpoint of epoch ``load`` restored."""
    engine = build(config, mnist, save_path)
    try:
        engine.restore_epoch(load)
    except train_lib.CheckpointError as e:
        raise UserError(str(e)) from None
    return engine


def generate(engine, save_path, supervise=False, seed=0):
    """Writes ``generate_im.png`` (20x20 prior samples), or ``sample_style.png`` with ``supervise``.

    ``sample_style.png`` has one style code per column and one digit per row
    (paper Fig. 7, the reference's layout).

    Returns:
      The path written.
    """
    setup = engine.setup
    seed = tf.constant([seed, 1], tf.int32)
    if supervise:
        if setup.config.mode != "supervised":
            raise UserError("--supervise draws a supervised model (--train_supervised); "
                            f"the run in {save_path} is {setup.config.mode}")
        n_styles, n_digits = 10, data_lib.NUM_CLASSES
        styles = setup.prior.sample(n_styles, seed)
        code = tf.tile(styles, [n_digits, 1])  # row r, column c: style c
        digits = tf.repeat(tf.range(n_digits), n_styles)
        images = setup.decode(code, tf.one_hot(digits, n_digits))
        path = os.path.join(save_path, "sample_style.png")
        plots.save_grid(path, images.numpy(), n_digits, n_styles)
        return path
    images = setup.sample_images(400, seed)
    path = os.path.join(save_path, "generate_im.png")
    plots.save_grid(path, images.numpy(), 20, 20)
    return path


def _decode_points(setup, points, label_code=None):
    return setup.decode(tf.constant(points, tf.float32), label_code).numpy()


def viz(engine, save_path, mnist, grid=20):
    """Draws what the model learned; returns the paths written.

    Always ``latent.png`` (test codes colored by digit, needs a 2-D code),
    then by prior and mode: the manifold over the Gaussian's percentiles
    (Fig. 2e), one manifold per gmm component along its own axes (Fig. 4b),
    the walk along the swiss roll (Fig. 4d), the cluster heads (Fig. 9).
    """
    setup, config = engine.setup, engine.setup.config
    written = []
    if config.mode == "cluster":
        written.append(_cluster_heads(setup, save_path))
    if config.ncode != 2:
        if written:
            return written
        raise UserError(f"--viz draws 2-D codes: this run has --ncode {config.ncode}; train with --ncode 2")
    out = setup.encode(data_lib.to_float_images(mnist.test_images))
    path = os.path.join(save_path, "latent.png")
    plots.save_latent(path, out["code"].numpy(), mnist.test_labels, title=f"{config.mode}, {config.dist_type} prior")
    written.append(path)
    if config.mode not in ("unsupervised", "label", "vae"):
        return written
    if config.dist_type == "gaussian":
        path = os.path.join(save_path, "manifold.png")
        plots.save_grid(path, _decode_points(setup, plots.normal_percentile_grid(grid)), grid, grid)
        written.append(path)
    elif config.dist_type == "gmm":
        centers, radial, tangential = priors.gmm_component_axes()
        for k in range(len(centers)):
            points = plots.component_axes_grid(centers[k], radial[k], tangential[k], 0.5, 0.1, 10)
            path = os.path.join(save_path, f"manifold_{k}.png")
            plots.save_grid(path, _decode_points(setup, points), 10, 10)
            written.append(path)
    elif config.dist_type == "swiss_roll":
        path = os.path.join(save_path, "manifold_swiss_roll.png")
        plots.save_grid(path, _decode_points(setup, priors.swiss_roll_position()), 10, 10)
        written.append(path)
    return written


def _cluster_heads(setup, save_path, n_styles=10, seed=0):
    """Each cluster's row: its head (style code 0) first, then random styles (paper Fig. 9)."""
    ncat = setup.ncat
    styles = tf.concat([tf.zeros([1, setup.config.ncode]),
                        setup.prior.sample(n_styles - 1, tf.constant([seed, 2], tf.int32))], 0)
    code = tf.tile(styles, [ncat, 1])
    clusters = tf.repeat(tf.range(ncat), n_styles)
    images = setup.decode(code, tf.one_hot(clusters, ncat)).numpy()
    path = os.path.join(save_path, "cluster_heads.png")
    plots.save_grid(path, images, ncat, n_styles)
    return path

def _update_metrics(save_path, new):
    metrics = dict(train_lib.read_metrics(save_path), **new)
    train_lib.write_json_atomically(os.path.join(save_path, train_lib.METRICS_FILE), metrics)
    return metrics


def parzen(engine, save_path, mnist, n_samples=10000, n_validation=1000, seed=0):
    """Parzen-window log-likelihood of the test images (paper Table 1), added to metrics.json.

    ``n_samples`` images decoded from prior samples are the window centers;
    the width is chosen on ``n_validation`` held-out training images and the
    10,000 test images are scored with it. Pixels are on the [0, 1] scale of
    the GAN paper's protocol, so the figure is comparable with Table 1.

    Returns:
      The Parzen metrics.
    """
    setup = engine.setup
    n_batches = -(-n_samples // 1000)
    seeds = tf.cast(tf.random.experimental.stateless_split(tf.constant([seed, 3], tf.int64), n_batches), tf.int32)
    samples = np.concatenate([setup.sample_images(1000, seeds[i]).numpy() for i in range(n_batches)])[:n_samples]
    validation = setups.prepare_data(mnist, setup.config).validation[0][:n_validation]
    if len(validation) == 0:
        raise UserError("--parzen chooses its window width on validation images: use a --validation_size above 0")

    def flat_unit(images):
        return ((np.asarray(images, np.float32) + 1.0) / 2.0).reshape(len(images), -1)

    result = evaluation.parzen_log_likelihood(
        flat_unit(samples), flat_unit(data_lib.to_float_images(validation).numpy()),
        flat_unit(data_lib.to_float_images(mnist.test_images).numpy()))
    result.update(parzen_samples=int(n_samples))
    _update_metrics(save_path, result)
    return result


def test_vae(engine, save_path, mnist):
    """Scores a VAE on the test images (negative ELBO per image) and draws their reconstructions."""
    setup = engine.setup
    images = data_lib.to_float_images(mnist.test_images)
    seeds = tf.constant([[0, 4]], tf.int32)
    totals = {}
    for start in range(0, len(mnist.test_images), 1000):
        batch = {"image": images[start:start + 1000]}
        _, logs = setup.phases[0].loss_fn(batch, seeds[0])
        for k, v in logs.items():
            totals[k] = totals.get(k, 0.0) + float(v) * len(batch["image"])
    result = {f"test_{k}": v / len(mnist.test_images) for k, v in totals.items()}
    path = os.path.join(save_path, "test_reconstruction.png")
    pairs = np.concatenate([images[:50].numpy(), setup.reconstruct(images[:50], mnist.test_labels[:50]).numpy()])
    plots.save_grid(path, pairs, 10, 10)
    _update_metrics(save_path, result)
    return result, path
