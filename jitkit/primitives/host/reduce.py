"""``jk.reduce``, ``jk.segmented_reduce`` and ``jk.plan_reduce``: an op over a whole array, along an
axis, or over segments.

A reduction of an op with an identity (add, mul, min, max, and, or, xor) deals tiles round-robin to
one resident wave of blocks, each thread accumulating eight 16-byte loads in flight per tile; the
last block to finish (a device-scope counter) folds the blocks' partials, so the whole reduction is
one launch.  Other ops (no identity, need not commute) reduce one run of whole tiles per block, in
order.  A pair of arrays goes to :mod:`.pairs`.
"""

from __future__ import annotations

import math
import operator

import numpy as np

from ... import config
from ...dispatcher import jit
from ...lang.intrinsics import block_dims, blockIdx, constexpr, gridDim, is_aligned, local, threadIdx, vector_load
from ...runtime.interop import array_kind, numpy_dtype, stream_handle
from .. import block
from . import pairs
from .ops import accumulator, cached, device_fn
from .plan import HOT_TYPES, PLANS, SLOT, Plan, Replay, Step
from .side import Side, axis_last, filled, flat_out, max_blocks, to_out, zeroed
from .tiling import THREADS, TILE_BYTES, items_per_thread, last_block, segments

__all__ = ["reduce", "segmented_reduce", "plan_reduce", "ReducePlan", "reduce_kernel"]

REDUCE_TILE_BYTES = 128  # jk.reduce of a commutative op: eight 16-byte loads in flight per thread, tiles
REDUCE_BLOCKS_PER_SM = 6  # dealt round-robin to one wave of 6 blocks per SM (H100, 2^28 f32: 3060 GB/s
                          # with a second launch; one contiguous run per block was 2770-2960)
RESULT_SLOTS = 256       # a plan's hot path hands out 0-d views of one allocation of this many results


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
        if not last_block(partials, counter, total):
            return
        total = _reduce_range(partials, 0, nb, op, flag_op, ident, known, 4)
    if has_init:
        total = type(ident)(op(init, total))
    if threadIdx.x == 0:
        out[slot] = total
        if nb > 1:
            counter[0] = 0


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


def reduce_kernel(op, known: bool, has_init: bool, ipt: int):
    """The per-block reduce kernel for one op and mode: ``(x, out, seg, ident, init)``, block b's
    segment into out[b]."""
    def make():
        flag_op = _flag_op(op)

        @jit
        def reduce_segments(x, out, seg, ident, init):
            _reduce_body(x, out, out, out, seg, op, flag_op, ident, known, init, has_init, ipt, False)
        return reduce_segments
    return cached(("reduce", op, known, has_init, ipt), make)


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
    return cached(("reduce_all", op, known, has_init, ipt), make)


def _segments_kernel(op, known: bool, has_init: bool, ipt: int):
    def make():
        flag_op = _flag_op(op)

        @jit
        def reduce_segments(x, offsets, out, ident, init):
            _segments_body(x, offsets, out, op, flag_op, ident, known, init, has_init, ipt)
        return reduce_segments
    return cached(("segments", op, known, has_init, ipt), make)


def _flag_op(op):
    """The (has, value) combiner of ``op``, a @jit function (one per op)."""
    def make():
        @jit
        def flagged(a, b):
            return _flagged(a, b, op)
        return flagged
    return cached(("flagged", op), make)


# ------------------------------------------------------------------ host side
class ReducePlan(Plan):
    """``jk.reduce(x, op, init)`` of arrays like the one it was planned for: ``plan(x, out=None,
    stream=None)`` (see :func:`plan_reduce`).

    Holds the blocks' partials and the finishing counter (device memory), the accumulator type and
    the kernel; for 1-d contiguous CuPy arrays and CUDA PyTorch tensors also a :class:`~.plan.Replay`
    of the one launch, whose results are 0-d views of one allocation of ``RESULT_SLOTS`` results.
    Arrays it was not made for: see :class:`~.plan.Plan`.  The temporaries serve one stream at a
    time."""

    verb = "reduces"

    def __init__(self, x, op=operator.add, init=None, stream=None):
        super().__init__(x, stream)
        self.op = device_fn(op, "op")
        self.acc, self.kind, self.ident = accumulator(self.op, self.dtype, init, "jk.reduce")
        if self.acc.kind == "c" and self.kind in ("min", "max"):
            raise TypeError(f"jk.reduce: {self.acc} values have no order for min/max")
        self.init = None if init is None else self.acc.type(init)
        known = self.kind is not None           # the in-order path reduces each tile with the block: smaller tiles
        self.ipt = items_per_thread(self.dtype, REDUCE_TILE_BYTES if known else TILE_BYTES)
        tile = THREADS * self.ipt
        if known:                               # tiles dealt round-robin: one resident wave of blocks
            self.seg, self.blocks = 0, max(1, min(-(-self.n // tile), max_blocks(self.side, REDUCE_BLOCKS_PER_SM)))
        else:                                   # in order: one run of whole tiles per block
            self.seg, self.blocks = segments(self.side, self.n, tile)
        self.partials = self.side.empty(self.blocks, self.acc) if self.blocks > 1 else None
        self.counter = zeroed(self.side, 1, np.int32)      # re-zeroed by each launch's last block
        self.kernel = _reduce_all_kernel(self.op, known, self.init is not None, self.ipt)
        self._init_arg = self.init if self.init is not None else self.ident   # what the kernel starts from
        self.prepare_for(x)

    def record(self, x) -> Replay:
        slots = self.side.empty(RESULT_SLOTS, self.acc)
        args = (x, slots, self.partials if self.blocks > 1 else slots, self.counter, self.seg, self.ident,
                self._init_arg, 0)
        return Replay([Step(self.kernel, self.blocks, THREADS, args, stream=self.stream, vary={7: SLOT})], x, slots,
                      self.side.maker(RESULT_SLOTS, self.acc), ring=RESULT_SLOTS)

    def __call__(self, x, out=None, stream=None):
        if out is None and stream is None:
            r = self.run(x)
            if r is None and self.replay is None:
                r = self.first_replay(x)
            if r is not None:
                return r
        self.check(x)
        side = self.side if stream is None else Side(x, stream)
        if self.n == 0:
            return self._empty_result(side, out)
        flat = side.flat(x)
        res = side.empty(1, self.acc) if out is None or self.side.kind == "numpy" else flat_out(out, self.acc)
        side.launch(self.kernel, self.blocks, THREADS, flat, res, self.partials if self.blocks > 1 else res,
                    self.counter, self.seg, self.ident, self._init_arg, 0)
        return self._finish(side, res, out)

    def _empty_result(self, side, out):
        if self.init is not None:
            v = self.init
        elif self.kind in ("zero", "one", "ones"):
            v = self.ident
        else:
            raise ValueError("jk.reduce of an empty array needs init= (op has no identity)")
        if side.kind == "numpy":
            return to_out(out, self.acc.type(v))
        res = None if out is None else flat_out(out, self.acc)
        return self._finish(side, filled(side, 1, self.acc, v, res), out)

    def _finish(self, side, res, out):
        if side.kind == "numpy":
            h = res if isinstance(res, np.ndarray) else res.to_host(stream_handle(side.stream))
            return to_out(out, h[0])
        if out is not None:
            return out
        return side.result(res, ())


def plan_reduce(x, op=operator.add, init=None, stream=None) -> ReducePlan:
    """A :class:`ReducePlan`: ``jk.reduce(x, op, init)`` for arrays like ``x`` (same kind, dtype and
    size), its temporaries allocated and its launch prepared once, for the least host time per call
    in a loop (``plan(y)`` gives what ``jk.reduce(y, op, init)`` gives).  ``stream``: where its calls
    run unless one passes ``stream=``.

    Example::

        x = cupy.random.random(1 << 20, dtype=cupy.float32)
        plan = jk.plan_reduce(x, max)
        for step in range(1000):
            m = plan(x)                   # a 0-d CuPy array, like jk.reduce(x, max)
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
    :mod:`jitkit.primitives.host.pairs`).

    Returns a NumPy scalar for NumPy input, a 0-d device array for device input (or ``out``).  A
    repeated call on 1-d CuPy or PyTorch arrays of one dtype and size replays the cached
    :func:`plan_reduce` plan.

    Example::

        total = jk.reduce(x)
        m = jk.reduce(x, max, axis=0)"""
    if init is None and axis is None and out is None and stream is None and type(x) in HOT_TYPES:
        plan = PLANS.get(("reduce", type(x), x.dtype, x.shape, op, config.target()))   # seen before: one lookup
        if plan is not None:
            r = plan.run(x)
            if r is not None:
                return r
    if isinstance(x, tuple):
        if axis is not None:
            raise ValueError("jk.reduce of a pair of arrays reduces all of it: axis= must be None")
        return pairs.reduce(x, op, init, out, stream)
    if axis is not None:
        return _reduce_axis(x, op, init, axis, out, stream)
    opf = device_fn(op, "op")
    key = ("reduce", array_kind(x), x.dtype, tuple(x.shape), opf, None if init is None else type(init), config.target(),
           0 if stream is None else stream_handle(stream))     # a plan's temporaries serve one stream at a time
    plan = PLANS.get(key)
    if plan is None or (init is not None and plan.init != plan.acc.type(init)):
        plan = PLANS.put(key, ReducePlan(x, opf, init, stream))
    r = plan(x, out=out, stream=stream)
    if plan.prepared and init is None and stream is None:     # the next call like this one: one lookup
        HOT_TYPES.add(type(x))
        PLANS.put(("reduce", type(x), x.dtype, x.shape, op, config.target()), plan)
    return r


def _reduce_axis(x, op, init, axis, out, stream):
    """One block per row of ``x`` with ``axis`` moved last."""
    side = Side(x, stream)
    moved = axis_last(side, x, axis, "jk.reduce")
    shape = tuple(moved.shape[:-1])
    rows, n = math.prod(shape), int(moved.shape[-1])
    opf = device_fn(op, "op")
    dt = numpy_dtype(x)
    acc, kind, ident = accumulator(opf, dt, init, "jk.reduce")
    if n == 0 or rows == 0:
        if init is None and kind not in ("zero", "one", "ones"):
            raise ValueError("jk.reduce of an empty axis needs init= (op has no identity)")
        v = acc.type(init) if init is not None else ident
        if side.kind == "numpy":
            return to_out(out, np.full(shape, v, acc))
        res = filled(side, rows, acc, v)
        return res.reshape(shape) if out is None else to_out(out, res.reshape(shape))
    flat = side.flat(moved)
    res = side.empty(rows, acc)
    has_init = init is not None
    side.launch(reduce_kernel(opf, kind is not None, has_init, items_per_thread(dt)), rows, THREADS, flat, res,
                n, ident, acc.type(init) if has_init else ident)
    r = side.result(res, shape)
    return r if out is None else to_out(out, r)


def segmented_reduce(x, offsets, op=operator.add, init=None, out=None, stream=None):
    """``op`` over each segment ``x[offsets[i]:offsets[i+1]]``, in order: ``len(offsets) - 1``
    results.  An empty segment gives ``init``, or the op's identity (ops without one need ``init``).
    ``offsets`` is an integer array of the same kind as ``x`` (NumPy with NumPy...), non-decreasing.

    Example::

        sums = jk.segmented_reduce(values, np.array([0, 3, 3, 10]))   # three segments, one empty"""
    opf = device_fn(op, "op")
    side = Side(x, stream)
    dt = numpy_dtype(x)
    acc, kind, ident = accumulator(opf, dt, init, "jk.segmented_reduce")
    odt = numpy_dtype(offsets)
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
        k = _segments_kernel(opf, kind is not None, has_init, items_per_thread(dt))
        side.launch(k, m, THREADS, flat, side.flat(offsets), res, ident, acc.type(init) if has_init else ident)
    r = side.result(res, (m,))
    return r if out is None else to_out(out, r)
