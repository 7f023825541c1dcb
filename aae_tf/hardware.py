"""What this machine's processor is, and the step's execution settings that suit it (no TensorFlow import).

Measured in docs/benchmarks.md on three CPUs with bfloat16 instructions: on an Intel Xeon with AMX and on
an AMD EPYC with AVX512_BF16, Keras's mixed bfloat16 policy without XLA trains 1.25-1.5x faster than
float32 with XLA, with the same results (XLA's CPU backend does not use the bfloat16 units, so bfloat16
goes without it); on an Intel Xeon whose virtual machine shows AVX512_BF16 but not AMX, the same bfloat16
step takes 1.8x as long as float32 with XLA. So bfloat16 is the default only where it was measured
faster (AMX, or AVX512_BF16 on AMD). Everywhere else (and on a GPU, where ``mixed_float16`` may well be
faster but has not been measured here) float32 with XLA stays the default.
"""

CPUINFO = "/proc/cpuinfo"
# Where the mixed bfloat16 step was measured faster than float32 with XLA: (/proc/cpuinfo vendor_id, or None
# for any vendor; a flag naming x86 bfloat16 arithmetic that oneDNN uses). Arm's bf16 is not measured yet.
FAST_BFLOAT16 = ((None, "amx_bf16"), ("AuthenticAMD", "avx512_bf16"))


def read_cpuinfo(path=CPUINFO):
    """The text of ``path`` (Linux's /proc/cpuinfo), or "" where there is none (another system)."""
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def cpu_model(cpuinfo):
    """The processor's model name in ``cpuinfo`` (to print beside every speed figure)."""
    return _first_cpu(cpuinfo, "model name") or "unknown CPU"


def _first_cpu(cpuinfo, key):
    """The value of ``key`` for the first CPU in ``cpuinfo``, or "" where it has none."""
    for line in cpuinfo.splitlines():
        name, _, value = line.partition(":")
        if name.strip() == key:
            return value.strip()
    return ""


def bfloat16_is_faster(cpuinfo):
    """Whether ``cpuinfo``'s first CPU is of a kind where mixed bfloat16 was measured faster than float32
    with XLA (whole flags only: ``bf16x`` is not ``avx512_bf16``)."""
    vendor, flags = _first_cpu(cpuinfo, "vendor_id"), _first_cpu(cpuinfo, "flags").split()
    return any(flag in flags and want in (None, vendor) for want, flag in FAST_BFLOAT16)


def execution_defaults(cpuinfo, has_gpu, precision=None):
    """The precision and XLA setting of a run whose command leaves them to the machine.

    Args:
      cpuinfo: the text of /proc/cpuinfo ("" where there is none).
      has_gpu: whether TensorFlow sees a GPU.
      precision: the precision the command names, or None to choose it here.

    Returns:
      {"precision": str, "jit_compile": bool}: ``mixed_bfloat16`` on a CPU where it was measured faster
      (``bfloat16_is_faster``) and no GPU, ``float32`` otherwise; XLA on for float32 or on a GPU, off for
      bfloat16 on a CPU (XLA's CPU backend computes bfloat16 without the bfloat16 units, slower than
      float32).
    """
    if precision is None:
        precision = "mixed_bfloat16" if bfloat16_is_faster(cpuinfo) and not has_gpu else "float32"
    return {"precision": precision, "jit_compile": has_gpu or precision == "float32"}
