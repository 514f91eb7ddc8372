"""The CPU simulator: debugging aids the GPU lacks, target selection, semantics details."""

import inspect

import numpy as np
import pytest

import jitkit as jk
from jitkit import config


@jk.jit
def oob_read(x, out):
    i = jk.grid(1)
    if i < out.size:
        out[i] = x[i + 5]  # OOB


@jk.jit
def oob_write_2d(out):
    i, j = jk.grid(2)
    out[i, j] = 1.0  # OOB


@jk.jit
def partial_barrier(out):
    i = jk.grid(1)
    if jk.threadIdx.x < 16:
        jk.syncthreads()  # BARRIER
    out[i] = i


@jk.jit
def barrier_after_early_exit(out):
    i = jk.grid(1)
    if i >= out.size:
        return
    jk.syncthreads()
    out[i] = i * 2


@jk.jit
def loop_barrier(out, trips):
    b = jk.blockIdx.x
    for k in range(trips[b]):           # different trip counts per block are fine
        jk.syncthreads()
    out[jk.grid(1)] = trips[b]


def _line(fn, marker):
    lines, start = inspect.getsourcelines(fn.py_func)
    return start + next(k for k, t in enumerate(lines) if marker in t)


def test_out_of_bounds_read_names_kernel_block_thread_and_line():
    x = np.zeros(40, np.float32)
    out = np.zeros(40, np.float32)
    with pytest.raises(IndexError) as info:
        oob_read.with_target("sim")[2, 32](x, out)
    msg = str(info.value)
    assert "index 40 is out of bounds for axis 0 with size 40" in msg
    assert "kernel oob_read" in msg and "block (1, 0, 0)" in msg and "thread (3, 0, 0)" in msg
    assert f"line {_line(oob_read, '# OOB')}" in msg and "^" in msg


def test_out_of_bounds_write_2d():
    out = np.zeros((5, 7))
    with pytest.raises(IndexError, match=r"axis 1 with size 7 .*kernel oob_write_2d"):
        oob_write_2d.with_target("sim")[(1, 1), (5, 8)](out)
    assert (out == 0).all(), "no lane may write before the fault is reported"


def test_partial_barrier_is_reported_not_hung():
    with pytest.raises(jk.BarrierError) as info:
        partial_barrier.with_target("sim")[2, 32](np.zeros(64))
    msg = str(info.value)
    assert "block (0, 0, 0)" in msg and "thread (16, 0, 0)" in msg
    assert f"line {_line(partial_barrier, '# BARRIER')}" in msg


def test_barrier_after_threads_exit_is_fine():
    out = np.full(50, -1.0)
    barrier_after_early_exit.with_target("sim")[2, 32](out)
    np.testing.assert_array_equal(out, np.arange(50) * 2.0)


def test_barrier_in_loops_with_per_block_trip_counts():
    trips = np.array([0, 3, 1], np.int64)
    out = np.zeros(3 * 32, np.int64)
    loop_barrier.with_target("sim")[3, 32](out, trips)
    np.testing.assert_array_equal(out, np.repeat(trips, 32))


@jk.jit
def fill_ids(out):
    x, y, z = jk.grid(3)
    if x < out.shape[0] and y < out.shape[1] and z < out.shape[2]:
        out[x, y, z] = x * 10000 + y * 100 + z


def test_three_dimensional_grid_and_chunking(monkeypatch):
    from jitkit.backends.sim import executor
    monkeypatch.setattr(executor, "MAX_LANES", 64)   # force many chunks of whole blocks
    out = np.full((9, 10, 11), -1, np.int64)
    fill_ids.with_target("sim")[(3, 3, 4), (4, 4, 3)](out)
    X, Y, Z = np.meshgrid(np.arange(9), np.arange(10), np.arange(11), indexing="ij")
    np.testing.assert_array_equal(out, X * 10000 + Y * 100 + Z)


@jk.jit
def scale_view(v, k):
    i, j = jk.grid(2)
    if i < v.shape[0] and j < v.shape[1]:
        v[i, j] *= k


def test_numpy_views_are_written_in_place():
    base = np.arange(60.0).reshape(6, 10)
    expect = base.copy()
    expect[1::2, ::-3] *= 3
    scale_view.with_target("sim")[(1, 1), (8, 8)](base[1::2, ::-3], 3)
    np.testing.assert_array_equal(base, expect)


def test_read_only_written_is_rejected():
    x = np.ones((2, 2))
    x.flags.writeable = False
    with pytest.raises(jk.LaunchError, match="read-only"):
        scale_view.with_target("sim")[(1, 1), (2, 2)](x, 2.0)


def test_device_arrays_are_refused_with_a_clear_error():
    class FakeDevice:
        __cuda_array_interface__ = {"shape": (2,), "typestr": "<f4", "data": (0, False), "version": 3}
    with pytest.raises(TypeError, match="CPU simulator"):
        scale_view.with_target("sim")[1, 1](FakeDevice(), 1.0)


def test_target_selection(monkeypatch):
    calls = []
    monkeypatch.setattr(jk.Dispatcher, "_launch_sim", lambda self, cfg, args: calls.append("sim"))
    out = np.zeros((2, 2))
    monkeypatch.setattr(config, "_target", [None])
    monkeypatch.setenv("JITKIT_TARGET", "sim")
    scale_view[(1, 1), (2, 2)](out, 1.0)
    assert calls == ["sim"]
    jk.set_target("auto")
    if not jk.gpu_available():
        scale_view[(1, 1), (2, 2)](out, 1.0)   # auto without a GPU: the simulator
        assert calls == ["sim", "sim"]
    with pytest.raises(ValueError, match="unknown target"):
        jk.set_target("tpu")
    with pytest.raises(ValueError, match="unknown target"):
        jk.jit(target="fpga")(lambda x: None)
    pinned = jk.jit(target="sim")(scale_view.py_func)
    jk.set_target("gpu")
    pinned[(1, 1), (2, 2)](out, 1.0)          # the kernel's own option wins over the process default
    assert calls[-1] == "sim"
    assert scale_view.with_target("sim") is scale_view.with_target("sim")


@jk.jit
def early_return_helper(v):
    if v < 0:
        return -1
    for k in range(100):
        if k * k >= v:
            return k
    return 100


@jk.jit
def isqrt_kernel(x, out):
    i = jk.grid(1)
    if i < x.size:
        out[i] = early_return_helper(x[i])


def test_divergent_returns_in_device_functions(rng):
    x = rng.integers(-5, 12000, 777)
    out = np.zeros(777, np.int64)
    isqrt_kernel.with_target("sim")[7, 128](x, out)
    want = [(-1 if v < 0 else next((k for k in range(100) if k * k >= v), 100)) for v in x]
    np.testing.assert_array_equal(out, want)


@jk.jit
def divergent_shuffle(out):
    i = jk.grid(1)
    v = 0
    if jk.laneid < 8:
        v = jk.shfl_down_sync(0xFFFFFFFF, i, 1)  # SHFL: lanes 8..31 are named but elsewhere
    out[i] = v


@jk.jit
def masked_shuffle(out):
    i = jk.grid(1)
    v = 0
    if jk.laneid < 8:
        v = jk.shfl_down_sync(0xFF, i, 1)        # only lanes 0..7 named: fine
    out[i] = v


def test_divergent_warp_operation_is_reported():
    with pytest.raises(jk.BarrierError) as info:
        divergent_shuffle.with_target("sim")[1, 32](np.zeros(32, np.int64))
    assert "lane 8" in str(info.value) and f"line {_line(divergent_shuffle, '# SHFL')}" in str(info.value)
    out = np.zeros(32, np.int64)
    masked_shuffle.with_target("sim")[1, 32](out)
    np.testing.assert_array_equal(out[:7], np.arange(1, 8))   # lane 7 reads lane 8, outside the mask: undefined
    assert (out[8:] == 0).all()
