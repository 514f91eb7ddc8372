"""Device-wide sorting from the host: ``jk.sort``, ``jk.argsort``, ``jk.plan_sort``,
``jk.plan_argsort``.

Orders (all sorts are stable):

- integers: numeric; ``bool``: False before True;
- floats (float16, bfloat16, float32, float64): numeric, ``-0.0`` and ``+0.0`` equal (they keep
  their input order), every NaN after ``+inf`` (NumPy's order); ``descending=True`` reverses the
  order of keys, not of equal keys, so NaNs come first (PyTorch's order).

Numbers radix-sort (:mod:`.radix`); ``key=`` sorts by ``key(item)`` computed on the device (any
function jitkit can compile that gives a number); ``less=`` sorts by a comparator with a merge sort
(:mod:`.merge`).  n-d keys sort along an axis: one sort of all items, then a stable radix sort by row.
"""

from __future__ import annotations

import math

import numpy as np

from ... import config
from ...dispatcher import jit
from ...lang.intrinsics import grid
from ...runtime.interop import array_kind, is_contiguous, numpy_dtype
from .merge import merge_sort
from .ops import cached, device_fn
from .plan import HOT_TYPES, PLANS, Plan, Replay, Step
from .radix import radix_launches, radix_sort, sortable
from .side import Side, axis_last
from .tiling import THREADS
from .transform import transform

__all__ = ["sort", "argsort", "plan_sort", "plan_argsort", "SortPlan", "ArgsortPlan", "gather"]


def sort(keys, values=None, descending=False, key=None, less=None, axis=-1, stream=None):
    """``keys`` sorted, stably, as a new array of the same kind; with ``values`` (same shape),
    ``(sorted keys, values in the same order)``.  n-d keys sort along ``axis`` (the last by
    default, as ``np.sort``; ``axis=None`` sorts all items into a 1-d result).

    Integer, bool and float keys of every width radix-sort (see the module docstring for the
    order of -0.0 and NaN).  ``key=f`` sorts ``keys`` by ``f(item)`` (computed on the device, any
    function jitkit can compile that returns a number), like Python's ``sorted(key=...)``.
    ``less=f`` sorts by the comparator ``f(a, b)`` (a strict weak order, True when a goes first)
    with a merge sort, for keys of any type ``f`` takes.

    Example::

        s = jk.sort(x)
        k, v = jk.sort(keys, values, descending=True)
        by_magnitude = jk.sort(x, key=abs)
        by_low_byte = jk.sort(x, less=lambda a, b: (a & 255) < (b & 255))
        rows = jk.sort(m)                 # each row of a matrix, like np.sort(m)

    A repeated call on 1-d CuPy arrays of one dtype and size (keys only) replays a cached
    :func:`plan_sort` plan."""
    hot = values is None and key is None and less is None and axis == -1 and stream is None
    if hot and type(keys) in HOT_TYPES:
        plan = PLANS.get(("sort", type(keys), keys.dtype, keys.shape, descending, config.target()))   # seen before
        if plan is not None:
            r = plan.run(keys)
            if r is not None:
                return r
    r = _sort(keys, values, descending, key, less, axis, stream)
    if hot:
        _keep_plan(SortPlan, "sort", keys, descending)
    return r


def _sort(keys, values, descending, key, less, axis, stream):
    """:func:`sort` (the general path)."""
    side = Side(keys, stream)
    if values is not None:
        if not hasattr(values, "shape") or array_kind(values) != array_kind(keys):
            raise TypeError(f"jk.sort: keys and values must be the same kind of array, got "
                            f"{type(keys).__qualname__} and {type(values).__qualname__}")
        if tuple(values.shape) != tuple(keys.shape):
            raise ValueError(f"jk.sort: values has shape {tuple(values.shape)}, keys {tuple(keys.shape)}")
    if key is not None and less is not None:
        raise ValueError("jk.sort takes key= or less=, not both")
    if axis is None:
        keys, values = keys.reshape(-1), (values.reshape(-1) if values is not None else None)
    elif len(keys.shape) != 1 or axis not in (0, -1):
        return _sort_along(side, keys, values, descending, key, less, axis, "jk.sort")
    if key is not None:
        return _sort_by_key(side, keys, values, key, descending, stream)
    dt = numpy_dtype(keys)
    if less is None:
        sortable(dt, "jk.sort")
    n = keys.shape[0]
    if n == 0:
        e = side.result(side.empty(0, dt), (0,))
        return e if values is None else (e, side.result(side.empty(0, numpy_dtype(values)), (0,)))
    if less is not None:
        k, v = merge_sort(side, keys, values, less, descending, False)
    else:
        k, v = radix_sort(side, keys, values, descending, False)
    if values is None:
        return side.result(k, (n,))
    return side.result(k, (n,)), side.result(v, (n,))


def argsort(keys, descending=False, less=None, axis=-1, stream=None):
    """The int64 indices that sort ``keys``, stably: ``keys[argsort(keys)]`` is sorted (with
    ``jk.sort``'s order of -0.0 and NaN, or by the comparator ``less``).  n-d keys: indices along
    ``axis`` (``np.argsort``'s, as ``np.take_along_axis`` takes them); ``axis=None``: into the
    flattened keys.  For repeated argsorts of one kind of array, :func:`plan_argsort` keeps the
    scratch and replays the launches (a one-shot call keeps nothing: its scratch is the size of
    the keys and their indices twice over).

    Example::

        order = jk.argsort(x)
        ranking = jk.argsort(scores, descending=True)"""
    return _argsort(keys, descending, less, axis, stream)


def _argsort(keys, descending, less, axis, stream):
    """:func:`argsort` (the general path)."""
    side = Side(keys, stream)
    if axis is None:
        keys = keys.reshape(-1)
    elif len(keys.shape) != 1 or axis not in (0, -1):
        return _sort_along(side, keys, None, descending, None, less, axis, "jk.argsort")
    dt = numpy_dtype(keys)
    if less is None:
        sortable(dt, "jk.argsort")
    n = keys.shape[0]
    if n == 0:
        return side.result(side.empty(0, np.int64), (0,))
    if less is not None:
        _, v = merge_sort(side, keys, None, less, descending, True)
    else:
        _, v = radix_sort(side, keys, None, descending, True)
    return side.result(v, (n,))


def _sort_along(side, keys, values, descending, key, less, axis, what):
    """Sort each row of ``keys`` along ``axis``: one stable sort of all items by key (their flat
    indices along), then a stable radix sort by row (as few bits as there are rows) carrying those
    indices; ``jk.argsort`` gets the indices within rows, ``jk.sort`` keys (and values) gathered by them."""
    moved = axis_last(side, keys, axis, what)
    mshape = tuple(moved.shape)
    m, n = mshape[-1], math.prod(mshape)
    dt = numpy_dtype(keys)
    if key is None and less is None:
        sortable(dt, what)
    if n == 0:
        perm = side.empty(0, np.int64)
    else:
        kflat = side.flat(moved)
        if key is not None:
            kflat = transform(device_fn(key, "key"), kflat, stream=side.stream)
            sortable(numpy_dtype(kflat), f"{what}(key=...)")
        if less is not None:
            _, perm = merge_sort(side, kflat, None, less, descending, True)
        else:
            _, perm = radix_sort(side, kflat, None, descending, True)
        rows = n // m
        if rows > 1:
            bits = (rows - 1).bit_length()
            rdt = np.dtype(np.uint8 if bits <= 8 else (np.uint16 if bits <= 16 else np.uint32))
            row = side.empty(n, rdt)
            side.launch(_row_kernel(), -(-n // THREADS), THREADS, perm, np.int64(m), row)
            _, perm = radix_sort(side, row, perm, False, False, end_bit=bits)

    def back(flat):
        return axis_last(side, side.result(flat, mshape), axis, what, back=True)
    if what == "jk.argsort":
        if n:
            side.launch(_within_row_kernel(), -(-n // THREADS), THREADS, perm, np.int64(m))
        return side.contiguous(back(perm))
    out = side.contiguous(back(gather(side, side.flat(moved), perm) if n else side.empty(0, dt)))
    if values is None:
        return out
    vmoved = axis_last(side, values, axis, what)
    vdt = numpy_dtype(values)
    return out, side.contiguous(back(gather(side, side.flat(vmoved), perm) if n else side.empty(0, vdt)))


def _row_kernel():
    def make():
        @jit
        def rows(perm, m, out):
            i = grid(1)
            if i < out.size:
                out[i] = type(out[0])(perm[i] // m)
        return rows
    return cached(("sort rows",), make)


def _within_row_kernel():
    def make():
        @jit
        def within_row(perm, m):
            i = grid(1)
            if i < perm.size:
                perm[i] = perm[i] % m
        return within_row
    return cached(("sort within row",), make)


def _sort_by_key(side, keys, values, key, descending, stream):
    keyf = device_fn(key, "key")
    k = transform(keyf, keys, stream=stream)
    sortable(numpy_dtype(k), "jk.sort(key=...)")
    n = keys.shape[0]
    if n == 0:
        return keys[:0] if values is None else (keys[:0], values[:0])
    if values is None:
        _, v = radix_sort(side, k, keys, descending, False)
        return side.result(v, (n,))
    _, perm = radix_sort(side, k, None, descending, True)
    return (side.result(gather(side, side.flat(keys), perm), (n,)),
            side.result(gather(side, side.flat(values), perm), (n,)))


def _gather_kernel():
    def make():
        @jit
        def gather(src, idx, out):
            i = grid(1)
            if i < out.size:
                out[i] = src[idx[i]]
        return gather
    return cached(("gather",), make)


def gather(side, src, perm):
    """``src[perm]`` for flat device (or simulator) arrays."""
    n = perm.shape[0]
    out = side.empty(n, numpy_dtype(src))
    side.launch(_gather_kernel(), -(-n // THREADS), THREADS, src, perm, out)
    return out


def _keep_plan(cls, what: str, keys, descending: bool) -> None:
    """After a general sort of 1-d contiguous CuPy keys: cache the plan later calls like it replay
    (once per key, also where it cannot replay)."""
    if array_kind(keys) == "cupy" and len(keys.shape) == 1 and is_contiguous(keys):
        key = (what, type(keys), keys.dtype, keys.shape, descending, config.target())
        if PLANS.get(key) is None:
            HOT_TYPES.add(type(keys))
            PLANS.put(key, cls(keys, descending))


class SortPlan(Plan):
    """``jk.sort(keys, descending=...)`` of keys like the ones it was planned for: ``plan(keys,
    stream=None)`` (see :func:`plan_sort`).

    For 1-d contiguous CuPy arrays and CUDA PyTorch tensors, holds the radix sort's scratch (its
    digit state and second key buffer) and a :class:`~.plan.Replay` of its launches (a digit count,
    then one per 8-bit digit): a call makes its result, zeroes the state and launches.  (An argsort
    of 8-byte keys takes over 48 KiB of dynamic shared memory a block: preparing its launches opts
    in, as a first general launch would.)  Arrays it was not made for: see :class:`~.plan.Plan`.  The
    temporaries serve one stream at a time."""

    verb = "sorts"
    indices = False

    def __init__(self, keys, descending: bool = False, stream=None):
        super().__init__(keys, stream)
        self.descending = descending
        sortable(self.dtype, "jk.argsort" if self.indices else "jk.sort")
        self.prepare_for(keys)

    def record(self, x) -> Replay:
        rs = radix_launches(self.side, x, None, self.descending, self.indices)
        steps = [Step(k, grid_, threads, args, shared=nbytes, stream=self.stream)
                 for k, grid_, threads, nbytes, args in rs.launches]
        res, dt = (rs.vout, np.int64) if self.indices else (rs.out, self.dtype)
        return Replay(steps, x, res, self.side.maker(self.n, dt), zero=rs.state, stream=self.stream)

    def __call__(self, keys, stream=None):
        if stream is None:
            r = self.run(keys)
            if r is None and self.replay is None:
                r = self.first_replay(keys)
            if r is not None:
                return r
        self.check(keys)
        stream = self.stream if stream is None else stream
        if self.indices:
            return _argsort(keys, self.descending, None, -1, stream)
        return _sort(keys, None, self.descending, None, None, -1, stream)


class ArgsortPlan(SortPlan):
    """``jk.argsort(keys, descending=...)`` of keys like the ones it was planned for: ``plan(keys,
    stream=None)`` (see :func:`plan_argsort`): a :class:`SortPlan` whose result is the int64 indices
    that sort the keys."""

    verb = "argsorts"
    indices = True


def plan_sort(keys, descending: bool = False, stream=None) -> SortPlan:
    """A :class:`SortPlan`: ``jk.sort(keys, descending=descending)`` for keys like ``keys`` (same kind,
    dtype and size; integers, bools or floats), its scratch allocated and its launches prepared
    once, for the least host time per call in a loop (``plan(k)`` gives what ``jk.sort(k,
    descending=descending)`` gives, a new array each call).  ``stream``: where its calls run unless
    one passes ``stream=``.

    Example::

        keys = cupy.random.randint(0, 1 << 30, 1 << 16, dtype=cupy.uint32)
        plan = jk.plan_sort(keys)
        for step in range(1000):
            s = plan(keys)
    """
    return SortPlan(keys, descending, stream)


def plan_argsort(keys, descending: bool = False, stream=None) -> ArgsortPlan:
    """An :class:`ArgsortPlan`: ``jk.argsort(keys, descending=descending)`` for keys like ``keys`` (same
    kind, dtype and size), prepared once like :func:`plan_sort`.

    Example::

        scores = cupy.random.random(100_000, dtype=cupy.float32)
        plan = jk.plan_argsort(scores, descending=True)
        order = plan(scores)              # int64 indices, best first
    """
    return ArgsortPlan(keys, descending, stream)
