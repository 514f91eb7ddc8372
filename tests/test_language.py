"""Language features beyond the catalogue's numeric checks: constexpr specialisation, dynamic shared
memory limits, alignment, generated code properties.  (Numeric results of these features are in the
catalogue, tests/kernels.py, on every tier.)"""

import operator

import numpy as np
import pytest

import jitkit as jk
from conftest import gpu

F32 = jk.Array(jk.float32, 1, "C")


@jk.jit
def scale(x, out, k: jk.constexpr, op: jk.constexpr):
    i = jk.grid(1)
    if i < x.size:
        out[i] = op(x[i], k)


@pytest.mark.parametrize("target", ["sim", pytest.param("gpu", marks=gpu)])
def test_constexpr_values_each_compile_and_alternate(target, rng):
    """Alternating values must never reuse the other value's specialisation (incl. the fast path)."""
    k = scale.with_target(target)
    x = rng.random(257).astype(np.float32)
    for _ in range(3):
        for c, op in ((2, operator.mul), (3, operator.mul), (2.5, operator.add), (True, operator.add)):
            out = np.zeros_like(x)
            k[3, 128](x, out, c, op)
            np.testing.assert_allclose(out, op(x, np.float32(c)), rtol=1e-6)


def test_constexpr_signature_types():
    r = scale.compile((np.zeros(3, np.float32), np.zeros(3, np.float32), 2, operator.add), arch="sm_90")
    assert r.argtypes[2] is jk.Literal.of(2) and r.argtypes[2] is not jk.Literal.of(2.0)
    assert r.argtypes[3] is jk.Literal.of(operator.add)
    # a constexpr passes no kernel parameter: the PTX entry has only the two arrays' slots
    ptx = r.stage("ptx")
    entry = ptx[ptx.index(".entry"):ptx.index(")", ptx.index(".entry"))]
    assert entry.count(".param") == 4, entry       # (pointer, extent) x 2


def test_constexpr_bad_value_is_type_error():
    with pytest.raises(TypeError, match="argument 2 \\('k'\\) of scale is jk.constexpr"):
        scale.with_target("sim")[1, 32](np.zeros(3, np.float32), np.zeros(3, np.float32), [1], operator.add)
    with pytest.raises(TypeError, match="jk.constexpr"):
        scale.with_target("sim")[1, 32](np.zeros(3, np.float32), np.zeros(3, np.float32), {"a": 1}, operator.add)
    # a str is a valid constexpr (a mode name); used as a number it is a located compile error
    with pytest.raises(jk.UnsupportedError, match="str constants are compile-time values only"):
        scale.with_target("sim")[1, 32](np.zeros(3, np.float32), np.zeros(3, np.float32), "a", operator.add)


def test_constexpr_function_values_key_the_disk_cache(tmp_path, monkeypatch):
    """Two different @jit functions passed as the same constexpr parameter compile separately."""
    @jk.jit
    def plus1(a):
        return a + 1

    @jk.jit
    def plus2(a):
        return a + 2

    @jk.jit
    def apply(x, f: jk.constexpr):
        i = jk.grid(1)
        if i < x.size:
            x[i] = f(x[i])

    monkeypatch.setenv("JITKIT_CACHE_DIR", str(tmp_path))
    sig1 = (F32, jk.Literal.of(plus1))
    sig2 = (F32, jk.Literal.of(plus2))
    r1, r2 = apply.compile(sig1, arch="sm_90"), apply.compile(sig2, arch="sm_90")
    assert r1.cubin != r2.cubin
    again = jk.jit(apply.py_func).compile(sig2, arch="sm_90")     # fresh dispatcher: from the disk cache
    assert again.from_disk and again.cubin == r2.cubin
    # same qualname, different body: different key
    from jitkit.build.cachekey import values_key
    ns = {}
    exec("import jitkit as jk\n@jk.jit\ndef plus1(a):\n    return a + 3\n", ns)
    assert values_key([ns["plus1"]]) != values_key([plus1])


def test_string_annotation_constexpr():
    ns = {}
    src = ("from __future__ import annotations\nimport jitkit as jk\n"
           "def k(x, n: jk.constexpr):\n    i = jk.grid(1)\n    if i < x.size:\n        x[i] = n\n")
    path = "/tmp/_jitkit_strann.py"
    with open(path, "w") as f:
        f.write(src)
    exec(compile(src, path, "exec"), ns)
    k = jk.jit(ns["k"])
    x = np.zeros(5, np.int64)
    k.with_target("sim")[1, 32](x, 7)
    assert (x == 7).all()


@jk.jit
def aligned(x):
    a = jk.shared.array(3, jk.uint8, align=128)
    b = jk.local.array(4, jk.float32, align=16)
    t = jk.threadIdx.x
    if t < 3:
        a[t] = jk.uint8(t)
    jk.syncthreads()
    for k in range(4):
        b[k] = x[k]
    x[t % 4] = b[(t + 1) % 4] + a[t % 3]


def test_alignment_reaches_ptx():
    ptx = aligned.inspect_ptx((F32,), arch="sm_90")
    assert ".align 128 .b8" in ptx, ptx


def test_dynamic_shared_is_extern_in_ptx():
    from kernels import dyn_reverse
    ptx = dyn_reverse.inspect_ptx((F32, jk.Array(jk.float32, 2, "C"), jk.Array(jk.int64, 1, "C")), arch="sm_90")
    assert ".extern .shared .align 16 .b8 __jitkit_dynamic_shared[]" in ptx
    assert "%dynamic_smem_size" in ptx


@gpu
def test_dynamic_shared_over_device_limit_is_launch_error():
    from kernels import dyn_reverse
    x = np.zeros(64, np.float32)
    with pytest.raises(jk.LaunchError, match="exceed the device's .* bytes per block for kernel dyn_reverse"):
        dyn_reverse[1, 64, 0, 1 << 20](x, np.zeros((64, 2), np.float32), np.zeros(2, np.int64))
    dyn_reverse[1, 64, 0, 256](x, np.zeros((64, 2), np.float32), np.zeros(2, np.int64))   # still usable


# ------------------------------------------------------------------ print
@jk.jit
def chatty(x):
    i = jk.grid(1)
    if i < x.size:
        print("thread", i, "x =", x[i], x[i] > 1, (i, jk.int8(-3)), "100%", sep=" ", end=";\n")


CHATTY_LINES = ["thread 0 x = 0.5 False (0, -3) 100%;", "thread 1 x = 1.5 True (1, -3) 100%;",
                "thread 2 x = 3 True (2, -3) 100%;"]


def test_print_on_simulator(capsys):
    chatty.with_target("sim")[1, 32](np.array([0.5, 1.5, 3.0], np.float32))
    assert capsys.readouterr().out.splitlines() == CHATTY_LINES


@gpu
def test_print_on_gpu(capfd):
    chatty.with_target("gpu")[1, 32](np.array([0.5, 1.5, 3.0], np.float32))
    jk.synchronize()
    assert sorted(capfd.readouterr().out.splitlines()) == CHATTY_LINES


# ------------------------------------------------------------------ debug mode
def _bounds(x, out):
    i = jk.grid(1)
    assert x[0] >= 0, "x[0] must be non-negative"
    if i < out.size:
        out[i] = x[i + 1]     # the last thread reads one past the end


bounds_debug = jk.jit(debug=True)(_bounds)
bounds_plain = jk.jit(_bounds)


@pytest.mark.parametrize("target", ["sim", pytest.param("gpu", marks=gpu)])
def test_debug_reports_out_of_bounds_with_thread_and_line(target):
    x = np.arange(10, dtype=np.float32)
    out = np.zeros(10, np.float32)
    with pytest.raises(IndexError) as info:
        bounds_debug.with_target(target)[1, 32](x, out)
    text = str(info.value)
    assert "index 10 is out of bounds for axis 0 with size 10 in kernel _bounds" in text, text
    assert "thread (9, 0, 0)" in text and "block (0, 0, 0)" in text
    assert "out[i] = x[i + 1]" in text and f"line {_bounds.__code__.co_firstlineno + 4}" in text


@pytest.mark.parametrize("target", ["sim", pytest.param("gpu", marks=gpu)])
def test_debug_assert_raises_on_host_and_process_stays_usable(target):
    x = np.arange(10, dtype=np.float32)
    x[0] = -1
    with pytest.raises(AssertionError, match="x\\[0\\] must be non-negative in kernel _bounds, block \\(0, 0, 0\\)"):
        bounds_debug.with_target(target)[1, 8](x, np.zeros(8, np.float32))
    out = np.zeros(8, np.float32)
    bounds_debug.with_target(target)[1, 8](np.arange(10, dtype=np.float32), out)   # no error this time
    np.testing.assert_array_equal(out, np.arange(1, 9, dtype=np.float32))


def test_asserts_cost_nothing_without_debug():
    sig = (F32, F32)
    assert "__jitkit_fail" not in bounds_plain.inspect_ir(sig, arch="sm_90")
    assert "__jitkit_fail" in bounds_debug.inspect_ir(sig, arch="sm_90")
    assert bounds_debug.compile(sig, arch="sm_90").sites


# ------------------------------------------------------------------ compile options
def test_lineinfo_maps_ptx_to_python_lines():
    k = jk.jit(lineinfo=True)(_bounds)
    ptx = k.inspect_ptx((F32, F32), arch="sm_90")
    assert ".file" in ptx and "test_language.py" in ptx
    line = _bounds.__code__.co_firstlineno + 4
    assert f"\t.loc\t1 {line} " in ptx, ptx
    assert ".loc" not in bounds_plain.inspect_ptx((F32, F32), arch="sm_90")


def test_max_registers_caps_the_register_count():
    from kernels import CASE_BY_NAME
    c = CASE_BY_NAME["warp-intrinsics-float64"]
    sig = tuple(c.make(np.random.default_rng(0)))
    free = jk.jit(c.kernel.py_func).inspect_resources(sig, arch="sm_90")["registers"]
    capped = jk.jit(max_registers=24)(c.kernel.py_func).inspect_resources(sig, arch="sm_90")["registers"]
    assert free > 24 >= capped, (free, capped)


@pytest.mark.parametrize("options,error", [({"max_registers": 8}, ValueError), ({"opt": 5}, ValueError),
                                           ({"fastmath": 1}, TypeError), ({"debug": "yes"}, TypeError)])
def test_bad_options(options, error):
    with pytest.raises(error, match="jit option"):
        jk.jit(**options)(_bounds)


def _fast_div(x, y, out):
    i = jk.grid(1)
    if i < x.size:
        out[i] = jk.float32(1.0) / x[i] + y[i] / x[i] - jk.float32(3.0) * x[i] * x[i]


def test_fastmath_reaches_the_linker():
    """With LTO, nvJitLink generates the code: fastmath must reach it (no IEEE division subroutine)."""
    sig = (F32, F32, F32)
    precise = jk.jit(_fast_div).inspect_sass(sig, arch="sm_90")
    fast = jk.jit(fastmath=True)(_fast_div).inspect_sass(sig, arch="sm_90")
    assert "CALL" in precise and "CALL" not in fast
    assert "MUFU.RCP" in fast


@pytest.mark.parametrize("target", ["sim", pytest.param("gpu", marks=gpu)])
def test_fastmath_results_within_approximation_error(target, rng):
    x = rng.uniform(0.5, 2.0, 4099).astype(np.float32)
    y = rng.uniform(-2.0, 2.0, 4099).astype(np.float32)
    out = np.zeros_like(x)
    jk.jit(fastmath=True, target=target)(_fast_div)[33, 128](x, y, out)
    xd, yd = x.astype(np.float64), y.astype(np.float64)
    np.testing.assert_allclose(out, 1 / xd + yd / xd - 3 * xd * xd, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------ inline PTX
def _brev_np(v):
    v = v.astype(np.uint32)
    out = np.zeros_like(v)
    for b in range(32):
        out |= ((v >> np.uint32(b)) & np.uint32(1)) << np.uint32(31 - b)
    return out


def _no_op():
    return None


@jk.jit
def bit_reverse(x, out):
    i = jk.grid(1)
    if i < x.size:
        out[i] = jk.asm("brev.b32 $0, $1;", "=r,r", jk.uint32, x[i], sim=_brev_np)
        jk.asm("membar.cta;", "", None, sim=_no_op)


@pytest.mark.parametrize("target", ["sim", pytest.param("gpu", marks=gpu)])
def test_inline_ptx(target, rng):
    x = rng.integers(0, 2 ** 32, 1000, dtype=np.uint64).astype(np.uint32)
    out = np.zeros_like(x)
    bit_reverse.with_target(target)[8, 128](x, out)
    np.testing.assert_array_equal(out, _brev_np(x))
    assert "brev.b32" in bit_reverse.inspect_ptx((x, out), arch="sm_90")


def test_inline_ptx_without_sim_fallback_explains():
    @jk.jit
    def raw(x):
        x[0] = jk.asm("mov.u32 $0, %clock;", "=r", jk.uint32)
    with pytest.raises(NotImplementedError, match="inline PTX, which the CPU simulator cannot run"):
        raw.with_target("sim")[1, 1](np.zeros(1, np.uint32))


# ------------------------------------------------------------------ cooperative launch
@gpu
def test_cooperative_grid_too_large_is_launch_error():
    from kernels import grid_rotate
    x = np.zeros(10, np.int64)
    limit = grid_rotate.max_cooperative_blocks((x, x, 1), 1024)
    assert limit >= jk.runtime.driver.current_device().limits["multiprocessors"]
    with pytest.raises(jk.LaunchError, match="uses jk.grid_sync\\(\\), so all its blocks must be resident"):
        grid_rotate[limit + 1, 1024](x, np.zeros(10, np.int64), 1)
    grid_rotate[2, 32](x, np.zeros(10, np.int64), 1)   # still usable


def test_partial_grid_sync_is_reported_on_the_simulator():
    @jk.jit
    def bad(x):
        i = jk.grid(1)
        if i < 40:
            jk.grid_sync()
        x[i] = 1
    with pytest.raises(jk.BarrierError, match="grid_sync\\(\\) in kernel .*bad was reached by only part of the grid"):
        bad.with_target("sim")[2, 32](np.zeros(64, np.int32))


# ------------------------------------------------------------------ bfloat16
from kernels import BF16  # NumPy storage for bfloat16 (ml_dtypes), or None
needs_bf16 = pytest.mark.skipif(BF16 is None, reason="ml_dtypes is not installed")


def _exact_bf16_bits(x: float) -> int:
    """Independent reference: the nearest bfloat16 by exact rational distance, ties to even."""
    from fractions import Fraction
    import math
    if math.isnan(x):
        return 0x7FC0
    best = None
    lo_bits = int(np.array([x], np.float32).view(np.uint32)[0] >> 16) if abs(x) < 3.4e38 else 0x7F7F
    sign = 0x8000 if math.copysign(1, x) < 0 else 0
    mag = lo_bits & 0x7FFF
    for m in {max(mag - 1, 0), mag, min(mag + 1, 0x7F80), min(mag + 2, 0x7F80)}:
        v = float(np.array([(m | sign) << 16], np.uint32).view(np.float32)[0])
        if math.isinf(v):   # +-inf wins when |x| reaches the halfway point beyond the largest finite value
            limit = Fraction(2) ** 128 - Fraction(2) ** 119   # halfway between 0x7F7F (2**128 - 2**120) and 2**128
            if abs(Fraction(x)) >= limit:
                return 0x7F80 | sign
            continue
        dist = abs(Fraction(x) - Fraction(v))
        key = (dist, m & 1)
        if best is None or key < best[0]:
            best = (key, m | sign)
    return best[1]


@needs_bf16
def test_bf16_rounding_is_correct_against_exact_arithmetic(rng):
    xs = np.concatenate([
        rng.standard_normal(3000) * 2.0 ** rng.integers(-140, 126, 3000),       # the whole range, subnormals
        1 + rng.integers(0, 2 ** 20, 1000) * 2.0 ** -28,                         # near halfway points
        np.array([1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -8 + 2 ** -30, 16842753.0, -0.0, 3.3961e38, 3.39e38,
                  2.0 ** -134, 1.5 * 2.0 ** -133, float(2 ** 53 + 1)])])
    got = jk.types.bf16_bits(xs)
    want = np.array([_exact_bf16_bits(float(x)) for x in xs], np.uint16)
    np.testing.assert_array_equal(got, want)
    assert jk.bfloat16(1 + 2 ** -8 + 2 ** -30) == 1.0078125     # ml_dtypes' own cast would give 1.0
    assert np.asarray(jk.bfloat16(2.5)).dtype == BF16


@needs_bf16
def test_bf16_promotion_and_typing():
    @jk.jit
    def mix(x, y16, f, out32, outbf):
        i = jk.grid(1)
        out32[i] = x[i] + y16[i]                           # bfloat16 + float16 -> float32
        outbf[i] = x[i] * 2 + jk.int8(1) if f else x[i]    # weak literal and int8 keep bfloat16
    x = np.array([1.5, -2.25], BF16)
    out32, outbf = np.zeros(2, np.float32), np.zeros(2, BF16)
    args = (x, np.array([0.5, 1.0], np.float16), True, out32, outbf)
    mix.with_target("sim")[1, 2](*args)
    assert out32.tolist() == [2.0, -1.25] and outbf.astype(np.float32).tolist() == [4.0, -3.5]
    stores = [s for s in mix.inspect_types(args).body if type(s).__name__ == "Store"]
    assert [s.value.type.name for s in stores] == ["float32", "bfloat16"]
    assert jk.types.promote(jk.bfloat16, jk.int16) is jk.float32
    assert jk.types.promote(jk.bfloat16, jk.int32) is jk.float64
    assert jk.types.promote(jk.bfloat16, jk.uint8) is jk.bfloat16
    assert jk.types.promote(jk.bfloat16, jk.float16) is jk.float32
    assert jk.types.promote(jk.bfloat16, jk.float64) is jk.float64


def test_bf16_unsupported_uses_are_located_errors():
    @jk.jit
    def bad_shfl(x):
        x[0] = jk.shfl_sync(0xFFFFFFFF, x[0] * 1j, 0).real

    @jk.jit
    def bad_atomic(x):
        jk.atomic.max(x, 0, x[1])
    sig = (jk.Array(jk.bfloat16, 1, "C"),)
    with pytest.raises(jk.TypingError, match="needs real arguments, got complex128"):
        bad_shfl.compile(sig, arch="sm_90")
    with pytest.raises(jk.TypingError, match="atomic.max.* is not supported on bfloat16 arrays"):
        bad_atomic.compile(sig, arch="sm_90")


@gpu
@needs_bf16
@pytest.mark.parametrize("device", ["cuda", "cpu"])
def test_bf16_torch_tensors(device):
    """CUDA tensors pass zero-copy; CPU tensors are staged like NumPy arrays (through their bits)."""
    torch = pytest.importorskip("torch")

    @jk.jit
    def double(x, out):
        i = jk.grid(1)
        if i < x.size:
            out[i] = x[i] * 2 + 0.25

    x = torch.tensor([1.0, -3.5, 100.0], dtype=torch.bfloat16, device=device)
    out = torch.zeros(3, dtype=torch.bfloat16, device=device)
    double[1, 32](x, out)
    jk.synchronize()
    assert out.cpu().tolist() == [2.25, -6.75, 200.0]


def test_bf16_compiles_without_host_values():
    """bfloat16 kernels compile from types alone: the GPU path needs no ml_dtypes."""
    @jk.jit
    def axpy(a, x, y):
        i = jk.grid(1)
        if i < x.size:
            y[i] = a * x[i] + y[i]
    bf = jk.Array(jk.bfloat16, 1, "C")
    res = axpy.compile((jk.bfloat16, bf, bf), arch="sm_90")
    ptx = axpy.inspect_ptx((jk.bfloat16, bf, bf), arch="sm_90")
    assert res.cubin[:4] == b"\x7fELF"
    assert ".param .b16" in ptx or ".param .u16" in ptx, "bfloat16 travels as its 16-bit pattern"


def test_bf16_without_ml_dtypes_compiles_and_explains(tmp_path):
    """Without ml_dtypes bfloat16 kernels still compile; host-side uses name the missing package."""
    import subprocess
    import sys
    code = """
import sys
sys.modules["ml_dtypes"] = None          # as if not installed
import jitkit as jk
bf = jk.Array(jk.bfloat16, 1, "C")

@jk.jit
def neg(x):
    x[0] = -x[0]

assert neg.compile((bf,), arch="sm_90").cubin[:4] == b"\\x7fELF"
try:
    jk.bfloat16(1.5)
except ImportError as e:
    print("ImportError:", e)
"""
    script = tmp_path / "no_ml_dtypes.py"
    script.write_text(code)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "needs the ml_dtypes package: pip install ml_dtypes" in out.stdout


@jk.jit
def match_small(x, any_out, all_out):
    i = jk.grid(1)
    any_out[i] = jk.match_any_sync(0xFFFFFFFF, x[i])
    m, same = jk.match_all_sync(0xFFFFFFFF, x[i])
    all_out[i] = same


@pytest.mark.parametrize("target", ["sim", pytest.param("gpu", marks=gpu)])
@pytest.mark.parametrize("dtype", ["int8", "uint16", "float16", "bool"])
def test_match_on_narrow_types(target, dtype):
    """8/16-bit values and bools are matched through their widened 32-bit pattern."""
    x = (np.arange(32) % 3).astype(dtype)
    any_out, all_out = np.zeros(32, np.uint32), np.zeros(32, np.bool_)
    match_small.with_target(target)[1, 32](x, any_out, all_out)
    want = [sum(1 << j for j in range(32) if x[j] == x[i]) for i in range(32)]
    np.testing.assert_array_equal(any_out, np.array(want, np.uint32))
    assert not all_out.any()


@jk.jit
def apply_op(x, op: jk.constexpr):
    i = jk.grid(1)
    if i < x.size:
        x[i] = op(x[i], 1.0)


TWO_LAMBDAS = (jk.jit(lambda a, b: a * 10 + b), jk.jit(lambda a, b: a - b))
SPLIT_LAMBDA = jk.jit(
    lambda a, b:
        a + b * 100)
BAD_LAMBDA = jk.jit(lambda a, b: a + "s")


def test_lambdas_compile_as_device_functions():
    x = np.ones(5, np.float32)
    apply_op.with_target("sim")[1, 32](x, TWO_LAMBDAS[1])     # two lambdas on one line: told apart
    np.testing.assert_array_equal(x, 0)
    apply_op.with_target("sim")[1, 32](x, TWO_LAMBDAS[0])
    np.testing.assert_array_equal(x, 1)
    apply_op.with_target("sim")[1, 32](x, SPLIT_LAMBDA)       # a lambda over several lines
    np.testing.assert_array_equal(x, 101)
    with pytest.raises(jk.UnsupportedError) as e:
        apply_op.with_target("sim")[1, 32](x, BAD_LAMBDA)
    msg = str(e.value)
    assert "in <lambda>" in msg and 'BAD_LAMBDA = jk.jit(lambda a, b: a + "s")' in msg
    f32 = jk.Array(jk.float32, 1, "C")
    assert apply_op.compile((f32, jk.Literal.of(TWO_LAMBDAS[0])), arch="sm_90").cubin[:4] == b"\x7fELF"


@jk.jit
def atomic_load_kernel(x, out):
    i = jk.grid(1)
    if i < x.size:
        out[i] = jk.atomic.load(x, i) + 1


def test_atomic_load():
    x = np.arange(40, dtype=np.int64)
    out = np.zeros_like(x)
    atomic_load_kernel.with_target("sim")[2, 32](x, out)
    np.testing.assert_array_equal(out, x + 1)
    a = jk.Array(jk.uint64, 1, "C")
    assert "ld.volatile.global.u64" in atomic_load_kernel.inspect_ptx((a, a), arch="sm_90")
    with pytest.raises(jk.TypingError, match=r"takes \(array, index\)"):
        jk.jit(lambda x: jk.atomic.load(x, 0, 1)).compile((a,), arch="sm_90")
