"""Lowering decisions that matter, checked on the IR/PTX/SASS without a GPU."""

import math
import re

import numpy as np
import pytest

import jitkit as jk
from jitkit.build import toolchain

F32 = jk.Array(jk.float32, 1, "C")
F64 = jk.Array(jk.float64, 1, "C")


@jk.jit
def saxpy(a, x, y, out):
    i = jk.grid(1)
    if i < x.size:
        out[i] = a * x[i] + y[i] * 2.0 + 1


@jk.jit
def f32_math(x, out):
    i = jk.grid(1)
    if i < x.size:
        s = 0
        for k in range(4):
            s += x[i] * 0.5 + k
        out[i] = max(s, 1.0) + abs(x[i])


def _f64_ops(ptx: str):
    return [ln for ln in ptx.splitlines() if re.search(r"\.f64\b", ln)]


@pytest.mark.parametrize("kernel", [saxpy, f32_math], ids=["saxpy", "f32_math"])
def test_float32_kernel_emits_no_f64(kernel):
    sig = (jk.float32, F32, F32, F32) if kernel is saxpy else (F32, F32)
    ptx = kernel.inspect_ptx(sig, arch="sm_90")
    assert "fma.rn.f32" in ptx or "add.f32" in ptx or "add.rn.f32" in ptx
    assert _f64_ops(ptx) == [], "float32 kernel uses f64: " + "\n".join(_f64_ops(ptx)[:5])


def test_python_float_scalar_is_float64():
    # like numba: a Python float argument is float64, so the arithmetic is f64
    ptx = saxpy.inspect_ptx((jk.float64, F32, F32, F32), arch="sm_90")
    assert _f64_ops(ptx)


def test_ir_verifies_and_kernel_is_annotated():
    ir_text = saxpy.inspect_ir((jk.float32, F32, F32, F32), arch="sm_90")
    toolchain.verify(ir_text, "sm_90")
    assert 'target triple = "nvptx64-nvidia-cuda"' in ir_text
    assert '!"kernel", i32 1' in ir_text and '@"llvm.used" = appending global' in ir_text
    assert "!nvvmir.version" in ir_text


def test_compile_ahead_of_time_for_several_archs():
    for arch in ("sm_80", "sm_90", "sm_100"):
        r = saxpy.compile((jk.float32, F32, F32, F32), arch=arch)
        assert r.arch == arch and r.cubin[:4] == b"\x7fELF"
    with pytest.raises(ValueError, match="bad GPU architecture"):
        saxpy.compile((jk.float32, F32, F32, F32), arch="volta")


def test_signature_from_example_arguments():
    x = np.zeros(5, np.float32)
    r = saxpy.compile((np.float32(1), x, x, x), arch="sm_90")
    assert r.argtypes == (jk.float32, F32, F32, F32)
    from jitkit.runtime.interop import type_of
    assert type_of(np.zeros((4, 3), order="F")) == jk.Array(jk.float64, 2, "F")
    assert type_of(np.zeros((4, 3))[:, ::2]) == jk.Array(jk.float64, 2, "C")  # numpy views travel as copies
    assert type_of((1, 2.0, np.int8(3))) == jk.Tuple((jk.int64, jk.float64, jk.int8))
    assert jk.float32 in [t for s in saxpy.signatures for t in s]


def test_sass_disassembly():
    try:
        sass = saxpy.inspect_sass((jk.float32, F32, F32, F32), arch="sm_90")
    except jk.ToolchainError as exc:
        pytest.skip(str(exc))
    assert "FFMA" in sass or "FMUL" in sass


@jk.jit
def typed(x, i32, u8):
    a = i32 + 1                  # weak literal keeps int32
    b = x * 2.0                  # keeps float32
    c = i32 * u8                 # numpy promotion: int32
    d = i32 / 2                  # true division of ints: float64
    e = u8 + i32 * 1.5           # int32 * weak float: float64
    f = 0
    f += x                       # unified with float32
    g = i32 < u8
    h = -u8                      # stays uint8
    return a, b, c, d, e, f, g, h


def test_typing_rules_nep50():
    tys = typed.inspect_types((jk.float32, jk.int32, jk.uint8), arch="sm_90").return_type.types
    assert tys == (jk.int32, jk.float32, jk.int32, jk.float64, jk.float64, jk.float32, jk.boolean, jk.uint8)


@jk.jit
def no_wrap_on_constant_index(x, out):
    out[0] = x[3]


def test_constant_nonnegative_index_has_no_wraparound():
    ir_text = no_wrap_on_constant_index.inspect_ir((F32, F32), arch="sm_90")
    assert "icmp slt" not in ir_text


@jk.jit
def powers(x, out):
    i = jk.grid(1)
    if i < x.size:
        out[i] = x[i] ** 2 + x[i] ** 2.0


def test_square_is_a_multiply_not_pow():
    ptx = powers.inspect_ptx((F32, F32), arch="sm_90")
    assert "__nv_pow" not in ptx and "lg2" not in ptx


def test_stages_are_named_and_inspectable():
    r = saxpy.compile((jk.float32, F32, F32, F32), arch="sm_90")
    from jitkit.build.pipeline import STAGES
    assert STAGES == ("typed", "nvvm", "ltoir", "cubin", "ptx")
    assert r.stage("nvvm").startswith("; ModuleID")
    assert isinstance(r.stage("ltoir"), bytes) and len(r.stage("ltoir")) > 0
    assert ".entry" in r.stage("ptx")
    with pytest.raises(ValueError):
        r.stage("sass2")


def test_toolchain_versions():
    v = toolchain.versions()
    assert v["libnvvm"] != "?" and v["nvjitlink"] != "?" and v["libdevice"].endswith(".bc")


def _div_sqrt(x, out):
    i = jk.grid(1)
    if i < x.size:
        out[i] = math.sqrt(x[i]) / (x[i] + 1.0)


def test_fastmath_uses_approximate_division_and_sqrt():
    precise = jk.jit(_div_sqrt).inspect_ptx((F32, F32), arch="sm_90")
    fast = jk.jit(fastmath=True)(_div_sqrt).inspect_ptx((F32, F32), arch="sm_90")
    assert "div.rn.f32" in precise and "sqrt.rn.f32" in precise
    assert "div.rn.f32" not in fast and "sqrt.rn.f32" not in fast
    assert "sqrt.approx" in fast and ("div.approx" in fast or "div.full" in fast)


@jk.jit
def half_tile_sum(x, out):
    """Eight neighbouring float16 loads from shared memory, summed in order."""
    s = jk.shared.array(8, x.dtype)
    if jk.threadIdx.x < 8:
        s[jk.threadIdx.x] = x[jk.threadIdx.x]
    jk.syncthreads()
    t = s[0]
    for w in range(1, 8):
        t = t + s[w]
    out[jk.threadIdx.x] = t


def test_neighbouring_float16_loads_compile():
    """libNVVM merges neighbouring half loads into <8 x half> and then rejects its own IR
    ("unsupported operation"); jitkit moves float16 elements through i16 so they stay scalar."""
    h = jk.Array(jk.float16, 1, "C")
    ptx = half_tile_sum.inspect_ptx((h, h), arch="sm_90")
    assert ptx.count("ld.shared") == 8 and "add.f16" in ptx
    x = np.arange(8, dtype=np.float16) * np.float16(0.5)
    out = np.zeros(32, np.float16)
    half_tile_sum.with_target("sim")[1, 32](x, out)
    assert (out == np.float16(14.0)).all()
