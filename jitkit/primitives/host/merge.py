"""The comparator merge sort behind ``jk.sort(less=...)`` and ``jk.argsort(less=...)``: each block
sorts a tile with the block merge sort, then passes merge neighbouring sorted runs (merge path: each
block finds its share of the two runs by binary search)."""

from __future__ import annotations

import numpy as np

from ...dispatcher import jit
from ...lang.intrinsics import block_dims, blockIdx, constexpr, local, shared, syncthreads, threadIdx
from ...lang.types import int64
from ...runtime.interop import numpy_dtype
from .. import block
from .ops import cached, device_fn

__all__ = ["merge_sort"]

MERGE_THREADS = 128
MERGE_IPT = 8


@jit
def _block_sort(src, dst, vsrc, vdst, less: constexpr, greatest: constexpr, vmode: constexpr, ipt: constexpr):
    """Sort each tile of ``src`` by ``less`` (stable) into ``dst``.  A partial last tile is padded
    with its greatest key, which sorts after every real key (stability keeps the padding last)."""
    bx, by, bz = block_dims()
    tid = threadIdx.x
    n = src.size
    base = int64(blockIdx.x) * (bx * ipt)
    items = local.array(ipt, src.dtype)
    vals = local.array(ipt, vdst.dtype)
    acc = src[base]
    for k in range(ipt):
        i = base + tid * ipt + k
        items[k] = src[i] if i < n else acc
        if i < n:
            acc = greatest(acc, items[k])
        if vmode == 1:
            vals[k] = vsrc[i] if i < n else vsrc[base]
        elif vmode == 2:
            vals[k] = i
    if base + bx * ipt > n:
        top = block.reduce(acc, greatest)
        for k in range(ipt):
            if base + tid * ipt + k >= n:
                items[k] = top
    if vmode == 0:
        block.merge_sort(items, less)
    else:
        block.merge_sort(items, less, vals)
    for k in range(ipt):
        i = base + tid * ipt + k
        if i < n:
            dst[i] = items[k]
            if vmode != 0:
                vdst[i] = vals[k]


@jit
def _merge_split(buf, a0, na, b0, nb, k, less: constexpr):
    """How many of run A (``buf[a0:a0+na]``) are among the first k items of the stable merge of A
    and B (``buf[b0:b0+nb]``): A's items go first among equals (merge path)."""
    lo = max(int64(0), k - nb)
    hi = min(k, na)
    while lo < hi:
        mid = (lo + hi) >> 1
        if less(buf[b0 + k - 1 - mid], buf[a0 + mid]):
            hi = mid
        else:
            lo = mid + 1
    return lo


@jit
def _merge_pass(src, dst, vsrc, vdst, width, less: constexpr, vmode: constexpr, ipt: constexpr):
    """Merge neighbouring sorted runs of ``width`` items of ``src`` into runs of 2*width in ``dst``;
    block b writes outputs b*T .. b*T+T-1 (T = threads x ipt) of its pair of runs."""
    bx, by, bz = block_dims()
    tile = bx * ipt
    tid = threadIdx.x
    n = src.size
    k0 = int64(blockIdx.x) * tile
    a0 = (k0 // (2 * width)) * (2 * width)
    a1 = min(a0 + width, n)
    b1 = min(a0 + 2 * width, n)
    na = a1 - a0
    nb = b1 - a1
    kk0 = k0 - a0
    kk1 = min(kk0 + tile, na + nb)
    cut = shared.array(2, int64)
    if tid < 2:
        cut[tid] = _merge_split(src, a0, na, a1, nb, kk0 if tid == 0 else kk1, less)
    syncthreads()
    i0 = cut[0]
    i1 = cut[1]
    la = i1 - i0
    lb = (kk1 - i1) - (kk0 - i0)
    kbuf = shared.array(tile, src.dtype)
    vbuf = shared.array(tile, vdst.dtype)
    for j in range(tid, la + lb, bx):
        g = a0 + i0 + j if j < la else a1 + (kk0 - i0) + (j - la)
        kbuf[j] = src[g]
        if vmode != 0:
            vbuf[j] = vsrc[g]
    syncthreads()
    d = min(int64(tid * ipt), la + lb)
    ia = _merge_split(kbuf, 0, la, la, lb, d, less)
    ib = d - ia
    for q in range(ipt):
        if d + q < la + lb:
            take_a = ia < la and (ib >= lb or not less(kbuf[la + ib], kbuf[ia]))
            j = ia if take_a else la + ib
            dst[k0 + d + q] = kbuf[j]
            if vmode != 0:
                vdst[k0 + d + q] = vbuf[j]
            if take_a:
                ia += 1
            else:
                ib += 1


def _merge_kernels(lessf, vmode: int):
    def make():
        @jit
        def greatest(a, b):
            return b if lessf(a, b) else a

        @jit
        def block_sort(src, dst, vsrc, vdst):
            _block_sort(src, dst, vsrc, vdst, lessf, greatest, vmode, MERGE_IPT)

        @jit
        def merge_pass(src, dst, vsrc, vdst, width):
            _merge_pass(src, dst, vsrc, vdst, width, lessf, vmode, MERGE_IPT)
        return block_sort, merge_pass
    return cached(("merge sort", lessf, vmode), make)


def _reversed(lessf):
    def make():
        @jit
        def greater(a, b):
            return lessf(b, a)
        return greater
    return cached(("reversed", lessf), make)


def merge_sort(side, keys, values, less, descending: bool, iota: bool):
    """(sorted keys, values moved with them) by a comparator, as flat device (or simulator) arrays."""
    lessf = device_fn(less, "less")
    if descending:
        lessf = _reversed(lessf)
    dt = numpy_dtype(keys)
    n = keys.shape[0]
    kflat = side.flat(keys)
    vmode = 2 if iota else (1 if values is not None else 0)
    vdt = np.dtype(np.int64) if iota else (numpy_dtype(values) if values is not None else dt)
    vflat = side.flat(values) if vmode == 1 else kflat
    block_sort, merge_pass = _merge_kernels(lessf, vmode)
    tile = MERGE_THREADS * MERGE_IPT
    blocks = -(-n // tile)
    bufs = [side.empty(n, dt), side.empty(n, dt) if blocks > 1 else None]
    vbufs = [side.empty(n, vdt), side.empty(n, vdt) if blocks > 1 else None] if vmode else [kflat, kflat]
    side.launch(block_sort, blocks, MERGE_THREADS, kflat, bufs[0], vflat, vbufs[0])
    width, cur = tile, 0
    while width < n:
        side.launch(merge_pass, blocks, MERGE_THREADS, bufs[cur], bufs[1 - cur], vbufs[cur], vbufs[1 - cur],
                    np.int64(width))
        cur, width = 1 - cur, width * 2
    return bufs[cur], (vbufs[cur] if vmode else None)
