"""Host algorithms against CuPy and PyTorch, one run on the GPU machine.

- ``jk.reduce`` (sum of float32) at 2^16, 2^20, 2^24 and 2^28 elements vs ``cupy.sum`` and
  ``torch.sum``: time per call (CUDA events, median of 30) and read bandwidth.  Target: at 2^28
  ≥ 1.0x ``cupy.sum``.
- ``jk.reduce`` with ``max`` and with a lambda (a custom op: the in-order, tile-by-tile path).
- ``jk.scan`` (inclusive sum of float32, read + write bandwidth) vs ``cupy.cumsum`` and
  ``torch.cumsum``.  Target: ≥ 2600 GB/s at 2^28.
- ``jk.transform`` (``a * 2 + b``) vs the same CuPy expression.
- ``jk.sort`` of uint32 keys vs ``cupy.sort`` and ``torch.sort(stable=True)`` (of int32: torch has no
  uint32 sort): keys per second.
  Target: ≥ 1.0x ``cupy.sort`` at 2^28.  Also ``jk.argsort`` of float32 and key-value pairs.
- ``jk.select`` / ``jk.partition`` / ``jk.histogram`` / ``jk.unique`` / comparator sort
  (``less=``) at the same sizes, against CuPy's nearest equivalent (boolean indexing, a
  two-mask concatenation, ``cupy.histogram``, ``cupy.unique``; the comparator sort against
  ``cupy.sort`` of plain keys, to show the price of a comparator).
- ``cuda.compute`` (cuda-cccl, if importable: carry its wheel to the device): reduce, inclusive
  scan and radix sort with preallocated temporary storage, its fastest use.
- ``targets``: the 2^28 reduce and scan targets again, jitkit and every peer timed in interleaved
  rounds, so that drift between the peers' measurements cannot decide a ratio.
- Host time of a 2^20 reduce of a CuPy array (results stay on the device, no synchronisation), with
  and without a plan.  Target: ≤ 15 µs per call.

Run on a GPU machine: ``PYTHONPATH=. python bench/algorithms.py [section...]`` (sections: reduce,
scan, transform, sort, more, cccl, targets, overhead; all by default).
"""

from __future__ import annotations

import sys
import time

import numpy as np

sys.path.insert(0, __import__("os").path.dirname(__file__))
from _common import cuda_event_ms, device_name, interleaved_us  # noqa: E402

import jitkit as jk  # noqa: E402


def main(sections):
    import cupy
    import torch
    rng = np.random.default_rng(0)
    print(f"device: {device_name()}; median of 30 CUDA-event timings per call")
    print("| what | n | jitkit ms | cupy ms | torch ms | jitkit GB/s or Gkeys/s | jitkit / cupy speed |")
    print("|---|---|---|---|---|---|---|")
    if "sort" in sections:
        sort_rows(cupy, torch, rng)
    if "more" in sections:
        more_rows(cupy, rng)
    if "cccl" in sections:
        cccl_rows(cupy, rng)
    if "targets" in sections:
        targets(cupy, torch, rng)
    if not {"reduce", "scan", "transform"} & set(sections):
        return overhead(cupy, rng) if "overhead" in sections else None
    for logn in (16, 20, 24, 28):
        n = 1 << logn
        x = cupy.asarray(rng.standard_normal(n, dtype=np.float32))
        t = torch.as_tensor(x, device="cuda")
        got, want = float(jk.reduce(x)), float(x.astype(cupy.float64).sum())
        assert abs(got - want) <= 1e-4 * float(cupy.abs(x).sum()), (got, want)
        assert float(jk.reduce(x, max)) == float(x.max())
        tj = cuda_event_ms(lambda: jk.reduce(x))
        tc = cuda_event_ms(lambda: x.sum())
        tt = cuda_event_ms(lambda: t.sum())
        print(f"| reduce f32 sum | 2^{logn} | {tj:.4f} | {tc:.4f} | {tt:.4f} | {4 * n / tj / 1e6:.0f} | "
              f"{tc / tj:.2f}x |")
        tj = cuda_event_ms(lambda: jk.reduce(x, max))
        tc = cuda_event_ms(lambda: x.max())
        tt = cuda_event_ms(lambda: t.max())
        print(f"| reduce f32 max | 2^{logn} | {tj:.4f} | {tc:.4f} | {tt:.4f} | {4 * n / tj / 1e6:.0f} | "
              f"{tc / tj:.2f}x |")
        if logn <= 24:
            lam = lambda a, b: a if a > b else b   # noqa: E731  (a custom op, not known to commute)
            assert float(jk.reduce(x, lam)) == float(x.max())
            tj = cuda_event_ms(lambda: jk.reduce(x, lam))
            print(f"| reduce f32, lambda max (in-order path) | 2^{logn} | {tj:.4f} | {tc:.4f} | | "
                  f"{4 * n / tj / 1e6:.0f} | {tc / tj:.2f}x |")
        xs = cupy.asarray(rng.integers(0, 3, n).astype(np.float32))   # running sums exact up to 2^24
        ts = torch.as_tensor(xs, device="cuda")
        ref = cupy.cumsum(xs.astype(cupy.float64))
        got = jk.scan(xs)
        exact = ref <= 2 ** 24
        assert bool((got[exact] == ref[exact]).all())
        assert float(cupy.abs(got - ref).max()) <= 1e-4 * float(ref[-1])
        tj = cuda_event_ms(lambda: jk.scan(xs))
        tc = cuda_event_ms(lambda: cupy.cumsum(xs))
        tt = cuda_event_ms(lambda: torch.cumsum(ts, 0))
        print(f"| inclusive scan f32 (r+w) | 2^{logn} | {tj:.4f} | {tc:.4f} | {tt:.4f} | {8 * n / tj / 1e6:.0f} | "
              f"{tc / tj:.2f}x |")
        del xs, ts
        y = cupy.asarray(rng.standard_normal(n, dtype=np.float32))
        saxpy = lambda a, b: a * 2 + b   # noqa: E731
        assert bool((jk.transform(saxpy, x, y) == x * 2 + y).all())
        tj = cuda_event_ms(lambda: jk.transform(saxpy, x, y))
        tc = cuda_event_ms(lambda: x * 2 + y)
        print(f"| transform a*2+b f32 | 2^{logn} | {tj:.4f} | {tc:.4f} | | {12 * n / tj / 1e6:.0f} | "
              f"{tc / tj:.2f}x |")
        del x, y, t
        cupy.get_default_memory_pool().free_all_blocks()
    if "overhead" in sections:
        overhead(cupy, rng)


def sort_rows(cupy, torch, rng):
    for logn in (16, 20, 24, 28):
        n = 1 << logn
        x = cupy.asarray(rng.integers(0, 1 << 32, n, dtype=np.uint32))
        t = torch.as_tensor(x.view(cupy.int32), device="cuda")     # torch sorts no uint32: the same bits as int32
        assert bool((jk.sort(x) == cupy.sort(x)).all())
        tj = cuda_event_ms(lambda: jk.sort(x))
        tc = cuda_event_ms(lambda: cupy.sort(x))
        tt = cuda_event_ms(lambda: torch.sort(t, stable=True))
        print(f"| sort u32 | 2^{logn} | {tj:.4f} | {tc:.4f} | {tt:.4f} | {n / tj / 1e6:.1f} | {tc / tj:.2f}x |")
        f = cupy.asarray(rng.standard_normal(n, dtype=np.float32))
        tf = torch.as_tensor(f, device="cuda")
        assert bool((jk.argsort(f) == cupy.argsort(f)).all())
        tj = cuda_event_ms(lambda: jk.argsort(f))
        tc = cuda_event_ms(lambda: cupy.argsort(f))
        tt = cuda_event_ms(lambda: torch.sort(tf, stable=True))
        print(f"| argsort f32 (int64 indices) | 2^{logn} | {tj:.4f} | {tc:.4f} | {tt:.4f} | {n / tj / 1e6:.1f} | "
              f"{tc / tj:.2f}x |")
        v = cupy.arange(n, dtype=cupy.uint32)
        tj = cuda_event_ms(lambda: jk.sort(x, v))
        print(f"| sort pairs u32 -> u32 | 2^{logn} | {tj:.4f} | | | {n / tj / 1e6:.1f} | |")
        del x, t, f, tf, v
        cupy.get_default_memory_pool().free_all_blocks()


def more_rows(cupy, rng):
    for logn in (16, 20, 24, 28):
        n = 1 << logn
        x = cupy.asarray(rng.standard_normal(n, dtype=np.float32))
        pos = lambda v: v > 0   # noqa: E731
        assert bool((jk.select(x, pos) == x[x > 0]).all())
        tj = cuda_event_ms(lambda: jk.select(x, pos))
        tc = cuda_event_ms(lambda: x[x > 0])
        print(f"| select v > 0 f32 | 2^{logn} | {tj:.4f} | {tc:.4f} | | {4 * n / tj / 1e6:.0f} | {tc / tj:.2f}x |")
        tj = cuda_event_ms(lambda: jk.partition(x, pos))
        tc = cuda_event_ms(lambda: cupy.concatenate([x[x > 0], x[~(x > 0)]]))
        print(f"| partition v > 0 f32 | 2^{logn} | {tj:.4f} | {tc:.4f} | | {4 * n / tj / 1e6:.0f} | {tc / tj:.2f}x |")
        got = jk.histogram(x, 64, (-4.0, 4.0))[0]
        assert bool((got == cupy.histogram(x, 64, (-4.0, 4.0))[0]).all())
        tj = cuda_event_ms(lambda: jk.histogram(x, 64, (-4.0, 4.0)))
        tc = cuda_event_ms(lambda: cupy.histogram(x, 64, (-4.0, 4.0)))
        print(f"| histogram 64 bins f32 | 2^{logn} | {tj:.4f} | {tc:.4f} | | {4 * n / tj / 1e6:.0f} | {tc / tj:.2f}x |")
        labels = cupy.asarray(rng.integers(0, 1000, n).astype(np.int32))
        assert bool((jk.unique(labels) == cupy.unique(labels)).all())
        tj = cuda_event_ms(lambda: jk.unique(labels))
        tc = cuda_event_ms(lambda: cupy.unique(labels))
        print(f"| unique int32 (1000 values) | 2^{logn} | {tj:.4f} | {tc:.4f} | | {n / tj / 1e6:.1f} | {tc / tj:.2f}x |")
        if logn <= 24:
            less = lambda a, b: a < b   # noqa: E731
            assert bool((jk.sort(x, less=less) == cupy.sort(x)).all())
            tj = cuda_event_ms(lambda: jk.sort(x, less=less), reps=5)
            tc = cuda_event_ms(lambda: cupy.sort(x))
            print(f"| sort f32 by comparator (merge sort) | 2^{logn} | {tj:.4f} | {tc:.4f} | | {n / tj / 1e6:.1f} | "
                  f"{tc / tj:.2f}x |")
        del x, labels
        cupy.get_default_memory_pool().free_all_blocks()


def cccl_rows(cupy, rng):
    try:
        import cuda.compute as cc
    except Exception as e:   # noqa: BLE001 - not installed, or no bindings for this CUDA
        print(f"cuda.compute not available: {e!r}")
        return
    print("\n| what (vs cuda.compute, preallocated temp storage) | n | jitkit ms | cuda.compute ms | "
          "jitkit / cuda.compute speed |")
    print("|---|---|---|---|---|")
    plus = cc.OpKind.PLUS
    for logn in (16, 20, 24, 28):
        n = 1 << logn
        x = cupy.asarray(rng.standard_normal(n, dtype=np.float32))
        out = cupy.empty(1, cupy.float32)
        h0 = np.zeros(1, np.float32)
        red = cc.make_reduce_into(d_in=x, d_out=out, op=plus, h_init=h0)
        tmp = cupy.empty(max(1, red(temp_storage=None, d_in=x, d_out=out, num_items=n, op=plus, h_init=h0)), cupy.uint8)
        run = lambda: red(temp_storage=tmp, d_in=x, d_out=out, num_items=n, op=plus, h_init=h0)   # noqa: E731
        run()
        assert abs(float(out[0]) - float(jk.reduce(x))) <= 1e-4 * float(cupy.abs(x).sum())
        tc, tj = cuda_event_ms(run), cuda_event_ms(lambda: jk.reduce(x))
        print(f"| reduce f32 sum | 2^{logn} | {tj:.4f} | {tc:.4f} | {tc / tj:.2f}x |")
        xs = cupy.asarray(rng.integers(0, 3, n).astype(np.float32))
        ys = cupy.empty_like(xs)
        sc = cc.make_inclusive_scan(d_in=xs, d_out=ys, op=plus, init_value=None)
        tmp = cupy.empty(max(1, sc(temp_storage=None, d_in=xs, d_out=ys, op=plus, init_value=None, num_items=n)),
                         cupy.uint8)
        run = lambda: sc(temp_storage=tmp, d_in=xs, d_out=ys, op=plus, init_value=None, num_items=n)   # noqa: E731
        run()
        assert bool((ys[:4096] == jk.scan(xs)[:4096]).all())
        tc, tj = cuda_event_ms(run), cuda_event_ms(lambda: jk.scan(xs))
        print(f"| inclusive scan f32 | 2^{logn} | {tj:.4f} | {tc:.4f} | {tc / tj:.2f}x |")
        k = cupy.asarray(rng.integers(0, 1 << 32, n, dtype=np.uint32))
        ko = cupy.empty_like(k)
        srt = cc.make_radix_sort(d_in_keys=k, d_out_keys=ko, d_in_values=None, d_out_values=None,
                                 order=cc.SortOrder.ASCENDING)
        nb = srt(temp_storage=None, d_in_keys=k, d_out_keys=ko, d_in_values=None, d_out_values=None, num_items=n)
        tmp = cupy.empty(max(1, nb), cupy.uint8)
        run = lambda: srt(temp_storage=tmp, d_in_keys=k, d_out_keys=ko, d_in_values=None,   # noqa: E731
                          d_out_values=None, num_items=n)
        run()
        assert bool((ko == jk.sort(k)).all())
        tc, tj = cuda_event_ms(run), cuda_event_ms(lambda: jk.sort(k))
        print(f"| radix sort u32 | 2^{logn} | {tj:.4f} | {tc:.4f} | {tc / tj:.2f}x |")
        del x, xs, ys, k, ko, tmp
        cupy.get_default_memory_pool().free_all_blocks()


def targets(cupy, torch, rng, rounds=7):
    """The #7 targets at 2^28, each peer timed in interleaved rounds (CUDA events, median of 20 per
    round) so that clock and machine drift hit all alike: median of the round medians, and range."""
    import statistics
    try:
        import cuda.compute as cc
    except Exception:   # noqa: BLE001
        cc = None
    n = 1 << 28
    x = cupy.asarray(rng.standard_normal(n, dtype=np.float32))
    xs = cupy.asarray(rng.integers(0, 3, n).astype(np.float32))
    t, ts = torch.as_tensor(x, device="cuda"), torch.as_tensor(xs, device="cuda")
    reduce_fns = {"jk.reduce": lambda: jk.reduce(x), "cupy.sum": lambda: x.sum(), "torch.sum": lambda: t.sum()}
    scan_fns = {"jk.scan": lambda: jk.scan(xs), "cupy.cumsum": lambda: cupy.cumsum(xs),
                "torch.cumsum": lambda: torch.cumsum(ts, 0)}
    if cc is not None:
        plus, h0 = cc.OpKind.PLUS, np.zeros(1, np.float32)
        out, ys = cupy.empty(1, cupy.float32), cupy.empty_like(xs)
        red = cc.make_reduce_into(d_in=x, d_out=out, op=plus, h_init=h0)
        tr = cupy.empty(max(1, red(temp_storage=None, d_in=x, d_out=out, num_items=n, op=plus, h_init=h0)), cupy.uint8)
        reduce_fns["cuda.compute"] = lambda: red(temp_storage=tr, d_in=x, d_out=out, num_items=n, op=plus, h_init=h0)
        sc = cc.make_inclusive_scan(d_in=xs, d_out=ys, op=plus, init_value=None)
        tsc = cupy.empty(max(1, sc(temp_storage=None, d_in=xs, d_out=ys, op=plus, init_value=None, num_items=n)),
                         cupy.uint8)
        scan_fns["cuda.compute"] = lambda: sc(temp_storage=tsc, d_in=xs, d_out=ys, op=plus, init_value=None,
                                              num_items=n)
    print(f"\n| 2^28 float32, {rounds} interleaved rounds | ms (median) | range | GB/s | jitkit speed vs it |")
    print("|---|---|---|---|---|")
    for fns, nbytes in ((reduce_fns, 4 * n), (scan_fns, 8 * n)):
        per = {k: [] for k in fns}
        for _ in range(rounds):
            for k, fn in fns.items():
                per[k].append(cuda_event_ms(fn, reps=20))
        mine = statistics.median(next(iter(per.values())))
        for k, v in per.items():
            med = statistics.median(v)
            print(f"| {k} | {med:.4f} | {min(v):.4f}-{max(v):.4f} | {nbytes / med / 1e6:.0f} | {med / mine:.2f}x |")
    del x, xs, t, ts
    cupy.get_default_memory_pool().free_all_blocks()


def overhead(cupy, rng):
    """Host time per call, interleaved rounds (machine drift hits all three alike), median and range."""
    x = cupy.asarray(rng.standard_normal(1 << 20, dtype=np.float32))
    plan = jk.plan_reduce(x)
    got = interleaved_us({"jk.reduce(x)": lambda: jk.reduce(x), "plan(x)": lambda: plan(x),
                          "cupy x.sum()": lambda: x.sum()}, n=2000, rounds=7,
                         sync=cupy.cuda.runtime.deviceSynchronize)
    for label, (med, lo, hi) in got.items():
        print(f"host time per call, 2^20 f32 sum, {label}: {med:.1f} us (rounds {lo:.1f}-{hi:.1f})")
    got = interleaved_us({"jk.scan(x)": lambda: jk.scan(x), "cupy.cumsum(x)": lambda: cupy.cumsum(x)},
                         n=2000, rounds=7, sync=cupy.cuda.runtime.deviceSynchronize)
    for label, (med, lo, hi) in got.items():
        print(f"host time per call, 2^20 f32 inclusive scan, {label}: {med:.1f} us (rounds {lo:.1f}-{hi:.1f})")


if __name__ == "__main__":
    main(sys.argv[1:] or ["reduce", "scan", "transform", "sort", "more", "cccl", "targets", "overhead"])
