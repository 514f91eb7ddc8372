"""The device-wide radix sort behind ``jk.sort``, ``jk.argsort`` and ``jk.unique``.

Numbers sort with an LSD radix sort of 8-bit digits in the *onesweep* style (Adinets & Merrill,
2022): one kernel counts every pass's digits at once, then each pass is one kernel in which a tile
counts its keys' digits and publishes the counts at once, ranks its keys (warp-private counters,
equal digits found by ballots), looks back over its predecessors' counts (decoupled look-back, one
chain per digit) to learn where its keys go, and scatters them through shared memory.  Keys pass through memory as
order-preserving unsigned bits, and come back exactly as they went in.

:func:`radix_launches` sets up one sort (its scratch and its launches, not yet run: a plan records
them), :func:`radix_sort` runs one.
"""

from __future__ import annotations

import operator

import numpy as np

from ...dispatcher import jit
from ...lang import types as T
from ...lang.intrinsics import asm, atomic, block_dims, blockIdx, constexpr, gridDim, lanemask_lt, laneid, local, popc, shared, static_assert, syncthreads, syncwarp, threadIdx
from ...lang.types import int32, int64, uint8, uint16, uint32, uint64
from ...runtime.interop import numpy_dtype
from .. import block
from ..block import from_ordered, to_ordered
from .ops import cached
from .side import max_blocks, zeroed

__all__ = ["DIGITS", "SORT_THREADS", "sortable", "RadixSort", "radix_launches", "radix_sort"]

DIGITS = 256                # 8-bit digits
SORT_THREADS = 256


def _ipt(ksize: int, vsize: int) -> int:
    """Keys per thread and tile: 20 for items up to 4 bytes (on the H100 20 beat 12, 16, 18, 22 and
    24 at 256 threads, and 256 threads beat 288, 320, 384 and 512), fewer for wider items."""
    return 20 if max(ksize, vsize) <= 4 else 12


# ------------------------------------------------------------------ device code
@jit
def _unsigned(bits: constexpr):
    return uint8(0) if bits == 8 else (uint16(0) if bits == 16 else (uint32(0) if bits == 32 else uint64(0)))


@jit
def _digit(u, shift, hi: constexpr, lo: constexpr, mz: constexpr, descending: constexpr):
    """The 8-bit digit at ``shift`` of an ordered key, with every NaN as the largest key and -0.0 as
    +0.0 (``hi``/``lo``: the ordered bits of +inf/-inf, ``mz`` of -0.0; 0 for integers)."""
    c = u
    if hi != 0:
        if u > type(u)(hi) or u < type(u)(lo):
            c = ~type(u)(0)
        elif u == type(u)(mz):
            c = u + type(u)(1)
    if descending:
        c = ~c
    return int32((c >> type(u)(shift)) & type(u)(DIGITS - 1))


def _peers_sim(d):
    w = np.asarray(d).reshape(-1, 32)
    same = w[:, :, None] == w[:, None, :]
    return (same * (np.uint64(1) << np.arange(32, dtype=np.uint64))).sum(axis=2).astype(np.uint32).ravel()


# One ballot per digit bit (CUB's MatchAny): a lane keeps the ballot where its bit is set, the
# complement where it is clear.  Written in PTX so each bit is four instructions; match.any.sync,
# the one-instruction alternative, measured 20% slower for the whole sort on the H100.
_PEERS_PTX = "{ .reg .pred %jp; .reg .b32 %jm, %jt; mov.b32 $0, 0xffffffff; " + " ".join(
    f"and.b32 %jt, $1, {1 << b}; setp.ne.u32 %jp, %jt, 0; vote.sync.ballot.b32 %jm, %jp, 0xffffffff; "
    f"@!%jp not.b32 %jm, %jm; and.b32 $0, $0, %jm;" for b in range(8)) + " }"


@jit
def _peers(d):
    """The lanes of the warp whose 8-bit digit ``d`` equals this lane's (all lanes active)."""
    return asm(_PEERS_PTX, "=r,r", uint32, d, sim=_peers_sim)


@jit
def _histogram_kernel(keys, state, passes: constexpr, ipt: constexpr, hi: constexpr, lo: constexpr,
                      mz: constexpr, descending: constexpr):
    """Every pass's digit counts at once (``state[p*256 + d]``, zeroed before)."""
    bx, by, bz = block_dims()
    tid = threadIdx.x
    bits = keys.itemsize * 8
    proto = _unsigned(bits)
    h = shared.array(passes * DIGITS, uint32)
    for j in range(tid, passes * DIGITS, bx):
        h[j] = 0
    syncthreads()
    n = keys.size
    tile = bx * ipt
    stride = int64(tile) * int64(gridDim.x)
    base = int64(tile) * int64(blockIdx.x)
    while base < n:
        for k in range(ipt):
            i = base + k * bx + tid
            if i < n:
                u = to_ordered(keys[i], type(proto), bits)
                for p in range(passes):
                    atomic.add(h, p * DIGITS + _digit(u, p * 8, hi, lo, mz, descending), uint32(1))
        base += stride
    syncthreads()
    for j in range(tid, passes * DIGITS, bx):
        c = h[j]
        if c != 0:
            atomic.add(state, j, type(state[0])(c))



@jit
def _onesweep(kin, kout, vin, vout, state, hist_at, ctr_at, st_at, shift, first: constexpr, last: constexpr,
              vmode: constexpr, ipt: constexpr, hi: constexpr, lo: constexpr, mz: constexpr,
              descending: constexpr):
    """One radix pass: tile ``t`` (numbered in start order from a counter) ranks its keys by the
    digit at ``shift``, learns each digit's global position by look-back and scatters keys (and
    values: ``vmode`` 1 from ``vin``, 2 their indices) from ``kin`` to ``kout`` through shared memory.

    ``state`` (zeroed before the sort) holds this pass's histogram at ``hist_at`` (256 counts),
    its tile counter at ``ctr_at`` and its look-back words at ``st_at`` (tiles x 256): a flag in the
    top two bits (1: the tile's count of the digit; 2: the count over all tiles up to this one plus
    the keys of smaller digits) and the count below them.  Keys move as ordered bits: ``first``
    converts from the key type, ``last`` back to it."""
    bx, by, bz = block_dims()
    static_assert(bx >= DIGITS and bx % 32 == 0 and by == 1 and bz == 1,
                  "the onesweep kernel runs 1-d blocks of at least 256 threads")
    nw = bx // 32
    tile = bx * ipt
    tid = threadIdx.x
    lane = laneid
    wid = tid >> 5
    bits = kin.itemsize * 8
    proto = _unsigned(bits)
    W = type(state[0])
    FLAG_A = W(1) << W(state.itemsize * 8 - 2)
    FLAG_P = W(2) << W(state.itemsize * 8 - 2)
    n = kin.size
    counts = shared.array(0, uint32)                 # dynamic: nw x 256 warp counters, then keys, then values
    kbuf = shared.array(0, type(proto))
    koff = nw * DIGITS * 4 // kin.itemsize
    vbuf = shared.array(0, vout.dtype)
    voff = (nw * DIGITS * 4 + tile * kin.itemsize) // vout.itemsize
    dofs = shared.array(DIGITS, int64)               # digit d's global position minus its start in the tile
    slot = shared.array(1, int64)
    if tid == 0:
        slot[0] = int64(atomic.add(state, ctr_at, W(1)))
    for j in range(tid, nw * DIGITS, bx):
        counts[j] = 0
    syncthreads()
    t = slot[0]
    base = t * tile
    full = base + tile <= n
    # Load warp-striped (lane l's k-th key is wbase + k*32 + l): coalesced, and ranking keys in
    # (k, lane) order per warp keeps the sort stable.  Keys past n take digit 255 and rank last.
    # (Indices are unsigned: no negative-index wrapping in the hot loops.)
    uk = local.array(ipt, type(proto))
    rd = local.array(ipt, int32)
    vals = local.array(ipt, vout.dtype)
    wbase = base + wid * (32 * ipt) + lane
    for k in range(ipt):
        at_k = wbase + k * 32
        i = uint64(at_k)
        if full or at_k < n:
            u = to_ordered(kin[i], type(proto), bits) if first else kin[i]
            uk[k] = u
            rd[k] = _digit(u, shift, hi, lo, mz, descending)
            if vmode == 1:
                vals[k] = vin[i]
            elif vmode == 2:
                vals[k] = at_k
        else:
            uk[k] = proto
            rd[k] = DIGITS - 1
    # Early counts: each warp counts its digits (this also waits for every load, before ranking).
    cbase = wid * DIGITS
    for k in range(ipt):
        atomic.add(counts, uint32(cbase + rd[k]), uint32(1))
    syncthreads()
    # Per digit (thread d): the counts over the warps become each warp's first position in the
    # tile; the tile's count is published at once, so later tiles can look back past this one.
    total = uint32(0)
    if tid < DIGITS:
        for w in range(nw):
            c = counts[w * DIGITS + tid]
            counts[w * DIGITS + tid] = total
            total += c
    start = block.exclusive_scan(total, operator.add, uint32(0))
    gstart = W(0)
    if t == 0:                                       # the first tile adds the keys of smaller digits
        gstart = block.exclusive_scan(state[hist_at + min(tid, DIGITS - 1)] if tid < DIGITS else W(0),
                                      operator.add, W(0))
    at = st_at + t * DIGITS + tid
    mine = W(total)
    if tid < DIGITS:
        for w in range(nw):
            counts[w * DIGITS + tid] += start
        if tid == DIGITS - 1 and not full:           # the padding is not counted
            mine -= W(base + tile - n)
        atomic.exch(state, at, (FLAG_P | (gstart + mine)) if t == 0 else (FLAG_A | mine))
    syncthreads()
    # Rank within the warp: lanes with the same digit (peers) take consecutive places from the
    # warp's counter for it, bumped once by the lowest peer.  Keys go straight to their tile place.
    for k in range(ipt):
        c = uint32(cbase + rd[k])
        peers = _peers(rd[k])
        old = counts[c]                              # every peer reads the warp's counter...
        syncwarp()
        if (peers & lanemask_lt()) == uint32(0):     # ...and the first peer bumps it
            counts[c] = old + uint32(popc(peers))
        syncwarp()
        r = old + uint32(popc(peers & lanemask_lt()))
        kbuf[koff + r] = uk[k]
        if vmode != 0:
            vbuf[voff + r] = vals[k]
    # Look back (thread d) over the predecessors' words for digit d, to the nearest full prefix.
    if tid < DIGITS:
        excl = gstart
        if t != 0:
            j = at - DIGITS
            done = False
            while not done:
                w = atomic.load(state, j)
                while w == W(0):
                    w = atomic.load(state, j)
                excl += w & (FLAG_A - W(1))
                done = (w & FLAG_P) != W(0)
                j -= DIGITS
            atomic.exch(state, at, FLAG_P | (excl + mine))
        dofs[tid] = int64(excl) - int64(start)
    syncthreads()
    for k in range(ipt):
        p = uint32(k * bx + tid)
        if full or base + p < n:
            u = kbuf[koff + p]
            g = uint64(dofs[_digit(u, shift, hi, lo, mz, descending)] + p)
            if last:
                kout[g] = from_ordered(u, kout.dtype, bits)
            else:
                kout[g] = u
            if vmode != 0:
                vout[g] = vbuf[voff + p]


# ------------------------------------------------------------------ host side
_HIST_THREADS = 256
_HIST_IPT = 8


def _order_constants(dt: np.dtype):
    """(hi, lo, mz): the ordered bits of +inf, -inf and -0.0 for a float key type, zeros otherwise."""
    if dt.kind != "f" and dt != T.bfloat16.dtype:
        return 0, 0, 0
    bits = dt.itemsize * 8
    ut = np.dtype(f"u{dt.itemsize}")
    sign = 1 << (bits - 1)
    mask = (1 << bits) - 1

    def ordered(v):
        u = int(np.array(v, dt).view(ut))
        return (u ^ mask) if u & sign else (u | sign)
    return ordered(np.inf), ordered(-np.inf), ordered(-0.0)


def _sort_kernels(first, last, vmode, ipt, consts, descending):
    hi, lo, mz = consts

    def make():
        @jit
        def onesweep(kin, kout, vin, vout, state, hist_at, ctr_at, st_at, shift):
            _onesweep(kin, kout, vin, vout, state, hist_at, ctr_at, st_at, shift, first, last, vmode, ipt,
                      hi, lo, mz, descending)
        return onesweep
    return cached(("onesweep", first, last, vmode, ipt, consts, descending), make)


def _histogram_for(passes, consts, descending):
    hi, lo, mz = consts

    def make():
        @jit
        def digit_counts(keys, state):
            _histogram_kernel(keys, state, passes, _HIST_IPT, hi, lo, mz, descending)
        return digit_counts
    return cached(("digit counts", passes, consts, descending), make)


def sortable(dt: np.dtype, what: str):
    if dt.kind not in "biuf" and dt != T.bfloat16.dtype:
        raise TypeError(f"{what} radix-sorts integer, bool and float keys, got {dt}; for other orders "
                        "pass less= (a comparator)")


class RadixSort:
    """One radix sort of flat keys (and values), set up and not yet run: ``launches`` (kernel, grid,
    threads, dynamic shared bytes, arguments) from ``keys`` into ``out`` (and values into ``vout``),
    with the digit ``state`` they share, zeroed before the first launch."""

    __slots__ = ("keys", "out", "vout", "state", "launches", "dtype")

    def __init__(self, keys, out, vout, state, launches, dtype):
        self.keys, self.out, self.vout, self.state, self.launches, self.dtype = keys, out, vout, state, launches, dtype


def radix_launches(side, keys, values, descending: bool, iota: bool, end_bit: int | None = None) -> RadixSort:
    """The :class:`RadixSort` of 1-d ``keys`` (and ``values``, or with ``iota`` the keys' indices) on
    ``side``.  ``end_bit``: the keys (unsigned) are below 2**end_bit, so only that many low bits take
    passes."""
    dt = numpy_dtype(keys)
    n = keys.shape[0]
    kflat = side.flat(keys)
    if dt == np.bool_:
        kflat = side.view(kflat, np.uint8)
    kt = np.dtype(np.uint8) if dt == np.bool_ else dt
    ut = np.dtype(f"u{kt.itemsize}")
    passes = kt.itemsize if end_bit is None else max(1, -(-end_bit // 8))
    vdt = np.dtype(np.int64) if iota else (numpy_dtype(values) if values is not None else None)
    vmode = 2 if iota else (1 if values is not None else 0)
    ipt = _ipt(kt.itemsize, vdt.itemsize if vdt is not None else 0)
    tile = SORT_THREADS * ipt
    tiles = -(-n // tile)
    wt = np.uint32 if n < (1 << 30) else np.uint64
    state = zeroed(side, passes * (DIGITS + 1 + tiles * DIGITS), wt)
    consts = _order_constants(kt)
    hist_blocks = min(-(-n // (_HIST_THREADS * _HIST_IPT)), max_blocks(side))
    launches = [(_histogram_for(passes, consts, descending), hist_blocks, _HIST_THREADS, 0, (kflat, state))]

    out = side.empty(n, kt)
    bufs = [side.view(out, ut) if kt != ut else out, side.empty(n, ut)]
    vflat = side.flat(values) if vmode == 1 else None
    vout = side.empty(n, vdt) if vdt is not None else None
    vbufs = [vout, side.empty(n, vdt) if passes > 1 else None] if vdt is not None else None
    dummy = out
    shared = (SORT_THREADS // 32) * DIGITS * 4 + tile * (kt.itemsize + (vdt.itemsize if vdt is not None else 0))
    src, vsrc = kflat, vflat
    for p in range(passes):
        which = (passes - 1 - p) % 2                   # the last pass writes ``out`` (bufs[0])
        last = p == passes - 1
        dst = out if last else bufs[which]
        vdst = vbufs[which] if vdt is not None else None
        pv = 1 if vmode == 2 and p > 0 else vmode     # indices are made once, then moved like values
        k = _sort_kernels(p == 0, last, pv, ipt, consts, descending)
        launches.append((k, tiles, SORT_THREADS, shared,
                         (src, dst, vsrc if pv == 1 else dummy, vdst if vdst is not None else dummy, state,
                          np.int64(p * DIGITS), np.int64(passes * DIGITS + p),
                          np.int64(passes * (DIGITS + 1) + p * tiles * DIGITS), np.int32(8 * p))))
        src, vsrc = dst, vdst
    return RadixSort(kflat, out, vout, state, launches, dt)


def radix_sort(side, keys, values, descending: bool, iota: bool, end_bit: int | None = None):
    """(sorted keys, values moved with them) as flat device (or simulator) arrays: the
    :func:`radix_launches` of the arguments, run."""
    rs = radix_launches(side, keys, values, descending, iota, end_bit)
    for k, grid, threads, nbytes, args in rs.launches:
        side.launch(k, grid, threads, *args, shared=nbytes)
    out = rs.out
    if rs.dtype == np.bool_:
        out = side.view(out, np.bool_)
    return out, rs.vout
