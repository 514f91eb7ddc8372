"""``jk.unique``: the sorted distinct items, like ``np.unique`` (a radix sort, run heads flagged,
compacted by an exclusive scan of the flags), with first indices, inverse and counts."""

from __future__ import annotations

import math

import numpy as np

from ...dispatcher import jit
from ...lang.intrinsics import grid, gridsize
from ...lang.types import int64
from ...runtime.interop import numpy_dtype
from .radix import radix_sort, sortable
from .scan import scan
from .select import scatter_kernel, selected_count
from .side import Side
from .sort import gather
from .tiling import THREADS

__all__ = ["unique"]


@jit
def _differs(a, b):
    """a != b, with NaNs equal to each other (NumPy's ``equal_nan``)."""
    if a != a and b != b:
        return False
    return a != b


@jit
def _heads(s, flags):
    i = grid(1)
    step = gridsize(1)
    while i < s.size:
        flags[i] = int64(1) if i == 0 or _differs(s[i - 1], s[i]) else int64(0)
        i += step


@jit
def _run_starts(flags, pos, starts):
    i = grid(1)
    step = gridsize(1)
    while i < flags.size:
        if flags[i] != 0:
            starts[pos[i]] = i
        i += step


@jit
def _run_counts(starts, n, counts):
    j = grid(1)
    step = gridsize(1)
    while j < starts.size:
        counts[j] = (starts[j + 1] if j + 1 < starts.size else n) - starts[j]
        j += step


@jit
def _inverse(perm, flags, pos, inv):
    i = grid(1)
    step = gridsize(1)
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
    side = Side(x, stream)
    dt = numpy_dtype(x)
    sortable(dt, "jk.unique")
    n = math.prod(x.shape)
    extra = [return_index, return_inverse, return_counts]
    if n == 0:
        e = side.result(side.empty(0, dt), (0,))
        outs = [side.result(side.empty(0, np.int64), (0,)) for want in extra if want]
        return (e, *outs) if outs else e
    need_perm = return_index or return_inverse
    s, perm = radix_sort(side, x.reshape(-1), None, False, need_perm)
    grid_n = min(-(-n // THREADS), 4096 if side.gpu else 4)
    flags = side.empty(n, np.int64)
    side.launch(_heads, grid_n, THREADS, s, flags)
    pos = scan(flags, inclusive=False, stream=stream)
    m = selected_count(side, pos, flags, n)
    uniq = side.empty(m, dt)
    side.launch(scatter_kernel(False), grid_n, THREADS, s, flags, pos, uniq, np.int64(m))
    outs = [side.result(uniq, (m,))]
    if return_index or return_counts:
        starts = side.empty(m, np.int64)
        side.launch(_run_starts, grid_n, THREADS, flags, pos, starts)
    if return_index:
        outs.append(side.result(gather(side, perm, starts), (m,)))
    if return_inverse:
        inv = side.empty(n, np.int64)
        side.launch(_inverse, grid_n, THREADS, perm, flags, pos, inv)
        outs.append(side.result(inv, tuple(x.shape)))
    if return_counts:
        counts = side.empty(m, np.int64)
        side.launch(_run_counts, -(-m // THREADS), THREADS, starts, np.int64(n), counts)
        outs.append(side.result(counts, (m,)))
    return outs[0] if len(outs) == 1 else tuple(outs)
