"""The tf.distribute strategies a run can train under, and who in a cluster writes what.

  default       one device (what runs without a strategy)
  mirrored      every local GPU; without GPUs, the logical CPU devices (``use_logical_cpus``, for testing)
  multi_worker  MultiWorkerMirroredStrategy over the cluster that ``TF_CONFIG`` describes
  tpu           TPUStrategy on the TPU that ``TPUClusterResolver`` finds

In a multi-worker run the chief (the ``chief`` task, else worker 0) writes
the run's folder; every other worker takes part in checkpointing (as
TensorFlow requires) into a folder of its own, which it deletes at the end.
"""

import json
import os

import tensorflow as tf

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")

# A collective that waits longer than this for a peer (a worker that died) fails instead of hanging.
COLLECTIVE_TIMEOUT_SECONDS = 600


class DistributeError(ValueError):
    """A strategy that cannot be built here; the message is one line."""


def use_logical_cpus(n):
    """Splits the CPU into ``n`` logical devices; call before TensorFlow uses any device."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)
    except RuntimeError:
        raise DistributeError("the CPU's logical devices can only be set before TensorFlow starts using it") from None


def make_strategy(name, timeout_seconds=COLLECTIVE_TIMEOUT_SECONDS):
    """The strategy ``name`` (one of STRATEGIES).

    Raises:
      DistributeError: no TF_CONFIG for multi_worker, no TPU for tpu, an unknown name.
    """
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices)
    if name == "multi_worker":
        if not os.environ.get("TF_CONFIG"):
            raise DistributeError("--distribute multi_worker needs the TF_CONFIG environment variable describing the "
                                  "cluster and this task (see README.md)")
        try:
            json.loads(os.environ["TF_CONFIG"])
        except ValueError:
            raise DistributeError("TF_CONFIG is not valid JSON") from None
        options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=timeout_seconds)
        return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    if name == "tpu":
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
            tf.config.experimental_connect_to_cluster(resolver)
            tf.tpu.experimental.initialize_tpu_system(resolver)
        except (ValueError, tf.errors.OpError) as e:
            raise DistributeError(f"no TPU found ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None
        return tf.distribute.TPUStrategy(resolver)
    raise DistributeError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")


def task(strategy):
    """(task type, task id) of this process in its cluster; (None, None) outside a cluster."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not getattr(resolver, "task_type", None):
        return None, None
    return resolver.task_type, resolver.task_id


def is_chief(strategy):
    """Whether this process writes the run's folder: always, except on the non-chief workers of a cluster."""
    task_type, task_id = task(strategy)
    if task_type is None or task_type == "chief":
        return True
    resolver = strategy.cluster_resolver
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return task_type == "worker" and task_id == 0 and not has_chief


def worker_folder(save_path, strategy):
    """Where this process writes: the run's folder for the chief, ``<save_path>/.worker_<id>`` for the others."""
    if is_chief(strategy):
        return save_path
    task_type, task_id = task(strategy)
    return os.path.join(save_path, f".{task_type}_{task_id}")
