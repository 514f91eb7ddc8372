"""Linking foreign device code (CUDA C++, PTX, LTO-IR, cubin, fatbin) and exporting jitkit functions."""

import numpy as np
import pytest

import jitkit as jk
from conftest import gpu
from jitkit import CompileError, ToolchainError, TypingError


def _have_nvrtc():
    try:
        from cuda.bindings import nvrtc
        return nvrtc.nvrtcVersion()[0] == nvrtc.nvrtcResult.NVRTC_SUCCESS
    except Exception:  # noqa: BLE001
        return False


needs_nvrtc = pytest.mark.skipif(not _have_nvrtc(), reason="NVRTC not installed (cuda-toolkit[nvrtc])")

CU = r'''
extern "C" __device__ float cube(float x) { return x * x * x; }
extern "C" __device__ void bump(int* p, int n) { for (int k = 0; k < n; ++k) p[k] += k + 1; }
'''


@jk.jit
def fma3(a, b, c):
    return a * b + c


f3 = jk.declare_device("fma3", "float32(float32, float32, float32)", sim=lambda a, b, c: a * b + c)
cube = jk.declare_device("cube", "float32(float32)", sim=lambda x: x * x * x)
bump = jk.declare_device("bump", "void(int32*, int32)")


def _kernel(files):
    @jk.jit(link=files)
    def linked(x, cnt):
        i = jk.grid(1)
        if i < x.size:
            x[i] = f3(cube(x[i]), 2.0, 1.0)
        if i == 0:
            bump(cnt, cnt.size)
    return linked


def _arch():
    return jk.Dispatcher._arch(None) if jk.gpu_available() else "sm_90"


def _inputs(tmp_path, kinds):
    """Files of each kind, made here: jitkit's own export (LTO-IR, PTX), NVRTC (C++ -> cubin), nvfatbin."""
    arch = _arch()
    out = []
    for kind in kinds:
        if kind == "ltoir":
            p = tmp_path / "fma3.ltoir"
            p.write_bytes(fma3.export((jk.float32,) * 3, arch=arch))
        elif kind == "ptx":
            p = tmp_path / "fma3.ptx"
            p.write_bytes(fma3.export((jk.float32,) * 3, arch=arch, kind="ptx"))
        elif kind == "cu":
            p = tmp_path / "cube.cu"
            p.write_text(CU)
        elif kind == "source":
            p = jk.CUDASource(CU, "inline_cube.cu")
        else:
            from jitkit.build.linking import nvrtc_compile
            cubin = nvrtc_compile(CU.encode(), "cube.cu", arch, output="cubin")
            if kind == "cubin":
                p = tmp_path / "cube.cubin"
                p.write_bytes(cubin)
            else:
                p = tmp_path / "cube.fatbin"
                p.write_bytes(_fatbin(cubin, arch))
        out.append(p if isinstance(p, jk.CUDASource) else str(p))
    return out


def _fatbin(cubin, arch):
    nvfatbin = pytest.importorskip("cuda.bindings.nvfatbin")
    try:
        h = nvfatbin.create([], 0)
    except Exception as exc:  # noqa: BLE001 - library missing
        pytest.skip(f"nvfatbin unavailable: {exc}")
    try:
        nvfatbin.add_cubin(h, cubin, len(cubin), arch.replace("sm_", ""), "cube")
        buf = bytearray(nvfatbin.size(h))
        nvfatbin.get(h, buf)
        return bytes(buf)
    finally:
        nvfatbin.destroy(h)


COMBOS = [("ltoir", "cu"), ("ltoir", "source"), ("ptx", "cubin"), ("ltoir", "fatbin")]


@needs_nvrtc
@pytest.mark.parametrize("kinds", COMBOS, ids=["-".join(c) for c in COMBOS])
def test_link_compiles_to_cubin(kinds, tmp_path):
    k = _kernel(_inputs(tmp_path, kinds))
    r = k.compile((np.zeros(3, np.float32), np.zeros(2, np.int32)), arch="sm_90")
    assert r.cubin[:4] == b"\x7fELF"
    assert 'declare float @"cube"(float' in r.ir and 'declare void @"bump"(i32*' in r.ir


@gpu
@needs_nvrtc
@pytest.mark.parametrize("kinds", COMBOS, ids=["-".join(c) for c in COMBOS])
def test_link_runs_on_gpu(kinds, tmp_path, rng):
    k = _kernel(_inputs(tmp_path, kinds))
    x = rng.uniform(-2, 2, 1000).astype(np.float32)
    cnt = np.zeros(4, np.int32)
    want = x.astype(np.float64) ** 3 * 2 + 1
    k[8, 128](x, cnt)
    np.testing.assert_allclose(x, want, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(cnt, [1, 2, 3, 4])


def test_declared_functions_run_on_the_simulator_through_sim(tmp_path):
    @jk.jit(link=[jk.CUDASource(CU)])
    def k(x):
        i = jk.grid(1)
        if i < x.size:
            x[i] = f3(cube(x[i]), 2.0, 1.0)
    x = np.arange(5, dtype=np.float32)
    k.with_target("sim")[1, 32](x)
    np.testing.assert_array_equal(x, np.arange(5.0) ** 3 * 2 + 1)


def test_declared_function_without_sim_explains_on_the_simulator():
    @jk.jit
    def k(cnt):
        bump(cnt, cnt.size)
    with pytest.raises(NotImplementedError, match="calls bump\\(\\), linked device code the CPU simulator"):
        k.with_target("sim")[1, 1](np.zeros(2, np.int32))


@needs_nvrtc
def test_changed_source_recompiles_through_the_disk_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("JITKIT_CACHE_DIR", str(tmp_path / "cache"))
    src = tmp_path / "f.cu"
    src.write_text('extern "C" __device__ float cube(float x) { return x * x * x; }')
    sig = (jk.Array(jk.float32, 1, "C"),)

    def make():
        @jk.jit(link=[str(src)])
        def k(x):
            x[0] = cube(x[0])
        return k
    first = make().compile(sig, arch="sm_90")
    assert make().compile(sig, arch="sm_90").from_disk
    src.write_text('extern "C" __device__ float cube(float x) { return x * x; }')
    again = make().compile(sig, arch="sm_90")
    assert not again.from_disk and again.cubin != first.cubin


def test_bad_link_inputs_fail_at_decoration(tmp_path):
    (tmp_path / "x.txt").write_text("")
    with pytest.raises(ValueError, match="unknown file type"):
        jk.jit(link=[str(tmp_path / "x.txt")])(lambda x: None)
    with pytest.raises(ValueError, match="No such file"):
        jk.jit(link=[str(tmp_path / "missing.ptx")])(lambda x: None)
    with pytest.raises(TypeError, match="file paths or jk.CUDASource"):
        jk.jit(link=[3])(lambda x: None)


@pytest.mark.parametrize("sig,err", [("float32 cube(float32)", "must look like"), ("float33(float32)", "unknown"),
                                     ("float32*(float32)", "cannot return pointers"), ("float32(void)", "void"),
                                     ("bool(int32)", "unsupported")])
def test_bad_declarations(sig, err):
    with pytest.raises(ValueError, match=err):
        jk.declare_device("f", sig)


@needs_nvrtc
def test_undefined_symbol_is_a_toolchain_error_naming_it():
    missing = jk.declare_device("not_defined_anywhere", "float32(float32)")

    @jk.jit(link=[jk.CUDASource(CU)])
    def k(x):
        x[0] = missing(x[0])
    with pytest.raises(ToolchainError) as info:
        k.compile((jk.Array(jk.float32, 1, "C"),), arch="sm_90")
    assert "not_defined_anywhere" in str(info.value)


@needs_nvrtc
def test_cpp_error_shows_the_nvrtc_log():
    @jk.jit(link=[jk.CUDASource('extern "C" __device__ float cube(float x) { return x +; }', "broken.cu")])
    def k(x):
        x[0] = cube(x[0])
    with pytest.raises(ToolchainError, match="NVRTC could not compile broken.cu") as info:
        k.compile((jk.Array(jk.float32, 1, "C"),), arch="sm_90")
    assert "expected an expression" in str(info.value)


def test_declared_call_with_wrong_argument_is_located():
    @jk.jit
    def k(x):
        bump(x, 2)
    with pytest.raises(TypingError, match="bump\\(\\) expects an array of int32"):
        k.compile((jk.Array(jk.float32, 1, "C"),), arch="sm_90")


def test_export_rejects_arrays():
    @jk.jit
    def takes_array(a):
        return a[0]
    with pytest.raises(CompileError, match="exported functions take non-bool, non-complex scalars"):
        takes_array.export((jk.Array(jk.float32, 1, "C"),), arch="sm_90")


def test_export_ptx_is_a_visible_function():
    ptx = fma3.export((jk.float32,) * 3, arch="sm_90", kind="ptx").decode()
    assert ".visible .func  (.param .b32 func_retval0) fma3(" in ptx
