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
    from jitkit.runtime.cachekey import values_key
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
