"""Where the single-pass scan's time goes: variants of its kernel on 2^28 float32, GB/s read + write,
timed in interleaved rounds (CUDA events, median of the round minimums).

- ``copy``: the tile's load and store only (the memory path's ceiling for this tile shape);
- ``local``: load, block scan, store, no look-back (each tile scanned on its own: wrong sums);
- ``full``: the real single-pass scan;
each with the warp-transposed loads/stores of 4-byte items (``w``) or 16-byte vectors (``v``), and
``full`` also with a ``nanosleep`` back-off in the look-back's spin (``s<ns>``).

    PYTHONPATH=. python bench/scan_variants.py [threads:ipt ...]
"""

from __future__ import annotations

import statistics
import sys

import numpy as np

from _common import cuda_event_ms

import jitkit as jk
from jitkit.lang.intrinsics import asm, atomic, ballot_sync, block_dims, constexpr, laneid, local, shared, shfl_sync, syncthreads, syncwarp, threadIdx, vector_load, vector_store
from jitkit import block
from jitkit.lang.types import int32, int64, uint32, uint64
from jitkit.dispatcher import jit
from jitkit.primitives.host import scan as alg
from jitkit.primitives import warp as _w


@jit
def _buf(n: constexpr, proto):
    bx, by, bz = block_dims()
    size = bx * n
    return shared.array(size + (size >> 5), type(proto))


@jit
def _vload(src, wbase, items, n: constexpr):
    buf = _buf(n, items[0])
    base = (threadIdx.x >> 5) * (32 * n)
    lane = laneid
    for c in range(n // 4):
        j = (c * 32 + lane) * 4
        t = vector_load(src, wbase + j, 4)
        p = _w.pad_index(base + j)
        buf[p] = t[0]
        buf[p + 1] = t[1]
        buf[p + 2] = t[2]
        buf[p + 3] = t[3]
    syncwarp()
    for k in range(n):
        items[k] = buf[_w.pad_index(base + lane * n + k)]


@jit
def _vstore(dst, wbase, items, n: constexpr):
    buf = _buf(n, items[0])
    base = (threadIdx.x >> 5) * (32 * n)
    lane = laneid
    syncwarp()
    for k in range(n):
        buf[_w.pad_index(base + lane * n + k)] = items[k]
    syncwarp()
    for c in range(n // 4):
        j = (c * 32 + lane) * 4
        p = _w.pad_index(base + j)
        vector_store(dst, wbase + j, (buf[p], buf[p + 1], buf[p + 2], buf[p + 3]))


@jit
def _look_sleep(aggregate, state):
    """host.scan._look_back for float32 sums, with a nanosleep(state[3]) in the spin."""
    status = state[0]
    tile = state[1]
    ep = uint64(state[2])
    ns = uint32(state[3])
    lane = laneid
    if lane == 0:
        atomic.exch(status, tile, alg._word(ep * uint64(4) + uint64(1), aggregate))
    excl = aggregate
    have = False
    base = tile - 1
    done = False
    while not done:
        j = base - lane
        w = uint64(0)
        st = 2
        if j >= 0:
            w = atomic.load(status, j)
            while (w >> uint64(34)) != ep:
                if ns > 0:
                    asm("nanosleep.u32 $0;", "r", None, ns)
                w = atomic.load(status, j)
            st = int32((w >> uint64(32)) & uint64(3))
        incl = ballot_sync(0xFFFFFFFF, st == 2)
        valid = 32 if incl == 0 else alg._ctz(incl) + 1
        part = shfl_sync(0xFFFFFFFF, _w.reduce_to_lane0(alg._word_value(w, aggregate), _add, valid, 0xFFFFFFFF), 0)
        excl = part + excl if have else part
        have = True
        done = incl != 0
        base -= 32
    if lane == 0:
        atomic.exch(status, tile, alg._word(ep * uint64(4) + uint64(2), excl + aggregate))
    return excl


@jit
def _add(a, b):
    return a + b


@jit
def variant(x, out, status, counter, first_id, epoch, ns, ipt: constexpr, vec: constexpr, mode: constexpr):
    bx, by, bz = block_dims()
    n = bx * ipt
    slot = shared.array(1, int64)
    if threadIdx.x == 0:
        slot[0] = atomic.add(counter, 0, int64(1)) - first_id
    syncthreads()
    t = slot[0]
    base = t * n
    wbase = base + (threadIdx.x >> 5) * 32 * ipt
    items = local.array(ipt, x.dtype)
    if vec:
        _vload(x, wbase, items, ipt)
    else:
        block.load(x, base, items, method="warp_transpose")
    if mode == 1:
        block.inclusive_scan(items, _add)
    elif mode == 2:
        state = (status, t, epoch, ns)
        if t == 0:
            agg = block.inclusive_scan(items, _add)
            if threadIdx.x == 0:
                atomic.exch(status, 0, alg._word(uint64(epoch) * uint64(4) + uint64(2), agg))
        else:
            block.inclusive_scan(items, _add, prefix_op=_look_sleep, state=state)
    if vec:
        _vstore(out, wbase, items, ipt)
    else:
        block.store(out, base, items, method="warp_transpose")


def main(configs):
    import cupy
    sizes = [(int(a), int(b)) for a, b in (c.split(":") for c in configs)] or [(128, 20), (128, 32), (256, 16), (64, 32)]
    N = 1 << 28
    X = cupy.asarray(np.random.default_rng(0).integers(0, 3, N).astype(np.float32))
    Y = cupy.empty_like(X)
    REF = cupy.cumsum(X.astype(cupy.float64)).astype(cupy.float32)
    runs, nbytes = {}, {}
    for threads, ipt in sizes:
        tile = threads * ipt
        tiles = N // tile                  # whole tiles only: the variants have no partial-tile path
        n = tiles * tile
        x, y, ref = X[:n], Y[:n], REF[:n]
        status = cupy.zeros(tiles, cupy.uint64)
        counter = cupy.zeros(1, cupy.int64)
        calls = [0]
        for vec in (False, True):
            for mode, sleeps in ((0, (0,)), (1, (0,)), (2, (0, 100))):
                for ns in sleeps:
                    def run(threads=threads, ipt=ipt, vec=vec, mode=mode, ns=ns, tiles=tiles, status=status,
                            counter=counter, calls=calls):
                        calls[0] += 1
                        variant[tiles, threads](x, y, status, counter, np.int64((calls[0] - 1) * tiles),
                                                np.uint32(calls[0]), np.uint32(ns), ipt, vec, mode)
                    name = (f"{threads}x{ipt} {'v' if vec else 'w'} {('copy', 'local', 'full')[mode]}"
                            + (f" s{ns}" if mode == 2 else ""))
                    run()
                    if mode == 2:
                        err = float(cupy.max(cupy.abs(y - ref) / cupy.maximum(ref, 1)))
                        name += "" if err < 1e-3 else f" WRONG({err:.2g})"
                    elif mode == 0:
                        assert bool((y == x).all()), name
                    runs[name] = run
                    nbytes[name] = 2 * 4 * n
    times = {k: [] for k in runs}
    for _ in range(5):
        for k, fn in runs.items():
            times[k].append(cuda_event_ms(fn, reps=10))
    for k, v in times.items():
        ms = statistics.median(v)
        print(f"{k:32s} {ms:.4f} ms  {nbytes[k] / ms / 1e6:6.0f} GB/s  (range {min(v):.4f}-{max(v):.4f})", flush=True)
    copy = cuda_event_ms(lambda: cupy.copyto(Y, X), reps=20)
    print(f"{'cupy copyto':32s} {copy:.4f} ms  {2 * 4 * N / copy / 1e6:6.0f} GB/s")
    jk_ms = cuda_event_ms(lambda: jk.scan(X, out=Y), reps=20)
    print(f"{'jk.scan (2^28)':32s} {jk_ms:.4f} ms  {2 * 4 * N / jk_ms / 1e6:6.0f} GB/s")


if __name__ == "__main__":
    main(sys.argv[1:])
