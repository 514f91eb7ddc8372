"""Device-wide sorting from the host: ``jk.sort``, ``jk.argsort``, ``jk.unique``.

Numbers sort with an LSD radix sort of 8-bit digits in the *onesweep* style (Adinets & Merrill,
2022): one kernel counts every pass's digits at once, then each pass is one kernel in which a tile
counts its keys' digits and publishes the counts at once, ranks its keys (warp-private counters,
equal digits found by ballots), looks back over its predecessors' counts (decoupled look-back, one
chain per digit) to learn where its keys go, and scatters them through shared memory.  Keys pass through memory as
order-preserving unsigned bits, and come back exactly as they went in.

Orders (all sorts are stable):

- integers: numeric; ``bool``: False before True;
- floats (float16, bfloat16, float32, float64): numeric, ``-0.0`` and ``+0.0`` equal (they keep
  their input order), every NaN after ``+inf`` (NumPy's order); ``descending=True`` reverses the
  order of keys, not of equal keys, so NaNs come first (PyTorch's order).

``key=`` sorts by ``key(item)`` computed on the device (any function jitkit can compile that gives
a number); ``less=`` sorts by a comparator with a merge sort.
"""

from __future__ import annotations

import functools
import math
import operator
import threading

import numpy as np

from ..lang.intrinsics import asm, atomic, block_dims, blockIdx, constexpr, gridDim, lanemask_lt, laneid, local, popc, shared, static_assert, syncthreads, syncwarp, threadIdx
from . import block
from ..lang.types import int32, int64, uint8, uint16, uint32, uint64
from ..dispatcher import jit
from . import algorithms as _alg
from .block import _from_ordered, _to_ordered
from .. import config
from ..lang import types as T
from ..runtime import driver

__all__ = ["sort", "argsort", "unique"]

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
                u = _to_ordered(keys[i], type(proto), bits)
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
            u = _to_ordered(kin[i], type(proto), bits) if first else kin[i]
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
                kout[g] = _from_ordered(u, kout.dtype, bits)
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
    return _alg._cached(("onesweep", first, last, vmode, ipt, consts, descending), make)


def _histogram_for(passes, consts, descending):
    hi, lo, mz = consts

    def make():
        @jit
        def digit_counts(keys, state):
            _histogram_kernel(keys, state, passes, _HIST_IPT, hi, lo, mz, descending)
        return digit_counts
    return _alg._cached(("digit counts", passes, consts, descending), make)


def _sortable(dt: np.dtype, what: str):
    if dt.kind not in "biuf" and dt != T.bfloat16.dtype:
        raise TypeError(f"{what} radix-sorts integer, bool and float keys, got {dt}; for other orders "
                        "pass less= (a comparator)")


def _radix_sort(side, keys, values, descending: bool, iota: bool, end_bit: int | None = None, hot_key=None):
    """(sorted keys, values moved with them) as flat device (or simulator) arrays.  ``end_bit``: the
    keys (unsigned) are below 2**end_bit, so only that many low bits take passes.  ``hot_key``: keep
    this sort (keys only) as the :class:`_SortHot` of that key."""
    dt = _alg._np_dtype(keys)
    n = keys.shape[0]
    kflat = side.flat(keys)
    if dt == np.bool_:
        kflat = side.view(kflat, np.uint8)
    kt = np.dtype(np.uint8) if dt == np.bool_ else dt
    ut = np.dtype(f"u{kt.itemsize}")
    passes = kt.itemsize if end_bit is None else max(1, -(-end_bit // 8))
    vdt = np.dtype(np.int64) if iota else (_alg._np_dtype(values) if values is not None else None)
    vmode = 2 if iota else (1 if values is not None else 0)
    ipt = _ipt(kt.itemsize, vdt.itemsize if vdt is not None else 0)
    tile = SORT_THREADS * ipt
    tiles = -(-n // tile)
    wt = np.uint32 if n < (1 << 30) else np.uint64
    state = _alg._zeroed(side, passes * (DIGITS + 1 + tiles * DIGITS), wt)
    consts = _order_constants(kt)
    hist_blocks = min(-(-n // (_HIST_THREADS * _HIST_IPT)), _alg._max_blocks(side))
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
    for k, grid, threads, nbytes, args in launches:
        side.launch(k, grid, threads, *args, shared=nbytes)
    if hot_key is not None and vmode == 0 and end_bit is None:
        _SortHot.register(hot_key, keys, out, state, launches)
    if dt == np.bool_:
        out = side.view(out, np.bool_)
    return out, vout


class _SortHot:
    """The radix sort of one kind of 1-d contiguous CuPy array (type, dtype, length, order), keys
    only, as :func:`sort` runs it without stream=: its scratch (the digit state, the other key
    buffer) and its five launches with their parameters packed.  A repeated sort allocates its
    result, zeroes the state and launches, rewriting only the keys' and the result's pointers."""

    def __init__(self, keys, out, state, launches):
        import cupy
        self.state, self.step = state, keys.itemsize
        self.new = functools.partial(cupy.empty, keys.shape[0], keys.dtype)
        self.lock = threading.Lock()
        self.launches, self.scratch = [], []    # scratch: the arrays the packed pointers point to, kept alive
        x_ptr, out_ptr = keys.data.ptr, out.data.ptr
        for k, grid, threads, nbytes, args in launches:
            pl = k._prepare(k[grid, threads, None, nbytes], args)
            if pl is None:
                self.launches = None
                return
            dyn = []
            for i, a in enumerate(args):
                ptr = a.data.ptr if isinstance(a, cupy.ndarray) else None
                if ptr in (x_ptr, out_ptr):
                    dyn.append((pl.slot(i), ptr == x_ptr))
                elif ptr is not None:
                    self.scratch.append(a)
            self.launches.append((pl, dyn))
        self.device = self.launches[0][0].loaded.device

    @classmethod
    def register(cls, key, keys, out, state, launches):
        if key not in _SORT_HOT:
            if len(_SORT_HOT) > 32:
                _SORT_HOT.clear()
            _alg._CUPY_TYPES.add(type(keys))
            _SORT_HOT[key] = cls(keys, out, state, launches)

    def __call__(self, keys):
        if self.launches is None or keys.strides[0] != self.step or \
                getattr(driver._tls, "device", None) is not self.device:
            return None
        out = self.new()
        ptrs = (out.data.ptr, keys.data.ptr)
        with self.lock:                          # one state and one set of parameter buffers
            driver.memset_d8(self.state.ptr, 0, self.state.nbytes, 0)
            for pl, dyn in self.launches:
                for k, is_x in dyn:
                    pl.set(k, ptrs[is_x])
                pl()
        return out


_SORT_HOT: dict = {}


def sort(keys, values=None, descending=False, key=None, less=None, axis=-1, stream=None):
    """``keys`` sorted, stably, as a new array of the same kind; with ``values`` (same shape),
    ``(sorted keys, values in the same order)``.  n-d keys sort along ``axis`` (the last by
    default, as ``np.sort``; ``axis=None`` sorts all items into a 1-d result).

    Integer, bool and float keys of every width radix-sort (see the module docstring for the
    order of -0.0 and NaN).  ``key=f`` sorts ``keys`` by ``f(item)`` (computed on the device, any
    function jitkit can compile that returns a number), like Python's ``sorted(key=...)``.
    ``less=f`` sorts by the comparator ``f(a, b)`` (a strict weak order, True when a goes first)
    with a merge sort, for keys of any type ``f`` takes.

    Example::

        s = jk.sort(x)
        k, v = jk.sort(keys, values, descending=True)
        by_magnitude = jk.sort(x, key=abs)
        by_low_byte = jk.sort(x, less=lambda a, b: (a & 255) < (b & 255))
        rows = jk.sort(m)                 # each row of a matrix, like np.sort(m)"""
    if _SORT_HOT and values is None and key is None and less is None and axis == -1 and stream is None and \
            type(keys) in _alg._CUPY_TYPES:
        hot = _SORT_HOT.get((type(keys), keys.dtype, keys.shape, descending, config._target[0]))   # seen before
        if hot is not None:
            r = hot(keys)
            if r is not None:
                return r
    side = _alg._Side(keys, stream)
    if values is not None:
        if not hasattr(values, "shape") or _alg._kind(values) != _alg._kind(keys):
            raise TypeError(f"jk.sort: keys and values must be the same kind of array, got "
                            f"{type(keys).__qualname__} and {type(values).__qualname__}")
        if tuple(values.shape) != tuple(keys.shape):
            raise ValueError(f"jk.sort: values has shape {tuple(values.shape)}, keys {tuple(keys.shape)}")
    if key is not None and less is not None:
        raise ValueError("jk.sort takes key= or less=, not both")
    if axis is None:
        keys, values = keys.reshape(-1), (values.reshape(-1) if values is not None else None)
    elif len(keys.shape) != 1 or axis not in (0, -1):
        return _sort_along(side, keys, values, descending, key, less, axis, "jk.sort")
    if key is not None:
        return _sort_by_key(side, keys, values, key, descending, stream)
    dt = _alg._np_dtype(keys)
    if less is None:
        _sortable(dt, "jk.sort")
    n = keys.shape[0]
    if n == 0:
        e = side.result(side.empty(0, dt), (0,))
        return e if values is None else (e, side.result(side.empty(0, _alg._np_dtype(values)), (0,)))
    if less is not None:
        k, v = _merge_sort(side, keys, values, less, descending, False)
    else:
        hot = side.kind == "cupy" and side.gpu and values is None and stream is None and len(keys.shape) == 1 \
            and keys.flags.c_contiguous and dt != np.bool_
        k, v = _radix_sort(side, keys, values, descending, False,
                           hot_key=(type(keys), keys.dtype, keys.shape, descending, config._target[0]) if hot else None)
    if values is None:
        return side.result(k, (n,))
    return side.result(k, (n,)), side.result(v, (n,))


def argsort(keys, descending=False, less=None, axis=-1, stream=None):
    """The int64 indices that sort ``keys``, stably: ``keys[argsort(keys)]`` is sorted (with
    ``jk.sort``'s order of -0.0 and NaN, or by the comparator ``less``).  n-d keys: indices along
    ``axis`` (``np.argsort``'s, as ``np.take_along_axis`` takes them); ``axis=None``: into the
    flattened keys."""
    side = _alg._Side(keys, stream)
    if axis is None:
        keys = keys.reshape(-1)
    elif len(keys.shape) != 1 or axis not in (0, -1):
        return _sort_along(side, keys, None, descending, None, less, axis, "jk.argsort")
    dt = _alg._np_dtype(keys)
    if less is None:
        _sortable(dt, "jk.argsort")
    n = keys.shape[0]
    if n == 0:
        return side.result(side.empty(0, np.int64), (0,))
    if less is not None:
        _, v = _merge_sort(side, keys, None, less, descending, True)
    else:
        _, v = _radix_sort(side, keys, None, descending, True)
    return side.result(v, (n,))


def _sort_along(side, keys, values, descending, key, less, axis, what):
    """Sort each row of ``keys`` along ``axis``: one stable sort of all items by key (their flat
    indices along), then a stable radix sort by row (as few bits as there are rows) carrying those
    indices; ``jk.argsort`` gets the indices within rows, ``jk.sort`` keys (and values) gathered by them."""
    moved = _alg._axis_last(side, keys, axis, what)
    mshape = tuple(moved.shape)
    m, n = mshape[-1], math.prod(mshape)
    dt = _alg._np_dtype(keys)
    if key is None and less is None:
        _sortable(dt, what)
    if n == 0:
        perm = side.empty(0, np.int64)
    else:
        kflat = side.flat(moved)
        if key is not None:
            kflat = _alg.transform(_alg._device_fn(key, "key"), kflat, stream=side.stream)
            _sortable(_alg._np_dtype(kflat), f"{what}(key=...)")
        if less is not None:
            _, perm = _merge_sort(side, kflat, None, less, descending, True)
        else:
            _, perm = _radix_sort(side, kflat, None, descending, True)
        rows = n // m
        if rows > 1:
            bits = (rows - 1).bit_length()
            rdt = np.dtype(np.uint8 if bits <= 8 else (np.uint16 if bits <= 16 else np.uint32))
            row = side.empty(n, rdt)
            side.launch(_row_kernel(), -(-n // _alg.THREADS), _alg.THREADS, perm, np.int64(m), row)
            _, perm = _radix_sort(side, row, perm, False, False, end_bit=bits)

    def back(flat):
        return _alg._axis_last(side, side.result(flat, mshape), axis, what, back=True)
    if what == "jk.argsort":
        if n:
            side.launch(_within_row_kernel(), -(-n // _alg.THREADS), _alg.THREADS, perm, np.int64(m))
        return _contiguous(side, back(perm))
    out = _contiguous(side, back(_gather(side, side.flat(moved), perm) if n else side.empty(0, dt)))
    if values is None:
        return out
    vmoved = _alg._axis_last(side, values, axis, what)
    vdt = _alg._np_dtype(values)
    return out, _contiguous(side, back(_gather(side, side.flat(vmoved), perm) if n else side.empty(0, vdt)))


def _contiguous(side, a):
    if side.kind == "numpy":
        return np.ascontiguousarray(a)
    if side.kind == "cupy":
        import cupy
        return cupy.ascontiguousarray(a)
    if side.kind == "torch":
        return a.contiguous()
    return a


def _row_kernel():
    def make():
        @jit
        def rows(perm, m, out):
            i = _alg.grid(1)
            if i < out.size:
                out[i] = type(out[0])(perm[i] // m)
        return rows
    return _alg._cached(("sort rows",), make)


def _within_row_kernel():
    def make():
        @jit
        def within_row(perm, m):
            i = _alg.grid(1)
            if i < perm.size:
                perm[i] = perm[i] % m
        return within_row
    return _alg._cached(("sort within row",), make)


def _sort_by_key(side, keys, values, key, descending, stream):
    keyf = _alg._device_fn(key, "key")
    k = _alg.transform(keyf, keys, stream=stream)
    _sortable(_alg._np_dtype(k), "jk.sort(key=...)")
    n = keys.shape[0]
    if n == 0:
        return keys[:0] if values is None else (keys[:0], values[:0])
    if values is None:
        _, v = _radix_sort(side, k, keys, descending, False)
        return side.result(v, (n,))
    _, perm = _radix_sort(side, k, None, descending, True)
    return (side.result(_gather(side, side.flat(keys), perm), (n,)),
            side.result(_gather(side, side.flat(values), perm), (n,)))


def _gather_kernel():
    def make():
        @jit
        def gather(src, idx, out):
            i = _alg.grid(1)
            if i < out.size:
                out[i] = src[idx[i]]
        return gather
    return _alg._cached(("gather",), make)


def _gather(side, src, perm):
    """``src[perm]`` for flat device (or simulator) arrays."""
    n = perm.shape[0]
    out = side.empty(n, _alg._np_dtype(src))
    side.launch(_gather_kernel(), -(-n // _alg.THREADS), _alg.THREADS, src, perm, out)
    return out


# ------------------------------------------------------------------ comparator merge sort
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
    return _alg._cached(("merge sort", lessf, vmode), make)


def _reversed(lessf):
    def make():
        @jit
        def greater(a, b):
            return lessf(b, a)
        return greater
    return _alg._cached(("reversed", lessf), make)


def _merge_sort(side, keys, values, less, descending: bool, iota: bool):
    """(sorted keys, values moved with them) by a comparator, as flat device (or simulator) arrays."""
    lessf = _alg._device_fn(less, "less")
    if descending:
        lessf = _reversed(lessf)
    dt = _alg._np_dtype(keys)
    n = keys.shape[0]
    kflat = side.flat(keys)
    vmode = 2 if iota else (1 if values is not None else 0)
    vdt = np.dtype(np.int64) if iota else (_alg._np_dtype(values) if values is not None else dt)
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


# ------------------------------------------------------------------ unique
@jit
def _differs(a, b):
    """a != b, with NaNs equal to each other (NumPy's ``equal_nan``)."""
    if a != a and b != b:
        return False
    return a != b


@jit
def _heads(s, flags):
    i = _alg.grid(1)
    step = _alg.gridsize(1)
    while i < s.size:
        flags[i] = int64(1) if i == 0 or _differs(s[i - 1], s[i]) else int64(0)
        i += step


@jit
def _run_starts(flags, pos, starts):
    i = _alg.grid(1)
    step = _alg.gridsize(1)
    while i < flags.size:
        if flags[i] != 0:
            starts[pos[i]] = i
        i += step


@jit
def _run_counts(starts, n, counts):
    j = _alg.grid(1)
    step = _alg.gridsize(1)
    while j < starts.size:
        counts[j] = (starts[j + 1] if j + 1 < starts.size else n) - starts[j]
        j += step


@jit
def _inverse(perm, flags, pos, inv):
    i = _alg.grid(1)
    step = _alg.gridsize(1)
    while i < perm.size:
        inv[perm[i]] = pos[i] + flags[i] - 1
        i += step


def unique(x, return_index=False, return_inverse=False, return_counts=False, stream=None):
    """The sorted distinct items of ``x`` (flattened), like ``np.unique``: NaNs count as one value,
    -0.0 and +0.0 as one (the first in ``x`` stays).  ``return_index``: where each first occurs in
    ``x``; ``return_inverse``: for each item of ``x`` its place in the result; ``return_counts``:
    how often each occurs (all int64).  The result's length is read back to the host.

    Example::

        values, counts = jk.unique(labels, return_counts=True)"""
    side = _alg._Side(x, stream)
    dt = _alg._np_dtype(x)
    _sortable(dt, "jk.unique")
    n = math.prod(x.shape)
    extra = [return_index, return_inverse, return_counts]
    if n == 0:
        e = side.result(side.empty(0, dt), (0,))
        outs = [side.result(side.empty(0, np.int64), (0,)) for want in extra if want]
        return (e, *outs) if outs else e
    need_perm = return_index or return_inverse
    s, perm = _radix_sort(side, x.reshape(-1), None, False, need_perm)
    grid_n = min(-(-n // _alg.THREADS), 4096 if side.gpu else 4)
    flags = side.empty(n, np.int64)
    side.launch(_heads, grid_n, _alg.THREADS, s, flags)
    pos = _alg.scan(flags, inclusive=False, stream=stream)
    m = _alg._tail(side, pos, flags, n)
    uniq = side.empty(m, dt)
    side.launch(_alg._scatter_kernel(False), grid_n, _alg.THREADS, s, flags, pos, uniq, np.int64(m))
    outs = [side.result(uniq, (m,))]
    if return_index or return_counts:
        starts = side.empty(m, np.int64)
        side.launch(_run_starts, grid_n, _alg.THREADS, flags, pos, starts)
    if return_index:
        outs.append(side.result(_gather(side, perm, starts), (m,)))
    if return_inverse:
        inv = side.empty(n, np.int64)
        side.launch(_inverse, grid_n, _alg.THREADS, perm, flags, pos, inv)
        outs.append(side.result(inv, tuple(x.shape)))
    if return_counts:
        counts = side.empty(m, np.int64)
        side.launch(_run_counts, -(-m // _alg.THREADS), _alg.THREADS, starts, np.int64(n), counts)
        outs.append(side.result(counts, (m,)))
    return outs[0] if len(outs) == 1 else tuple(outs)
