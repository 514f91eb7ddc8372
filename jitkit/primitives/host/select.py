"""``jk.select`` and ``jk.partition``: stream compaction by a predicate (flags, an exclusive scan of
the flags for the positions, a scatter), and the pieces :mod:`.unique` reuses
(:func:`scatter_kernel`, :func:`selected_count`)."""

from __future__ import annotations

import math

import numpy as np

from ...dispatcher import jit
from ...lang.intrinsics import constexpr, grid, gridsize
from ...lang.types import int64
from ...runtime import driver
from ...runtime.interop import numpy_dtype, stream_handle
from .ops import cached, device_fn
from .scan import scan
from .side import Side
from .tiling import THREADS

__all__ = ["select", "partition", "scatter_kernel", "selected_count"]


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


def _flags_kernel(pred):
    def make():
        @jit
        def flags(x, out):
            _flags_body(x, out, pred)
        return flags
    return cached(("flags", pred), make)


def scatter_kernel(keep_rest: bool):
    def make():
        @jit
        def scatter(x, flags, pos, out, count):
            _scatter_body(x, flags, pos, out, count, keep_rest)
        return scatter
    return cached(("scatter", keep_rest), make)


def _split(x, pred, keep_rest: bool, stream):
    predf = device_fn(pred, "pred")
    side = Side(x, stream)
    n = math.prod(x.shape)
    dt = numpy_dtype(x)
    if n == 0:
        return side.result(side.empty(0, dt), (0,)), 0
    flat = side.flat(x)
    grid_n = min(-(-n // THREADS), 4096 if side.gpu else 4)
    flags = side.empty(n, np.int64)
    side.launch(_flags_kernel(predf), grid_n, THREADS, flat, flags)
    pos = scan(flags, inclusive=False, stream=stream)     # device flags stay on the device
    last = selected_count(side, pos, flags, n)
    size = n if keep_rest else last
    res = side.empty(size, dt)
    side.launch(scatter_kernel(keep_rest), grid_n, THREADS, flat, flags, pos, res, np.int64(last))
    return side.result(res, (size,)), last


def selected_count(side, pos, flags, n) -> int:
    """pos[n-1] + flags[n-1]: how many were selected (read back to the host)."""
    if isinstance(pos, np.ndarray):
        return int(pos[n - 1] + flags[n - 1])
    if side.kind in ("cupy", "torch"):
        return int(pos[n - 1]) + int(flags[n - 1])
    h = np.empty(2, np.int64)
    s = stream_handle(side.stream)
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
