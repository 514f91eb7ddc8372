"""Small inputs on the GPU: host (CPU) time and GPU time per call of jitkit's host algorithms and their
CuPy counterparts, to tell launch-bound from GPU-bound (``cupyx.profiler.benchmark``: CPU time of the
call, GPU time between CUDA events around it).

    PYTHONPATH=. python bench/small.py
"""

from __future__ import annotations

import numpy as np

import jitkit as jk


def main():
    import cupy
    from cupyx.profiler import benchmark
    rng = np.random.default_rng(0)
    print("| what | n | jitkit CPU us | jitkit GPU us | cupy CPU us | cupy GPU us |")
    print("|---|---|---|---|---|---|")
    for n in (1 << 12, 1 << 16, 1 << 20):
        f = cupy.asarray(rng.standard_normal(n, dtype=np.float32))
        u = cupy.asarray(rng.integers(0, 1 << 32, n, dtype=np.uint32))
        rows = [("reduce f32 sum", lambda: jk.reduce(f), lambda: f.sum()),
                ("inclusive scan f32", lambda: jk.scan(f), lambda: cupy.cumsum(f)),
                ("sort u32", lambda: jk.sort(u), lambda: cupy.sort(u))]
        for what, mine, theirs in rows:
            a = benchmark(mine, n_repeat=300, n_warmup=20)
            b = benchmark(theirs, n_repeat=300, n_warmup=20)
            print(f"| {what} | 2^{n.bit_length() - 1} | {np.median(a.cpu_times) * 1e6:.1f} | "
                  f"{np.median(a.gpu_times) * 1e6:.1f} | {np.median(b.cpu_times) * 1e6:.1f} | "
                  f"{np.median(b.gpu_times) * 1e6:.1f} |", flush=True)


if __name__ == "__main__":
    main()
