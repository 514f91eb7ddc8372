"""``jk.searchsorted``: where items would go in a sorted array (a binary search per item, NaNs last)."""

from __future__ import annotations

import math

import numpy as np

from ...dispatcher import jit
from ...lang.intrinsics import constexpr, grid, gridsize
from ...lang.types import int64
from ...runtime.interop import numpy_dtype
from .ops import cached
from .side import Side, filled, to_out
from .tiling import THREADS

__all__ = ["searchsorted"]


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
    return cached(("searchsorted", right), make)


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
        v = np.asarray([v], dtype=np.result_type(numpy_dtype(a), v))
    where = Side(a, stream)
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
    return r if out is None else to_out(out, r)


def _searched_empty(where, shape, scalar, out):
    if scalar:
        return 0
    r = np.zeros(shape, np.int64) if where.kind == "numpy" else where.result(filled(where, math.prod(shape),
                                                                                      np.int64, 0), shape)
    return r if out is None else to_out(out, r)
