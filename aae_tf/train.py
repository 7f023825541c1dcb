"""The one training engine: step functions, checkpoints, summaries and the epoch loop.

Every experiment is an ``experiments.Experiment``; the engine knows nothing of which.
Build the Setup inside ``strategy.scope()`` of the strategy given here (the
default strategy on one device), so that multi-device training is a matter
of configuration.
"""

import contextlib
import glob
import hashlib
import os
import shutil
import threading
import time

import keras
import numpy as np
import tensorflow as tf

from aae_tf import distribute
from aae_tf import runfiles
from aae_tf.runfiles import BEST_DIR, CHECKPOINT_DIR, checkpoints_on_disk

RECALIBRATION_IMAGES = 10_000  # training images that set an old checkpoint's batch-normalization statistics
# Losses are read back from the device every this many steps (and at the end of an epoch), not after each.
READBACK_EVERY = 10


class TrainingDiverged(Exception):
    """A loss became NaN or infinite; the message names the epoch and step."""


class StopRequested(BaseException):
    """A stop was asked for (``request_stop``, e.g. on SIGTERM); raised between two steps."""


_STOP = threading.Event()
_IN_LOOP = threading.Event()


def loop_running():
    """Whether a training loop of this process is running (and so checks the stop flag between steps)."""
    return _IN_LOOP.is_set()


@contextlib.contextmanager
def _running_loop():
    """Marks the training loop as running (``loop_running``) while the block runs."""
    _IN_LOOP.set()
    try:
        yield
    finally:
        _IN_LOOP.clear()


def request_stop():
    """Asks every training loop of this process to stop before its next step (safe from a signal handler).

    A signal handler that raises can have its exception swallowed when the
    signal lands in a finalizer (``Exception ignored in ... __del__``); the
    loop also checks this flag after every step, so the stop always happens.
    """
    _STOP.set()


class CheckpointError(Exception):
    """A checkpoint is missing, damaged or does not fit the model; the message is one line."""


class Engine:
    """Trains, checkpoints and restores one Setup under one save path.

    Everything it writes goes under ``save_path``: ``checkpoints/``,
    ``train/`` and ``eval/`` TensorBoard folders, and ``metrics.json``. Under
    a multi-worker strategy only the chief writes there (and evaluates); the
    other workers save their checkpoints into ``distribute.worker_folder``,
    deleted when training ends, and restore from the chief's.
    """

    def __init__(self, setup, save_path, strategy=None, max_to_keep=5):
        self.setup = setup
        self.config = setup.config
        self.save_path = save_path
        self.max_to_keep = max_to_keep
        self.strategy = strategy or tf.distribute.get_strategy()
        self.chief = distribute.is_chief(self.strategy)
        self.write_path = distribute.worker_folder(save_path, self.strategy)
        replicas = self.strategy.num_replicas_in_sync
        if self.config.batch_size % replicas:
            raise ValueError(f"--bsize {self.config.batch_size} must be a multiple of the {replicas} replicas, "
                             "which share each batch equally")
        with self.strategy.scope():
            self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epochs_done")
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
            self.rng = tf.random.Generator.from_seed(self.config.seed)
            # What applies each phase's gradients: its optimizer, or under mixed_float16 Keras's
            # LossScaleOptimizer around it (float16 gradients underflow: the loss is scaled up before the
            # gradients and they are scaled back before the update; a step whose gradients are not finite is
            # skipped and the scale halved). The scale stays out of the checkpoint, so checkpoints remain
            # interchangeable between precisions; a resumed run starts it afresh.
            self._appliers = [self._applier(p) for p in setup.phases]
        trackables = dict(epoch=self.epoch, step=self.step, rng=self.rng, **setup.networks)
        trackables.update({f"{p.name}_optimizer": p.optimizer for p in setup.phases})
        self.checkpoint = tf.train.Checkpoint(**trackables)
        self.checkpoint_dir = os.path.join(save_path, CHECKPOINT_DIR)
        self.manager = None  # created by restore_latest, for a training process only
        # XLA cannot compile a step whose variables live on several devices (each replica's copy of a mirrored
        # variable sits on its own device); with more than one replica the step runs as a plain tf.function.
        self.jit_compile = self.config.jit_compile and replicas == 1
        # Without autograph: the step has no tensor-dependent Python control flow, and converting its
        # source cost each process about a second of tracing.
        self._step_fn = tf.function(self._distributed_step, jit_compile=self.jit_compile, autograph=False)
        self._norms_fn = tf.function(self._phase_norms, autograph=False)  # for gradient_norms, traced on first use

    # ------------------------------------------------------------------ step

    def _applier(self, phase):
        if self.config.precision != "mixed_float16":
            return phase.optimizer
        scaler = keras.optimizers.LossScaleOptimizer(phase.optimizer)
        scaler.build(self._variables(phase))
        return scaler

    def _variables(self, phase):
        return [v for name in phase.networks for v in self.setup.networks[name].trainable_variables]

    def _phase_gradients(self, phase, applier, batch, seed):
        """(gradient, variable) pairs of ``phase``'s loss on ``batch`` (variables it does not reach left out),
        multiplied by ``applier``'s loss scale (1 but under mixed_float16), and its logs."""
        variables = self._variables(phase)
        with tf.GradientTape() as tape:
            loss, phase_logs = phase.loss_fn(batch, seed)
            # Gradients are summed over replicas, so each replica scales its mean loss.
            scaled = applier.scale_loss(loss / self.strategy.num_replicas_in_sync)
        grads = tape.gradient(scaled, variables)
        return [(g, v) for g, v in zip(grads, variables) if g is not None], phase_logs

    def _replica_step(self, batch, seeds):
        logs = {}
        for i, (phase, applier) in enumerate(zip(self.setup.phases, self._appliers)):
            pairs, phase_logs = self._phase_gradients(phase, applier, batch, seeds[:, i])
            applier.apply_gradients(pairs)
            logs.update(phase_logs)
        return logs

    def _phase_norms(self, batch, seed):
        norms = {}
        for phase, applier in zip(self.setup.phases, self._appliers):
            pairs, _ = self._phase_gradients(phase, applier, batch, seed)
            norm = tf.linalg.global_norm([g for g, _ in pairs])
            norms[phase.name] = norm / applier.dynamic_scale if applier is not phase.optimizer else norm
        return norms

    def gradient_norms(self, batch, seed):
        """{phase name: global norm of its gradients} on ``batch``, before any clipping; nothing is updated.

        Every phase sees the weights as they are (in a training step each phase
        sees the updates of the phases before it). For choosing ``--clip_norm``.
        """
        return {name: float(value) for name, value in self._norms_fn(batch, seed).items()}

    def _distributed_step(self, batch):
        # The seeds are drawn once per step, outside the replicas, so that every replica has the same ones
        # (``experiments.base.replica_rows`` gives each its own rows of the draws).
        seeds = tf.cast(self.rng.make_seeds(len(self.setup.phases)), tf.int32)  # [2, n_phases], as TFP expects
        per_replica = self.strategy.run(self._replica_step, args=(batch, seeds))
        self.step.assign_add(1)
        return {k: self.strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None)
                for k, v in per_replica.items()}

    def replica_batches(self, epoch):
        """The epoch's training batches, distributed: each replica gets its equal share of every global batch.

        Replica r of R gets rows ``[r * n / R, (r + 1) * n / R)`` of each of
        the batch's arrays (n is that array's rows), so that a step sees the
        same images whatever the number of replicas; each worker of a cluster
        builds the same seeded batches and keeps its replicas' shares.
        """
        strategy, setup = self.strategy, self.setup
        replicas = strategy.num_replicas_in_sync
        if replicas == 1:
            return strategy.experimental_distribute_dataset(setup.train_batches(epoch))

        def dataset_fn(context):
            local = replicas // context.num_input_pipelines
            first = context.input_pipeline_id * local

            def shares(batch):
                def share(j):
                    k = first + tf.cast(j, tf.int32)
                    out = {}
                    for name, value in batch.items():
                        rows = tf.shape(value)[0] // replicas
                        out[name] = value[k * rows:(k + 1) * rows]
                    return out
                return tf.data.Dataset.range(local).map(share)
            return setup.train_batches(epoch).flat_map(shares)
        return strategy.distribute_datasets_from_function(dataset_fn)

    def train_step(self, batch):
        """Runs one compiled step (every phase, in order) and returns its named scalars."""
        return self._step_fn(batch)

    def weights_digest(self):
        """A short hash of every network's variables: the workers of a cluster agree on it after each step."""
        digest = hashlib.sha256()
        for name in sorted(self.setup.networks):
            for variable in self.setup.networks[name].variables:
                digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(variable)).tobytes())
        return digest.hexdigest()[:16]

    # ------------------------------------------------------------ checkpoints

    def available_epochs(self):
        """Epoch numbers (counted from 0) of the complete checkpoints on disk, the kept best one included."""
        return sorted(set(checkpoints_on_disk(self.checkpoint_dir)) | set(checkpoints_on_disk(self.best_dir)))

    @property
    def best_dir(self):
        return os.path.join(self.checkpoint_dir, BEST_DIR)

    def _path(self, epoch):
        path = os.path.join(self.checkpoint_dir, f"ckpt-{epoch}")
        if epoch in checkpoints_on_disk(self.checkpoint_dir) or epoch not in checkpoints_on_disk(self.best_dir):
            return path
        return os.path.join(self.best_dir, f"ckpt-{epoch}")

    def _keep_best(self, epoch):
        """Keeps epoch ``epoch``'s checkpoint in ``checkpoints/best/`` (the manager keeps only the newest few).

        Hard links where the file system has them (else copies, each
        renamed into place); the previous best's files go only after the
        new ones are complete, so a best checkpoint is on disk at every moment.
        """
        os.makedirs(self.best_dir, exist_ok=True)
        source = os.path.join(self.checkpoint_dir, f"ckpt-{epoch}")
        files = sorted(glob.glob(source + ".data-*")) + [source + ".index"]  # the index last: it marks completeness
        for path in files:
            target = os.path.join(self.best_dir, os.path.basename(path))
            partial = target + ".partial"
            if os.path.exists(partial):  # left by an interrupted copy
                os.remove(partial)
            try:
                os.link(path, partial)
            except OSError:
                shutil.copyfile(path, partial)
            os.replace(partial, target)
        for path in glob.glob(os.path.join(self.best_dir, "ckpt-*")):
            if not os.path.basename(path).startswith(f"ckpt-{epoch}."):
                os.remove(path)

    def _restore(self, path, partial, report=print):
        try:
            recalibrate = self._lacks_batchnorm_statistics(path)
            status = self.checkpoint.restore(path)
            if partial or recalibrate:  # an old checkpoint has no values for the statistics
                status.expect_partial()
            else:
                status.assert_existing_objects_matched()
        except (ValueError, AssertionError, IndexError, tf.errors.OpError) as e:  # IndexError: a truncated file
            first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
            raise CheckpointError(f"the checkpoint {path} is damaged or does not fit this model ({first})") from None
        if recalibrate:
            n = min(RECALIBRATION_IMAGES, len(self.setup.data.train_images))
            self.setup.networks["encoder"].set_batchnorm_statistics(
                self.setup.images(self.setup.data.train_images[:n]), self.config.batch_size)
            report(f"note: {path} was written before the encoder's batch-normalization statistics were saved; "
                   f"set them from {n} training images")

    def _lacks_batchnorm_statistics(self, path):
        """Whether the checkpoint lacks the moving statistics of the encoder's hidden batch normalizations."""
        encoder = self.setup.networks.get("encoder")
        norms = encoder.hidden_batchnorms() if hasattr(encoder, "hidden_batchnorms") else []
        if not norms:
            return False
        saved = {name for name, _ in tf.train.list_variables(path)}
        return any(f"encoder/{norm.name}/moving_mean/.ATTRIBUTES/VARIABLE_VALUE" not in saved for norm in norms)

    def _set_aside(self, epoch):
        """Renames a damaged checkpoint's files to ``*.damaged`` (kept, never deleted)."""
        for path in glob.glob(self._path(epoch) + ".*"):
            if not path.endswith(".damaged"):
                os.replace(path, path + ".damaged")

    def restore_latest(self, report=print):
        """Resumes a training run from its newest intact checkpoint; returns the epochs already done.

        Call it only from the process that trains the folder (it holds the
        lock): it rebuilds the checkpoint state file from the checkpoints on
        disk (a missing or damaged state file loses nothing), and a damaged
        newest checkpoint is renamed ``*.damaged`` and the one before it used,
        saying so through ``report``.

        A non-chief worker of a cluster only reads the chief's newest
        checkpoint and saves its own into its worker folder.

        Raises:
          CheckpointError: no checkpoint on disk fits this model.
        """
        if not self.chief:
            epochs = self.available_epochs()
            if epochs:
                self._restore(self._path(epochs[-1]), partial=False)
            self.manager = tf.train.CheckpointManager(self.checkpoint, os.path.join(self.write_path, CHECKPOINT_DIR),
                                                      max_to_keep=1, checkpoint_name="ckpt")
            return int(self.epoch.numpy()) if epochs else 0
        epochs = checkpoints_on_disk(self.checkpoint_dir)  # the rotating ones; the kept best is older than these
        failures = []
        for epoch in reversed(epochs):
            try:
                self._restore(self._path(epoch), partial=False, report=report)
            except CheckpointError as e:
                failures.append((epoch, e))
                continue
            for bad, _ in failures:
                self._set_aside(bad)
                report(f"warning: the checkpoint of epoch {bad} is damaged; renamed it {self._path(bad)}.*.damaged "
                       f"and resumed from epoch {epoch}")
            break
        else:
            if failures:
                raise failures[0][1]
        intact = checkpoints_on_disk(self.checkpoint_dir)
        if intact:
            # With their files' times: the manager rotates out only the checkpoints whose time it knows, so
            # without them those on disk at a resume would stay forever.
            tf.compat.v1.train.update_checkpoint_state(
                self.checkpoint_dir, self._path(intact[-1]),
                all_model_checkpoint_paths=[self._path(e) for e in intact],
                all_model_checkpoint_timestamps=[os.path.getmtime(self._path(e) + ".index") for e in intact])
        self.manager = tf.train.CheckpointManager(self.checkpoint, self.checkpoint_dir,
                                                  max_to_keep=self.max_to_keep, checkpoint_name="ckpt")
        return int(self.epoch.numpy()) if intact else 0

    def restore_epoch(self, epoch, report=print):
        """Restores the checkpoint written after epoch ``epoch`` (counted from 0), for inference.

        Reads only; safe beside a process that is training the same folder.
        """
        have = self.available_epochs()
        if epoch not in have:
            listing = ", ".join(map(str, have)) if have else "none"
            raise CheckpointError(f"no checkpoint for epoch {epoch} in {self.checkpoint_dir} "
                                  f"(epochs with checkpoints: {listing}); pass one of them with --load")
        self._restore(self._path(epoch), partial=True, report=report)

    # ------------------------------------------------------------ summaries

    def learning_rates(self):
        """The learning rate each phase's next step uses: ``learning_rate_<phase>`` (and ``learning_rate``,
        the first's)."""
        rates = {f"learning_rate_{p.name}": float(keras.ops.convert_to_numpy(p.optimizer.learning_rate))
                 for p in self.setup.phases}
        return dict(rates, learning_rate=rates[f"learning_rate_{self.setup.phases[0].name}"])

    def _epoch_summaries(self, writer, metrics):
        """Per-epoch summaries, at the global step so that they line up with the training curves."""
        setup = self.setup
        images, labels = setup.summary_batch
        # Seeds of their own, not the generator's: in a cluster only the chief draws them, and the generator's
        # state must stay the same on every worker.
        step = int(self.step.numpy()) % 2 ** 30
        seed = tf.constant([[self.config.seed, self.config.seed], [step, step + 1]], tf.int32)
        out = setup.encode(images)
        prior_codes = setup.prior.sample(len(labels), seed[:, 0])
        with writer.as_default(step=int(self.step.numpy())):
            for name, value in metrics.items():
                if value is not None:
                    tf.summary.scalar(name, value)
            tf.summary.image("input", setup.unit(images[:8]), max_outputs=8)
            tf.summary.image("reconstruction", setup.unit(setup.reconstruct(images[:8], labels[:8])),
                             max_outputs=8)
            tf.summary.image("generated", setup.unit(setup.sample_images(8, seed[:, 1])), max_outputs=8)
            for d in range(min(setup.config.ncode, 10)):
                tf.summary.histogram(f"prior_z/dim{d}", prior_codes[:, d])
                tf.summary.histogram(f"encoder_z/dim{d}", out["style_code"][:, d])
            if "label_code" in out:
                tf.summary.histogram("encoder_y/argmax", tf.argmax(out["label_code"], -1))

    # ------------------------------------------------------------------ loop

    def _check_finite(self, pending, epoch, first_step):
        """Reads back the logs of the steps run since the last check; stops at the first non-finite one."""
        values = [{k: float(v) for k, v in logs.items()} for logs in pending]
        for j, logs in enumerate(values):
            bad = [k for k, v in logs.items() if not np.isfinite(v)]
            if bad:
                have = self.available_epochs()
                last = f"ckpt-{have[-1]}, epoch {have[-1]}" if have else "none yet"
                raise TrainingDiverged(
                    f"{bad[0]} became {logs[bad[0]]} at epoch {epoch} step {first_step + j}; stopped without "
                    f"saving, the last good checkpoint ({last}) is intact; try a lower --lr")
        return values

    def fit(self, verbose=True):
        """Trains from the epochs already done up to ``config.max_epoch``.

        Resumes first (``restore_latest``) unless that was done. Each epoch appends its record to the
        run's history before its checkpoint is saved, and ``metrics.json``
        (the last record and the validation-chosen epoch) is rewritten from
        the history after it: on resume, records of epochs without a
        checkpoint are dropped, so the two never disagree.

        Returns:
          The final metrics (also written to ``metrics.json``).

        Raises:
          TrainingDiverged: when a loss is NaN or infinite; no checkpoint of
            the diverged epoch is written, so the last good one stays intact.
        """
        setup = self.setup
        if self.manager is None:
            self.restore_latest(report=print if verbose else (lambda *a: None))
        start = int(self.epoch.numpy())
        if not self.chief:  # a worker of a cluster: it trains, checkpoints into its own folder, writes nothing else
            noop = tf.summary.create_noop_writer()
            with _running_loop():
                last = self._fit_epochs(start, [], {}, noop, noop, verbose)
            shutil.rmtree(self.write_path, ignore_errors=True)
            return last
        # Flushed every 10 s so that TensorBoard follows the run live.
        train_writer = tf.summary.create_file_writer(os.path.join(self.save_path, "train"), flush_millis=10_000)
        eval_writer = tf.summary.create_file_writer(os.path.join(self.save_path, "eval"), flush_millis=10_000)
        records = runfiles.keep_history_before(self.save_path, start)
        extra = {}
        if start and not records:  # a run from before the history existed: keep its metrics.json's best
            extra = {k: v for k, v in runfiles.read_metrics(self.save_path).items() if k in runfiles.BEST_KEYS}
        if start:
            runfiles.write_metrics(self.save_path, records, extra, setup.selection_metric)
        try:
            with _running_loop():
                self._fit_epochs(start, records, extra, train_writer, eval_writer, verbose)
        finally:  # what the epochs before a failure logged reaches the disk, whatever the caller does next
            train_writer.close()
            eval_writer.close()
        return runfiles.read_metrics(self.save_path)

    def _fit_epochs(self, start, records, extra, train_writer, eval_writer, verbose):
        """Trains the epochs from ``start``; the chief records each; returns the last epoch's metrics."""
        config, setup = self.config, self.setup
        metrics = {}
        for epoch in range(start, config.max_epoch):
            if _STOP.is_set():
                raise StopRequested()
            if verbose:
                print(f"epoch {epoch} ({epoch + 1 - start} of {config.max_epoch - start} in this run, "
                      f"epochs counted from 0)", flush=True)
            rates = self.learning_rates()  # the rates this epoch's steps use
            bar = keras.utils.Progbar(setup.steps_per_epoch, verbose=1 if verbose else 0)
            began = time.perf_counter()
            try:
                sums, steps = self._train_epoch(epoch, bar, train_writer)
            except BaseException:
                if verbose:
                    print(flush=True)  # end the progress bar's line before any message
                raise
            step_seconds = time.perf_counter() - began
            metrics = {k: v / steps for k, v in sums.items()}
            metrics.update(rates, epoch=epoch, step_seconds=step_seconds)
            self.epoch.assign(epoch + 1)
            if not self.chief:
                self.manager.save(checkpoint_number=epoch)  # every worker takes part in saving
                continue
            metrics.update(setup.evaluate(epoch))
            self._epoch_summaries(eval_writer, metrics)
            metrics["epoch_seconds"] = time.perf_counter() - began
            runfiles.append_history(self.save_path, metrics)
            records.append(metrics)
            self.manager.save(checkpoint_number=epoch)
            summary = runfiles.write_metrics(self.save_path, records, extra, setup.selection_metric)
            if summary.get("best_epoch") == epoch:
                self._keep_best(epoch)
            if verbose:
                shown = ", ".join(f"{k} {v:.4g}" for k, v in sorted(summary.items())
                                  if k != "epoch" and not k.endswith("_loss") and not k.startswith("learning_rate_")
                                  and v is not None)
                print(f"epoch {epoch} done: {shown}", flush=True)
        return metrics

    def _train_epoch(self, epoch, bar, writer):
        """Runs one epoch's steps; returns the sums of the logged scalars and the number of steps."""
        config = self.config
        dataset = self.replica_batches(epoch)
        sums, pending, done = {}, [], 0
        step = int(self.step.numpy())

        def read_back():
            nonlocal done, pending
            values = self._check_finite(pending, epoch, done)
            for logs in values:
                for k, v in logs.items():
                    sums[k] = sums.get(k, 0.0) + v
            done += len(values)
            pending = []
            return values[-1]

        for batch in dataset:
            logs = self.train_step(batch)
            pending.append(logs)
            step += 1
            if _STOP.is_set():
                raise StopRequested()
            if len(pending) == READBACK_EVERY:
                bar.update(done + len(pending), list(read_back().items()))
            if step % config.summary_every == 0:
                with writer.as_default(step=step):
                    for k, v in dict(logs, **self.learning_rates()).items():
                        tf.summary.scalar(k, v)
        if pending:
            bar.update(done + len(pending), list(read_back().items()))
        return sums, done
