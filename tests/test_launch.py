"""Launch-time validation (before any GPU work) and GPU launch behaviour."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import jitkit as jk
from bad_input_kernels import add
from conftest import gpu, optional_module


@jk.jit
def add2d(x, y, out):
    i, j = jk.grid(2)
    if i < out.shape[0] and j < out.shape[1]:
        out[i, j] = x[i, j] + y[i, j]


@jk.jit
def read_only(x, out):
    i = jk.grid(1)
    if i < out.size:
        out[i] = x[i] * 2


def test_wrong_argument_count_is_type_error():
    with pytest.raises(TypeError, match="takes 3 arguments, got 2"):
        add[1, 32](np.zeros(3), np.zeros(3))


def test_unsupported_argument_type():
    with pytest.raises(TypeError, match="cannot pass list"):
        add[1, 32]([1, 2], np.zeros(2), np.zeros(2))


def test_unsupported_dtype():
    with pytest.raises(TypeError, match="does not support dtype <U3"):
        jk.types.scalar_from_dtype(np.dtype("U3"))


@pytest.mark.parametrize("config", [(0, 32), (1, 0), ((1, 2, 3, 4), 32), (1.5, 32), (1,), (1, 2, 0, 0, 0),
                                    (1, 32, 0, -1)])
def test_bad_launch_config(config):
    with pytest.raises(jk.LaunchError):
        add[config]


def test_direct_call_explains_launch_syntax():
    with pytest.raises(TypeError, match=r"add\[grid, block\]"):
        add(1, 2, 3)


def test_unknown_option():
    with pytest.raises(TypeError, match="unknown jit option"):
        jk.jit(lambda x: x, nosuch=True)


def test_no_gpu_needs_arch(monkeypatch):
    if jk.gpu_available():
        pytest.skip("a GPU is present")
    monkeypatch.delenv("JITKIT_ARCH", raising=False)
    with pytest.raises(jk.LaunchError, match="no GPU found"):
        add.compile((np.zeros(2), np.zeros(2), np.zeros(2)))
    monkeypatch.setenv("JITKIT_ARCH", "sm_90")
    assert add.compile((np.zeros(2), np.zeros(2), np.zeros(2))).arch == "sm_90"


@gpu
def test_read_only_numpy_array_written_is_rejected():
    x = np.arange(4.0)
    x.flags.writeable = False
    out = np.zeros(4)
    read_only[1, 32](x, out)                       # fine: x is only read
    np.testing.assert_array_equal(out, np.arange(4.0) * 2)
    with pytest.raises(jk.LaunchError, match="read-only"):
        read_only[1, 32](out, x)


@gpu
def test_numpy_inputs_not_written_back_and_views_are(rng):
    base = rng.random((6, 8))
    view = base[::2, 1::3]                        # non-contiguous: travels as a copy, written back
    before = base.copy()
    add2d[(1, 1), (8, 8)](view, view, view)
    expect = before.copy()
    expect[::2, 1::3] *= 2
    np.testing.assert_array_equal(base, expect)


@gpu
def test_streams_from_every_library(rng):
    x = rng.random(1000).astype(np.float32)
    for make in _streams():
        stream, sync, to_dev, to_host = make()
        dx = to_dev(x)
        out = to_dev(np.full_like(x, np.nan))
        jk.synchronize()        # the copies ran on the library's default stream: a non-blocking stream
        add[4, 256, stream](dx, dx, out)    # does not wait for them (the kernel could read them early)
        sync()
        np.testing.assert_allclose(to_host(out), 2 * x, err_msg=f"stream from {make.__name__}")


def _streams():
    makers = []
    cupy = optional_module("cupy")
    if cupy is not None:
        def cupy_stream():
            s = cupy.cuda.Stream(non_blocking=True)
            return s, s.synchronize, cupy.asarray, cupy.asnumpy
        makers.append(cupy_stream)

        def int_stream():
            s = cupy.cuda.Stream(non_blocking=True)
            return s.ptr, s.synchronize, cupy.asarray, cupy.asnumpy
        makers.append(int_stream)
    torch = optional_module("torch")
    if torch is not None:
        def torch_stream():
            s = torch.cuda.Stream()
            return s, s.synchronize, lambda a: torch.from_numpy(a).cuda(), lambda t: t.cpu().numpy()
        makers.append(torch_stream)
    try:
        from cuda.core import Device
        def core_stream():
            d = Device()
            d.set_current()
            s = d.create_stream()
            if cupy is None:
                pytest.skip("needs cupy for device arrays")
            return s, s.sync, cupy.asarray, cupy.asnumpy
        makers.append(core_stream)
    except Exception:  # noqa: BLE001
        pass
    if not makers:
        pytest.skip("no stream library installed")
    return makers


@gpu
def test_device_views_zero_copy(rng):
    cupy = optional_module("cupy")
    torch = optional_module("torch")
    if cupy is None and torch is None:
        pytest.skip("needs cupy or torch")
    a = rng.random((40, 30)).astype(np.float32)
    if cupy is not None:
        d = cupy.asarray(a)
        v = d[3::2, ::-4]                          # layout 'A', negative strides, zero copy
        add2d[(3, 2), (8, 8)](v, v, v)
        e = a.copy()
        e[3::2, ::-4] *= 2
        np.testing.assert_allclose(cupy.asnumpy(d), e)
    if torch is not None:
        t = torch.from_numpy(a).cuda()
        v = t.t()                                  # Fortran-ordered view
        add2d[(4, 3), (8, 16)](v, v, v)
        np.testing.assert_allclose(t.cpu().numpy(), a * 2)


@gpu
def test_fault_raises_cuda_error_naming_kernel(tmp_path):
    script = tmp_path / "fault.py"
    script.write_text(textwrap.dedent("""
        import numpy as np, jitkit as jk
        @jk.jit
        def wild_write(x, far):
            x[far] = 1.0
        import cupy
        d = cupy.zeros(4, np.float32)
        try:
            wild_write[1, 1](d, 1 << 40)
            jk.synchronize()
        except jk.CudaError as e:
            print("CAUGHT", e)
    """))
    if optional_module("cupy") is None:
        pytest.skip("needs cupy")
    res = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert "CAUGHT" in res.stdout, res.stdout + res.stderr
    assert "wild_write" in res.stdout and "CUDA_ERROR_ILLEGAL_ADDRESS" in res.stdout


@jk.jit
def axpb(a, x, b, out):
    i = jk.grid(1)
    if i < out.size:
        out[i] = a * x[i] + b


@gpu
def test_fast_path_follows_changing_arguments(rng):
    """The generated fast launcher must fall back whenever an argument stops matching."""
    cupy = optional_module("cupy")
    if cupy is None:
        pytest.skip("needs cupy")
    for step in range(12):
        n = int(rng.integers(1, 3000))
        dt = [np.float32, np.float64][step % 2] if step < 8 else np.float32
        x = rng.standard_normal(n).astype(dt)
        a = [2.5, np.float32(2.5), 3, np.int16(3)][step % 4]
        b = [1.0, np.float32(-1.5)][step % 2]
        dx = cupy.asarray(x)
        if step >= 8:                                   # strided views: layout 'A'
            big = cupy.asarray(rng.standard_normal(3 * n).astype(dt))
            dx = big[::3]
            x = cupy.asnumpy(dx)
        out = cupy.full(n, cupy.nan, dtype=dt)
        for _ in range(3):                             # repeat: the second and third go through the fast path
            axpb[(n + 127) // 128, 128](a, dx, b, out)
            got = cupy.asnumpy(out)
            want = np.float64(a) * x.astype(np.float64) + np.float64(b)
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
            out.fill(cupy.nan)
    assert axpb._fast, "a signature launched twice should have a fast binder"


@gpu
def test_fast_binders_per_signature(rng, monkeypatch):
    """Alternating signatures stay on the fast path: each has its binder (not one hot slot), and the
    general path is not taken once both were seen; results stay right throughout."""
    cupy = optional_module("cupy")
    if cupy is None:
        pytest.skip("needs cupy")
    n = 1001
    xs = {dt: cupy.asarray(rng.standard_normal(n).astype(dt)) for dt in (np.float32, np.float64)}
    outs = {dt: cupy.full(n, cupy.nan, dtype=dt) for dt in xs}
    launcher = axpb[(n + 127) // 128, 128]
    for dt in xs:                                       # warm up: compile, load, make each binder
        launcher(2.0, xs[dt], 1.0, outs[dt])
    general = []
    real = axpb._launch

    def counted(cfg, args):
        general.append(args)
        return real(cfg, args)
    monkeypatch.setattr(axpb, "_launch", counted)
    for step in range(6):
        dt = (np.float32, np.float64)[step % 2]
        outs[dt].fill(cupy.nan)
        launcher(2.0, xs[dt], 1.0, outs[dt])
        want = 2.0 * cupy.asnumpy(xs[dt]).astype(np.float64) + 1.0
        np.testing.assert_allclose(cupy.asnumpy(outs[dt]), want, rtol=1e-5, atol=1e-5)
    assert not general, f"{len(general)} of 6 alternating launches took the general path"
    small = cupy.asarray(rng.standard_normal(7).astype(np.int32))    # a third signature: general, then fast
    out = cupy.zeros(7, np.int32)
    launcher(2, small, 1, out)
    assert len(general) == 1
    np.testing.assert_array_equal(cupy.asnumpy(out), 2 * cupy.asnumpy(small) + 1)


@gpu
def test_fast_path_takes_device_buffers(rng):
    """jitkit's own DeviceBuffer (the host algorithms' temporaries) goes through the fast launcher,
    and a buffer of another size or dtype falls back correctly."""
    from jitkit.runtime.memory import DeviceBuffer
    for step in range(6):
        n = int(rng.integers(1, 3000))
        dt = np.float32 if step < 4 else np.float64
        x = rng.standard_normal(n).astype(dt)
        dx, out = DeviceBuffer.from_host(x), DeviceBuffer(n, dt)
        for _ in range(3):
            axpb[(n + 127) // 128, 128](2.0, dx, 1.0, out)
            np.testing.assert_allclose(out.to_host(), 2.0 * x.astype(np.float64) + 1.0, rtol=1e-5, atol=1e-5)
    assert any("a1.ptr" in fast.source for fast in axpb._fast)


class _OnlyCAI:
    """Exposes nothing but __cuda_array_interface__ (like a numba device array)."""

    def __init__(self, arr):
        self._arr = arr
        self.__cuda_array_interface__ = arr.__cuda_array_interface__


class _OnlyDLPack:
    """Exposes nothing but the DLPack protocol (like a JAX array)."""

    def __init__(self, arr):
        self._arr = arr

    def __dlpack__(self, stream=None):
        return self._arr.__dlpack__()

    def __dlpack_device__(self):
        return self._arr.__dlpack_device__()


@gpu
@pytest.mark.parametrize("wrap", [_OnlyCAI, _OnlyDLPack], ids=["cuda_array_interface", "dlpack"])
def test_generic_device_array_protocols(wrap, rng):
    cupy = optional_module("cupy")
    if cupy is None:
        pytest.skip("needs cupy to make device memory")
    a = rng.standard_normal((33, 20))
    d = cupy.asarray(a)
    v = d[1::2, ::3]                                 # strided: exercises real strides through the protocol
    add2d[(3, 1), (8, 8)](wrap(v), wrap(v), wrap(v))
    e = a.copy()
    e[1::2, ::3] *= 2
    np.testing.assert_allclose(cupy.asnumpy(d), e)
    x = cupy.asarray(rng.standard_normal(1001).astype(np.float32))
    out = cupy.full(1001, cupy.nan, dtype=np.float32)
    add[8, 128](wrap(x), wrap(x), wrap(out))
    np.testing.assert_allclose(cupy.asnumpy(out), 2 * cupy.asnumpy(x))
