"""CPU simulator speed: jitkit's simulator vs numba-cuda's (NUMBA_ENABLE_CUDASIM=1), same run, 2^16 elements.

``PYTHONPATH=. python bench/sim.py``; runs anywhere (no GPU needed).  Target: >= 20x numba's simulator
on saxpy, a shared-memory block sum and a warp-shuffle sum.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _common import table  # noqa: E402

import jitkit as jk  # noqa: E402

N = 1 << 16
TPB = 256

# The same three kernels for numba-cuda, written against its API (run in a subprocess with the simulator on).
NUMBA = """
import sys, time, statistics, numpy as np
if not hasattr(np, "row_stack"):   # numba-cuda 0.30 with numpy 2.5
    np.row_stack = np.vstack
from numba import cuda, float32
which = sys.argv[1]
n, tpb = {n}, {tpb}

@cuda.jit
def saxpy(a, x, y, out):
    i = cuda.grid(1)
    if i < x.size:
        out[i] = a * x[i] + y[i]

@cuda.jit
def block_sum(x, out):
    sm = cuda.shared.array({tpb}, float32)
    t = cuda.threadIdx.x
    i = cuda.grid(1)
    sm[t] = x[i] if i < x.size else 0
    cuda.syncthreads()
    s = cuda.blockDim.x // 2
    while s > 0:
        if t < s:
            sm[t] += sm[t + s]
        cuda.syncthreads()
        s //= 2
    if t == 0:
        out[cuda.blockIdx.x] = sm[0]

@cuda.jit
def warp_sum(x, out):
    i = cuda.grid(1)
    v = x[i] if i < x.size else 0
    off = 16
    while off > 0:
        v += cuda.shfl_down_sync(0xFFFFFFFF, v, off)
        off //= 2
    if cuda.laneid == 0:
        out[i // 32] = v

x = np.random.rand(n).astype(np.float32); y = np.random.rand(n).astype(np.float32)
if which == "saxpy":
    out = np.zeros_like(x); run = lambda: saxpy[(n + tpb - 1) // tpb, tpb](np.float32(2), x, y, out)
elif which == "block_sum":
    out = np.zeros(n // tpb, np.float32); run = lambda: block_sum[n // tpb, tpb](x, out)
else:
    out = np.zeros(n // 32, np.float32); run = lambda: warp_sum[n // tpb, tpb](x, out)
ts = []
for _ in range(3):
    t = time.perf_counter(); run(); ts.append(time.perf_counter() - t)
print(statistics.median(ts))
"""


@jk.jit
def saxpy(a, x, y, out):
    i = jk.grid(1)
    if i < x.size:
        out[i] = a * x[i] + y[i]


@jk.jit
def block_sum(x, out):
    sm = jk.shared.array(TPB, jk.float32)
    t = jk.threadIdx.x
    i = jk.grid(1)
    sm[t] = x[i] if i < x.size else 0
    jk.syncthreads()
    s = jk.blockDim.x // 2
    while s > 0:
        if t < s:
            sm[t] += sm[t + s]
        jk.syncthreads()
        s //= 2
    if t == 0:
        out[jk.blockIdx.x] = sm[0]


@jk.jit
def warp_sum(x, out):
    i = jk.grid(1)
    v = x[i] if i < x.size else 0
    off = 16
    while off > 0:
        v += jk.shfl_down_sync(0xFFFFFFFF, v, off)
        off //= 2
    if jk.laneid == 0:
        out[i // 32] = v


def _time(fn, reps=7):
    fn()
    ts = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return statistics.median(ts)


def main():
    x = np.random.rand(N).astype(np.float32)
    y = np.random.rand(N).astype(np.float32)
    cases = {}
    out = np.zeros_like(x)
    cases["saxpy"] = (lambda: saxpy.with_target("sim")[N // TPB, TPB](np.float32(2), x, y, out),
                      lambda: np.allclose(out, 2 * x + y))
    bs = np.zeros(N // TPB, np.float32)
    cases["block_sum"] = (lambda: block_sum.with_target("sim")[N // TPB, TPB](x, bs),
                          lambda: np.allclose(bs, x.reshape(-1, TPB).sum(axis=1), rtol=1e-5))
    ws = np.zeros(N // 32, np.float32)
    cases["warp_sum"] = (lambda: warp_sum.with_target("sim")[N // TPB, TPB](x, ws),
                         lambda: np.allclose(ws, x.reshape(-1, 32).sum(axis=1), rtol=1e-5))
    rows, ratios = [], []
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    for name, (run, check) in cases.items():
        t = _time(run)
        assert check(), f"{name}: wrong result on the simulator"
        res = subprocess.run([sys.executable, "-c", NUMBA.format(n=N, tpb=TPB), name], capture_output=True,
                             text=True, env=env, timeout=1800)
        if res.returncode == 0:
            nb = float(res.stdout.strip().splitlines()[-1])
            ratios.append(nb / t)
            rows.append([name, f"{t * 1e3:.2f} ms", f"{nb * 1e3:.0f} ms", f"{nb / t:.0f}x"])
        else:
            err = (res.stderr.strip().splitlines() or ["?"])[-1][:90]
            rows.append([name, f"{t * 1e3:.2f} ms", "fails", err])
    status = "MET" if ratios and min(ratios) >= 20 else "see rows"
    table(f"Simulator: 2^16 float32 elements, {TPB} threads/block (target >= 20x numba's simulator: {status})", rows,
          ("kernel", "jitkit simulator", "numba-cuda simulator", "ratio"))


if __name__ == "__main__":
    main()
