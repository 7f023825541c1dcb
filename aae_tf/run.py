"""What a command does with a configuration: train, generate, visualize.

Command-line scripts turn flags into an ExperimentConfig and call these.
Every error a user can cause surfaces as ``UserError`` with a one-line
message; the scripts print it and exit non-zero.
"""

import dataclasses
import json
import os

import numpy as np

import tensorflow as tf

from aae_tf import config as config_lib
from aae_tf import runfiles
from aae_tf import data as data_lib
from aae_tf import distribute
from aae_tf import experiments
from aae_tf import figures
from aae_tf import plots
from aae_tf import train as train_lib

FLAGS_FILE = runfiles.FLAGS_FILE


class UserError(Exception):
    """Something the user can fix; the message is one line."""


# What running out of memory or disk looks like: TensorFlow's error, or Python's.
RESOURCE_ERRORS = (tf.errors.ResourceExhaustedError, MemoryError)
# What a worker of a cluster that died or stopped answering looks like to the others.
CLUSTER_ERRORS = (tf.errors.UnavailableError, tf.errors.DeadlineExceededError)


def read_run_flags(save_path):
    """The flags a training run recorded in ``save_path``, or None if it has none."""
    try:
        return runfiles.read_json_object(os.path.join(save_path, FLAGS_FILE))
    except runfiles.RunFileError as e:
        raise UserError(f"{e}; restore it from a copy, or use another --save_path") from None


def _recorded_config(save_path):
    """(ExperimentConfig, the recorded flags) from the run's flags.json, or None if it has none."""
    recorded = read_run_flags(save_path)
    if recorded is None:
        return None
    try:
        return config_lib.ExperimentConfig.from_dict(recorded), recorded
    except config_lib.ConfigError as e:
        raise UserError(f"{save_path}/{FLAGS_FILE} is damaged: {e}; restore it from a copy, "
                        "or use another --save_path") from None


def resume_config(recorded, config, explicit, data_path, allow_change):
    """The configuration a resumed run trains with: the run's own, with the flags the user typed.

    Args:
      recorded: (ExperimentConfig, recorded flags dict) of the run.
      config: the configuration the flags describe.
      explicit: {config field: flag name} of the flags the user typed.
      data_path: the --data_path typed, or None.
      allow_change: whether typed flags may change settings other than the
        resumable ones (the architecture never may: the checkpoints would
        not fit).

    Returns:
      (config, data_path, changes): ``changes`` lists {field: [old, new]}.

    Raises:
      UserError: a typed flag contradicts the run.
    """
    previous, flags = recorded
    changes = {}
    for field, flag in sorted(explicit.items()):
        old, new = getattr(previous, field), getattr(config, field)
        if old == new:
            continue
        if field in config_lib.ARCHITECTURE_KEYS:
            raise UserError(f"--{flag} {_shown(new)} does not fit the run, trained with {_shown(old)}: "
                            "its checkpoints have other shapes; leave the flag out to resume, or use another "
                            "--save_path")
        if field not in config_lib.RESUMABLE_KEYS and not allow_change:
            raise UserError(f"--{flag} {_shown(new)} differs from the run's {_shown(old)}: leave the flag out to "
                            "resume as it was trained, or pass --allow_change to change it (recorded in flags.json)")
        changes[field] = [old, new]
    recorded_data_path = flags.get("data_path")
    if data_path is not None and data_path != recorded_data_path:
        if not allow_change:
            raise UserError(f"--data_path {data_path} differs from the run's {recorded_data_path}: leave it out "
                            "to resume on the same data, or pass --allow_change")
        changes["data_path"] = [recorded_data_path, data_path]
    else:
        data_path = recorded_data_path
    resumed = dataclasses.replace(previous, **{f: getattr(config, f) for f in explicit})
    return resumed, data_path, changes


def _shown(value):
    return str(value).lower() if isinstance(value, bool) else str(value)


def load_data(data_path, dataset="mnist", tfds_download=False):
    """Dataset ``dataset`` (MNIST from ``data_path`` or offline, others from tensorflow-datasets)."""
    try:
        return data_lib.load_dataset(dataset, data_path=data_path, tfds_download=tfds_download)
    except data_lib.DataError as e:
        raise UserError(str(e)) from None


def build(config, mnist, save_path, strategy=None):
    """Builds the Setup and the Engine for ``config`` (under ``strategy``'s scope)."""
    strategy = strategy or tf.distribute.get_strategy()
    try:
        with strategy.scope():
            setup = experiments.create(config, mnist)
        return train_lib.Engine(setup, save_path, strategy)
    except (ValueError, data_lib.DataError) as e:
        raise UserError(str(e)) from None


def train(config, save_path, load_mnist, explicit=None, data_path=None, allow_change=False, command=None,
          verbose=True, strategy=None):
    """Trains ``config`` in ``save_path``, resuming from its newest intact checkpoint.

    The folder is locked for the whole run (a second process refuses). Once
    the folder holds a checkpoint, its recorded configuration is binding:
    flags the user did not type come from it, and typed flags that contradict
    it are refused (see ``resume_config``).

    Args:
      config: the ExperimentConfig the flags describe.
      save_path: the run's folder; created if needed.
      load_mnist: ``(data_path, dataset name) -> data.Mnist``.
      explicit: {config field: flag name} of the flags the user typed.
      data_path: the --data_path typed, or None.
      allow_change: let typed flags change a resumed run's settings.
      command: the command line that started the run, recorded in flags.json
        (a resumed run keeps the first one).
      strategy: the tf.distribute strategy (default: one device). In a
        cluster only the chief writes ``save_path``; every other worker
        locks and writes only its own ``distribute.worker_folder``.

    Returns:
      The final metrics dict.
    """
    if os.path.exists(save_path) and not os.path.isdir(save_path):
        raise UserError(f"--save_path {save_path} is a file, not a folder")
    os.makedirs(save_path, exist_ok=True)
    strategy = strategy or tf.distribute.get_strategy()
    chief = distribute.is_chief(strategy)
    say = print if verbose and chief else (lambda *a, **k: None)
    own_folder = distribute.worker_folder(save_path, strategy)
    os.makedirs(own_folder, exist_ok=True)
    try:
        with runfiles.RunLock(own_folder):
            if chief:
                runfiles.remove_partial_writes(save_path)
            recorded = _recorded_config(save_path)
            changes, history = {}, []
            if runfiles.checkpoints_on_disk(os.path.join(save_path, runfiles.CHECKPOINT_DIR)):
                if recorded is None:
                    raise UserError(f"{save_path} holds checkpoints but no {FLAGS_FILE}, so what they were trained "
                                    f"with is unknown: restore {FLAGS_FILE}, or use another --save_path")
                config, data_path, changes = resume_config(recorded, config, explicit or {}, data_path,
                                                           allow_change)
                history = list(recorded[1].get("changes", []))
            mnist = load_mnist(data_path, config.dataset)
            say(f"MNIST from {mnist.source}; writing to {save_path}")
            engine = build(config, mnist, save_path, strategy)
            try:
                done = engine.restore_latest(report=say)
            except train_lib.CheckpointError as e:
                raise UserError(f"{e}; were the flags the same when it was trained?") from None
            if done >= config.max_epoch:
                say(f"{save_path} already holds {done} trained epochs; raise --maxepoch to train further")
                return runfiles.read_metrics(save_path)
            if changes:  # with the command that made them (a branch's own, beside the trunk's first command)
                history.append(dict(changes, at_epoch=done, **({"command": command} if command else {})))
            first_command = recorded[1].get("command") if recorded is not None and done else None
            record = dict(json.loads(config.to_json()), data_path=data_path, changes=history,
                          command=first_command or command)
            if chief:
                runfiles.write_json_atomically(os.path.join(save_path, FLAGS_FILE), record)
            if done:
                say(f"resuming {save_path} after epoch {done - 1}")
            metrics = engine.fit(verbose=verbose and chief)
            task_type, task_id = distribute.task(strategy)
            if task_type is not None:  # each worker of a cluster says where it ended; all must agree
                print(f"{task_type} {task_id}: trained to epoch {int(engine.epoch.numpy()) - 1}, weights "
                      f"{engine.weights_digest()}", flush=True)
            return metrics
    except train_lib.TrainingDiverged as e:
        raise UserError(f"training diverged: {e}") from None
    except runfiles.RunFileError as e:
        raise UserError(str(e)) from None


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
        raise UserError(runfiles.no_trained_model(save_path))
    trained, data_path = recorded[0], recorded[1].get("data_path")
    for key, value in (explicit or {}).items():
        if getattr(trained, key) != value:
            raise UserError(f"--{key} {value} disagrees with the run in {save_path}, "
                            f"trained with {getattr(trained, key)}")
    return trained, data_path


def restore_trained(config, save_path, mnist, load):
    """An Engine for ``config`` with the checkpoint of epoch ``load`` restored, computing in float32.

    Whatever precision the run trained in, its weights are float32; figures, likelihoods and exports
    computed from them in float32 do not depend on the machine that trained it (docs/benchmarks.md).
    """
    engine = build(dataclasses.replace(config, precision="float32"), mnist, save_path)
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
        grid = setup.style_grid(10, seed)
        if grid is None:
            raise UserError("--supervise draws a supervised model (--train_supervised); "
                            f"the run in {save_path} is {setup.config.mode}")
        path = os.path.join(save_path, "sample_style.png")
        plots.save_grid(path, setup.unit(grid), data_lib.NUM_CLASSES, 10)
        return path
    images = setup.sample_images(400, seed)
    path = os.path.join(save_path, "generate_im.png")
    plots.save_grid(path, setup.unit(images), 20, 20)
    return path


def viz(engine, save_path, mnist):
    """Draws what the model learned (each experiment's ``figures``); returns the paths written.

    Most draw ``latent.png`` (test codes colored by digit, needs a 2-D code);
    the unsupervised, label-conditioned and VAE models add their manifold
    over the prior's walks (Fig. 2e, 4b, 4d); the clustering model draws its
    cluster heads and members (Fig. 9) and the cluster x digit table.
    """
    try:
        return engine.setup.figures(save_path, mnist)
    except figures.FigureError as e:
        raise UserError(str(e)) from None


def _update_metrics(save_path, new):
    """Adds an evaluation of one checkpoint to ``metrics.json`` (rebuilt from the history if damaged).

    Training rewrites ``metrics.json`` from its history each epoch, so a
    resumed run drops evaluations of its older checkpoints.
    """
    metrics = dict(runfiles.read_metrics(save_path), **new)
    runfiles.write_json_atomically(os.path.join(save_path, runfiles.METRICS_FILE), metrics)
    return metrics


def parzen_key(centers, key):
    """The metrics.json key of the Parzen metric ``key`` for windows on ``centers``: the model's own for
    ``prior``, ``<centers>_centers_<key>`` for the calibrating references."""
    return key if centers == "prior" else f"{centers}_centers_{key}"


def parzen(engine, save_path, mnist, n_samples=10000, n_validation=1000, seed=0, centers="prior"):
    """Parzen-window log-likelihood of the 10,000 test images (paper Table 1, ``Experiment.parzen``) of the
    restored model, added to metrics.json with the epoch it scored.

    The metrics of ``centers`` other than ``prior`` (references for the same
    estimate) are recorded as ``<centers>_centers_<key>``, beside the
    model's, never over them.

    Returns:
      The Parzen metrics.
    """
    if len(engine.setup.data.validation[0]) == 0:
        raise UserError("--parzen chooses its window width on validation images: use a --validation_size above 0")
    result = engine.setup.parzen(mnist.test_images, n_samples, n_validation, seed, centers)
    result.update(parzen_epoch=int(engine.epoch.numpy()) - 1)
    result = {parzen_key(centers, k): v for k, v in result.items()}
    _update_metrics(save_path, result)
    return result


def gradient_norms(engine, batches=40):
    """Each phase's gradient norm on the first ``batches`` training batches of epoch 0 of the restored model.

    Returns:
      {phase: (median, 90th percentile, largest)}; nothing is updated or written.
    """
    norms = {}
    for step, batch in enumerate(engine.replica_batches(0)):
        if step == batches:
            break
        for phase, norm in engine.gradient_norms(batch, tf.constant([step, 0])).items():
            norms.setdefault(phase, []).append(norm)
    return {phase: (float(np.median(v)), float(np.percentile(v, 90)), float(np.max(v))) for phase, v in norms.items()}


def export(engine, save_path, epoch):
    """Exports the restored model of epoch ``epoch`` (``aae_tf.export``); returns the paths written."""
    from aae_tf import api
    from aae_tf import export as export_lib
    try:
        return export_lib.export(api.TrainedModel(engine.setup, epoch, save_path),
                                 export_lib.export_folder(save_path, epoch))
    except export_lib.ExportError as e:
        raise UserError(str(e)) from None


def test_vae(engine, save_path, mnist):
    """Scores a VAE on the test images (negative ELBO per image) and draws their reconstructions."""
    setup = engine.setup
    images = setup.images(mnist.test_images)
    result = {f"test_{k}": v for k, v in setup.test_scores(images).items()}
    result["test_epoch"] = int(engine.epoch.numpy()) - 1
    path = os.path.join(save_path, "test_reconstruction.png")
    pairs = np.concatenate([images[:50].numpy(), setup.reconstruct(images[:50], mnist.test_labels[:50]).numpy()])
    plots.save_grid(path, setup.unit(pairs), 10, 10)
    _update_metrics(save_path, result)
    return result, path
