"""``python -m jitkit``: a self-check of the whole pipeline on this machine.

Prints the toolchain found, compiles a demo kernel to a cubin, runs it on the
GPU when one is present (else on the CPU simulator) and checks the result
against numpy.  Exit status 0 means every step worked.
"""

from __future__ import annotations

import sys
import time

import numpy as np

import jitkit as jk
from .runtime import driver
from .build import toolchain


@jk.jit
def _demo_saxpy(a, x, y, out):
    i = jk.grid(1)
    if i < x.size:
        out[i] = a * x[i] + y[i]


def main() -> int:
    print(f"jitkit {jk.__version__} self-check")
    try:
        v = toolchain.versions()
    except jk.ToolchainError as exc:
        print(f"  toolchain: MISSING - {exc}")
        return 1
    print(f"  libNVVM    {v['libnvvm_version']} (NVVM IR {v['nvvm_ir_version']}): {v['libnvvm']}")
    print(f"  libdevice  {v['libdevice']}")
    print(f"  nvJitLink  {v['nvjitlink_version']}: {v['nvjitlink']}")
    gpu = jk.gpu_available()
    dev = driver.current_device() if gpu else None
    arch = dev.arch if dev else "sm_90"
    print(f"  GPU        {dev.name} ({dev.arch})" if dev else "  GPU        none found (compiling for sm_90 only)")

    n = 1_000_003
    rng = np.random.default_rng()
    x = rng.standard_normal(n).astype(np.float32)
    y = rng.standard_normal(n).astype(np.float32)
    a = np.float32(rng.uniform(-3, 3))
    t0 = time.perf_counter()
    res = _demo_saxpy.compile((a, x, y, x), arch=arch)
    dt = time.perf_counter() - t0
    print(f"  compile    saxpy -> {len(res.cubin)} byte cubin for {arch} in {dt * 1e3:.1f} ms"
          + (" (disk cache)" if res.from_disk else ""))
    out = np.full_like(x, np.nan)
    target = "gpu" if gpu else "sim"
    t0 = time.perf_counter()
    _demo_saxpy.with_target(target)[(n + 255) // 256, 256](a, x, y, out)
    dt = time.perf_counter() - t0
    ref = a.astype(np.float64) * x + y
    err = float(np.max(np.abs(out - ref)) / np.max(np.abs(ref)))
    ok = bool(np.isfinite(out).all() and err < 1e-6)
    where = f"GPU {dev.name}" if gpu else "the CPU simulator (no GPU found)"
    print(f"  run        saxpy on {n} elements on {where} in {dt * 1e3:.1f} ms: max rel error {err:.2e} "
          f"-> {'PASS' if ok else 'FAIL'}")
    print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
