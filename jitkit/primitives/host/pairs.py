"""``jk.reduce`` and ``jk.scan`` over a pair of arrays: ``jk.reduce((values, index), op)``.

The op takes and returns pairs, ``op((a0, a1), (b0, b1)) -> (c0, c1)``: an arg-min over
``(values, indices)``, a linear recurrence ``x[i] = a[i] * x[i-1] + b[i]`` as a scan over ``(a, b)``, a
segmented sum over ``(flags, values)``.  Such ops need not commute and have no identity, so items
are combined strictly in index order: each thread folds a run of ``IPT`` items, the block joins the
runs with a scan (the block primitives carry pairs), blocks join through a second pass.  Pairs are
what the block primitives combine (scalars, or 2-tuples of scalars), hence pairs here.
"""

from __future__ import annotations

import math

import numpy as np

from ...dispatcher import jit
from ...lang import types as T
from ...lang.intrinsics import block_dims, blockIdx, constexpr, gridDim, syncthreads, threadIdx
from ...runtime.interop import array_kind, is_contiguous, numpy_dtype, stream_handle
from .. import block
from .. import warp as _w
from .ops import cached, device_fn, result_type, scalar_type
from .side import Side, filled, zeroed
from .tiling import last_block, segments

__all__ = ["reduce", "scan"]

IPT = 4        # items per thread and tile: each lane reads a run of 4 per array, a warp 128 in a row
THREADS = 256


# ------------------------------------------------------------------ kernels (kernel language)
@jit
def _at(x, i):
    return x[0][i], x[1][i]


@jit
def _as(v, proto):
    """The pair ``v`` in ``proto``'s types."""
    return type(proto[0])(v[0]), type(proto[1])(v[1])


@jit
def _run(x, lo, end, op: constexpr, proto, ipt: constexpr):
    """op over x[lo : min(lo + ipt, end)] (lo < end), in order, in proto's types."""
    acc = _as(_at(x, lo), proto)
    for k in range(1, ipt):
        if lo + k < end:
            acc = op(acc, _at(x, lo + k))
    return acc


@jit
def _ordered(x, start, end, op: constexpr, proto, ipt: constexpr):
    """op over x[start:end] (not empty) in index order; every thread gets it.  Tile by tile: thread t
    folds items t*ipt.., the block scans the threads' runs (threads past the end hold a placeholder,
    which only later threads see) and takes the last run's inclusive value."""
    bx, by, bz = block_dims()
    t = threadIdx.x
    box = _w.scratch(1, proto)
    total = proto
    base = start
    while base < end:
        lo = base + t * ipt
        mine = proto
        if lo < end:
            mine = _run(x, lo, end, op, proto, ipt)
        inc = block.inclusive_scan(mine, op)          # opens with a barrier: the last tile's box was read
        if t == min(bx, (end - base + ipt - 1) // ipt) - 1:
            _w.put_value(box, 0, inc)
        syncthreads()
        part = _w.get_value(box, 0)
        total = part if base == start else op(total, part)
        base += bx * ipt
    return total


@jit
def _reduce_pairs(x, out, partials, counter, seg, init, proto, op: constexpr, has_init: constexpr,
                  finish: constexpr, ipt: constexpr):
    """Block b folds x[b*seg : (b+1)*seg] in order.  Without ``finish`` into out[b]; with it the last
    block also folds the partials, in block order, into out[0] (init first) and re-zeroes the counter."""
    start = blockIdx.x * seg
    total = _ordered(x, start, min(start + seg, x[0].size), op, proto, ipt)
    if finish:
        if gridDim.x > 1:
            if not last_block(partials, counter, total):
                return
            total = _ordered(partials, 0, gridDim.x, op, proto, ipt)
        if has_init:
            total = op(_as(init, proto), total)
        if threadIdx.x == 0:
            _w.put_value(out, 0, total)
            counter[0] = 0
    elif threadIdx.x == 0:
        _w.put_value(out, blockIdx.x, total)


@jit
def _scan_pairs(x, out, seg, seeds, init, proto, op: constexpr, has_init: constexpr, inclusive: constexpr,
                ipt: constexpr):
    """Block b scans x[b*seg : (b+1)*seg] into out, seeded by seeds[b-1] (the inclusive scan of the
    blocks' totals, init included) or, in block 0, init.  Each tile: every thread folds its run, the
    block scans the runs, and each thread reads its run again to write it out."""
    bx, by, bz = block_dims()
    t = threadIdx.x
    b = blockIdx.x
    start = b * seg
    end = min(start + seg, x[0].size)
    seeded = has_init or b > 0
    carry = proto
    if b > 0:
        carry = _as(_at(seeds, b - 1), proto)
    elif has_init:
        carry = _as(init, proto)
    base = start
    while base < end:
        lo = base + t * ipt
        mine = proto
        if lo < end:
            mine = _run(x, lo, end, op, proto, ipt)
        if seeded:
            ex, agg = block.exclusive_scan(mine, op, carry, aggregate=True)
        else:                                          # the array's first tile: thread 0 has no prefix
            ex, agg = block.exclusive_scan(mine, op, aggregate=True)
        has = seeded or t > 0
        acc = ex
        for k in range(ipt):
            i = lo + k
            if i < end:
                v = _at(x, i)
                if inclusive:
                    acc = op(acc, v) if has else _as(v, proto)
                    has = True
                    _w.put_value(out, i, acc)
                else:                                  # exclusive scans always have init
                    _w.put_value(out, i, acc)
                    acc = op(acc, v)
        carry = op(carry, agg) if seeded else agg      # the last tile's aggregate may hold placeholders:
        seeded = True                                  # unused
        base += bx * ipt


def _pair_op(op):
    """``op`` with its result converted to its first argument's types (a pair's types stay put)."""
    def make():
        @jit
        def pair_op(a, b):
            return _as(op(a, b), a)
        return pair_op
    return cached(("pair op", op), make)


def _reduce_kernel(op, has_init: bool, finish: bool):
    def make():
        @jit
        def reduce_pairs(x, out, partials, counter, seg, init, proto):
            _reduce_pairs(x, out, partials, counter, seg, init, proto, op, has_init, finish, IPT)
        return reduce_pairs
    return cached(("pair reduce", op, has_init, finish), make)


def _scan_kernel(op, has_init: bool, inclusive: bool):
    def make():
        @jit
        def scan_pairs(x, out, seg, seeds, init, proto):
            _scan_pairs(x, out, seg, seeds, init, proto, op, has_init, inclusive, IPT)
        return scan_pairs
    return cached(("pair scan", op, has_init, inclusive), make)


# ------------------------------------------------------------------ host side
def _split(x, stream, what: str):
    """(the pair, its side, its shape), checked: two arrays of one kind and one shape."""
    if len(x) != 2:
        raise ValueError(f"{what} takes an array or a pair (2-tuple) of arrays, got a {len(x)}-tuple")
    a, b = x
    ka, kb = array_kind(a), array_kind(b)
    if ka != kb:
        raise TypeError(f"{what}: both arrays of a pair must be of one kind, got {ka} and {kb}")
    if tuple(a.shape) != tuple(b.shape):
        raise ValueError(f"{what}: the arrays of a pair must have one shape, got {tuple(a.shape)} and "
                         f"{tuple(b.shape)}")
    return (a, b), Side(a, stream), tuple(a.shape)


def _types(op, x, init, what: str):
    """The accumulator's two dtypes: those of ``op(init or x[i], x[i])``."""
    elem = T.Tuple(tuple(T.scalar_from_dtype(numpy_dtype(a)) for a in x))
    if init is not None:
        if not isinstance(init, tuple) or len(init) != 2:
            raise TypeError(f"{what}: init= of a pair reduction or scan is a pair, got {init!r}")
        first = T.Tuple(tuple(scalar_type(v) for v in init))
    else:
        first = elem
    acc = result_type(op, first, elem)
    if not (isinstance(acc, T.Tuple) and len(acc.types) == 2 and all(isinstance(t, T.Scalar) for t in acc.types)):
        raise TypeError(f"{what}: op({first}, {elem}) gives {acc}; over a pair of arrays it must give a pair "
                        "of scalars")
    return tuple(np.dtype(t.dtype) for t in acc.types)


def _pair(dts, v=(0, 0)):
    return tuple(dt.type(x) for dt, x in zip(dts, v))


def _outs(out, side, n: int, dts, what: str):
    """out= as the pair of flat device arrays kernels write (None for NumPy, which is assigned)."""
    if out is None:
        return None
    if not isinstance(out, tuple) or len(out) != 2:
        raise TypeError(f"{what}: out= of a pair is a pair of arrays")
    for o, dt in zip(out, dts):
        if np.dtype(numpy_dtype(o)) != dt or math.prod(o.shape) != n:
            raise ValueError(f"{what}: out= must hold {n} items of {dt}, got {tuple(o.shape)} of {numpy_dtype(o)}")
        if side.kind != "numpy" and not is_contiguous(o):
            raise ValueError(f"{what}: out= must be contiguous arrays")
    return None if side.kind == "numpy" else tuple(o.reshape(-1) for o in out)


def reduce(x, op, init=None, out=None, stream=None):
    """``op`` over the pairs ``(x[0][i], x[1][i])`` in index order (see :func:`jitkit.reduce`)."""
    what = "jk.reduce"
    raw = device_fn(op, "op")
    opf = _pair_op(raw)
    x, side, shape = _split(x, stream, what)
    dts = _types(raw, x, init, what)
    n = math.prod(shape)
    outs = _outs(out, side, 1, dts, what)
    if n == 0:
        if init is None:
            raise ValueError(f"{what} of empty arrays needs init= (a pair op has no identity)")
        res = tuple(filled(side, 1, dt, v, o) for dt, v, o in zip(dts, _pair(dts, init), outs or (None, None)))
    else:
        seg, blocks = segments(side, n, THREADS * IPT)
        res = outs or tuple(side.empty(1, dt) for dt in dts)
        partials = tuple(side.empty(blocks, dt) for dt in dts)
        side.launch(_reduce_kernel(opf, init is not None, True), blocks, THREADS, tuple(side.flat(a) for a in x),
                    res, partials, zeroed(side, 1, np.int32), seg, _pair(dts, init or (0, 0)), _pair(dts))
    if side.kind == "numpy":
        host = tuple((r if isinstance(r, np.ndarray) else r.to_host(stream_handle(side.stream)))[0] for r in res)
        if out is None:
            return host
        for o, v in zip(out, host):
            o[...] = v
        return out
    return out if out is not None else tuple(side.result(r, ()) for r in res)


def scan(x, op, inclusive=True, init=None, out=None, stream=None):
    """The running ``op`` over the pairs ``(x[0][i], x[1][i])`` (see :func:`jitkit.scan`)."""
    what = "jk.scan"
    raw = device_fn(op, "op")
    opf = _pair_op(raw)
    x, side, shape = _split(x, stream, what)
    if init is None and not inclusive:
        raise ValueError(f"an exclusive {what} of a pair needs init= (a pair op has no identity)")
    dts = _types(raw, x, init, what)
    n = math.prod(shape)
    outs = _outs(out, side, n, dts, what)
    res = outs or tuple(side.empty(n, dt) for dt in dts)
    if n:
        flat = tuple(side.flat(a) for a in x)
        seg, blocks = segments(side, n, THREADS * IPT)
        has_init = init is not None
        init_v, proto = _pair(dts, init or (0, 0)), _pair(dts)
        seeds = res
        if blocks > 1:
            totals = tuple(side.empty(blocks, dt) for dt in dts)
            seeds = tuple(side.empty(blocks, dt) for dt in dts)
            side.launch(_reduce_kernel(opf, False, False), blocks, THREADS, flat, totals, totals, totals[0], seg,
                        proto, proto)
            side.launch(_scan_kernel(opf, has_init, True), 1, THREADS, totals, seeds, blocks, seeds, init_v, proto)
        side.launch(_scan_kernel(opf, has_init, inclusive), blocks, THREADS, flat, res, seg, seeds, init_v, proto)
    if side.kind == "numpy":
        host = tuple(side.result(r, shape) for r in res)
        if out is None:
            return host
        for o, h in zip(out, host):
            o[...] = h
        return out
    return out if out is not None else tuple(side.result(r, shape) for r in res)
