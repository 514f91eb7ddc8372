"""Block-level primitives, written in jitkit's kernel language: ``jk.block.reduce(v, op)`` and friends.

Every thread of the block calls them together (they synchronise the block).  The block shape is
taken from the launch (the kernel compiles once per block shape, see ``jk.block_dims()``) and items
per thread from the static shape of a ``jk.local.array``: nothing is declared twice.  Temporary shared
memory is allocated per primitive and reused by later calls (each primitive starts with a barrier, so
consecutive calls need no ``syncthreads()`` in between).

Values are scalars (pairs, 2-tuples, too for reduce and scan) or, for the items-per-thread forms, a
thread's ``jk.local.array`` in *blocked* arrangement (thread t holds items t*n .. t*n+n-1 of the
tile) unless a function says otherwise.
``op`` is a ``@jk.jit`` device function or a well-known operator (``operator.add``, ``min``, ``max``,
``operator.or_``...): associative, not necessarily commutative (operands combine in thread order).

Example::

    @jk.jit
    def tile_sums(x, out):
        items = jk.local.array(4, jk.float32)
        base = jk.blockIdx.x * jk.blockDim.x * 4
        jk.block.load(x, base, items, default=0)
        total = jk.block.sum(items)                      # every thread gets the tile's sum
        jk.block.inclusive_scan(items, operator.add)     # in place: running sums over the tile
        jk.block.store(out, base, items)
"""

from __future__ import annotations

import operator

import numpy as np

from ..lang.types import Array, int32, int64, uint8, uint16, uint32, uint64
from ..lang.intrinsics import atomic, bitcast, block_dims, constexpr, shared, shfl_sync, shfl_up_sync, static_assert, syncthreads, local
from ..dispatcher import jit
from . import warp as _w
from .warp import lanes_mask, thread_index

__all__ = ["reduce", "sum", "inclusive_scan", "exclusive_scan", "load", "store", "blocked_to_striped",
           "striped_to_blocked", "radix_sort", "merge_sort", "run_length_decode", "histogram", "adjacent_difference",
           "flag_heads", "flag_tails"]

FULL = _w.FULL
RADIX_BITS = 4
LANES = 8                              # 16 radix digits, two 16-bit counters per 32-bit word
SORT_SHARED_BUDGET = 40 * 1024         # bytes the radix sort may take before it packs its counters tighter


# ------------------------------------------------------------------ helpers
@jit
def _thread_reduce(items, op: constexpr):
    acc = items[0]
    for k in range(1, items.size):
        acc = op(acc, items[k])
    return acc


# ------------------------------------------------------------------ reduce
@jit
def _warp_geometry(bx: constexpr, by: constexpr, bz: constexpr):
    """(tid, lane, warp, lanes in this warp, their shuffle mask); constants where the block is whole warps."""
    nt = bx * by * bz
    tid = thread_index(bx, by, bz)
    lane = tid & 31
    wid = tid >> 5
    if nt % 32 == 0:
        return tid, lane, wid, 32, uint32(FULL)
    valid = min(32, nt - wid * 32)
    return tid, lane, wid, valid, lanes_mask(valid)


@jit
def _fold_warps(partials, op: constexpr, nw: constexpr, wid):
    """(op over partials[0..wid-1], op over all nw): every thread reads the warps' partials in order,
    so the block needs one barrier, not a second round through one warp (CUB's warp-scans scan)."""
    total = _w.get_value(partials, 0)
    pre = total
    for w in range(1, nw):
        if w == wid:
            pre = total
        total = op(total, _w.get_value(partials, w))
    return pre, total


@jit
def _reduce(value, op: constexpr, bx: constexpr, by: constexpr, bz: constexpr):
    nt = bx * by * bz
    nw = (nt + 31) // 32
    tid, lane, wid, valid, m = _warp_geometry(bx, by, bz)
    r = _w.reduce_to_lane0(value, op, valid, m)
    if nw == 1:
        return shfl_sync(m, r, 0)
    slots = _w.scratch(nw, value)
    syncthreads()                      # an earlier call's readers are done with slots
    if lane == 0:
        _w.put_value(slots, wid, r)
    syncthreads()
    pre, total = _fold_warps(slots, op, nw, -1)
    return total


@jit
def reduce(value, op: constexpr):
    """``op`` over the block's values (or items, in blocked order); every thread gets the result."""
    bx, by, bz = block_dims()
    if isinstance(value, Array):
        return _reduce(_thread_reduce(value, op), op, bx, by, bz)
    return _reduce(value, op, bx, by, bz)


@jit
def sum(value):
    """The block's sum (of values or items) in every thread."""
    return reduce(value, operator.add)


# ------------------------------------------------------------------ scan
@jit
def _scan(value, op: constexpr, seed, prefix_op: constexpr, state, mode: constexpr,
          bx: constexpr, by: constexpr, bz: constexpr, lead: constexpr = True):
    """(exclusive, inclusive, block aggregate) of ``value`` over the block in thread order.

    mode 0: no seed (thread 0's exclusive value is undefined); 1: ``seed`` starts the scan;
    2: ``prefix_op(aggregate, state)``, called by the first warp, starts it (CUB's prefix callback).
    The aggregate never includes the seed.  One barrier (two with a callback), plus a leading one
    unless ``lead=False`` (the caller has synchronised since this scan's last use)."""
    nt = bx * by * bz
    nw = (nt + 31) // 32
    tid, lane, wid, valid, m = _warp_geometry(bx, by, bz)
    inc = _w.inclusive_masked(value, op, m)
    up = shfl_up_sync(m, inc, 1)
    if nw == 1:                        # one warp: shuffles only, no shared memory
        total = shfl_sync(m, inc, nt - 1)
        ex = up                        # thread 0's is undefined without a seed (its own value here)
        incl = inc
    else:
        wagg = _w.scratch(nw + 1, value)
        if lead:
            syncthreads()              # an earlier call's readers are done with wagg
        if lane == valid - 1:
            _w.put_value(wagg, wid, inc)
        syncthreads()
        wp, total = _fold_warps(wagg, op, nw, wid)
        if wid == 0:
            ex = up
            incl = inc
        else:
            ex = wp if lane == 0 else op(wp, up)
            incl = op(wp, inc)
    if mode == 0:
        return ex, incl, total
    if mode == 1:
        p = _w.cast_like(seed, value)
    else:
        if wid == 0:
            mine = _w.cast_like(prefix_op(total, state), value)
            p = shfl_sync(m, mine, 0)
        if nw > 1:
            if tid == 0:
                _w.put_value(wagg, nw, p)
            syncthreads()
            p = _w.get_value(wagg, nw)
    return (p if tid == 0 else op(p, ex)), op(p, incl), total


@jit
def _apply_inclusive(items, op: constexpr, pre, use_pre):
    acc = op(pre, items[0]) if use_pre else items[0]
    items[0] = acc
    for k in range(1, items.size):
        acc = op(acc, items[k])
        items[k] = acc


@jit
def _apply_exclusive(items, op: constexpr, pre, use_pre):
    first = items[0]
    acc = op(pre, first) if use_pre else first
    items[0] = pre
    for k in range(1, items.size):
        x = items[k]
        items[k] = acc
        acc = op(acc, x)


@jit
def _scan_any(value, op: constexpr, init, prefix_op: constexpr, state, inclusive: constexpr,
              aggregate: constexpr):
    bx, by, bz = block_dims()
    mode = 2 if prefix_op is not None else (0 if init is None else 1)
    if isinstance(value, Array):       # items in blocked order: scan in place, return the aggregate
        t = _thread_reduce(value, op)
        ex, inc, agg = _scan(t, op, init, prefix_op, state, mode, bx, by, bz)
        first = thread_index(bx, by, bz) == 0 and mode == 0
        if inclusive:
            _apply_inclusive(value, op, ex, not first)
        else:
            _apply_exclusive(value, op, ex, not first)
        return agg
    ex, inc, agg = _scan(value, op, init, prefix_op, state, mode, bx, by, bz)
    out = inc if inclusive else ex
    if aggregate:
        return out, agg
    return out


@jit
def inclusive_scan(value, op: constexpr, prefix_op: constexpr = None, state=None, aggregate: constexpr = False):
    """Thread t gets ``op`` over the values of threads 0..t.

    For a ``jk.local.array`` of items (blocked order) the scan runs over all the tile's items in
    place and returns the tile's aggregate.  ``prefix_op(aggregate, state)`` (a ``@jk.jit``
    function; ``state`` any array or value it needs) is called by the first warp with the tile's
    aggregate and returns a prefix that seeds the whole tile: a running total across tiles, or a
    decoupled look-back.  ``aggregate=True`` (scalar form) returns ``(scan, aggregate)``; the
    aggregate never includes the prefix."""
    return _scan_any(value, op, None, prefix_op, state, True, aggregate)


@jit
def exclusive_scan(value, op: constexpr, init=None, prefix_op: constexpr = None, state=None,
                   aggregate: constexpr = False):
    """Thread t gets ``op`` over ``init`` and the values of threads 0..t-1 (thread 0 gets ``init``).

    Without ``init`` or ``prefix_op`` thread 0's result is undefined.  Items and ``prefix_op`` work as
    in :func:`inclusive_scan` (with ``prefix_op`` its result takes the place of ``init``)."""
    return _scan_any(value, op, init, prefix_op, state, False, aggregate)


# ------------------------------------------------------------------ load / store / exchange
@jit
def _warp_transposed(src, dst, offset, items, default, store: constexpr, bx: constexpr, by: constexpr,
                     bz: constexpr):
    """Blocked items moved warp by warp: each warp reads (writes) its own stretch of the tile
    coalesced, lane-striped, and transposes it through shared memory with warp barriers only; with
    16-byte vectors where the warp's stretch is whole and aligned."""
    tid, lane, wid, valid, m = _warp_geometry(bx, by, bz)
    wbase = offset + wid * 32 * items.size
    if store:
        if _w.vectors_fit(dst, wbase, items.size, valid):
            _w.store_vectors(dst, wbase, items, lane)
        else:
            _w.warp_exchange(items, True, valid)
            _w.store_direct(dst, wbase, items, True, valid, lane)
    elif _w.vectors_fit(src, wbase, items.size, valid):
        _w.load_vectors(src, wbase, items, lane)
    else:
        _w.load_direct(src, wbase, items, True, default, valid, lane)
        _w.warp_exchange(items, False, valid)


@jit
def load(src, offset, items, striped: constexpr = False, default=None, method: constexpr = "direct"):
    """Fill the tile ``items`` from ``src[offset:]``: blocked (thread t gets offset + t*n + k) or
    ``striped`` (offset + k*threads + t).  Past ``src.size`` an item gets ``default``, or stays as it was.

    ``method`` says how memory is read for a blocked tile (CUB's load algorithms): ``"direct"``
    reads each thread's run itself; ``"vectorized"`` does so with 16-byte (or 8-byte) loads where the
    run is aligned and the tile whole (``jk.vector_load``), directly elsewhere; ``"transpose"`` reads
    striped (coalesced) and exchanges through shared memory with block barriers; ``"warp_transpose"``
    does the same within each warp, with warp barriers only.  A striped tile is always read directly
    (already coalesced)."""
    bx, by, bz = block_dims()
    nt = bx * by * bz
    tid = thread_index(bx, by, bz)
    if striped or method == "direct":
        _w.load_direct(src, offset, items, striped, default, nt, tid)
    elif method == "vectorized":
        _w.load_vectorized(src, offset, items, default, nt, tid)
    elif method == "transpose":
        _w.load_direct(src, offset, items, True, default, nt, tid)
        _exchange(items, False)
    elif method == "warp_transpose":
        _warp_transposed(src, src, offset, items, default, False, bx, by, bz)
    else:
        static_assert(False, "jk.block.load: method is 'direct', 'vectorized', 'transpose' or 'warp_transpose'")


@jit
def store(dst, offset, items, striped: constexpr = False, method: constexpr = "direct"):
    """Write the tile ``items`` to ``dst[offset:]`` (blocked or striped, and ``method``, as in
    :func:`load`), up to ``dst.size``.  The transposing methods may leave ``items`` reordered (striped)."""
    bx, by, bz = block_dims()
    nt = bx * by * bz
    tid = thread_index(bx, by, bz)
    if striped or method == "direct":
        _w.store_direct(dst, offset, items, striped, nt, tid)
    elif method == "transpose":
        _exchange(items, True)
        _w.store_direct(dst, offset, items, True, nt, tid)
    elif method == "warp_transpose":
        _warp_transposed(dst, dst, offset, items, None, True, bx, by, bz)
    else:
        static_assert(False, "jk.block.store: method is 'direct', 'transpose' or 'warp_transpose'")


@jit
def _exchange(items, to_striped: constexpr):
    bx, by, bz = block_dims()
    nt = bx * by * bz
    n = items.size
    tid = thread_index(bx, by, bz)
    buf = shared.array(nt * n + ((nt * n) >> 5), items.dtype)
    syncthreads()
    _w.transpose(items, buf, 0, nt, tid, to_striped)
    syncthreads()
    _w.untranspose(items, buf, 0, nt, tid, to_striped)


@jit
def blocked_to_striped(items):
    """Rearrange the tile in place: afterwards thread t holds items t, t + threads, t + 2*threads..."""
    _exchange(items, True)


@jit
def striped_to_blocked(items):
    """The inverse of :func:`blocked_to_striped`."""
    _exchange(items, False)


# ------------------------------------------------------------------ radix sort
@jit
def to_ordered(k, UT: constexpr, bits: constexpr):
    """Key bits whose unsigned order is the key's order (floats: -0.0 before +0.0, NaNs at the ends)."""
    u = bitcast(k, UT) if not isinstance(k, np.unsignedinteger) else k
    sign = UT(1) << (bits - 1)
    if isinstance(k, np.floating):
        return u ^ ((UT(0) - (u >> (bits - 1))) | sign)
    if isinstance(k, np.signedinteger):
        return u ^ sign
    return u


@jit
def from_ordered(u, KT: constexpr, bits: constexpr):
    sign = type(u)(1) << (bits - 1)
    if isinstance(KT(0), np.floating):
        return bitcast(u ^ (((u >> (bits - 1)) - type(u)(1)) | sign), KT)
    if isinstance(KT(0), np.signedinteger):
        return bitcast(u ^ sign, KT)
    return u


@jit
def _cw(i, roomy: constexpr):
    """Counter word ``i``'s place (see _radix_sort)."""
    return i if roomy else _w.pad_index(i)


@jit
def _digit_slot(u, bit, dmask, nt: constexpr, tid, roomy: constexpr):
    """A key's digit counter: (word in the counter grid, shift of its 16-bit half).

    Two 16-bit counters share a 32-bit word: digit d counts in lane d % 8, half d // 8, so one
    32-bit scan ranks all 16 digits (the low half's total is carried into the high half)."""
    d = int32((u >> type(u)(bit)) & type(u)(dmask))
    return _cw((d & (LANES - 1)) * nt + tid, roomy), uint32((d >> 3) << 4)


@jit
def _radix_sort(keys, values, descending: constexpr, begin: constexpr, end: constexpr,
                bx: constexpr, by: constexpr, bz: constexpr):
    nt = bx * by * bz
    n = keys.size
    bits = keys.itemsize * 8
    UT = uint8 if bits == 8 else (uint16 if bits == 16 else (uint32 if bits == 32 else uint64))
    tid = thread_index(bx, by, bz)
    uk = local.array(n, UT)
    rank = local.array(n, int32)
    # Counter grid: word (lane l, thread t) at l * nt + t, lane-major, so the 32-bit scan of the grid
    # in memory order ranks by (digit, thread, item): stable.  Thread t rakes words t*ROW .. +ROW-1.
    # Where shared memory allows (CUB's layout) a ninth, always-zero lane makes raking rows 9 words
    # long, so rows start in distinct banks; else word indices are padded by one per 32 (_cw), which
    # costs some bank conflicts while counting.
    vbytes = values.itemsize if values is not None else 0
    tile = nt * n + ((nt * n) >> 5)
    roomy = (LANES + 1) * nt * 4 + tile * (keys.itemsize + vbytes) <= SORT_SHARED_BUDGET
    ROW = LANES + 1 if roomy else LANES
    static_assert(nt * n <= 65535, "jk.block.radix_sort sorts at most 65535 items per tile (16-bit counters)")
    static_assert(LANES * nt * 4 * 33 // 32 + tile * (keys.itemsize + vbytes) <= 48 * 1024 - 1024,
                  "jk.block.radix_sort: this tile (threads x items, key and value sizes) needs more than the "
                  "48 KiB of static shared memory a block has: sort fewer items per thread or use fewer threads")
    rake = local.array(ROW, uint32)
    for k in range(n):
        u = to_ordered(keys[k], UT, bits)
        uk[k] = ~u if descending else u
    cnt = shared.array(ROW * nt + (0 if roomy else (ROW * nt) >> 5), uint32)
    kbuf = shared.array(tile, UT)
    if values is not None:
        vbuf = shared.array(tile, values.dtype)
    for bit in range(begin, end, RADIX_BITS):
        dmask = (1 << min(RADIX_BITS, end - bit)) - 1
        for l in range(ROW):           # a thread zeroes the words only it counts into
            cnt[_cw(l * nt + tid, roomy)] = 0
        for k in range(n):             # a thread counts its own items, in order
            w, sh = _digit_slot(uk[k], bit, dmask, nt, tid, roomy)
            c = cnt[w]
            rank[k] = int32((c >> sh) & 0xFFFF)
            cnt[w] = c + (uint32(1) << sh)
        syncthreads()
        row = 0
        for j in range(ROW):
            rake[j] = cnt[_cw(tid * ROW + j, roomy)]
            row += rake[j]
        ex, inc, agg = _scan(uint32(row), operator.add, 0, None, None, 1, bx, by, bz, False)
        acc = ex + ((agg & 0xFFFF) << 16)
        for j in range(ROW):
            cnt[_cw(tid * ROW + j, roomy)] = acc
            acc += rake[j]
        syncthreads()
        for k in range(n):
            w, sh = _digit_slot(uk[k], bit, dmask, nt, tid, roomy)
            r = _w.pad_index(rank[k] + int32((cnt[w] >> sh) & 0xFFFF))
            kbuf[r] = uk[k]
            if values is not None:
                vbuf[r] = values[k]
        syncthreads()
        for k in range(n):
            i = _w.pad_index(tid * n + k)
            uk[k] = kbuf[i]
            if values is not None:
                values[k] = vbuf[i]
    for k in range(n):
        keys[k] = from_ordered(~uk[k] if descending else uk[k], keys.dtype, bits)


@jit
def radix_sort(keys, values=None, descending: constexpr = False, begin_bit: constexpr = 0,
               end_bit: constexpr = -1):
    """Sort the tile's keys (each thread's ``jk.local.array``, blocked order) in place, stably, and
    the ``values`` array alongside them.  Keys of any int or float type (floats in IEEE total
    order but for NaN payloads: -NaN < -inf < ... < -0.0 < +0.0 < ... < +inf < +NaN); only bits
    ``begin_bit``..``end_bit`` of the order-preserving key bits are sorted on.  At most 65535
    items per tile."""
    bx, by, bz = block_dims()
    e = keys.itemsize * 8 if end_bit < 0 else end_bit
    _radix_sort(keys, values, descending, begin_bit, e, bx, by, bz)


# ------------------------------------------------------------------ merge sort
@jit
def merge_sort(keys, less: constexpr = operator.lt, values=None):
    """Sort the tile (each thread's ``jk.local.array`` of keys, blocked order) in place, stably, by
    ``less(a, b)`` (a strict weak order: any ``@jk.jit`` function or ``operator.lt`` / ``gt``), with
    ``values`` alongside.  Keys of any type the comparator takes; pad a partial tile with keys that
    sort last.  Radix sort is faster for plain numbers; this is for custom orders."""
    bx, by, bz = block_dims()
    nt = bx * by * bz
    n = keys.size
    kbuf = shared.array(nt * n, keys.dtype)
    if values is not None:
        vbuf = shared.array(nt * n, values.dtype)
        _w.merge_sort_threads(keys, values, less, nt, thread_index(bx, by, bz), 0, kbuf, vbuf, True)
    else:
        _w.merge_sort_threads(keys, None, less, nt, thread_index(bx, by, bz), 0, kbuf, None, True)


# ------------------------------------------------------------------ run-length decode
@jit
def run_length_decode(values, lengths, out, offset=0, default=None):
    """Expand runs: the tile's runs (each thread's ``values`` and ``lengths`` arrays, blocked order)
    decode to a sequence in which ``values[r]`` repeats ``lengths[r]`` times; ``out`` (each thread's
    array of m items, blocked) receives the window of that sequence starting at ``offset``
    (thread t: positions offset + t*m + k).  Past the end an item gets ``default``, or stays as it
    was.  Returns the sequence's total length: call again with ``offset`` advanced by threads * m
    for the next window."""
    bx, by, bz = block_dims()
    nt = bx * by * bz
    r = values.size
    m = out.size
    tid = thread_index(bx, by, bz)
    OT = int64 if lengths.itemsize > 4 else int32
    starts = local.array(r, OT)
    for k in range(r):
        starts[k] = OT(lengths[k])
    total = exclusive_scan(starts, operator.add, OT(0))   # its barriers also end earlier readers of rs/rv
    rs = shared.array(nt * r, OT)
    rv = shared.array(nt * r, values.dtype)
    for k in range(r):
        rs[tid * r + k] = starts[k]
        rv[tid * r + k] = values[k]
    syncthreads()
    for k in range(m):
        j = offset + tid * m + k
        if j < total:
            lo = 0
            hi = nt * r
            while lo < hi:             # the last run starting at or before j (empty runs end before it)
                mid = (lo + hi) >> 1
                if rs[mid] <= j:
                    lo = mid + 1
                else:
                    hi = mid
            out[k] = rv[lo - 1]
        elif default is not None:
            out[k] = default
    return total


# ------------------------------------------------------------------ histogram, differences, flags
@jit
def histogram(items, hist, init: constexpr = True):
    """Count the items (bin indices) into ``hist`` (a shared or global integer array) with atomics;
    ``init=True`` zeroes it first.  Every thread sees the finished histogram afterwards."""
    bx, by, bz = block_dims()
    nt = bx * by * bz
    tid = thread_index(bx, by, bz)
    syncthreads()
    if init:
        i = tid
        while i < hist.size:
            hist[i] = 0
            i += nt
        syncthreads()
    for k in range(items.size):
        atomic.add(hist, items[k], 1)
    syncthreads()


@jit
def _neighbour(x, bx: constexpr, by: constexpr, bz: constexpr, before: constexpr):
    """The previous (or next) thread's value; a thread's own value at the tile's edge."""
    nt = bx * by * bz
    tid = thread_index(bx, by, bz)
    buf = shared.array(nt, type(x))
    syncthreads()
    buf[tid] = x
    syncthreads()
    if before:
        return buf[tid - 1] if tid > 0 else x
    return buf[tid + 1] if tid < nt - 1 else x


@jit
def adjacent_difference(items, out, op: constexpr = operator.sub):
    """``out[k] = op(item, its predecessor)`` over the tile (blocked order); the tile's first item is
    copied.  ``out`` may be ``items``."""
    bx, by, bz = block_dims()
    n = items.size
    prev = _neighbour(items[n - 1], bx, by, bz, True)
    first = thread_index(bx, by, bz) == 0
    for k in range(n - 1, 0, -1):
        out[k] = op(items[k], items[k - 1])
    out[0] = items[0] if first else op(items[0], prev)


@jit
def flag_heads(items, flags, op: constexpr = operator.ne):
    """``flags[k] = op(predecessor, item)`` (a segment starts here); the tile's first item is a head."""
    bx, by, bz = block_dims()
    n = items.size
    prev = _neighbour(items[n - 1], bx, by, bz, True)
    first = thread_index(bx, by, bz) == 0
    for k in range(n - 1, 0, -1):
        flags[k] = op(items[k - 1], items[k])
    flags[0] = True if first else op(prev, items[0])


@jit
def flag_tails(items, flags, op: constexpr = operator.ne):
    """``flags[k] = op(item, successor)`` (a segment ends here); the tile's last item is a tail."""
    bx, by, bz = block_dims()
    nt = bx * by * bz
    n = items.size
    nxt = _neighbour(items[0], bx, by, bz, False)
    last = thread_index(bx, by, bz) == nt - 1
    for k in range(n - 1):
        flags[k] = op(items[k], items[k + 1])
    flags[n - 1] = True if last else op(items[n - 1], nxt)
