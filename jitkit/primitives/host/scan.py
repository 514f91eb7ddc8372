"""``jk.scan`` and ``jk.plan_scan``: the running op over an array, inclusive or exclusive.

On the GPU, 4-byte accumulators take a single-pass scan with decoupled look-back (Merrill &
Garland): each tile of ``SCAN_THREADS`` x 32 items takes an id in the order tiles start, scans its
items with the block, publishes its aggregate, folds its predecessors' words 32 at a time back to
the nearest inclusive prefix and publishes its own.  Other types (and the simulator) take three
launches: the blocks' totals, a scan of the totals, each block's segment seeded by its prefix.  A
pair of arrays goes to :mod:`.pairs`.
"""

from __future__ import annotations

import math
import operator
import threading

import numpy as np

from ... import config
from ...dispatcher import jit
from ...lang.intrinsics import atomic, ballot_sync, bitcast, block_dims, blockIdx, constexpr, laneid, local, shared, shfl_sync, syncthreads, threadIdx
from ...lang.types import int32, int64, uint32, uint64
from ...runtime.interop import array_kind, is_contiguous, numpy_dtype, stream_handle
from .. import block
from .. import warp as _w
from . import pairs
from .ops import accumulator, cached, device_fn
from .plan import EPOCH, FIRST_TILE, HOT_TYPES, PLANS, Plan, Replay, Step
from .reduce import reduce_kernel
from .side import Side, zeroed
from .tiling import THREADS, items_per_thread, segments

__all__ = ["scan", "plan_scan", "ScanPlan"]

SCAN_THREADS, SCAN_TILE_BYTES = 128, 128  # single-pass scan of 4-byte items: 32 per thread moved as 16-byte
                                          # vectors (bench/scan_variants.py, sweep_scan.py)


# ------------------------------------------------------------------ kernels (kernel language)
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
        part = shfl_sync(0xFFFFFFFF, _w.reduce_to_lane0(_word_value(w, aggregate), rop, valid, 0xFFFFFFFF), 0)
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


def _running_op(op):
    def make():
        @jit
        def running(aggregate, state):
            return _carry(aggregate, state, op)
        return running
    return cached(("running", op), make)


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
    return cached(("scan1", op, has_init, inclusive, ipt), make)


def _scan_kernel(op, has_init: bool, inclusive: bool, ipt: int):
    def make():
        running = _running_op(op)

        @jit
        def scan_segments(x, out, seg, seeds, init, ident):
            _scan_body(x, out, seg, seeds, init, op, running, ident, has_init, inclusive, ipt)
        return scan_segments
    return cached(("scan", op, has_init, inclusive, ipt), make)


# ------------------------------------------------------------------ host side
class ScanPlan(Plan):
    """``jk.scan(x, op, inclusive, init)`` of arrays like the one it was planned for: ``plan(x,
    out=None, stream=None)`` (see :func:`plan_scan`).

    For 1-d contiguous CuPy arrays and CUDA PyTorch tensors whose accumulator is a 4-byte number,
    holds the look-back scan's tile words and counter and a :class:`~.plan.Replay` of its launch: a
    call makes its result, takes its tile ids and launches.  Other inputs take the general path with
    the plan's parameters.  Arrays it was not made for: see :class:`~.plan.Plan`.  The temporaries
    serve one stream at a time."""

    verb = "scans"

    def __init__(self, x, op=operator.add, inclusive=True, init=None, stream=None):
        super().__init__(x, stream)
        self.op = device_fn(op, "op")
        self.inclusive, self.init = inclusive, init
        self.acc, _, self.ident, self.has_init, self.init_v = _scan_types(self.op, self.dtype, inclusive, init)
        self.prepare_for(x)

    def replayable(self, x) -> bool:
        return _single_pass(self.side, self.acc) and super().replayable(x)

    def record(self, x) -> Replay:
        side, n = self.side, self.n
        ipt = items_per_thread(self.acc, SCAN_TILE_BYTES)
        tiles = _LookBack(side, n, SCAN_THREADS * ipt)
        res = side.empty(n, self.acc)
        args = (x, res, tiles.status, tiles.counter, np.int64(0), np.uint32(0), self.init_v, self.ident)
        step = Step(_single_pass_kernel(self.op, self.has_init, self.inclusive, ipt), tiles.tiles, SCAN_THREADS, args,
                    stream=self.stream, vary={4: FIRST_TILE, 5: EPOCH})
        return Replay([step], x, res, side.maker(n, self.acc), tiles=tiles)

    def __call__(self, x, out=None, stream=None):
        if out is None and stream is None:
            r = self.run(x)
            if r is None and self.replay is None:
                r = self.first_replay(x)
            if r is not None:
                return r
        self.check(x)
        return _scan(x, self.op, self.inclusive, self.init, out, self.stream if stream is None else stream)


def plan_scan(x, op=operator.add, inclusive=True, init=None, stream=None) -> ScanPlan:
    """A :class:`ScanPlan`: ``jk.scan(x, op, inclusive, init)`` for arrays like ``x`` (same kind,
    dtype and size), its temporaries allocated and its launch prepared once, for the least host time
    per call in a loop (``plan(y)`` gives what ``jk.scan(y, op, inclusive, init)`` gives; each call
    a new result).  ``stream``: where its calls run unless one passes ``stream=``.

    Example::

        x = cupy.arange(1 << 16, dtype=cupy.float32)
        plan = jk.plan_scan(x)                      # inclusive sums, like cupy.cumsum
        for step in range(1000):
            c = plan(x)
        e = jk.plan_scan(x, max, inclusive=False, init=-np.inf)(x)
    """
    return ScanPlan(x, op, inclusive, init, stream)


def scan(x, op=operator.add, inclusive=True, init=None, out=None, stream=None):
    """The running ``op`` over ``x`` (flattened, in index order): ``out[i] = op(x[0], ..., x[i])``
    (``inclusive``), or over ``x[0..i-1]`` starting from ``init`` (exclusive: ``out[0] = init``).

    ``init`` also seeds an inclusive scan.  An exclusive scan without ``init`` starts from the
    op's identity (add, mul, and, or, xor; others need ``init``).  The result has the accumulator
    type of :func:`reduce` and ``x``'s shape.

    ``x`` may be a pair of arrays of one shape: ``op`` then takes and returns pairs and the result is
    a pair of arrays (a linear recurrence as a scan over ``(a, b)``, see
    :mod:`jitkit.primitives.host.pairs`).  A repeated call on 1-d CuPy arrays of one dtype and size
    replays a cached :func:`plan_scan` plan.

    Example::

        c = jk.scan(x)                                  # like np.cumsum, in x's type
        e = jk.scan(x, max, inclusive=False, init=-np.inf)
        _, y = jk.scan((a, b), lambda p, q: (p[0] * q[0], p[1] * q[0] + q[1]))   # y[i] = a[i] y[i-1] + b[i]"""
    hot = init is None and out is None and stream is None
    if hot and type(x) in HOT_TYPES:
        plan = PLANS.get(("scan", type(x), x.dtype, x.shape, op, inclusive, config.target()))   # seen before
        if plan is not None:
            r = plan.run(x)
            if r is not None:
                return r
    if isinstance(x, tuple):
        return pairs.scan(x, op, inclusive, init, out, stream)
    opf = device_fn(op, "op")
    r = _scan(x, opf, inclusive, init, out, stream)
    if hot and len(x.shape) == 1 and array_kind(x) == "cupy" and is_contiguous(x):
        key = ("scan", type(x), x.dtype, x.shape, op, inclusive, config.target())
        if PLANS.get(key) is None:             # once, also where it does not replay (not a 4-byte sum, say)
            HOT_TYPES.add(type(x))
            PLANS.put(key, ScanPlan(x, opf, inclusive))
    return r


def _scan_types(opf, dt, inclusive: bool, init):
    """(accumulator dtype, identity kind, identity, has init, init value) of a scan; ValueError for an
    exclusive scan without init of an op without identity."""
    acc, kind, ident = accumulator(opf, dt, init, "jk.scan")
    if init is None and not inclusive:
        if kind not in ("zero", "one", "ones"):
            raise ValueError("an exclusive jk.scan needs init= (op has no identity)")
        init = ident
    has_init = init is not None
    return acc, kind, ident, has_init, (acc.type(init) if has_init else acc.type(0))


def _single_pass(side, acc) -> bool:
    """Whether a scan with this accumulator takes the single-pass kernel (on the GPU, 4-byte numbers)."""
    return side.gpu and acc.itemsize == 4 and acc.kind in "iuf"


def _scan(x, opf, inclusive, init, out, stream):
    """:func:`scan` of one array, ``opf`` compiled (the general path)."""
    side = Side(x, stream)
    dt = numpy_dtype(x)
    acc, kind, ident, has_init, init_v = _scan_types(opf, dt, inclusive, init)
    shape = tuple(x.shape)
    n = math.prod(shape)
    if out is not None and tuple(out.shape) != shape:
        raise ValueError(f"out= has shape {tuple(out.shape)}, x has {shape}")
    if out is not None and np.dtype(numpy_dtype(out)) != np.dtype(acc):
        raise ValueError(f"out= has dtype {numpy_dtype(out)}; the scan's result is {np.dtype(acc)}")
    if out is not None and side.kind != "numpy" and not is_contiguous(out):
        raise ValueError("out= must be a contiguous array")
    res = side.empty(n, acc) if out is None or side.kind == "numpy" else out.reshape(-1)
    ipt = items_per_thread(acc, 32)
    if n and _single_pass(side, acc):
        flat = side.flat(x)
        ipt = items_per_thread(acc, SCAN_TILE_BYTES)
        st = _LookBack.get(side, n, SCAN_THREADS * ipt)
        kernel = _single_pass_kernel(opf, has_init, inclusive, ipt)
        with st.lock:                           # launches in the order their tile ids were taken
            first_id, epoch = st.next()
            side.launch(kernel, st.tiles, SCAN_THREADS, flat, res, st.status, st.counter, first_id, epoch, init_v,
                        ident)
    elif n:
        flat = side.flat(x)
        seg, blocks = segments(side, n, THREADS * ipt)
        scan_k = _scan_kernel(opf, has_init, inclusive, ipt)
        if blocks == 1:
            side.launch(scan_k, 1, THREADS, flat, res, seg, res, init_v, ident)
        else:
            totals = side.empty(blocks, acc)
            seeds = side.empty(blocks, acc)
            side.launch(reduce_kernel(opf, kind is not None, False, items_per_thread(dt)), blocks, THREADS,
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


class _LookBack:
    """The tile words and tile counter of single-pass scans over n items (a plan's own, or one per
    size and side shared by calls of :func:`scan`, cached in :data:`~.plan.PLANS`; either for one
    stream at a time).  Neither is ever cleared: each call has its own epoch and its own range of
    counter values."""

    def __init__(self, side, n: int, tile: int):
        self.tiles = -(-n // tile)
        self.status = zeroed(side, self.tiles, np.uint64)
        self.counter = zeroed(side, 1, np.int64)
        self.issued = 0
        self.epoch = 0
        self.lock = threading.Lock()

    @classmethod
    def get(cls, side, n: int, tile: int) -> "_LookBack":
        key = ("scan state", side.kind, n, tile, config.target(), stream_handle(side.stream))   # one stream at a time
        st = PLANS.get(key)
        if st is None:
            st = PLANS.put(key, cls(side, n, tile))
        return st

    def next(self):
        """(the counter value this call's first tile gets, this call's epoch).  Call it holding the
        lock of its user and launch before letting go: a kernel's tiles take counter values in launch
        order, so launches from several threads must come in the order of their ranges."""
        first = self.issued
        self.issued += self.tiles
        self.epoch = (self.epoch + 1) % (1 << 30) or 1
        return np.int64(first), np.uint32(self.epoch)
