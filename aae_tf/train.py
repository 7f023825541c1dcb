"""The one training engine: step functions, checkpoints, summaries and the epoch loop.

Every experiment is a ``setups.Setup``; the engine knows nothing of modes.
Build the Setup inside ``strategy.scope()`` of the strategy given here (the
default strategy on one device), so that multi-device training is a matter
of configuration.
"""

import json
import math
import os
import sys
import tempfile

import keras
import numpy as np
import tensorflow as tf

CHECKPOINT_DIR = "checkpoints"
METRICS_FILE = "metrics.json"


class TrainingDiverged(Exception):
    """A loss became NaN or infinite; the message names the epoch and step."""


class CheckpointError(Exception):
    """A checkpoint is missing or does not fit the model; the message is one line."""


def write_json_atomically(path, payload):
    """Writes JSON through a temporary file, so a crash never leaves a half-written file."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".json.partial")
    with os.fdopen(fd, "w") as f:
        json.dump(payload, f, indent=2, sort_keys=True)
    os.replace(tmp, path)


def to_unit_range(images):
    """[-1, 1] images to [0, 1] for summaries and figures."""
    return tf.clip_by_value((tf.convert_to_tensor(images) + 1.0) / 2.0, 0.0, 1.0)


BEST_KEYS = ("best_epoch", "best_validation_error", "test_error_at_best_validation")


def read_metrics(save_path):
    """The metrics a run wrote to ``metrics.json``, or {} when it has written none."""
    path = os.path.join(save_path, METRICS_FILE)
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def _track_best(best, metrics):
    """Model choice on the validation set only: remembers the epoch with the lowest validation error.

    The test error of that epoch is reported beside it, never used to choose.
    """
    if "validation_error" not in metrics:
        return best
    if not best or metrics["validation_error"] < best["best_validation_error"]:
        return {"best_epoch": metrics["epoch"], "best_validation_error": metrics["validation_error"],
                "test_error_at_best_validation": metrics.get("test_error")}
    return best


class Engine:
    """Trains, checkpoints and restores one Setup under one save path.

    Everything it writes goes under ``save_path``: ``checkpoints/``,
    ``train/`` and ``eval/`` TensorBoard folders, and ``metrics.json``.
    """

    def __init__(self, setup, save_path, strategy=None, max_to_keep=5):
        self.setup = setup
        self.config = setup.config
        self.save_path = save_path
        self.strategy = strategy or tf.distribute.get_strategy()
        with self.strategy.scope():
            self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epochs_done")
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
            self.rng = tf.random.Generator.from_seed(self.config.seed)
        trackables = dict(epoch=self.epoch, step=self.step, rng=self.rng, **setup.networks)
        trackables.update({f"{p.name}_optimizer": p.optimizer for p in setup.phases})
        self.checkpoint = tf.train.Checkpoint(**trackables)
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, os.path.join(save_path, CHECKPOINT_DIR), max_to_keep=max_to_keep,
            checkpoint_name="ckpt")
        self._step_fn = tf.function(self._distributed_step)

    # ------------------------------------------------------------------ step

    def _replica_step(self, batch):
        phases = self.setup.phases
        seeds = tf.cast(self.rng.make_seeds(len(phases)), tf.int32)  # [2, n_phases], as TFP expects
        logs = {}
        for i, phase in enumerate(phases):
            variables = [v for name in phase.networks for v in self.setup.networks[name].trainable_variables]
            with tf.GradientTape() as tape:
                loss, phase_logs = phase.loss_fn(batch, seeds[:, i])
                # Gradients are summed over replicas, so each replica scales its mean loss.
                scaled = loss / self.strategy.num_replicas_in_sync
            grads = tape.gradient(scaled, variables)
            phase.optimizer.apply_gradients([(g, v) for g, v in zip(grads, variables) if g is not None])
            logs.update(phase_logs)
        return logs

    def _distributed_step(self, batch):
        per_replica = self.strategy.run(self._replica_step, args=(batch,))
        self.step.assign_add(1)
        return {k: self.strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None)
                for k, v in per_replica.items()}

    def train_step(self, batch):
        """Runs one compiled step (every phase, in order) and returns its named scalars."""
        return self._step_fn(batch)

    # ------------------------------------------------------------ checkpoints

    def available_epochs(self):
        """Epoch numbers (counted from 0) of the checkpoints on disk."""
        return sorted(int(p.rsplit("-", 1)[1]) for p in self.manager.checkpoints)

    def _restore(self, path, partial):
        try:
            status = self.checkpoint.restore(path)
            if partial:
                status.expect_partial()
            else:
                status.assert_existing_objects_matched()
        except (ValueError, AssertionError, tf.errors.OpError) as e:
            first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
            raise CheckpointError(f"the checkpoint {path} does not fit this model ({first}); "
                                  "were the flags the same when it was trained?") from None

    def restore_latest(self):
        """Resumes from the newest checkpoint, if any; returns the epochs already done."""
        if self.manager.latest_checkpoint:
            self._restore(self.manager.latest_checkpoint, partial=False)
        return int(self.epoch.numpy())

    def restore_epoch(self, epoch):
        """Restores the checkpoint written after epoch ``epoch`` (counted from 0), for inference."""
        path = os.path.join(self.manager.directory, f"ckpt-{epoch}")
        if not tf.io.gfile.exists(path + ".index"):
            have = self.available_epochs()
            listing = ", ".join(map(str, have)) if have else "none"
            raise CheckpointError(f"no checkpoint for epoch {epoch} in {self.manager.directory} "
                                  f"(epochs with checkpoints: {listing}); pass one of them with --load")
        self._restore(path, partial=True)

    # ------------------------------------------------------------ summaries

    def _learning_rate(self):
        return float(keras.ops.convert_to_numpy(self.setup.phases[0].optimizer.learning_rate))

    def _epoch_summaries(self, writer, metrics):
        """Per-epoch summaries, at the global step so that they line up with the training curves."""
        setup = self.setup
        images, labels = setup.summary_batch
        seed = tf.cast(self.rng.make_seeds(2), tf.int32)
        out = setup.encode(images)
        prior_codes = setup.prior.sample(len(labels), seed[:, 0])
        with writer.as_default(step=int(self.step.numpy())):
            for name, value in metrics.items():
                if value is not None:
                    tf.summary.scalar(name, value)
            tf.summary.image("input", to_unit_range(images[:8]), max_outputs=8)
            tf.summary.image("reconstruction", to_unit_range(setup.reconstruct(images[:8], labels[:8])),
                             max_outputs=8)
            tf.summary.image("generated", to_unit_range(setup.sample_images(8, seed[:, 1])), max_outputs=8)
            for d in range(min(setup.config.ncode, 10)):
                tf.summary.histogram(f"prior_z/dim{d}", prior_codes[:, d])
                tf.summary.histogram(f"encoder_z/dim{d}", out["style_code"][:, d])
            if "label_code" in out:
                tf.summary.histogram("encoder_y/argmax", tf.argmax(out["label_code"], -1))

    # ------------------------------------------------------------------ loop

    def fit(self, verbose=True):
        """Trains from the epochs already done up to ``config.max_epoch``.

        Returns:
          The final metrics (also written to ``metrics.json``).

        Raises:
          TrainingDiverged: when a loss is NaN or infinite; no checkpoint of
            the diverged epoch is written, so the last good one stays intact.
        """
        config, setup = self.config, self.setup
        # Flushed every 10 s so that TensorBoard follows the run live.
        train_writer = tf.summary.create_file_writer(os.path.join(self.save_path, "train"), flush_millis=10_000)
        eval_writer = tf.summary.create_file_writer(os.path.join(self.save_path, "eval"), flush_millis=10_000)
        metrics_path = os.path.join(self.save_path, METRICS_FILE)
        metrics = {}
        start = int(self.epoch.numpy())
        best = {k: v for k, v in read_metrics(self.save_path).items() if k in BEST_KEYS} if start else {}
        for epoch in range(start, config.max_epoch):
            if verbose:
                print(f"Epoch {epoch + 1}/{config.max_epoch}", flush=True)
            epoch_learning_rate = self._learning_rate()  # the rate this epoch's steps use
            bar = keras.utils.Progbar(setup.steps_per_epoch, verbose=1 if verbose else 0)
            dataset = self.strategy.experimental_distribute_dataset(setup.train_batches(epoch))
            sums = {}
            for i, batch in enumerate(dataset):
                logs = {k: float(v) for k, v in self.train_step(batch).items()}
                bad = [k for k, v in logs.items() if not math.isfinite(v)]
                if bad:
                    last = self.manager.latest_checkpoint or "none yet"
                    raise TrainingDiverged(
                        f"{bad[0]} became {logs[bad[0]]} at epoch {epoch} step {i}; stopped without saving, "
                        f"the last good checkpoint ({last}) is intact; try a lower --lr")
                for k, v in logs.items():
                    sums[k] = sums.get(k, 0.0) + v
                step = int(self.step.numpy())
                if step % config.summary_every == 0:
                    with train_writer.as_default(step=step):
                        for k, v in logs.items():
                            tf.summary.scalar(k, v)
                        tf.summary.scalar("learning_rate", self._learning_rate())
                bar.update(i + 1, list(logs.items()))
            metrics = {k: v / setup.steps_per_epoch for k, v in sums.items()}
            metrics.update(setup.evaluate())
            metrics.update(epoch=epoch, learning_rate=epoch_learning_rate)
            best = _track_best(best, metrics)
            metrics.update(best)
            self._epoch_summaries(eval_writer, metrics)
            self.epoch.assign(epoch + 1)
            self.manager.save(checkpoint_number=epoch)
            write_json_atomically(metrics_path, metrics)
            if verbose:
                shown = ", ".join(f"{k} {v:.4g}" for k, v in sorted(metrics.items())
                                  if k not in ("epoch",) and not k.endswith("_loss"))
                print(f"epoch {epoch} done: {shown}", flush=True)
        train_writer.flush()
        eval_writer.flush()
        return metrics or read_metrics(self.save_path)
