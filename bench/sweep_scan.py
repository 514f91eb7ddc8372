"""Sweep the single-pass scan's block size and tile (``SCAN_THREADS``, ``SCAN_TILE_BYTES`` in
``jitkit/primitives/host/scan.py``) on the GPU: 2^28 float32 inclusive sums, GB/s read + write.

    PYTHONPATH=. python bench/sweep_scan.py [threads:tile_bytes ...]
"""

from __future__ import annotations

import sys

import numpy as np

from _common import cuda_event_ms

import jitkit as jk
from jitkit.primitives.host import scan as alg
from jitkit.primitives.host.plan import PLANS

DEFAULT = ["128:128", "128:80", "128:96", "128:112", "128:160", "96:128", "64:128", "64:160", "256:64", "256:96",
           "192:96"]


def main(configs):
    import cupy
    n = 1 << 28
    x = cupy.asarray(np.random.default_rng(0).integers(0, 3, n).astype(np.float32))
    want = cupy.cumsum(x, dtype=cupy.float64)
    for c in configs:
        threads, tile = (int(v) for v in c.split(":"))
        alg.SCAN_THREADS, alg.SCAN_TILE_BYTES = threads, tile
        PLANS.clear()                     # a cached plan keeps the configuration it was made with
        y = jk.scan(x)
        # float32 running sums past 2^24 round (differently by tile): a missed tile prefix is off by a
        # whole tile's sum, far more than this
        ok = float(cupy.max(cupy.abs(y - want))) <= 1e-5 * float(want[-1])
        ms = min(cuda_event_ms(lambda: jk.scan(x), reps=20) for _ in range(3))
        ipt = alg.items_per_thread(np.float32, tile)
        print(f"scan 2^28 f32, {threads} threads x {ipt} items: {ms:.3f} ms, {2 * 4 * n / ms / 1e6:.0f} GB/s"
              f"{'' if ok else '  WRONG'}", flush=True)
    print(f"cupy.cumsum: {2 * 4 * n / cuda_event_ms(lambda: cupy.cumsum(x), reps=10) / 1e6:.0f} GB/s")


if __name__ == "__main__":
    main(sys.argv[1:] or DEFAULT)
