"""Training under tf.distribute: two logical CPU replicas, and two worker processes on localhost.

Each case runs in processes of its own: the CPU's logical devices must be set before TensorFlow starts,
and a process holds one strategy's collectives.
"""

import json
import os
import socket
import subprocess
import sys
import textwrap

from conftest import FAST, ROOT, SCRIPT, cli, ok, one_line_error

# Default strategy against two mirrored replicas, at the same global batch, on the same data and seeds: the
# replicas share each batch and each keeps its own rows of the step's random draws (prior samples, input and
# discriminator noise), so a step is the same computation split in two. XLA is off in both: it draws its
# random numbers differently from the uncompiled step (and cannot compile a step over two devices).
SAME_WEIGHTS = textwrap.dedent("""
    import sys, numpy as np
    sys.path.insert(0, sys.argv[1])
    from aae_tf import distribute
    distribute.use_logical_cpus(2)
    import tensorflow as tf
    from aae_tf import data, experiments, train
    mnist = data.load_idx_folder(sys.argv[2])
    mirrored = distribute.make_strategy("mirrored")
    assert mirrored.num_replicas_in_sync == 2

    def weights_after_steps(strategy, folder, mode, overrides):
        config = experiments.default_config(mode, hidden=12, batch_size=20, validation_size=200, max_epoch=1,
                                            jit_compile=False, **overrides)
        with strategy.scope():
            setup = experiments.create(config, mnist)
        engine = train.Engine(setup, folder, strategy)
        engine.restore_latest(report=lambda *a: None)
        for step, batch in enumerate(engine.replica_batches(0)):
            logs = engine.train_step(batch)
            if step == 4:
                break
        return [v.numpy() for n in sorted(setup.networks) for v in setup.networks[n].variables], logs

    for i, (mode, overrides, tolerance) in enumerate([
            ("unsupervised", {}, 1e-5),
            ("semisupervised", dict(ncode=3, nlabel=100, input_noise_std=0.3, discriminator_noise_std=0.3), 1e-5),
            ("label", dict(dist_type="gmm", nlabel=500), 1e-5),
            # Batch normalization in the encoder and on the label logits, synchronized across the replicas: the
            # statistics are sums of the replicas' moments, another rounding path (about 1e-4 here; per-replica
            # statistics differ by over 2e-3).
            ("cluster", dict(ncode=3, ncluster=7, input_dropout=0.0), 5e-4)]):
        one, one_logs = weights_after_steps(tf.distribute.get_strategy(), sys.argv[3] + f"/one{i}", mode, overrides)
        two, two_logs = weights_after_steps(mirrored, sys.argv[3] + f"/two{i}", mode, overrides)
        assert len(one) == len(two) > 0
        worst = max(float(np.abs(a - b).max()) for a, b in zip(one, two))
        assert max(float(np.abs(a).max()) for a in one) > 0
        assert set(one_logs) == set(two_logs)
        print(mode, "largest difference", worst)
        assert worst < tolerance, (mode, worst)
""")


def test_two_mirrored_replicas_give_the_weights_of_one_device(tiny_idx, tmp_path):
    script = tmp_path / "same.py"
    script.write_text(SAME_WEIGHTS)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run([sys.executable, str(script), ROOT, tiny_idx, str(tmp_path)], capture_output=True,
                          text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "largest difference" in done.stdout


def free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def start_workers(save, tiny_idx, *args):
    """Starts the same training command on two worker processes on localhost; returns the processes."""
    ports = free_ports(2)
    workers = []
    for index in range(2):
        tf_config = {"cluster": {"worker": [f"localhost:{p}" for p in ports]},
                     "task": {"type": "worker", "index": index}}
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", TF_CONFIG=json.dumps(tf_config))
        workers.append(subprocess.Popen(
            [sys.executable, SCRIPT, "--train", "--distribute", "multi_worker", "--data_path", tiny_idx,
             "--save_path", save, *FAST, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=env))
    return workers


def run_cluster(save, tiny_idx, *args):
    """The same training command on two worker processes on localhost; returns their stdout."""
    workers = start_workers(save, tiny_idx, *args)
    outs = []
    for worker in workers:
        out, err = worker.communicate(timeout=600)
        assert worker.returncode == 0, err[-3000:]
        outs.append(out)
    return outs


def test_two_workers_train_one_run_and_resume(tiny_idx, tmp_path):
    save = str(tmp_path / "cluster")
    first = run_cluster(save, tiny_idx, "--maxepoch", "1")
    digests = [line.split("weights ")[1] for out in first for line in out.splitlines() if "weights " in line]
    assert len(digests) == 2 and digests[0] == digests[1]
    assert "worker 0: trained to epoch 0" in first[0] and "worker 1: trained to epoch 0" in first[1]
    # The chief's folder holds the run; the other worker's own folder is gone.
    names = set(os.listdir(save))
    assert {"checkpoints", "train", "eval", "flags.json", "metrics.json", "history.jsonl"} <= names
    assert not [n for n in names if n.startswith(".worker")]
    assert os.path.exists(os.path.join(save, "checkpoints", "ckpt-0.index"))
    # The same two commands with a higher --maxepoch resume from the chief's checkpoint.
    again = run_cluster(save, tiny_idx, "--maxepoch", "2")
    assert "resuming" in again[0]
    digests = [line.split("weights ")[1] for out in again for line in out.splitlines() if "weights " in line]
    assert len(digests) == 2 and digests[0] == digests[1]
    with open(os.path.join(save, "history.jsonl")) as f:
        assert [json.loads(line)["epoch"] for line in f] == [0, 1]


def test_a_run_checkpointed_under_one_strategy_resumes_under_another(tiny_idx, tmp_path):
    save = str(tmp_path / "switch")
    ok("--train", "--distribute", "mirrored", "--cpu_replicas", "2", "--maxepoch", "1", "--data_path", tiny_idx,
       "--save_path", save, *FAST)
    resumed = ok("--train", "--maxepoch", "2", "--data_path", tiny_idx, "--save_path", save, *FAST)
    assert "resuming" in resumed.stdout
    with open(os.path.join(save, "metrics.json")) as f:
        assert json.load(f)["epoch"] == 1


def test_strategy_errors_are_one_line(tiny_idx, tmp_path):
    env_free = cli("--train", "--distribute", "multi_worker", "--data_path", tiny_idx,
                   "--save_path", str(tmp_path / "x"), *FAST)
    assert "needs the TF_CONFIG environment variable" in one_line_error(env_free)
    odd = cli("--train", "--distribute", "mirrored", "--cpu_replicas", "2", "--bsize", "51", "--data_path", tiny_idx,
              "--save_path", str(tmp_path / "y"), "--hidden", "32", "--validation_size", "200")
    assert "--bsize 51 must be a multiple of the 2 replicas" in one_line_error(odd)


def test_a_lost_worker_stops_the_other_with_one_line(tiny_idx, tmp_path):
    import time
    save = str(tmp_path / "lost")
    workers = start_workers(save, tiny_idx, "--maxepoch", "200")
    deadline = time.time() + 300
    while not os.path.exists(os.path.join(save, "checkpoints", "ckpt-1.index")) and time.time() < deadline:
        time.sleep(0.5)
    workers[1].kill()
    workers[1].communicate()
    _, err = workers[0].communicate(timeout=300)  # stops on its own: no hang
    assert workers[0].returncode == 1
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "the cluster lost a worker" in errors[0] and "is intact" in errors[0]
    assert "Traceback" not in err
