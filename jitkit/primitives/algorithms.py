"""Host-callable, device-wide algorithms: ``jk.reduce(x)``, ``jk.scan(x)``, ``jk.transform(fn, x, y)``...

Each is one call from the host over a whole array, built from the block primitives.  Inputs:

- NumPy arrays: copied to the GPU, the result comes back as NumPy (on the CPU simulator where there
  is no GPU, see :func:`jitkit.set_target`);
- CuPy and PyTorch arrays: used in place, and the result is the same kind of array (``out=``
  writes into one you pass instead);
- numba device arrays: used in place, results are numba device arrays;
- other ``__cuda_array_interface__`` arrays: used in place; results come back as jitkit's own
  ``DeviceBuffer`` (which has ``__cuda_array_interface__`` too).

Also here: ``segmented_reduce``, ``searchsorted``, ``select``, ``partition``, ``histogram``.

``op`` / ``fn`` is a ``@jk.jit`` function, a lambda or a plain ``def`` jitkit can compile, or a
well-known operator (``operator.add``, ``min``, ``max``...).  ``stream=`` runs on that stream (any
stream object jitkit kernels take); NumPy results are synchronised, device results are not.

A ``plan_*`` object (``jk.plan_reduce(x, op)``) holds its temporary device memory and compiled
kernels for repeated calls on arrays of the same size and type: the least host time per call.
"""

from __future__ import annotations

import functools
import math
import operator
import threading

import numpy as np

from ..lang.types import Array, int32, int64, uint32, uint64
from ..lang.intrinsics import atomic, ballot_sync, bitcast, block_dims, blockIdx, constexpr, grid, gridDim, gridsize, is_aligned, laneid, local, shared, shfl_sync, syncthreads, threadfence, threadIdx, vector_load
from . import block
from .. import config
from ..dispatcher import jit
from . import warp as _w
from ..lang import types as T
from ..runtime import driver

__all__ = ["reduce", "scan", "transform", "plan_reduce", "segmented_reduce", "searchsorted", "select",
           "partition", "histogram"]

THREADS = 256
TILE_BYTES = 64          # per thread and tile in the streaming kernels: four 16-byte loads in flight
SCAN_THREADS, SCAN_TILE_BYTES = 128, 128  # single-pass scan of 4-byte items: 32 per thread moved as 16-byte
                                          # vectors (bench/scan_variants.py, sweep_scan.py)
REDUCE_TILE_BYTES = 128  # jk.reduce of a commutative op: eight 16-byte loads in flight per thread, tiles
REDUCE_BLOCKS_PER_SM = 6  # dealt round-robin to one wave of 6 blocks per SM (H100, 2^28 f32: 3060 GB/s
                          # with a second launch; one contiguous run per block was 2770-2960)
RESULT_SLOTS = 256       # a plan's hot path hands out 0-d views of one allocation of this many results


def _items_per_thread(dtype, tile_bytes: int = TILE_BYTES) -> int:
    return max(4, min(32, tile_bytes // np.dtype(dtype).itemsize))

# operators with an identity element: commutative, padded with the identity, accumulated per thread
_IDENTITY = {operator.add: "zero", operator.mul: "one", min: "max", max: "min",
             operator.and_: "ones", operator.or_: "zero", operator.xor: "zero"}


# ------------------------------------------------------------------ kernels (kernel language)
@jit
def _flagged(a, b, op: constexpr):
    """(has, value) pairs: op over the values present, in order."""
    if not a[0]:
        return b
    if not b[0]:
        return a
    return True, type(a[1])(op(a[1], b[1]))


@jit
def _reduce_body(x, out, partials, counter, seg, op: constexpr, flag_op: constexpr, ident, known: constexpr, init,
                 has_init: constexpr, ipt: constexpr, finish: constexpr, slot=0):
    """Block b reduces x[b*seg : (b+1)*seg] (clipped to x.size, never empty), in order.

    Without ``finish``: into out[b] (init applied per block).  With it, the whole reduction in one
    launch: a lone block writes out[slot]; otherwise each block writes partials[b] and the last block
    to finish (a device-scope counter, which it re-zeroes for the next launch) reduces the partials in
    block order into out[slot], init first."""
    if finish and known:                        # order is free: tiles dealt round-robin to the blocks
        total = _reduce_strided(x, op, ident, ipt)
    else:
        start = blockIdx.x * seg
        total = _reduce_range(x, start, min(start + seg, x.size), op, flag_op, ident, known, ipt)
    if not finish:
        if has_init:
            total = type(ident)(op(init, total))
        if threadIdx.x == 0:
            out[blockIdx.x] = total
        return
    nb = gridDim.x
    if nb > 1:
        if not _last_block(partials, counter, total):
            return
        total = _reduce_range(partials, 0, nb, op, flag_op, ident, known, 4)
    if has_init:
        total = type(ident)(op(init, total))
    if threadIdx.x == 0:
        out[slot] = total
        if nb > 1:
            counter[0] = 0


@jit
def _last_block(partials, counter, total):
    """Publish this block's total (a value or a pair) in partials[b]; whether this block is the last
    of the grid to do so (the same in all its threads; the counter is a device-scope atomic)."""
    last = shared.array(1, int32)
    if threadIdx.x == 0:
        _w._put(partials, blockIdx.x, total)
        threadfence()                                   # the partial before the count (release)
        last[0] = int32(atomic.add(counter, 0, 1) == gridDim.x - 1)
    syncthreads()
    if last[0] == 0:
        return False
    threadfence()                                       # every partial after the count (acquire)
    return True


@jit
def _segments_body(x, offsets, out, op: constexpr, flag_op: constexpr, ident, known: constexpr, init,
                   has_init: constexpr, ipt: constexpr):
    """Block b reduces x[offsets[b] : offsets[b+1]] into out[b]; an empty segment gives init (or the
    identity)."""
    b = blockIdx.x
    start = offsets[b]
    end = min(offsets[b + 1], x.size)
    if start < end:
        total = _reduce_range(x, start, end, op, flag_op, ident, known, ipt)
        if has_init:
            total = type(ident)(op(init, total))
    else:
        total = type(ident)(init) if has_init else ident
    if threadIdx.x == 0:
        out[b] = total


@jit
def _reduce_range(x, start, end, op: constexpr, flag_op: constexpr, ident, known: constexpr, ipt: constexpr):
    """op over x[start:end] (not empty) in order; every thread gets it.

    ``known``: op has an identity ``ident`` and commutes, so each thread accumulates its items over
    all tiles and the block combines once; otherwise each tile is reduced by the block in order."""
    bx, by, bz = block_dims()
    tile = bx * ipt
    items = local.array(ipt, x.dtype)
    t = threadIdx.x
    wide = local.array(ipt, type(ident))    # items in the accumulator's type
    if known:                               # striped 16-byte loads, coalesced; order is free here
        acc = ident
        base = start
        if _vectors_fit(x, start, ipt):
            while base + tile <= end:
                _load_vectors(x, base, wide)
                acc = op(acc, _tree(wide, op))
                base += tile
        i = base + t
        while i < end:                      # the rest, striped
            acc = op(acc, x[i])
            i += bx
        total = block.reduce(acc, op)
    else:
        total = type(ident)(x[start])       # typed placeholder: the first tile replaces it
        first = True
        base = start
        while base < end:
            if base + tile <= end:
                block.load(x, base, items)
                for k in range(ipt):
                    wide[k] = items[k]
                part = type(ident)(block.reduce(wide, op))
            else:                           # ragged: each thread's present items, then present threads
                has = False
                mine = ident
                for k in range(ipt):
                    i = base + t * ipt + k
                    if i < end:
                        v = x[i]
                        mine = type(ident)(v) if not has else type(ident)(op(mine, v))
                        has = True
                pr = block.reduce((has, mine), flag_op)
                part = pr[1]
            total = part if first else type(ident)(op(total, part))
            first = False
            base += tile
    return total


@jit
def _vectors_fit(x, start, n: constexpr):
    """Whether tiles of n items per thread from x[start] can be read by :func:`_load_vectors`."""
    w = x.itemsize
    V = 4 if n % 4 == 0 and 4 * w <= 16 else (2 if n % 2 == 0 and 2 * w <= 16 else 1)
    return V > 1 and is_aligned(x, start, V * w)


@jit
def _load_vectors(x, base, items):
    """The tile at x[base:] into each thread's ``items`` (converted to their type) with V-item vector
    loads (16 bytes, at most 4 items), striped: this thread's vector c is the block's vector
    c * threads + t, so every load of a warp is coalesced.  Check :func:`_vectors_fit` first."""
    bx, by, bz = block_dims()
    t = threadIdx.x
    n = items.size
    w = x.itemsize
    V = 4 if n % 4 == 0 and 4 * w <= 16 else (2 if n % 2 == 0 and 2 * w <= 16 else 1)
    if V > 1:                               # compile time: items too wide for a vector never get here
        for c in range(n // V):
            v = vector_load(x, base + (c * bx + t) * V, V)
            items[c * V] = v[0]
            items[c * V + 1] = v[1]
            if V == 4:
                items[c * V + 2] = v[2]
                items[c * V + 3] = v[3]


@jit
def _reduce_strided(x, op: constexpr, ident, ipt: constexpr):
    """op (with identity ``ident``, commutative) over this block's share of x: tiles b, b + grid,
    b + 2 grid... read with coalesced 16-byte loads (all blocks stream through nearby memory at
    once, which beats one contiguous run per block), then the rest; every thread gets the total."""
    bx, by, bz = block_dims()
    tile = bx * ipt
    t = threadIdx.x
    wide = local.array(ipt, type(ident))
    acc = ident
    done = 0
    if _vectors_fit(x, 0, ipt):
        tiles = x.size // tile
        b = blockIdx.x
        while b < tiles:
            _load_vectors(x, b * tile, wide)
            acc = op(acc, _tree(wide, op))
            b += gridDim.x
        done = tiles * tile
    i = done + blockIdx.x * bx + t             # the rest (all of x without vector loads), striped
    while i < x.size:
        acc = op(acc, x[i])
        i += gridDim.x * bx
    return block.reduce(acc, op)


@jit
def _tree(items, op: constexpr):
    """op over the items, pairwise (short dependency chains; op commutes here).  Folds in place."""
    n = items.size
    if n & (n - 1) == 0:
        s = n >> 1
        while s > 0:                    # constant trip counts: unrolled into registers
            for k in range(s):
                items[k] = op(items[k], items[k + s])
            s >>= 1
        return items[0]
    acc = items[0]
    for k in range(1, n):
        acc = op(acc, items[k])
    return acc


@jit
def _scan_body(x, out, seg, seeds, init, op: constexpr, running: constexpr, ident, has_init: constexpr,
               inclusive: constexpr, ipt: constexpr):
    """Block b scans x[b*seg : (b+1)*seg] into out, tile by tile, seeded by the op over everything
    before its segment: ``seeds[b-1]`` (an inclusive scan of the segments' totals), or ``init`` for
    the first segment."""
    bx, by, bz = block_dims()
    tile = bx * ipt
    b = blockIdx.x
    start = b * seg
    end = min(start + seg, x.size)
    carry = shared.array(1, type(ident))
    seeded = b > 0 or has_init
    if threadIdx.x == 0:
        carry[0] = type(ident)(seeds[b - 1]) if b > 0 else type(ident)(init)
    syncthreads()
    items = local.array(ipt, x.dtype)
    wide = local.array(ipt, type(ident))
    base = start
    while base < end:
        block.load(x, base, items, method="warp_transpose")   # coalesced, like CUB's scan
        for k in range(ipt):
            wide[k] = items[k]
        if inclusive:
            if seeded:
                block.inclusive_scan(wide, op, prefix_op=running, state=carry)
            else:
                block.inclusive_scan(wide, op)
                if threadIdx.x == bx - 1:          # the first tile of the whole array: its total seeds
                    carry[0] = wide[ipt - 1]
                seeded = True
        else:
            block.exclusive_scan(wide, op, prefix_op=running, state=carry)
        _store_upto(out, base, wide, end)
        base += tile


@jit
def _store_upto(dst, offset, items, end):
    n = items.size
    bx, by, bz = block_dims()
    if offset + bx * n <= end:          # a whole tile: unchecked, coalesced through shared memory
        block.store(dst, offset, items, method="warp_transpose")
    else:
        t = threadIdx.x
        for k in range(n):
            i = offset + t * n + k
            if i < end:
                dst[i] = items[k]


@jit
def _carry(aggregate, state, op: constexpr):
    """The block-scan prefix callback: the running total before this tile; lane 0 advances it."""
    p = state[0]
    if laneid == 0:
        state[0] = op(p, aggregate)
    return p


# ------------------------------------------------------------------ single-pass scan (decoupled look-back)
# Each tile publishes one 64-bit word: bits 32.. hold epoch * 4 + status (1: the tile's aggregate,
# 2: its inclusive prefix), bits 0..31 the value's bits (4-byte types).  The epoch changes every call,
# so the words never need clearing; tiles take ids in the order they start (an atomic counter that
# also never resets), so every tile a tile waits for is running or done.
@jit
def _word(flag, v):
    return (uint64(flag) << uint64(32)) | uint64(bitcast(v, uint32))


@jit
def _word_value(w, proto):
    return bitcast(uint32(w & uint64(0xFFFFFFFF)), type(proto))


@jit
def _ctz(m):
    """Trailing zero bits of a non-zero uint32."""
    n = 0
    if m & uint32(0xFFFF) == 0:
        n += 16
        m >>= uint32(16)
    if m & uint32(0xFF) == 0:
        n += 8
        m >>= uint32(8)
    if m & uint32(0xF) == 0:
        n += 4
        m >>= uint32(4)
    if m & uint32(0x3) == 0:
        n += 2
        m >>= uint32(2)
    if m & uint32(0x1) == 0:
        n += 1
    return n


@jit
def _look_back(aggregate, state, op: constexpr, rop: constexpr):
    """Prefix callback of tile ``state[1]`` (run by warp 0): publish the aggregate, fold the
    predecessors' words 32 at a time back to the nearest inclusive prefix, publish our own."""
    status = state[0]
    tile = state[1]
    ep = uint64(state[2])
    lane = laneid
    if lane == 0:
        atomic.exch(status, tile, _word(ep * uint64(4) + uint64(1), aggregate))
    excl = aggregate
    have = False
    base = tile - 1
    done = False
    while not done:
        j = base - lane
        w = uint64(0)
        st = 2
        if j >= 0:
            w = atomic.load(status, j)                               # past L1: sees other SMs' words
            while (w >> uint64(34)) != ep:
                w = atomic.load(status, j)
            st = int32((w >> uint64(32)) & uint64(3))
        incl = ballot_sync(0xFFFFFFFF, st == 2)
        valid = 32 if incl == 0 else _ctz(incl) + 1
        part = shfl_sync(0xFFFFFFFF, _w._reduce_to_lane0(_word_value(w, aggregate), rop, valid, 0xFFFFFFFF), 0)
        excl = op(part, excl) if have else part
        have = True
        done = incl != 0
        base -= 32
    if lane == 0:
        atomic.exch(status, tile, _word(ep * uint64(4) + uint64(2), op(excl, aggregate)))
    return excl


@jit
def _publish_first(aggregate, state, op: constexpr):
    """Prefix callback of tile 0 with an init: publish op(init, aggregate) as its inclusive prefix."""
    status = state[0]
    ep = uint64(state[2])
    init = state[3]
    if laneid == 0:
        atomic.exch(status, 0, _word(ep * uint64(4) + uint64(2), op(init, aggregate)))
    return init


@jit
def _scan_single_pass(x, out, status, counter, first_id, epoch, init, ident, op: constexpr, look: constexpr,
                      first: constexpr, has_init: constexpr, inclusive: constexpr, ipt: constexpr):
    bx, by, bz = block_dims()
    n = bx * ipt
    slot = shared.array(1, int64)
    if threadIdx.x == 0:
        slot[0] = atomic.add(counter, 0, int64(1)) - first_id
    syncthreads()
    t = slot[0]
    base = t * n
    end = min(base + n, x.size)
    items = local.array(ipt, x.dtype)
    wide = local.array(ipt, type(ident))
    block.load(x, base, items, default=ident, method="warp_transpose")
    for k in range(ipt):
        wide[k] = items[k]
    state = (status, t, epoch, init)
    if t == 0:
        if has_init:
            if inclusive:
                block.inclusive_scan(wide, op, prefix_op=first, state=state)
            else:
                block.exclusive_scan(wide, op, prefix_op=first, state=state)
        else:
            agg = block.inclusive_scan(wide, op)
            if threadIdx.x == 0:
                atomic.exch(status, 0, _word(uint64(epoch) * uint64(4) + uint64(2), agg))
    elif inclusive:
        block.inclusive_scan(wide, op, prefix_op=look, state=state)
    else:
        block.exclusive_scan(wide, op, prefix_op=look, state=state)
    _store_upto(out, base, wide, end)


_KERNELS: dict = {}


def _cached(key, make):
    """One @jit function per key, made once: the per-op kernels and callbacks below capture every
    compile-time value, so a launch passes arrays and scalars only (the dispatcher's fast path)."""
    k = _KERNELS.get(key)
    if k is None:
        k = _KERNELS[key] = make()
    return k


def _running_op(op):
    def make():
        @jit
        def running(aggregate, state):
            return _carry(aggregate, state, op)
        return running
    return _cached(("running", op), make)


def _single_pass_kernel(op, has_init: bool, inclusive: bool, ipt: int):
    def make():
        @jit
        def reversed_op(a, b):
            return op(b, a)

        @jit
        def look(aggregate, state):
            return _look_back(aggregate, state, op, reversed_op)

        @jit
        def first(aggregate, state):
            return _publish_first(aggregate, state, op)

        @jit
        def scan_single_pass(x, out, status, counter, first_id, epoch, init, ident):
            _scan_single_pass(x, out, status, counter, first_id, epoch, init, ident, op, look, first, has_init,
                              inclusive, ipt)
        return scan_single_pass
    return _cached(("scan1", op, has_init, inclusive, ipt), make)


def _scan_kernel(op, has_init: bool, inclusive: bool, ipt: int):
    def make():
        running = _running_op(op)

        @jit
        def scan_segments(x, out, seg, seeds, init, ident):
            _scan_body(x, out, seg, seeds, init, op, running, ident, has_init, inclusive, ipt)
        return scan_segments
    return _cached(("scan", op, has_init, inclusive, ipt), make)


def _reduce_kernel(op, known: bool, has_init: bool, ipt: int):
    """The per-block reduce kernel for one op and mode: ``(x, out, seg, ident, init)``, block b's
    segment into out[b]."""
    def make():
        flag_op = _flag_op(op)

        @jit
        def reduce_segments(x, out, seg, ident, init):
            _reduce_body(x, out, out, out, seg, op, flag_op, ident, known, init, has_init, ipt, False)
        return reduce_segments
    return _cached(("reduce", op, known, has_init, ipt), make)


def _reduce_all_kernel(op, known: bool, has_init: bool, ipt: int):
    """The one-launch reduce kernel: ``(x, out, partials, counter, seg, ident, init, slot)``, all of x
    into out[slot] (see :func:`_reduce_body`)."""
    def make():
        flag_op = _flag_op(op)

        @jit
        def reduce_all(x, out, partials, counter, seg, ident, init, slot):
            _reduce_body(x, out, partials, counter, seg, op, flag_op, ident, known, init, has_init, ipt, True,
                         slot)
        return reduce_all
    return _cached(("reduce_all", op, known, has_init, ipt), make)


def _segments_kernel(op, known: bool, has_init: bool, ipt: int):
    def make():
        flag_op = _flag_op(op)

        @jit
        def reduce_segments(x, offsets, out, ident, init):
            _segments_body(x, offsets, out, op, flag_op, ident, known, init, has_init, ipt)
        return reduce_segments
    return _cached(("segments", op, known, has_init, ipt), make)


def _flags_kernel(pred):
    def make():
        @jit
        def flags(x, out):
            _flags_body(x, out, pred)
        return flags
    return _cached(("flags", pred), make)


def _scatter_kernel(keep_rest: bool):
    def make():
        @jit
        def scatter(x, flags, pos, out, count):
            _scatter_body(x, flags, pos, out, count, keep_rest)
        return scatter
    return _cached(("scatter", keep_rest), make)


def _histogram_kernel(bins: int):
    def make():
        @jit
        def histogram(x, counts, lo, hi, norm, edges):
            _histogram_body(x, counts, lo, hi, norm, edges, bins)
        return histogram
    return _cached(("histogram", bins), make)


def _transform_kernel_for(fn, arity: int):
    def make():
        @jit
        def transform(out, a, b, c):
            _transform_body(out, fn, a, b, c, arity)
        return transform
    return _cached(("transform", fn, arity), make)


@jit
def _before(x, y):
    """x sorts before y, NaNs last (NumPy's order)."""
    if isinstance(x, np.floating) or isinstance(y, np.floating):
        return x < y or (y != y and x == x)
    return x < y


@jit
def _searchsorted_body(a, v, out, right: constexpr):
    i = grid(1)
    step = gridsize(1)
    while i < out.size:
        key = v[i]
        lo = int64(0)
        hi = a.size
        while lo < hi:
            mid = (lo + hi) >> 1
            if (not _before(key, a[mid])) if right else _before(a[mid], key):
                lo = mid + 1
            else:
                hi = mid
        out[i] = lo
        i += step


def _searchsorted_kernel(right: bool):
    def make():
        @jit
        def searchsorted(a, v, out):
            _searchsorted_body(a, v, out, right)
        return searchsorted
    return _cached(("searchsorted", right), make)


@jit
def _flags_body(x, flags, pred: constexpr):
    i = grid(1)
    step = gridsize(1)
    while i < x.size:
        flags[i] = int64(1) if pred(x[i]) else int64(0)
        i += step


@jit
def _scatter_body(x, flags, pos, out, count, keep_rest: constexpr):
    """Selected items to out[pos[i]]; with keep_rest the others after them, in order (a partition)."""
    i = grid(1)
    step = gridsize(1)
    while i < x.size:
        if flags[i] != 0:
            out[pos[i]] = x[i]
        elif keep_rest:
            out[count + i - pos[i]] = x[i]
        i += step


@jit
def _histogram_body(x, counts, lo, hi, norm, edges, bins: constexpr):
    """NumPy's uniform-bin rule: index from (v - lo) * norm, then corrected against the edges."""
    h = shared.array(bins, int64)
    t = threadIdx.x
    bx, by, bz = block_dims()
    k = t
    while k < bins:
        h[k] = 0
        k += bx
    syncthreads()
    i = grid(1)
    step = gridsize(1)
    while i < x.size:
        v = float(x[i])
        if v >= lo and v <= hi:
            b = int64((v - lo) * norm)
            if b >= bins:
                b = bins - 1
            if v < edges[b]:
                b -= 1
            elif b < bins - 1 and v >= edges[b + 1]:
                b += 1
            atomic.add(h, b, int64(1))
        i += step
    syncthreads()
    k = t
    while k < bins:
        if h[k] != 0:
            atomic.add(counts, k, h[k])
        k += bx


@jit
def _elem(a, i):
    if isinstance(a, Array):
        return a[i]
    return a


@jit
def _transform_body(out, fn: constexpr, a, b, c, arity: constexpr):
    i = grid(1)
    step = gridsize(1)
    while i < out.size:
        if arity == 1:
            out[i] = fn(_elem(a, i))
        elif arity == 2:
            out[i] = fn(_elem(a, i), _elem(b, i))
        else:
            out[i] = fn(_elem(a, i), _elem(b, i), _elem(c, i))
        i += step


# ------------------------------------------------------------------ host side
def _flag_op(op):
    """The (has, value) combiner of ``op``, a @jit function (one per op)."""
    def make():
        @jit
        def flagged(a, b):
            return _flagged(a, b, op)
        return flagged
    return _cached(("flagged", op), make)


_JITTED: dict = {}


def _device_fn(fn, what: str):
    """``fn`` as something a kernel can call: @jit functions and well-known operators as they are,
    other Python functions (lambdas included) compiled with @jit -- once per code object, so a lambda
    written inline in a loop does not compile again."""
    if fn in _IDENTITY or getattr(type(fn), "_jitkit_dispatcher", False) or fn in (abs, round):
        return fn
    if callable(fn) and hasattr(fn, "__code__"):
        if fn.__closure__:
            return jit(fn)
        key = (fn.__code__, fn.__defaults__)
        f = _JITTED.get(key)
        if f is None:
            if len(_JITTED) > 256:
                _JITTED.clear()
            f = _JITTED[key] = jit(fn)
        return f
    if callable(fn):   # a builtin or operator jitkit knows (operator.sub, math.hypot...): the typer decides
        return fn
    raise TypeError(f"{what} must be a function jitkit can compile, got {type(fn).__qualname__}")


def _kind(a) -> str:
    if isinstance(a, np.ndarray):
        return "numpy"
    mod = type(a).__module__ or ""
    if mod.startswith("cupy"):
        return "cupy"
    if mod.startswith("torch"):
        return "torch" if a.is_cuda else "torch_cpu"
    if mod.startswith("numba") and hasattr(a, "__cuda_array_interface__"):
        return "numba"
    if hasattr(a, "__cuda_array_interface__"):
        return "cai"
    raise TypeError(f"jitkit algorithms take NumPy, CuPy, PyTorch or __cuda_array_interface__ arrays, "
                    f"got {type(a).__qualname__}")


def _on_gpu() -> bool:
    t = config.target()
    if t == "sim":
        return False
    if t == "gpu":
        return True
    return driver.gpu_available()


_TORCH_DTYPES: dict = {}


def _np_dtype(a) -> np.dtype:
    d = a.dtype
    if isinstance(d, np.dtype):
        return d
    if "torch" in str(type(d)):
        got = _TORCH_DTYPES.get(d)
        if got is None:
            import torch
            got = _TORCH_DTYPES[d] = (np.dtype(torch.empty((), dtype=d).numpy().dtype) if d != torch.bfloat16
                                      else T.bfloat16.dtype)
        return got
    return np.dtype(str(d))


class _Side:
    """Where an algorithm runs for one input: how its arrays are made and handed back."""

    def __init__(self, a, stream):
        self.kind = _kind(a)
        if self.kind == "torch_cpu":
            self.kind = "numpy"
        self.gpu = self.kind != "numpy" or _on_gpu()
        self.like = a
        self.stream = stream

    def flat(self, a):
        """``a`` as a contiguous 1-d array kernels take (NumPy staged to the GPU where one is used)."""
        if self.kind == "numpy":
            if not isinstance(a, np.ndarray) and hasattr(a, "__cuda_array_interface__"):
                return a                                # already staged: one of jitkit's temporaries
            h = np.ascontiguousarray(a.numpy() if hasattr(a, "numpy") and not isinstance(a, np.ndarray)
                                     else a).reshape(-1)
            if not self.gpu:
                return h
            from ..runtime import interop as A
            from ..runtime.memory import DeviceBuffer
            return DeviceBuffer.from_host(h, A.stream_handle(self.stream))
        if self.kind == "cupy":
            if a.ndim == 1 and a.flags.c_contiguous:
                return a
            import cupy
            return cupy.ascontiguousarray(a).reshape(-1)
        if self.kind == "torch":
            return a if a.dim() == 1 and a.is_contiguous() else a.contiguous().reshape(-1)
        if self.kind == "numba" and a.is_c_contiguous():
            return a.reshape(-1) if a.ndim != 1 else a
        iface = a.__cuda_array_interface__
        if iface.get("strides") is not None:
            raise ValueError("jitkit algorithms take contiguous __cuda_array_interface__ arrays; "
                             "make a contiguous copy first")
        return a

    def empty(self, n: int, dtype):
        """A 1-d scratch or result array of n items on this side."""
        dtype = np.dtype(dtype)
        if not self.gpu:
            return np.empty(n, dtype)
        if self.kind == "cupy":
            import cupy
            return cupy.empty(n, dtype)
        if self.kind == "torch":
            import torch
            return torch.empty(n, dtype=_torch_dtype(dtype), device=self.like.device)
        from ..runtime.memory import DeviceBuffer
        return DeviceBuffer(n, dtype)

    def result(self, dev, shape):
        """A device result handed back as the input's kind of array, reshaped."""
        if self.kind == "numpy":
            h = dev if isinstance(dev, np.ndarray) else dev.to_host(_stream_int(self.stream))
            return h.reshape(shape)
        if self.kind in ("cupy", "torch"):
            return dev.reshape(shape)
        if self.kind == "numba":               # numba's own device array over the same memory (it keeps dev alive)
            from numba import cuda
            arr = dev if type(dev).__module__.startswith("numba") else cuda.as_cuda_array(dev)
            return arr.reshape(*shape) if tuple(arr.shape) != tuple(shape) else arr
        return dev.reshape(shape) if tuple(dev.shape) != tuple(shape) else dev

    def launch(self, kernel, grid, block, *args, shared=0):
        k = kernel if self.gpu else kernel.with_target("sim")
        if (self.stream is not None and self.gpu) or shared:
            k[grid, block, self.stream if self.gpu else None, shared](*args)
        else:
            k[grid, block](*args)

    def view(self, a, dtype):
        """``a``'s bytes as another dtype of the same size."""
        dtype = np.dtype(dtype)
        if self.kind == "torch":
            return a.view(_torch_dtype(dtype))
        return a.view(dtype)


def _stream_int(stream) -> int:
    from ..runtime import interop as A
    return A.stream_handle(stream)


def _torch_dtype(dtype):
    import torch
    if T.HAVE_BF16_DTYPE and dtype == T.bfloat16.dtype:
        return torch.bfloat16
    return torch.from_numpy(np.empty(0, dtype)).dtype


def _identity(kind: str, dtype: np.dtype):
    if kind == "zero":
        return dtype.type(0)
    if kind == "one":
        return dtype.type(1)
    if dtype.kind == "b":
        return dtype.type(kind in ("ones", "max"))
    if kind == "ones":
        return dtype.type(-1) if dtype.kind == "i" else dtype.type(np.iinfo(dtype).max)
    if dtype.kind == "f" or dtype == T.bfloat16.dtype:
        return dtype.type(np.inf if kind == "max" else -np.inf)
    info = np.iinfo(dtype)
    return dtype.type(info.max if kind == "max" else info.min)


_RESULT_TYPES: dict = {}


def _accumulator(opf, dt, init, what: str):
    """(accumulator dtype, identity kind or None, identity value or 0): the accumulator has the type
    of ``op(init or x, x)``, as in a kernel."""
    xt = T.scalar_from_dtype(dt)
    acc = _result_type(opf, _scalar_type(init) if init is not None else xt, xt)
    if not isinstance(acc, T.Scalar):
        raise TypeError(f"{what}: op({xt}, {xt}) gives {acc}; it must give a scalar")
    kind = _IDENTITY.get(opf)
    acc = acc.dtype
    return acc, kind, (_identity(kind, acc) if kind else acc.type(0))


def _segments(side, n: int, tile: int, per_sm: int = 8):
    """(segment length, blocks): n items cut into runs of whole tiles, about one per block slot."""
    tiles = max(1, -(-n // tile))
    per = -(-tiles // min(_max_blocks(side, per_sm), tiles))
    seg = per * tile
    return seg, max(1, -(-n // seg))


def _result_type(fn, *types) -> T.Type:
    """The type ``fn`` returns for arguments of ``types`` (typed, not compiled; remembered)."""
    key = (fn, types)
    rt = _RESULT_TYPES.get(key)
    if rt is None:
        _check_arity(fn, len(types))
        from ..build import pipeline
        probe = _PROBES.get(len(types))
        func, _ = pipeline.type_kernel(probe.py_func, tuple(types) + (T.Literal.of(fn),), kernel=False)
        rt = _RESULT_TYPES[key] = func.return_type
    return rt


def _check_arity(fn, n: int):
    """TypeError where a Python function cannot take ``n`` positional arguments (before typing, so the
    error names the user's function, not jitkit's call of it)."""
    py = getattr(fn, "py_func", fn)
    code = getattr(py, "__code__", None)
    if code is None or code.co_flags & 0x04:          # builtins and *args take what they take
        return
    most = code.co_argcount
    least = most - len(py.__defaults__ or ())
    if not least <= n <= most:
        takes = f"{most}" if least == most else f"{least} to {most}"
        raise TypeError(f"{py.__qualname__}() takes {takes} positional argument{'s' if most != 1 else ''}, "
                        f"and is called here with {n}")


@jit
def _probe1(a, fn: constexpr):
    return fn(a)


@jit
def _probe2(a, b, fn: constexpr):
    return fn(a, b)


@jit
def _probe3(a, b, c, fn: constexpr):
    return fn(a, b, c)


_PROBES = {1: _probe1, 2: _probe2, 3: _probe3}


def _scalar_type(v) -> T.Type:
    from ..runtime import interop as A
    return A.type_of(v)


class ReducePlan:
    """A reduction of arrays like the one it was planned for: ``plan(x, out=None, stream=None)``.

    Holds the per-block partials (device memory) and the accumulator type; compiled kernels stay
    cached on the kernels themselves.  Use one plan from one stream at a time."""

    def __init__(self, x, op=operator.add, init=None, stream=None):
        self.op = _device_fn(op, "op")
        self.side = _Side(x, stream)
        self.dtype = _np_dtype(x)
        self.n = math.prod(x.shape)
        self.acc, self.kind, self.ident = _accumulator(self.op, self.dtype, init, "jk.reduce")
        if self.acc.kind == "c" and self.kind in ("min", "max"):
            raise TypeError(f"jk.reduce: {self.acc} values have no order for min/max")
        self.init = None if init is None else self.acc.type(init)
        known = self.kind is not None           # the in-order path reduces each tile with the block: smaller tiles
        self.ipt = _items_per_thread(self.dtype, REDUCE_TILE_BYTES if known else TILE_BYTES)
        tile = THREADS * self.ipt
        if known:                               # tiles dealt round-robin: one resident wave of blocks
            self.seg, self.blocks = 0, max(1, min(-(-self.n // tile), _max_blocks(self.side, REDUCE_BLOCKS_PER_SM)))
        else:                                   # in order: one run of whole tiles per block
            self.seg, self.blocks = _segments(self.side, self.n, tile)
        self.partials = self.side.empty(self.blocks, self.acc) if self.blocks > 1 else None
        self.counter = _zeroed(self.side, 1, np.int32)      # re-zeroed by each launch's last block
        self.kernel = _reduce_all_kernel(self.op, known, self.init is not None, self.ipt)
        self._dtype_obj = x.dtype
        self._init_arg = self.init if self.init is not None else self.ident   # what the kernel starts from
        self._hot = None                          # the hot path: a 1-d contiguous CuPy/PyTorch array
        if self.side.gpu and self.side.kind in ("cupy", "torch") and len(x.shape) == 1 and self.n:
            self._hot = self.kernel[self.blocks, THREADS]
            self._cls, self._shape = type(x), tuple(x.shape)
            if self.side.kind == "cupy":
                import cupy
                self._new = functools.partial(cupy.empty, RESULT_SLOTS, self.acc)
                self._contiguous = lambda a, step=x.itemsize: a.strides[0] == step
                self._ptr = lambda a: a.data.ptr
            else:
                import torch
                self._new = functools.partial(torch.empty, RESULT_SLOTS, dtype=_torch_dtype(self.acc),
                                              device=x.device)
                self._contiguous = lambda a: a.stride(0) == 1
                self._ptr = lambda a: a.data_ptr()
            self._slots, self._next, self._lock = None, RESULT_SLOTS, threading.Lock()
            self._head = (self.counter, self.seg, self.ident, self._init_arg)
            self._prepared = None                 # the launch with its parameters packed (after the first call)

    def __call__(self, x, out=None, stream=None):
        hot = self._hot
        if hot is not None and stream is None and out is None and type(x) is self._cls and \
                x.dtype is self._dtype_obj and x.shape == self._shape and self._contiguous(x):
            with self._lock:                      # x as planned, the default stream: the next free result slot
                i = self._next
                fresh = i == RESULT_SLOTS         # results are 0-d views of one allocation, each slot used once
                if fresh:
                    self._slots, i = self._new(), 0
                self._next = i + 1
                slots = self._slots
                pl = self._prepared               # rewrite x's pointer and the slot, launch (under the lock:
                if pl and getattr(driver._tls, "device", None) is pl.loaded.device:               # one buffer)
                    pl.set(0, self._ptr(x))
                    pl.set(self._slot_k, i)
                    if fresh:
                        pl.set(self._out_k, self._ptr(slots))
                        if self.blocks == 1:
                            pl.set(self._out_k + 2, self._ptr(slots))
                    pl()
                    return slots[i]
            args = (x, slots, self.partials if self.blocks > 1 else slots, *self._head, i)
            hot(*args)
            if pl is None:
                with self._lock:
                    self._prepare(args)
            return slots[i]
        side = self.side if stream is None else _Side(x, stream)
        if (x.dtype is not self._dtype_obj and _np_dtype(x) != self.dtype) or math.prod(x.shape) != self.n:
            raise ValueError(f"this plan reduces {self.n} items of {self.dtype}; got {x.shape} of {_np_dtype(x)}")
        if self.n == 0:
            return self._empty_result(side, out)
        flat = side.flat(x)
        res = side.empty(1, self.acc) if out is None or self.side.kind == "numpy" else _flat_out(out, self.acc)
        side.launch(self.kernel, self.blocks, THREADS, flat, res, self.partials if self.blocks > 1 else res,
                    self.counter, self.seg, self.ident, self._init_arg, 0)
        return self._finish(side, res, out)

    def _prepare(self, args):
        """After the first hot launch: the same launch prepared (False where it cannot be)."""
        pl = self.kernel._prepare(self._hot, args) or False
        if pl:
            self._slot_k, self._out_k = pl.slot(len(args) - 1), pl.slot(1)
            if pl.slot(0) != 0 or pl.slot(2) != self._out_k + 2:    # x first; 1-d out: pointer and size
                pl = False
        self._prepared = pl

    def _empty_result(self, side, out):
        if self.init is not None:
            v = self.init
        elif self.kind in ("zero", "one", "ones"):
            v = self.ident
        else:
            raise ValueError("jk.reduce of an empty array needs init= (op has no identity)")
        if side.kind == "numpy":
            return _to_out(out, self.acc.type(v))
        res = None if out is None else _flat_out(out, self.acc)
        return self._finish(side, _filled(side, 1, self.acc, v, res), out)

    def _finish(self, side, res, out):
        if side.kind == "numpy":
            h = res if isinstance(res, np.ndarray) else res.to_host(_stream_int(side.stream))
            return _to_out(out, h[0])
        if out is not None:
            return out
        return side.result(res, ())


def _filled(side, n, dtype, v, res=None):
    """n items of dtype equal to v, on this side (NumPy on the simulator): in ``res`` if given."""
    if not side.gpu:
        if res is None:
            return np.full(n, v, dtype)
        res[...] = v
        return res
    if res is None:
        res = side.empty(n, dtype)
    if side.kind in ("cupy", "torch"):
        res[...] = v
        return res
    h = np.full(n, v, dtype)
    driver.memcpy_htod(res.ptr, h.ctypes.data, h.nbytes, _stream_int(side.stream))
    driver.stream_synchronize(_stream_int(side.stream))
    return res


def _flat_out(out, dtype):
    if np.dtype(_np_dtype(out)) != np.dtype(dtype) or int(np.prod(out.shape)) != 1:
        raise ValueError(f"out= must hold one {np.dtype(dtype)}, got {out.shape} of {_np_dtype(out)}")
    return out.reshape(-1)


def _to_out(out, value):
    """``value`` written into ``out`` (same dtype; same shape, or one item for a scalar)."""
    if out is None:
        return value
    vshape, vdt = tuple(np.shape(value)), _np_dtype(value)
    if np.dtype(_np_dtype(out)) != np.dtype(vdt):
        raise ValueError(f"out= has dtype {_np_dtype(out)}; the result is {vdt}")
    if tuple(out.shape) != vshape and not (vshape == () and math.prod(out.shape) == 1):
        raise ValueError(f"out= has shape {tuple(out.shape)}; the result has shape {vshape}")
    out[...] = value
    return out


_PLANS: dict = {}
_CUPY_PLANS: dict = {}    # the same plans for CuPy arrays, keyed on what reduce() sees without work
_CUPY_TYPES: set = set()


def plan_reduce(x, op=operator.add, init=None, stream=None) -> ReducePlan:
    """A :class:`ReducePlan` for arrays like ``x`` (same size and dtype): its temporaries allocated
    once, for the least host time per call in a loop.

    Example::

        plan = jk.plan_reduce(x, max)
        for step in range(1000):
            m = plan(x)
    """
    return ReducePlan(x, op, init, stream)


def reduce(x, op=operator.add, init=None, axis=None, out=None, stream=None):
    """``op`` over the elements of ``x`` (all of them, or along ``axis``), in index order.

    ``op`` is associative (floating-point sums may group differently from NumPy's and round
    differently); it need not commute.  ``init`` starts the reduction; without it the accumulator
    has the type of ``op(x, x)`` (as in a kernel: int8 + int8 is int8, pass ``init=np.int64(0)`` for a
    wide sum).  An empty ``x`` gives ``init``, or the identity of add/mul/and/or/xor.

    ``x`` may be a pair of arrays of one shape, ``(values, indices)`` say: ``op`` then takes and
    returns pairs, ``init`` is a pair and the result is a pair (an arg-min, see
    :mod:`jitkit.primitives.pairs`).

    Returns a NumPy scalar for NumPy input, a 0-d device array for device input (or ``out``)."""
    if _CUPY_PLANS and init is None and axis is None and out is None and stream is None and type(x) in _CUPY_TYPES:
        plan = _CUPY_PLANS.get((type(x), x.dtype, x.shape, op, config._target[0]))   # seen before: one lookup
        if plan is not None:
            return plan(x)
    if isinstance(x, tuple):
        if axis is not None:
            raise ValueError("jk.reduce of a pair of arrays reduces all of it: axis= must be None")
        from . import pairs
        return pairs.reduce(x, op, init, out, stream)
    if axis is not None:
        return _reduce_axis(x, op, init, axis, out, stream)
    opf = _device_fn(op, "op")
    key = (_kind(x), x.dtype, tuple(x.shape), opf, None if init is None else type(init), config.target(),
           0 if stream is None else _stream_int(stream))     # a plan's temporaries serve one stream at a time
    plan = _PLANS.get(key)
    if plan is None or (init is not None and plan.init != plan.acc.type(init)):
        plan = ReducePlan(x, opf, init, stream)
        if len(_PLANS) > 64:
            _PLANS.clear()
            _CUPY_PLANS.clear()
        _PLANS[key] = plan
        if plan.side.kind == "cupy" and init is None and stream is None:
            _CUPY_TYPES.add(type(x))
            _CUPY_PLANS[(type(x), x.dtype, tuple(x.shape), op, config._target[0])] = plan
    return plan(x, out=out, stream=stream)


def _reduce_axis(x, op, init, axis, out, stream):
    """One block per row of ``x`` with ``axis`` moved last."""
    side = _Side(x, stream)
    moved = _axis_last(side, x, axis, "jk.reduce")
    shape = tuple(moved.shape[:-1])
    rows, n = math.prod(shape), int(moved.shape[-1])
    opf = _device_fn(op, "op")
    dt = _np_dtype(x)
    acc, kind, ident = _accumulator(opf, dt, init, "jk.reduce")
    if n == 0 or rows == 0:
        if init is None and kind not in ("zero", "one", "ones"):
            raise ValueError("jk.reduce of an empty axis needs init= (op has no identity)")
        v = acc.type(init) if init is not None else ident
        if side.kind == "numpy":
            return _to_out(out, np.full(shape, v, acc))
        res = _filled(side, rows, acc, v)
        return res.reshape(shape) if out is None else _to_out(out, res.reshape(shape))
    flat = side.flat(moved)
    res = side.empty(rows, acc)
    has_init = init is not None
    side.launch(_reduce_kernel(opf, kind is not None, has_init, _items_per_thread(dt)), rows, THREADS, flat, res,
                n, ident, acc.type(init) if has_init else ident)
    r = side.result(res, shape)
    return r if out is None else _to_out(out, r)


def _axis_last(side, x, axis: int, what: str, back: bool = False):
    """A view of ``x`` with ``axis`` moved last (``back``: moved from last to ``axis``)."""
    nd = len(x.shape)
    if not -nd <= axis < nd:
        raise ValueError(f"{what}: axis {axis} is out of range for a {nd}-d array")
    src, dst = (-1, axis % nd) if back else (axis % nd, -1)
    if side.kind == "numpy":
        return np.moveaxis(np.asarray(x), src, dst)
    if side.kind == "cupy":
        import cupy
        return cupy.moveaxis(x, src, dst)
    if side.kind == "torch":
        return x.movedim(src, dst)
    if src % nd == dst % nd:
        return x
    raise ValueError(f"{what} along a middle axis takes NumPy, CuPy or PyTorch arrays")


def transform(fn, *arrays, out=None, stream=None):
    """``fn`` applied element by element: ``out[i] = fn(a[i], b[i], ...)`` for 1 to 3 operands.

    Array operands have one shape (scalars are passed to every call); the result has that shape and
    the type ``fn`` returns (or ``out``'s, converted as in a kernel).

    Example::

        y = jk.transform(lambda a, b: a * 2 + b, x, 1.5)"""
    if not 1 <= len(arrays) <= 3:
        raise TypeError(f"jk.transform takes 1 to 3 operands, got {len(arrays)}")
    fnd = _device_fn(fn, "fn")
    arrs = [a for a in arrays if not np.isscalar(a) and not isinstance(a, np.generic)]
    if not arrs:
        raise TypeError("jk.transform needs at least one array operand")
    first = arrs[0]
    shape = tuple(first.shape)
    for a in arrs[1:]:
        if tuple(a.shape) != shape:
            raise ValueError(f"jk.transform operands must have one shape, got {shape} and {tuple(a.shape)}")
    kinds = {_kind(a) if _kind(a) != "torch_cpu" else "numpy" for a in arrs}
    if len(kinds) > 1:
        raise TypeError(f"jk.transform operands must be one kind of array, got {sorted(kinds)}")
    side = _Side(first, stream)
    ops = []
    types = []
    for a in arrays:
        if a is first or any(a is b for b in arrs):
            ops.append(side.flat(a))
            types.append(T.scalar_from_dtype(_np_dtype(a)))
        else:                     # a Python number takes the arrays' kind of type (NumPy 2's rule)
            if isinstance(a, (bool, int, float, complex)) and not isinstance(a, np.generic):
                a = np.result_type(_np_dtype(first), a).type(a)
            ops.append(a)
            types.append(_scalar_type(a))
    rt = _result_type(fnd, *types)
    if not isinstance(rt, T.Scalar):
        raise TypeError(f"jk.transform: fn returns {rt}; it must return a scalar")
    n = math.prod(shape)
    if out is not None:
        if tuple(out.shape) != shape:
            raise ValueError(f"out= has shape {tuple(out.shape)}, the operands {shape}")
        if side.kind == "numpy":
            res = side.empty(n, _np_dtype(out))
        elif _contiguous(out):
            res = out.reshape(-1)
        else:
            raise ValueError("out= must be a contiguous array")
    else:
        res = side.empty(n, rt.dtype)
    while len(ops) < 3:
        ops.append(0)
    if n:
        blocks = min(-(-n // THREADS), 4096 if side.gpu else 4)
        side.launch(_transform_kernel_for(fnd, len(arrays)), blocks, THREADS, res, ops[0], ops[1], ops[2])
    if out is not None:
        if side.kind == "numpy":
            out[...] = side.result(res, shape)
        return out
    return side.result(res, shape)


def _contiguous(a) -> bool:
    if hasattr(a, "is_contiguous"):
        return a.is_contiguous()
    flags = getattr(a, "flags", None)
    if flags is not None:
        return bool(flags.c_contiguous)
    return a.__cuda_array_interface__.get("strides") is None


def scan(x, op=operator.add, inclusive=True, init=None, out=None, stream=None):
    """The running ``op`` over ``x`` (flattened, in index order): ``out[i] = op(x[0], ..., x[i])``
    (``inclusive``), or over ``x[0..i-1]`` starting from ``init`` (exclusive: ``out[0] = init``).

    ``init`` also seeds an inclusive scan.  An exclusive scan without ``init`` starts from the
    op's identity (add, mul, and, or, xor; others need ``init``).  The result has the accumulator
    type of :func:`reduce` and ``x``'s shape.

    ``x`` may be a pair of arrays of one shape: ``op`` then takes and returns pairs and the result is
    a pair of arrays (a linear recurrence as a scan over ``(a, b)``, see :mod:`jitkit.primitives.pairs`).

    Example::

        c = jk.scan(x)                                  # like np.cumsum, in x's type
        e = jk.scan(x, max, inclusive=False, init=-np.inf)
        _, y = jk.scan((a, b), lambda p, q: (p[0] * q[0], p[1] * q[0] + q[1]))   # y[i] = a[i] y[i-1] + b[i]"""
    if _SCAN_HOT and init is None and out is None and stream is None and type(x) in _CUPY_TYPES:
        hot = _SCAN_HOT.get((type(x), x.dtype, x.shape, op, inclusive, config._target[0]))   # seen before
        if hot is not None:
            r = hot(x)
            if r is not None:
                return r
    if isinstance(x, tuple):
        from . import pairs
        return pairs.scan(x, op, inclusive, init, out, stream)
    opf = _device_fn(op, "op")
    side = _Side(x, stream)
    dt = _np_dtype(x)
    acc, kind, ident = _accumulator(opf, dt, init, "jk.scan")
    if init is None and not inclusive:
        if kind not in ("zero", "one", "ones"):
            raise ValueError("an exclusive jk.scan needs init= (op has no identity)")
        init = ident
    has_init = init is not None
    init_v = acc.type(init) if has_init else acc.type(0)
    shape = tuple(x.shape)
    n = math.prod(shape)
    if out is not None and tuple(out.shape) != shape:
        raise ValueError(f"out= has shape {tuple(out.shape)}, x has {shape}")
    if out is not None and np.dtype(_np_dtype(out)) != np.dtype(acc):
        raise ValueError(f"out= has dtype {_np_dtype(out)}; the scan's result is {np.dtype(acc)}")
    if out is not None and side.kind != "numpy" and not _contiguous(out):
        raise ValueError("out= must be a contiguous array")
    res = side.empty(n, acc) if out is None or side.kind == "numpy" else out.reshape(-1)
    ipt = _items_per_thread(acc, 32)
    if n and side.gpu and acc.itemsize == 4 and acc.kind in "iuf":
        flat = side.flat(x)
        ipt = _items_per_thread(acc, SCAN_TILE_BYTES)
        st = _LookBack.get(side, n, SCAN_THREADS * ipt)
        kernel = _single_pass_kernel(opf, has_init, inclusive, ipt)
        with st.lock:                           # launches in the order their tile ids were taken
            first_id, epoch = st.next()
            args = (flat, res, st.status, st.counter, first_id, epoch, init_v, ident)
            side.launch(kernel, st.tiles, SCAN_THREADS, *args)
        if side.kind == "cupy" and init is None and out is None and stream is None and len(shape) == 1:
            _ScanHot.register((type(x), x.dtype, x.shape, op, inclusive, config._target[0]), x, kernel, st, args)
    elif n:
        flat = side.flat(x)
        seg, blocks = _segments(side, n, THREADS * ipt)
        scan_k = _scan_kernel(opf, has_init, inclusive, ipt)
        if blocks == 1:
            side.launch(scan_k, 1, THREADS, flat, res, seg, res, init_v, ident)
        else:
            totals = side.empty(blocks, acc)
            seeds = side.empty(blocks, acc)
            side.launch(_reduce_kernel(opf, kind is not None, False, _items_per_thread(dt)), blocks, THREADS,
                        flat, totals, seg, ident, ident)
            side.launch(_scan_kernel(opf, has_init, True, 4), 1, THREADS, totals, seeds, blocks, seeds, init_v,
                        ident)
            side.launch(scan_k, blocks, THREADS, flat, res, seg, seeds, init_v, ident)
    r = side.result(res, shape)
    if out is not None:
        if side.kind == "numpy":
            out[...] = r
        return out
    return r


class _ScanHot:
    """The single-pass scan of one kind of 1-d contiguous CuPy array (type, dtype, length, op), as
    :func:`scan` launches it without init=, out= or stream=: its tile words and its launch with the
    parameters packed, so that a repeated call allocates the result, rewrites four parameters and
    launches."""

    def __init__(self, x, kernel, st, args):
        import cupy
        self.st = st
        self.pl = kernel._prepare(kernel[st.tiles, SCAN_THREADS], args) or None
        self.step = x.itemsize
        self.new = functools.partial(cupy.empty, x.shape[0], args[1].dtype)
        if self.pl is not None:
            self.ks = [self.pl.slot(k) for k in (0, 1, 4, 5)]   # x, result, first tile id, epoch

    @classmethod
    def register(cls, key, x, kernel, st, args):
        if key not in _SCAN_HOT:
            if len(_SCAN_HOT) > 64:
                _SCAN_HOT.clear()
            _CUPY_TYPES.add(type(x))
            _SCAN_HOT[key] = cls(x, kernel, st, args)

    def __call__(self, x):
        pl = self.pl
        if pl is None or x.strides[0] != self.step or getattr(driver._tls, "device", None) is not pl.loaded.device:
            return None
        res = self.new()
        kx, kr, kf, ke = self.ks
        st = self.st
        with st.lock:                           # tile ids in launch order; one parameter buffer
            first_id, epoch = st.next()
            pl.set(kx, x.data.ptr)
            pl.set(kr, res.data.ptr)
            pl.set(kf, first_id)
            pl.set(ke, epoch)
            pl()
        return res


_SCAN_HOT: dict = {}


class _LookBack:
    """The tile words and tile counter of single-pass scans over n items (one per size and side;
    like a plan, for one stream at a time).  Neither is ever cleared: each call has its own epoch
    and its own range of counter values."""

    _cache: dict = {}

    def __init__(self, side, n: int, tile: int):
        self.tiles = -(-n // tile)
        self.status = _zeroed(side, self.tiles, np.uint64)
        self.counter = _zeroed(side, 1, np.int64)
        self.issued = 0
        self.epoch = 0
        self.lock = threading.Lock()

    @classmethod
    def get(cls, side, n: int, tile: int) -> "_LookBack":
        key = (side.kind, n, tile, config.target(), _stream_int(side.stream))   # one stream at a time
        st = cls._cache.get(key)
        if st is None:
            if len(cls._cache) > 32:
                cls._cache.clear()
            st = cls._cache[key] = cls(side, n, tile)
        return st

    def next(self):
        """(the counter value this call's first tile gets, this call's epoch).  Call it holding
        ``lock`` and launch before letting go: a kernel's tiles take counter values in launch order,
        so launches from several threads must come in the order of their ranges."""
        first = self.issued
        self.issued += self.tiles
        self.epoch = (self.epoch + 1) % (1 << 30) or 1
        return np.int64(first), np.uint32(self.epoch)


def _zeroed(side, n: int, dtype):
    """A zeroed scratch array of jitkit's own (a DeviceBuffer on the GPU, whatever the input kind)."""
    if not side.gpu:
        return np.zeros(n, dtype)
    from ..runtime.memory import DeviceBuffer
    buf = DeviceBuffer(n, dtype)
    driver.memset_d8(buf.ptr, 0, buf.nbytes, _stream_int(side.stream))
    return buf


def _max_blocks(side, per_sm: int = 8) -> int:
    if not side.gpu:
        return 4                                # the simulator: few blocks, the same code paths
    return driver.current_device().limits["multiprocessors"] * per_sm


def segmented_reduce(x, offsets, op=operator.add, init=None, out=None, stream=None):
    """``op`` over each segment ``x[offsets[i]:offsets[i+1]]``, in order: ``len(offsets) - 1``
    results.  An empty segment gives ``init``, or the op's identity (ops without one need ``init``).
    ``offsets`` is an integer array of the same kind as ``x`` (NumPy with NumPy...), non-decreasing.

    Example::

        sums = jk.segmented_reduce(values, np.array([0, 3, 3, 10]))   # three segments, one empty"""
    opf = _device_fn(op, "op")
    side = _Side(x, stream)
    dt = _np_dtype(x)
    acc, kind, ident = _accumulator(opf, dt, init, "jk.segmented_reduce")
    odt = _np_dtype(offsets)
    if odt.kind not in "iu":
        raise TypeError(f"jk.segmented_reduce: offsets must be integers, got {odt}")
    if len(offsets.shape) != 1 or offsets.shape[0] < 1:
        raise ValueError("jk.segmented_reduce: offsets is a 1-d array of at least one item")
    if init is None and kind is None:
        raise ValueError("jk.segmented_reduce with this op needs init= (for empty segments: the op has no identity)")
    if isinstance(offsets, np.ndarray) and offsets.size:     # host offsets are checked (device ones trusted)
        if offsets[0] < 0 or offsets[-1] > math.prod(x.shape) or (np.diff(offsets) < 0).any():
            raise ValueError(f"jk.segmented_reduce: offsets must be non-decreasing, from 0 to x.size "
                             f"({math.prod(x.shape)}); got {offsets}")
    m = offsets.shape[0] - 1
    res = side.empty(m, acc)
    if m:
        has_init = init is not None
        flat = side.flat(x) if math.prod(x.shape) else side.empty(1, dt)
        k = _segments_kernel(opf, kind is not None, has_init, _items_per_thread(dt))
        side.launch(k, m, THREADS, flat, side.flat(offsets), res, ident, acc.type(init) if has_init else ident)
    r = side.result(res, (m,))
    return r if out is None else _to_out(out, r)


def searchsorted(a, v, side="left", out=None, stream=None):
    """Indices where the items of ``v`` would go in the sorted 1-d ``a`` to keep it sorted, like
    ``np.searchsorted``: ``side="left"`` counts the items of ``a`` before each, ``"right"`` also the
    equal ones.  Floats order NaNs last, as NumPy sorts them.  Returns int64 indices of ``v``'s shape
    (a Python int for a scalar ``v``)."""
    if side not in ("left", "right"):
        raise ValueError(f"side is 'left' or 'right', got {side!r}")
    if len(a.shape) != 1:
        raise ValueError("jk.searchsorted searches a 1-d array")
    scalar = np.isscalar(v) or isinstance(v, np.generic)
    if scalar:
        v = np.asarray([v], dtype=np.result_type(_np_dtype(a), v))
    where = _Side(a, stream)
    vs = v.numpy() if where.kind == "numpy" and not isinstance(v, np.ndarray) and hasattr(v, "numpy") else v
    shape = tuple(vs.shape)
    n = math.prod(shape)
    if not a.shape[0] or not n:                  # nothing to search in, or for
        return _searched_empty(where, shape, scalar, out)
    res = where.empty(n, np.int64)
    blocks = min(-(-n // THREADS), 4096 if where.gpu else 4)
    where.launch(_searchsorted_kernel(side == "right"), blocks, THREADS, where.flat(a), where.flat(vs), res)
    r = where.result(res, shape)
    if scalar:
        return int(r[0])
    return r if out is None else _to_out(out, r)


def _searched_empty(where, shape, scalar, out):
    if scalar:
        return 0
    r = np.zeros(shape, np.int64) if where.kind == "numpy" else where.result(_filled(where, math.prod(shape),
                                                                                      np.int64, 0), shape)
    return r if out is None else _to_out(out, r)


def _split(x, pred, keep_rest: bool, stream):
    predf = _device_fn(pred, "pred")
    side = _Side(x, stream)
    n = math.prod(x.shape)
    dt = _np_dtype(x)
    if n == 0:
        return side.result(side.empty(0, dt), (0,)), 0
    flat = side.flat(x)
    grid_n = min(-(-n // THREADS), 4096 if side.gpu else 4)
    flags = side.empty(n, np.int64)
    side.launch(_flags_kernel(predf), grid_n, THREADS, flat, flags)
    pos = scan(flags, inclusive=False, stream=stream)     # device flags stay on the device
    last = _tail(side, pos, flags, n)
    size = n if keep_rest else last
    res = side.empty(size, dt)
    side.launch(_scatter_kernel(keep_rest), grid_n, THREADS, flat, flags, pos, res, np.int64(last))
    return side.result(res, (size,)), last


def _tail(side, pos, flags, n) -> int:
    """pos[n-1] + flags[n-1]: how many were selected (read back to the host)."""
    if isinstance(pos, np.ndarray):
        return int(pos[n - 1] + flags[n - 1])
    if side.kind in ("cupy", "torch"):
        return int(pos[n - 1]) + int(flags[n - 1])
    h = np.empty(2, np.int64)
    s = _stream_int(side.stream)
    driver.memcpy_dtoh(h.ctypes.data, pos.ptr + 8 * (n - 1), 8, s)
    driver.memcpy_dtoh(h[1:].ctypes.data, flags.ptr + 8 * (n - 1), 8, s)
    driver.stream_synchronize(s)
    return int(h[0] + h[1])


def select(x, pred, stream=None):
    """The items of ``x`` (flattened) for which ``pred(item)`` is true, in order: stream compaction.
    The result's length is read back to the host (a synchronisation, as with boolean indexing).

    Example::

        positive = jk.select(x, lambda v: v > 0)"""
    return _split(x, pred, False, stream)[0]


def partition(x, pred, stream=None):
    """``(items, k)``: ``x`` (flattened) with the items for which ``pred`` holds first and the others
    after them, both in their original order (stable), and how many held."""
    return _split(x, pred, True, stream)


def histogram(x, bins=10, range=None, stream=None):
    """``(counts, edges)`` like ``np.histogram`` with ``bins`` equal bins over ``range`` (default: the
    data's min and max): the last bin includes its right edge, values outside (and NaNs) are not
    counted.  Counts are int64 in ``x``'s kind of array; edges a float64 NumPy array."""
    if not isinstance(bins, (int, np.integer)) or bins < 1:
        raise ValueError(f"jk.histogram takes a positive number of bins, got {bins!r}")
    bins = int(bins)
    side = _Side(x, stream)
    n = math.prod(x.shape)
    if range is None:
        if n == 0:
            lo, hi = 0.0, 1.0
        else:
            lo, hi = float(reduce(x, min, stream=stream)), float(reduce(x, max, stream=stream))
    else:
        lo, hi = float(range[0]), float(range[1])
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo > hi:
        raise ValueError(f"jk.histogram: range must be finite with min <= max, got ({lo}, {hi})")
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, bins + 1)
    counts = _filled(side, bins, np.int64, 0)
    if n:
        if bins > 4096:
            raise ValueError("jk.histogram counts in shared memory: at most 4096 bins")
        e = _like_side(side, edges)
        grid_n = min(-(-n // THREADS), 1024 if side.gpu else 4)
        side.launch(_histogram_kernel(bins), grid_n, THREADS, side.flat(x), counts, lo, hi, bins / (hi - lo), e)
    return side.result(counts, (bins,)), edges


def _like_side(side, host: np.ndarray):
    """A host array copied to the device in ``side``'s kind (as it is on the simulator)."""
    if not side.gpu:
        return host
    if side.kind == "cupy":
        import cupy
        return cupy.asarray(host)
    if side.kind == "torch":
        import torch
        return torch.as_tensor(host, device=side.like.device)
    from ..runtime.memory import DeviceBuffer
    return DeviceBuffer.from_host(host, _stream_int(side.stream))
