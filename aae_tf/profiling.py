"""Where a step spends its time: a TensorBoard profiler trace of a few steps, summed by op type.

The trace is the one TensorBoard's profile plugin shows (``tensorboard --logdir
<logdir>``); the sum here is the same information as a table: for each
TensorFlow op type (``_MklMatMul``, ``Cast``, ``ResourceApplyAdam``, ...) the
time the executor's threads spent in it, per step. Ops that run at the same
time on different threads are both counted, so the total can exceed the
step's wall time. A step compiled with XLA has no TensorFlow ops inside it;
its time is summed by XLA's own operations instead (``MatMul``, fusions such
as ``multiply_add_fusion``: the names XLA gives them, numbering removed).
"""

import collections
import glob
import os
import re

import tensorflow as tf


class ProfileError(Exception):
    """No trace to read (message for the user)."""


def trace(run_step, steps, logdir):
    """Runs ``run_step`` ``steps`` times under the profiler, writing the trace under ``logdir``."""
    tf.profiler.experimental.start(logdir)
    try:
        out = None
        for _ in range(steps):
            out = run_step()
        tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, "numpy") else t, out)  # wait for the last step
    finally:
        tf.profiler.experimental.stop()


def op_seconds_by_type(logdir):
    """{op type: seconds} summed over the executor threads of the newest trace under ``logdir``."""
    try:
        from tensorflow.tsl.profiler.protobuf import xplane_pb2
    except ImportError:  # the trace's format ships inside TensorFlow's wheel, not as a public module
        raise ProfileError("this TensorFlow has no tensorflow.tsl.profiler.protobuf.xplane_pb2 to read the trace "
                           "with; open the trace in TensorBoard instead") from None
    files = glob.glob(os.path.join(logdir, "plugins", "profile", "*", "*.xplane.pb"))
    if not files:
        raise ProfileError(f"no profiler trace under {logdir}")
    space = xplane_pb2.XSpace()
    with open(max(files, key=os.path.getmtime), "rb") as f:
        space.ParseFromString(f.read())
    seconds = collections.Counter()
    for plane in space.planes:
        names = {key: meta.name for key, meta in plane.event_metadata.items()}
        hlo_op = {key for key, meta in plane.stat_metadata.items() if meta.name == "hlo_op"}
        for line in plane.lines:
            executor = line.name.startswith("tf_Compute")
            for event in line.events:
                name = names.get(event.metadata_id, "")
                if any(stat.metadata_id in hlo_op for stat in event.stats):
                    # An XLA operation ("MatMul.12", "multiply_add_fusion.3"), on whichever thread ran it.
                    op = re.sub(r"\.\d+$", "", name)
                elif executor and ":" in name and "::" not in name:
                    # A TensorFlow op on the executor's threads ("name:Type"); "Class::method" spans are bookkeeping.
                    op = name.rsplit(":", 1)[1]
                else:
                    continue
                seconds[op] += event.duration_ps * 1e-12
    return dict(seconds)
