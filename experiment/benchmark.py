"""Training throughput, in images per second, of each experiment's compiled step, beside its yardsticks.

  python experiment/benchmark.py                 # every mode, batch 128
  python experiment/benchmark.py --modes unsupervised --steps 200 --epoch

Each mode is timed on real MNIST batches after a warm-up that compiles the
step; the figure is batch size x steps / seconds, for the step alone (data
is prefetched, no evaluation or checkpointing). Beside it (``--yardstick``):
a minimal plain-Keras step of the same unsupervised networks
(``aae_tf.yardstick``), the same with Adam as TensorFlow's fused kernel, the machine's float32 and
bfloat16 matmul rates, and the fraction of the float32 bound the unsupervised step reaches. With
``--epoch``: one whole training epoch (data, evaluation, summaries,
checkpoint) against its steps' pure time. With ``--profile_dir``: a profiler
trace of each setting and its time by op type (``aae_tf.profiling``).
"""

import dataclasses
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
flags.DEFINE_list("precision", ["float32"], "Precisions to time: float32, mixed_bfloat16, mixed_float16 (the "
                  "project's step scales its losses; the minimal step does not), or several.")
flags.DEFINE_list("xla", ["on", "off"], "Time the step compiled with XLA (on), without (off), or both.")
flags.DEFINE_integer("validation_size", 10000,
                     "Training images held out (as in training); fewer for a small --data_path.")
flags.DEFINE_string("data_path", None, "Folder with the MNIST IDX files (default: found offline).")
flags.DEFINE_bool("yardstick", True, "Also time the minimal Keras step and the matmul rates.")
flags.DEFINE_bool("epoch", False, "Also time whole training epochs of each mode against their pure step time.")
flags.DEFINE_integer("epochs", 3, "With --epoch: epochs to train; every one after the first (which compiles) is shown.")
flags.DEFINE_string("profile_dir", None, "Also trace --profile_steps steps of each setting with TensorFlow's profiler "
                    "into a folder of this one (open it with TensorBoard) and print where the time goes, by op type.")
flags.DEFINE_integer("profile_steps", 20, "With --profile_dir: steps to trace.")
flags.DEFINE_integer("rounds", 1, "Time every setting (steps, minimal steps, matmuls) this many times, in turn, and "
                     "print the median of each and of each ratio taken within a round: a virtual machine's speed "
                     "drifts over minutes, and a ratio of two rates timed side by side drifts less.")

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


def main(argv):
    del argv
    from absl import logging
    logging.set_verbosity(logging.WARNING)
    import tensorflow as tf
    from aae_tf import experiments, hardware, run, train
    from aae_tf.config import ConfigError
    from aae_tf.data import DataError

    unknown = [m for m in FLAGS.modes if m not in MODE_SETTINGS]
    if unknown:
        print(f"error: unknown mode {unknown[0]}; choose from {', '.join(MODE_SETTINGS)}", file=sys.stderr)
        sys.exit(2)
    try:
        mnist = run.load_data(FLAGS.data_path)
    except run.UserError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    cpuinfo = hardware.read_cpuinfo()
    defaults = hardware.execution_defaults(cpuinfo, bool(tf.config.list_physical_devices("GPU")))
    print(f"TensorFlow {tf.__version__}, {os.cpu_count()} CPU cores ({hardware.cpu_model(cpuinfo)}), "
          f"batch {FLAGS.bsize}, hidden {FLAGS.hidden}, {FLAGS.steps} steps; a training run's default here: "
          f"{defaults['precision']}, XLA {'on' if defaults['jit_compile'] else 'off'}")
    if not set(FLAGS.xla) <= {"on", "off"} or not FLAGS.xla:
        print("error: --xla takes on, off or both", file=sys.stderr)
        sys.exit(2)
    if FLAGS.rounds < 1:
        print(f"error: --rounds must be at least 1, got {FLAGS.rounds}", file=sys.stderr)
        sys.exit(2)
    step_rates, timers = {}, {}
    for mode, xla, precision in [(m, x, p) for m in FLAGS.modes for x in FLAGS.xla for p in FLAGS.precision]:
        try:
            config = experiments.default_config(mode, batch_size=FLAGS.bsize, jit_compile=xla == "on",
                                                hidden=FLAGS.hidden, precision=precision,
                                                validation_size=FLAGS.validation_size, **MODE_SETTINGS[mode])
            setup = experiments.create(config, mnist)
        except (ConfigError, DataError) as e:
            print(f"error: {e}", file=sys.stderr)
            sys.exit(2)
        engine = train.Engine(setup, save_path="/nonexistent-benchmark-writes-nothing")
        batches = iter(setup.train_batches(0).repeat())
        def run_step(engine=engine, batches=batches):
            return engine.train_step(next(batches))
        rate, ms = time_steps(run_step)
        step_rates[mode, xla, precision] = rate
        timers["project", mode, xla, precision] = (lambda run_step=run_step: time_steps(run_step, 2)[0], [rate])
        print(f"{mode:15s} XLA {xla:3s} {precision:14s} {rate:8.0f} images/s "
              f"({ms:.1f} ms/step, {len(setup.phases)} phases)", flush=True)
        if FLAGS.profile_dir:
            profile(run_step, ms, f"{mode}_xla_{xla}_{precision}")
        if FLAGS.epoch:
            time_epoch(config, mnist, rate)
    if FLAGS.yardstick:
        yardsticks(mnist, step_rates, timers)
    if FLAGS.rounds > 1:
        rounds(timers)


def time_steps(run_step, warmup=None):
    """(images/s, ms/step) of ``run_step`` over --steps calls after ``warmup`` (default --warmup) untimed ones."""
    for _ in range(FLAGS.warmup if warmup is None else warmup):
        run_step()
    start = time.perf_counter()
    for _ in range(FLAGS.steps):
        out = run_step()
    float(next(iter(out.values())) if isinstance(out, dict) else out)  # wait for the last step to finish
    seconds = time.perf_counter() - start
    return FLAGS.bsize * FLAGS.steps / seconds, 1000 * seconds / FLAGS.steps


def profile(run_step, step_ms, name, shown=8):
    """Traces --profile_steps steps into --profile_dir/name and prints the op types that took the most time."""
    from aae_tf import profiling
    logdir = os.path.join(FLAGS.profile_dir, name)
    profiling.trace(run_step, FLAGS.profile_steps, logdir)
    try:
        seconds = profiling.op_seconds_by_type(logdir)
    except profiling.ProfileError as e:
        print(f"{'':15s} profile: {e}", flush=True)
        return
    per_step = {op: 1000 * t / FLAGS.profile_steps for op, t in seconds.items()}
    total = sum(per_step.values())
    top = sorted(per_step.items(), key=lambda item: -item[1])[:shown]
    print(f"{'':15s} profile ({logdir}): {total:.1f} ms of op time per step on all threads ({step_ms:.1f} ms wall): "
          + ", ".join(f"{op} {ms:.1f} ms ({ms / total:.0%})" for op, ms in top), flush=True)


def time_epoch(config, mnist, step_rate):
    """Whole epochs through the engine (data, evaluation, summaries, checkpoint) against their pure step time."""
    import tempfile
    from aae_tf import run, runfiles
    with tempfile.TemporaryDirectory() as folder:
        # The first epoch compiles; the later ones are the steady state.
        config = dataclasses.replace(config, max_epoch=FLAGS.epochs)
        run.train(config, folder, lambda data_path, dataset: mnist, verbose=False)
        records = runfiles.read_history(folder)[1:]
    steps = (len(mnist.train_images) - config.validation_size) // config.batch_size
    pure = steps * config.batch_size / step_rate
    for record in records:
        print(f"{'':15s} epoch {record['epoch']} {record['epoch_seconds']:.1f} s (its step loop "
              f"{record['step_seconds']:.1f} s), {steps} pure steps {pure:.1f} s: epoch / pure steps = "
              f"{record['epoch_seconds'] / pure:.2f}, step loop / pure steps = {record['step_seconds'] / pure:.2f}",
              flush=True)


def yardsticks(mnist, step_rates, timers):
    """The minimal Keras step of the unsupervised networks, the matmul rates, and the fraction of the bound.

    Adds to ``timers`` ({key: (function timing one more round, [rates so far])}) each minimal step and matmul.
    """
    import tensorflow as tf
    from aae_tf import data, yardstick
    ncode = MODE_SETTINGS["unsupervised"]["ncode"]
    images = data.to_float_images(mnist.train_images[:FLAGS.bsize])
    for xla, precision in [(x, p) for x in FLAGS.xla for p in FLAGS.precision]:
        seed = tf.constant([1, 2])
        for fused in (False, True):
            step = yardstick.minimal_unsupervised_step(ncode, FLAGS.hidden, xla == "on", precision, fused_adam=fused)
            def run_step(step=step):
                return step(images, seed)
            rate, ms = time_steps(run_step)
            if not fused:
                timers["minimal", xla, precision] = (lambda run_step=run_step: time_steps(run_step, 2)[0], [rate])
            name = "minimal, fused" if fused else "minimal Keras"
            print(f"{name:15s} XLA {xla:3s} {precision:14s} {rate:8.0f} images/s ({ms:.1f} ms/step, 3 phases, "
                  f"unsupervised networks{', Adam as one fused op per variable' if fused else ''})", flush=True)
            mine = step_rates.get(("unsupervised", xla, precision))
            if mine and not fused:
                print(f"{'':15s} the project's unsupervised step / the minimal one: {mine / rate:.2f}", flush=True)
    flops = yardstick.unsupervised_flops_per_image(ncode, FLAGS.hidden)
    for dtype in (tf.float32, tf.bfloat16):
        def matmul_bound(dtype=dtype):
            """The unsupervised images/s the machine's matmul rate allows."""
            return yardstick.matmul_gflops(dtype, rows=FLAGS.bsize, inner=FLAGS.hidden, cols=FLAGS.hidden) * 1e9 / flops
        bound = matmul_bound()
        gflops = bound * flops / 1e9
        timers["matmul", dtype.name] = (matmul_bound, [bound])
        line = (f"matmul {FLAGS.bsize}x{FLAGS.hidden}x{FLAGS.hidden} {dtype.name:8s} {gflops:6.0f} GFLOP/s: at "
                f"{flops / 1e6:.1f} MFLOP per image, a bound of {bound:,.0f} unsupervised images/s")
        best = max((r for (m, _, p), r in step_rates.items()
                    if m == "unsupervised" and (p == "float32") == (dtype == tf.float32)), default=None)
        if best:
            line += f"; the project's best step reaches {best / bound:.0%} of it"
        print(line, flush=True)


def rounds(timers):
    """Times every setting --rounds - 1 more times, in turn, then prints medians and within-round ratios."""
    from aae_tf import yardstick
    for _ in range(FLAGS.rounds - 1):
        for time_once, rates in timers.values():
            rates.append(time_once())
    n = FLAGS.rounds
    print(f"over {n} rounds (every setting timed once per round, in turn), median (lowest-highest):")

    def shown(ratio):
        return f"{ratio[0]:.2f} ({ratio[1]:.2f}-{ratio[2]:.2f})"
    for key, (_, rates) in timers.items():
        median, low, high = yardstick.paired_ratios(rates, [1.0] * n)
        if key[0] == "matmul":
            name, unit = f"{key[1]} matmul bound", "unsupervised images/s"
        else:
            name, unit = f"{key[1] if key[0] == 'project' else 'minimal Keras'} XLA {key[-2]} {key[-1]}", "images/s"
        print(f"  {name:40s} {median:8,.0f} {unit} ({low:,.0f}-{high:,.0f})")
    for key, (_, rates) in timers.items():
        if key[0] == "project" and key[1] == "unsupervised" and ("minimal", *key[2:]) in timers:
            ratio = yardstick.paired_ratios(rates, timers["minimal", *key[2:]][1])
            print(f"  the project's unsupervised step / the minimal one, XLA {key[2]} {key[3]}: {shown(ratio)}")
    for mode in FLAGS.modes:
        best = {p: [max(r) for r in zip(*[timers["project", mode, x, p][1] for x in FLAGS.xla])]
                for p in FLAGS.precision}
        if "float32" in best and "mixed_bfloat16" in best:
            ratio = yardstick.paired_ratios(best["mixed_bfloat16"], best["float32"])
            print(f"  {mode}: mixed_bfloat16 / float32, the faster XLA setting of each: {shown(ratio)}")
        if mode == "unsupervised" and "float32" in best and ("matmul", "float32") in timers:
            ratio = yardstick.paired_ratios(best["float32"], timers["matmul", "float32"][1])
            print(f"  unsupervised float32 step / the float32 matmul bound: {shown(ratio)}")


if __name__ == "__main__":
    app.run(main)
