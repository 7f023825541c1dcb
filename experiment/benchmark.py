"""Training throughput, in images per second, of each experiment's compiled step.

  python experiment/benchmark.py                 # every mode, batch 128
  python experiment/benchmark.py --modes unsupervised --steps 200

Each mode is timed on real MNIST batches after a warm-up that compiles the
step; the figure is batch size x steps / seconds, for the step alone (data
is prefetched, no evaluation or checkpointing).
"""

import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_list("modes", ["unsupervised", "label", "supervised", "semisupervised", "cluster", "dimreduce", "vae"],
                  "Modes to time.")
flags.DEFINE_integer("bsize", 128, "Batch size.")
flags.DEFINE_integer("hidden", 1000, "Units in each hidden layer.")
flags.DEFINE_integer("steps", 100, "Timed steps per mode.")
flags.DEFINE_integer("warmup", 10, "Untimed steps first (the first one compiles).")
flags.DEFINE_list("precision", ["float32"], "Precisions to time: float32, mixed_bfloat16 or both.")
flags.DEFINE_list("xla", ["on", "off"], "Time the step compiled with XLA (on), without (off), or both.")
flags.DEFINE_string("data_path", None, "Folder with the MNIST IDX files (default: found offline).")

# Each experiment's own default configuration, at the sizes of its paper setting.
MODE_SETTINGS = {
    "unsupervised": dict(ncode=2, dist_type="gmm"),
    "label": dict(ncode=2, dist_type="gmm"),
    "supervised": dict(ncode=2),
    "semisupervised": dict(ncode=10),
    "cluster": dict(ncode=5),
    "dimreduce": dict(ncode=2),
    "vae": dict(ncode=2),
}


def cpu_model():
    """The CPU's model name (from /proc/cpuinfo), to print beside every speed figure."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def main(argv):
    del argv
    import tensorflow as tf
    from aae_tf import experiments, run, train

    unknown = [m for m in FLAGS.modes if m not in MODE_SETTINGS]
    if unknown:
        print(f"error: unknown mode {unknown[0]}; choose from {', '.join(MODE_SETTINGS)}", file=sys.stderr)
        sys.exit(2)
    try:
        mnist = run.load_data(FLAGS.data_path)
    except run.UserError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    print(f"TensorFlow {tf.__version__}, {os.cpu_count()} CPU cores ({cpu_model()}), batch {FLAGS.bsize}, "
          f"hidden {FLAGS.hidden}, {FLAGS.steps} steps")
    if not set(FLAGS.xla) <= {"on", "off"} or not FLAGS.xla:
        print("error: --xla takes on, off or both", file=sys.stderr)
        sys.exit(2)
    for mode, xla, precision in [(m, x, p) for m in FLAGS.modes for x in FLAGS.xla for p in FLAGS.precision]:
        config = experiments.default_config(mode, batch_size=FLAGS.bsize, jit_compile=xla == "on",
                                            hidden=FLAGS.hidden, precision=precision,
                                            **MODE_SETTINGS[mode])
        setup = experiments.create(config, mnist)
        engine = train.Engine(setup, save_path="/nonexistent-benchmark-writes-nothing")
        total = FLAGS.warmup + FLAGS.steps
        batches = iter(setup.train_batches(0).repeat().take(total))
        for _ in range(FLAGS.warmup):
            engine.train_step(next(batches))
        logs = None
        start = time.perf_counter()
        for _ in range(FLAGS.steps):
            logs = engine.train_step(next(batches))
        float(next(iter(logs.values())))  # wait for the last step to finish
        seconds = time.perf_counter() - start
        print(f"{mode:15s} XLA {xla:3s} {precision:14s} {FLAGS.bsize * FLAGS.steps / seconds:8.0f} images/s "
              f"({1000 * seconds / FLAGS.steps:.1f} ms/step, {len(setup.phases)} phases)", flush=True)


if __name__ == "__main__":
    app.run(main)
