"""``jk.histogram``: counts in equal bins like ``np.histogram`` (per-block counts in shared memory,
NumPy's bin rule checked against the edges)."""

from __future__ import annotations

import math

import numpy as np

from ...dispatcher import jit
from ...lang.intrinsics import atomic, block_dims, constexpr, grid, gridsize, shared, syncthreads, threadIdx
from ...lang.types import int64
from .ops import cached
from .reduce import reduce
from .side import Side, filled, to_side
from .tiling import THREADS

__all__ = ["histogram"]


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


def _histogram_kernel(bins: int):
    def make():
        @jit
        def histogram(x, counts, lo, hi, norm, edges):
            _histogram_body(x, counts, lo, hi, norm, edges, bins)
        return histogram
    return cached(("histogram", bins), make)


def histogram(x, bins=10, range=None, stream=None):
    """``(counts, edges)`` like ``np.histogram`` with ``bins`` equal bins over ``range`` (default: the
    data's min and max): the last bin includes its right edge, values outside (and NaNs) are not
    counted.  Counts are int64 in ``x``'s kind of array; edges a float64 NumPy array."""
    if not isinstance(bins, (int, np.integer)) or bins < 1:
        raise ValueError(f"jk.histogram takes a positive number of bins, got {bins!r}")
    bins = int(bins)
    side = Side(x, stream)
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
    counts = filled(side, bins, np.int64, 0)
    if n:
        if bins > 4096:
            raise ValueError("jk.histogram counts in shared memory: at most 4096 bins")
        e = to_side(side, edges)
        grid_n = min(-(-n // THREADS), 1024 if side.gpu else 4)
        side.launch(_histogram_kernel(bins), grid_n, THREADS, side.flat(x), counts, lo, hi, bins / (hi - lo), e)
    return side.result(counts, (bins,)), edges
