"""Warp-level primitives, written in jitkit's kernel language: ``jk.warp.reduce(v, op)`` and friends.

Call them from any ``@jk.jit`` function with all 32 lanes of the warp taking part.  ``op`` is a
``@jk.jit`` device function or a well-known operator (``operator.add``, ``min``, ``max``...); it must
be associative, and need not be commutative: operands are always combined in lane order.

Example::

    @jk.jit
    def k(x, out):
        i = jk.grid(1)
        total = jk.warp.sum(x[i])                       # every lane gets the warp's sum
        out[i] = jk.warp.exclusive_scan(x[i], operator.add, 0)
"""

from __future__ import annotations

import operator

from .. import constexpr, jit, laneid, shfl_down_sync, shfl_sync, shfl_up_sync, shfl_xor_sync

__all__ = ["reduce", "sum", "inclusive_scan", "exclusive_scan", "broadcast"]

FULL = 0xFFFFFFFF


@jit
def reduce(value, op: constexpr):
    """``op`` over the warp's 32 values in lane order; every lane gets the result."""
    lane = laneid
    v = value
    for k in range(5):                       # butterfly: each step doubles the lanes combined
        other = shfl_xor_sync(FULL, v, 1 << k)
        v = op(other, v) if lane & (1 << k) else op(v, other)
    return v


@jit
def sum(value):
    """The warp's sum in every lane."""
    return reduce(value, operator.add)


@jit
def inclusive_scan(value, op: constexpr, aggregate: constexpr = False):
    """Lane i gets ``op`` over lanes 0..i; with ``aggregate=True`` returns ``(scan, warp_total)``."""
    v = _inclusive(value, op, FULL)
    if aggregate:
        return v, shfl_sync(FULL, v, 31)
    return v


@jit
def exclusive_scan(value, op: constexpr, init, aggregate: constexpr = False):
    """Lane 0 gets ``init``, lane i ``op`` over init and lanes 0..i-1; ``aggregate=True`` adds the
    warp's total (without ``init``)."""
    inc = _inclusive(value, op, FULL)
    up = shfl_up_sync(FULL, inc, 1)
    seed = type(value)(init)
    out = seed if laneid == 0 else op(seed, up)
    if aggregate:
        return out, shfl_sync(FULL, inc, 31)
    return out


@jit
def broadcast(value, src_lane):
    """Lane ``src_lane``'s value in every lane."""
    return shfl_sync(FULL, value, src_lane)


# ------------------------------------------------------------------ building blocks for block primitives
@jit
def _inclusive(value, op: constexpr, mask):
    """Kogge-Stone inclusive scan over the lanes of ``mask`` (the first n; sources are always lower lanes)."""
    lane = laneid
    v = value
    for k in range(5):
        other = shfl_up_sync(mask, v, 1 << k)
        if lane >= (1 << k):
            v = op(other, v)
    return v


@jit
def _reduce_to_lane0(value, op: constexpr, valid, mask):
    """``op`` over the first ``valid`` lanes in lane order, correct in lane 0 (CUB's shuffle-down tree)."""
    lane = laneid
    v = value
    for k in range(5):
        other = shfl_down_sync(mask, v, 1 << k)
        if lane + (1 << k) < valid:
            v = op(v, other)
    return v
