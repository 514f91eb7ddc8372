"""Compile-time costs in fresh processes: import, cold first call, disk-cache hit; vs numba-cuda.

Run on a GPU machine: ``PYTHONPATH=. python bench/compile.py``.
Targets: import <= 0.3 s; cold first saxpy call <= 0.3 s (import excluded); disk hit <= 20 ms.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from _common import run_python, table  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

IMPORT = "import time; t=time.perf_counter(); import jitkit; print(time.perf_counter()-t)"
IMPORT_AFTER_NUMPY = "import numpy, time; t=time.perf_counter(); import jitkit; print(time.perf_counter()-t)"
IMPORT_NUMPY = "import time; t=time.perf_counter(); import numpy; print(time.perf_counter()-t)"

FIRST_CALL = """
import time, numpy as np, cupy
import jitkit as jk
@jk.jit
def saxpy(a, x, y, out):
    i = jk.grid(1)
    if i < x.size:
        out[i] = a * x[i] + y[i]
n = 1 << 20
x = cupy.random.rand(n, dtype=np.float32); y = cupy.random.rand(n, dtype=np.float32); out = cupy.empty_like(x)
cupy.cuda.runtime.deviceSynchronize()          # context exists before timing (import excluded)
t = time.perf_counter()
saxpy[(n + 255) // 256, 256](np.float32(2), x, y, out)
cupy.cuda.runtime.deviceSynchronize()
dt = time.perf_counter() - t
assert abs(float((out - (2 * x + y)).max())) < 1e-5
print(dt)
"""

COMPILE_ONLY = FIRST_CALL.replace(
    "saxpy[(n + 255) // 256, 256](np.float32(2), x, y, out)",
    "r = saxpy.compile((np.float32(2), x, y, out)); assert r.from_disk\nsaxpy[(n + 255) // 256, 256](np.float32(2), x, y, out)",
).replace("dt = time.perf_counter() - t", "dt = time.perf_counter() - t\ndt = (dt, r.timings)").replace(
    "print(dt)", "print(sum(dt[1].values()))")

NUMBA_FIRST_CALL = """
import time, numpy as np, cupy
if not hasattr(np, "row_stack"):   # numba-cuda 0.30 with numpy 2.5
    np.row_stack = np.vstack
from numba import cuda
@cuda.jit
def saxpy(a, x, y, out):
    i = cuda.grid(1)
    if i < x.size:
        out[i] = a * x[i] + y[i]
n = 1 << 20
x = cupy.random.rand(n, dtype=np.float32); y = cupy.random.rand(n, dtype=np.float32); out = cupy.empty_like(x)
cupy.cuda.runtime.deviceSynchronize()
t = time.perf_counter()
saxpy[(n + 255) // 256, 256](np.float32(2), x, y, out)
cupy.cuda.runtime.deviceSynchronize()
print(time.perf_counter() - t)
"""


def med(xs):
    return statistics.median(xs)


def main():
    env = {"PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    rows = []
    imp = run_python(IMPORT, env)
    rows.append(["import jitkit", f"{med(imp) * 1e3:.1f} ms", "<= 300 ms", "MET" if med(imp) <= 0.3 else "MISSED"])
    npy = run_python(IMPORT_NUMPY, env)
    own = run_python(IMPORT_AFTER_NUMPY, env)
    rows.append(["  import numpy alone", f"{med(npy) * 1e3:.1f} ms", "", "jitkit needs numpy"])
    rows.append(["  import jitkit, numpy already imported", f"{med(own) * 1e3:.1f} ms", "", "jitkit's own share"])
    cold = []
    for _ in range(5):  # each run gets an empty cache
        d = tempfile.mkdtemp(prefix="jk-cold-")
        cold += run_python(FIRST_CALL, {**env, "JITKIT_CACHE_DIR": d}, runs=1)
    rows.append(["first saxpy call, empty cache", f"{med(cold) * 1e3:.1f} ms", "<= 300 ms",
                 "MET" if med(cold) <= 0.3 else "MISSED"])
    warm_dir = tempfile.mkdtemp(prefix="jk-warm-")
    run_python(FIRST_CALL, {**env, "JITKIT_CACHE_DIR": warm_dir}, runs=1)
    hit = run_python(FIRST_CALL, {**env, "JITKIT_CACHE_DIR": warm_dir})
    rows.append(["first saxpy call, disk-cache hit", f"{med(hit) * 1e3:.1f} ms", "<= 20 ms",
                 "MET" if med(hit) <= 0.02 else "MISSED"])
    stage = run_python(COMPILE_ONLY, {**env, "JITKIT_CACHE_DIR": warm_dir})
    rows.append(["  of which cache key + disk read", f"{med(stage) * 1e3:.1f} ms", "",
                 "the rest: importing cuda.bindings.driver, cuInit, module load, launch"])
    try:
        nb = run_python(NUMBA_FIRST_CALL, {"NUMBA_CACHE_DIR": tempfile.mkdtemp()})
        rows.append(["numba-cuda first saxpy call", f"{med(nb) * 1e3:.1f} ms", "peer",
                     f"jitkit cold is {med(nb) / med(cold):.1f}x faster"])
        nbi = run_python("import time, numpy as np; np.row_stack = np.vstack; t=time.perf_counter(); "
                         "from numba import cuda; print(time.perf_counter()-t)")
        rows.append(["import numba.cuda", f"{med(nbi) * 1e3:.1f} ms", "peer", ""])
    except Exception as exc:  # noqa: BLE001
        rows.append(["numba-cuda", "n/a", "", str(exc)[-100:]])
    table("Compile: fresh processes, median of 5", rows, ("what", "time", "target", "status"))


def profile_hit():
    """cProfile of a first call served from a warm disk cache (where do the milliseconds go?)."""
    import subprocess
    env = {**os.environ, "PYTHONPATH": ROOT, "JITKIT_CACHE_DIR": tempfile.mkdtemp(prefix="jk-prof-")}
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(FIRST_CALL)
    subprocess.run([sys.executable, f.name], env=env, check=True, capture_output=True)
    out = subprocess.run([sys.executable, "-m", "cProfile", "-s", "cumtime", f.name], env=env,
                         capture_output=True, text=True)
    print("\n".join(out.stdout.splitlines()[:45]))


if __name__ == "__main__":
    if "--profile" in sys.argv:
        profile_hit()
    else:
        main()
