"""Host time per launch of an empty 3-array kernel: jitkit vs raw cuLaunchKernel, cuda.core, CuPy, numba-cuda.

Run on a GPU machine: ``PYTHONPATH=. python bench/launch.py``.  Target: jitkit's launch no slower
than cuda.core's ``launch()`` measured in the same run (and both signatures of an alternating pair
stay on the fast path).
"""

from __future__ import annotations

import ctypes
import struct
import sys

import numpy as np

sys.path.insert(0, __import__("os").path.dirname(__file__))
from _common import interleaved_us, table  # noqa: E402

import jitkit as jk  # noqa: E402
from jitkit.runtime import driver  # noqa: E402

N = 1 << 20


@jk.jit
def empty3(a, b, c):
    pass


def main():
    import cupy
    x, y, z = (cupy.zeros(N, np.float32) for _ in range(3))
    sync = cupy.cuda.runtime.deviceSynchronize
    rows = []
    fns, notes = {}, {}

    def record(name, fn, note=""):
        try:
            fn()
            fns[name], notes[name] = fn, note
        except Exception as exc:  # noqa: BLE001 - a missing peer is reported, not fatal
            rows.append([name, "n/a", "", f"{type(exc).__name__}: {exc}"[:120]])

    # jitkit with CuPy arrays (zero copy), and through a cached launcher
    record("jitkit kernel[g, b](cupy x3)", lambda: empty3[4096, 256](x, y, z))
    launcher = empty3[4096, 256]
    record("jitkit launcher(cupy x3)", lambda: launcher(x, y, z), "launch config object reused")
    x64 = cupy.zeros(N, np.float64)

    def alternating():      # two signatures in turn: each keeps its own fast binder
        launcher(x, y, z)
        launcher(x64, y, z)
    alternating()
    record("jitkit, 2 signatures alternating (per launch)", lambda: (alternating(), None)[1],
           "figure is per pair: halve it")
    try:
        import torch
        tx, ty, tz = (torch.zeros(N, device="cuda") for _ in range(3))
        record("jitkit launcher(torch x3)", lambda: launcher(tx, ty, tz))
    except ImportError:
        pass

    # raw cuLaunchKernel on the same cubin (6 flat params: ptr + extent per array)
    res = empty3.compile((x, y, z))
    mod = driver.Module(res.cubin, "empty3")
    fn = mod.function(res.name)
    drv = driver.api()
    vals = [x.data.ptr, N, y.data.ptr, N, z.data.ptr, N]
    buf = ctypes.create_string_buffer(struct.pack("<6Q", *vals))
    ptrs = (ctypes.c_void_p * 6)(*[ctypes.addressof(buf) + 8 * k for k in range(6)])
    addr = ctypes.addressof(ptrs)
    record("raw cuLaunchKernel (prepacked void**)",
           lambda: drv.cuLaunchKernel(fn, 4096, 1, 1, 256, 1, 1, 0, 0, addr, 0), "lower bound")
    types = (ctypes.c_void_p, ctypes.c_int64) * 3

    def raw_tuple():
        drv.cuLaunchKernel(fn, 4096, 1, 1, 256, 1, 1, 0, 0,
                           ((x.data.ptr, N, y.data.ptr, N, z.data.ptr, N), types), 0)
    record("raw cuLaunchKernel (values, types)", raw_tuple, "args read from cupy each call")

    # cuda.core
    try:
        from cuda.core import Device, LaunchConfig, ObjectCode, launch
        dev = Device()
        dev.set_current()
        stream = dev.default_stream
        kern = ObjectCode.from_cubin(res.cubin).get_kernel(res.name)
        cfg = LaunchConfig(grid=4096, block=256)

        def core():
            launch(stream, cfg, kern, x.data.ptr, np.int64(N), y.data.ptr, np.int64(N), z.data.ptr, np.int64(N))
        record("cuda.core launch", core)
    except Exception as exc:  # noqa: BLE001
        rows.append(["cuda.core launch", "n/a", str(exc)[:120]])

    # CuPy RawKernel
    rk = cupy.RawKernel(r'extern "C" __global__ void k(float* a, float* b, float* c) {}', "k")
    record("CuPy RawKernel", lambda: rk((4096,), (256,), (x, y, z)))

    # numba-cuda (0.30 still calls numpy.row_stack, removed in numpy 2.5: shim it for the peer)
    if not hasattr(np, "row_stack"):
        np.row_stack = np.vstack
    try:
        from numba import cuda as ncuda

        @ncuda.jit
        def nempty(a, b, c):
            pass
        nx, ny, nz = (ncuda.as_cuda_array(v) for v in (x, y, z))
        record("numba-cuda (device arrays)", lambda: nempty[4096, 256](nx, ny, nz))
        record("numba-cuda (cupy arrays)", lambda: nempty[4096, 256](x, y, z))
    except Exception as exc:  # noqa: BLE001
        rows.append(["numba-cuda", "n/a", str(exc)[:120]])

    stats = interleaved_us(fns, sync=sync)
    results = {k: v[0] for k, v in stats.items()}
    base = results.get("raw cuLaunchKernel (prepacked void**)")
    rows = [[k, f"{m:.2f} ({lo:.2f}-{hi:.2f})", f"{m / base:.2f}x" if base else "", notes[k]]
            for k, (m, lo, hi) in stats.items()] + rows
    j = results.get("jitkit kernel[g, b](cupy x3)")
    core = results.get("cuda.core launch")
    table("Launch: empty 3-array kernel, host time per launch (median, min-max of 9 interleaved rounds x 5000)",
          rows, ("launcher", "us/launch", "vs raw", "note"))
    if j and core:
        print(f"TARGET jitkit <= cuda.core launch: {'MET' if j <= core else 'MISSED'} ({j:.2f} vs {core:.2f} us)")
    else:
        print("no jitkit or cuda.core figure")


if __name__ == "__main__":
    main()
