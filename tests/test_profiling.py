"""The profile's sum by op type, on a step whose ops are known."""

import pytest
import tensorflow as tf

from aae_tf import profiling


def test_the_trace_of_a_matmul_step_is_summed_by_op_type(tmp_path):
    a, b = tf.ones([48, 64]), tf.ones([64, 32])
    step = tf.function(lambda: tf.reduce_sum(tf.nn.relu(tf.matmul(a, b))))
    step()
    profiling.trace(step, 5, str(tmp_path))
    seconds = profiling.op_seconds_by_type(str(tmp_path))
    matmuls = [op for op in seconds if op.endswith("MatMul")]  # MatMul, or oneDNN's _MklMatMul
    assert len(matmuls) == 1 and seconds[matmuls[0]] > 0
    assert set(seconds) == {matmuls[0], "Relu", "Sum"}  # the executor's own spans are not ops


def test_a_folder_without_a_trace_is_refused(tmp_path):
    with pytest.raises(profiling.ProfileError, match="no profiler trace"):
        profiling.op_seconds_by_type(str(tmp_path))


def test_the_benchmark_prints_the_profile_of_each_setting_and_the_medians_of_its_rounds(tiny_idx, tmp_path):
    import os
    import subprocess
    import sys
    from conftest import ROOT
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "experiment", "benchmark.py"), "--modes", "unsupervised",
         "--xla", "off", "--bsize", "16", "--hidden", "24", "--steps", "3", "--warmup", "1", "--rounds", "2",
         "--validation_size", "200", "--data_path", tiny_idx, "--profile_dir", str(tmp_path), "--profile_steps", "3"],
        capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
    # Two rounds: each rate's median over both, and the ratio of the pair timed side by side in each round.
    assert "over 2 rounds" in result.stdout
    ratio = [text for text in result.stdout.splitlines() if "the minimal one, XLA off float32:" in text][0]
    median, low, high = map(float, ratio.split(":")[1].replace("(", " ").replace(")", " ").replace("-", " ").split())
    assert 0 < low <= median <= high
    line = [text for text in result.stdout.splitlines() if "profile (" in text][0]
    assert "ms of op time per step" in line and "ResourceApplyAdam" in line  # the fused optimizer's op
    assert os.listdir(os.path.join(tmp_path, "unsupervised_xla_off_float32", "plugins", "profile"))


def test_a_step_compiled_with_xla_is_summed_by_xla_operations(tmp_path):
    a, b = tf.ones([48, 64]), tf.ones([64, 32])
    step = tf.function(lambda: tf.reduce_sum(tf.nn.relu(tf.matmul(a, b))), jit_compile=True)
    step()
    profiling.trace(step, 5, str(tmp_path))
    seconds = profiling.op_seconds_by_type(str(tmp_path))
    assert sum(seconds.values()) > 0
    assert not any(op.startswith("_Mkl") or "::" in op or op[-1].isdigit() for op in seconds)  # XLA's, unnumbered
