"""The processor's description, and the execution settings a run takes from it."""

from aae_tf import hardware

# Four CPUs (a few lines each from /proc/cpuinfo, shortened) and a machine with no /proc/cpuinfo at all.
AMD_BF16 = ("processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC\n"
            "flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni\n")
INTEL_AMX = ("vendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Processor\n"
             "flags\t\t: avx2 avx512f avx512_bf16 amx_bf16 amx_tile amx_int8\n")
INTEL_BF16_NO_AMX = ("vendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Processor\n"
                     "flags\t\t: avx2 avx512f avx512_bf16 avx512_fp16 avx_vnni\n")
NO_BF16 = "vendor_id\t: AuthenticAMD\nmodel name\t: Some CPU\nflags\t\t: fpu sse2 avx2 avx512f avx512_vnni bf16x\n"


def test_bfloat16_is_the_default_only_where_it_was_measured_faster():
    assert hardware.bfloat16_is_faster(AMD_BF16)
    assert hardware.bfloat16_is_faster(INTEL_AMX)
    # An Intel Xeon whose virtual machine hides AMX: its bfloat16 step took 1.8x float32's (docs/benchmarks.md).
    assert not hardware.bfloat16_is_faster(INTEL_BF16_NO_AMX)
    assert not hardware.bfloat16_is_faster(NO_BF16)  # whole flags only: bf16x is not avx512_bf16
    assert not hardware.bfloat16_is_faster("")


def test_cpu_model_names_the_processor():
    assert hardware.cpu_model(AMD_BF16) == "AMD EPYC"
    assert hardware.cpu_model(INTEL_AMX) == "Intel(R) Xeon(R) Processor"
    assert hardware.cpu_model("") == "unknown CPU"


def test_missing_cpuinfo_reads_as_empty(tmp_path):
    assert hardware.read_cpuinfo(str(tmp_path / "absent")) == ""
    (tmp_path / "cpuinfo").write_text(AMD_BF16)
    assert hardware.read_cpuinfo(str(tmp_path / "cpuinfo")) == AMD_BF16


def test_execution_defaults():
    bf16 = {"precision": "mixed_bfloat16", "jit_compile": False}
    f32 = {"precision": "float32", "jit_compile": True}
    assert hardware.execution_defaults(AMD_BF16, has_gpu=False) == bf16
    assert hardware.execution_defaults(INTEL_AMX, has_gpu=False) == bf16
    assert hardware.execution_defaults(NO_BF16, has_gpu=False) == f32
    assert hardware.execution_defaults(INTEL_BF16_NO_AMX, has_gpu=False) == f32
    assert hardware.execution_defaults(AMD_BF16, has_gpu=True) == f32  # a GPU trains in float32 with XLA
    # A precision the command names keeps it; XLA follows it (on for float32, off for bfloat16 on a CPU).
    assert hardware.execution_defaults(AMD_BF16, False, precision="float32") == f32
    assert hardware.execution_defaults(NO_BF16, False, precision="mixed_bfloat16") == bf16
    assert hardware.execution_defaults(NO_BF16, True, precision="mixed_bfloat16") == {
        "precision": "mixed_bfloat16", "jit_compile": True}
