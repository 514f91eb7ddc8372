"""CPU simulator speed: jitkit's simulator vs numba-cuda's simulator (NUMBA_ENABLE_CUDASIM=1), same run.

``PYTHONPATH=. python bench/sim.py``; runs anywhere (no GPU needed).  Target: >= 20x numba's simulator.
The shared-memory block sum and warp-shuffle sum of issue #4 need shared memory and shuffles in the
kernel language (issue #5); numba's simulator has no shfl_down_sync at all.
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

NUMBA = """
import time, statistics, numpy as np
if not hasattr(np, "row_stack"):   # numba-cuda 0.30 with numpy 2.5
    np.row_stack = np.vstack
from numba import cuda
@cuda.jit
def saxpy(a, x, y, out):
    i = cuda.grid(1)
    if i < x.size:
        out[i] = a * x[i] + y[i]
n = {n}
x = np.random.rand(n).astype(np.float32); y = np.random.rand(n).astype(np.float32); out = np.zeros_like(x)
ts = []
for _ in range(3):
    t = time.perf_counter(); saxpy[(n + 255) // 256, 256](np.float32(2), x, y, out); ts.append(time.perf_counter() - t)
assert np.allclose(out, 2 * x + y)
print(statistics.median(ts))
"""


@jk.jit
def saxpy(a, x, y, out):
    i = jk.grid(1)
    if i < x.size:
        out[i] = a * x[i] + y[i]


def main():
    x = np.random.rand(N).astype(np.float32)
    y = np.random.rand(N).astype(np.float32)
    out = np.zeros_like(x)
    k = saxpy.with_target("sim")[(N + 255) // 256, 256]
    k(np.float32(2), x, y, out)
    ts = []
    for _ in range(7):
        t = time.perf_counter()
        k(np.float32(2), x, y, out)
        ts.append(time.perf_counter() - t)
    assert np.allclose(out, 2 * x + y)
    jit_s = statistics.median(ts)
    rows = [["jitkit simulator", f"{jit_s * 1e3:.2f} ms", ""]]
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    res = subprocess.run([sys.executable, "-c", NUMBA.format(n=N)], capture_output=True, text=True, env=env,
                         timeout=900)
    if res.returncode == 0:
        nb = float(res.stdout.strip().splitlines()[-1])
        rows.append(["numba-cuda simulator", f"{nb * 1e3:.1f} ms", f"jitkit {nb / jit_s:.0f}x faster"])
        status = "MET" if nb / jit_s >= 20 else "MISSED"
    else:
        rows.append(["numba-cuda simulator", "n/a", res.stderr.strip().splitlines()[-1][:100]])
        status = "not measured"
    table(f"Simulator: saxpy, 2^16 float32 elements, 256 threads/block (target >= 20x: {status})", rows,
          ("simulator", "time per launch (median)", "ratio"))


if __name__ == "__main__":
    main()
