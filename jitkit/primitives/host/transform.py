"""``jk.transform``: a function applied element by element over one to three arrays (and scalars)."""

from __future__ import annotations

import math

import numpy as np

from ...dispatcher import jit
from ...lang import types as T
from ...lang.intrinsics import constexpr, grid, gridsize
from ...lang.types import Array
from ...runtime.interop import array_kind, is_contiguous, numpy_dtype
from .ops import cached, device_fn, result_type, scalar_type
from .side import Side
from .tiling import THREADS

__all__ = ["transform"]


@jit
def _elem(a, i):
    if isinstance(a, Array):
        return a[i]
    return a


@jit
def _transform_body(out, fn: constexpr, a, b, c, arity: constexpr):
    i = grid(1)
    step = gridsize(1)
    while i < out.size:
        if arity == 1:
            out[i] = fn(_elem(a, i))
        elif arity == 2:
            out[i] = fn(_elem(a, i), _elem(b, i))
        else:
            out[i] = fn(_elem(a, i), _elem(b, i), _elem(c, i))
        i += step


def _transform_kernel_for(fn, arity: int):
    def make():
        @jit
        def transform(out, a, b, c):
            _transform_body(out, fn, a, b, c, arity)
        return transform
    return cached(("transform", fn, arity), make)


def transform(fn, *arrays, out=None, stream=None):
    """``fn`` applied element by element: ``out[i] = fn(a[i], b[i], ...)`` for 1 to 3 operands.

    Array operands have one shape (scalars are passed to every call); the result has that shape and
    the type ``fn`` returns (or ``out``'s, converted as in a kernel).

    Example::

        y = jk.transform(lambda a, b: a * 2 + b, x, 1.5)"""
    if not 1 <= len(arrays) <= 3:
        raise TypeError(f"jk.transform takes 1 to 3 operands, got {len(arrays)}")
    fnd = device_fn(fn, "fn")
    arrs = [a for a in arrays if not np.isscalar(a) and not isinstance(a, np.generic)]
    if not arrs:
        raise TypeError("jk.transform needs at least one array operand")
    first = arrs[0]
    shape = tuple(first.shape)
    for a in arrs[1:]:
        if tuple(a.shape) != shape:
            raise ValueError(f"jk.transform operands must have one shape, got {shape} and {tuple(a.shape)}")
    kinds = {array_kind(a) if array_kind(a) != "torch_cpu" else "numpy" for a in arrs}
    if len(kinds) > 1:
        raise TypeError(f"jk.transform operands must be one kind of array, got {sorted(kinds)}")
    side = Side(first, stream)
    ops = []
    types = []
    for a in arrays:
        if a is first or any(a is b for b in arrs):
            ops.append(side.flat(a))
            types.append(T.scalar_from_dtype(numpy_dtype(a)))
        else:                     # a Python number takes the arrays' kind of type (NumPy 2's rule)
            if isinstance(a, (bool, int, float, complex)) and not isinstance(a, np.generic):
                a = np.result_type(numpy_dtype(first), a).type(a)
            ops.append(a)
            types.append(scalar_type(a))
    rt = result_type(fnd, *types)
    if not isinstance(rt, T.Scalar):
        raise TypeError(f"jk.transform: fn returns {rt}; it must return a scalar")
    n = math.prod(shape)
    if out is not None:
        if tuple(out.shape) != shape:
            raise ValueError(f"out= has shape {tuple(out.shape)}, the operands {shape}")
        if side.kind == "numpy":
            res = side.empty(n, numpy_dtype(out))
        elif is_contiguous(out):
            res = out.reshape(-1)
        else:
            raise ValueError("out= must be a contiguous array")
    else:
        res = side.empty(n, rt.dtype)
    while len(ops) < 3:
        ops.append(0)
    if n:
        blocks = min(-(-n // THREADS), 4096 if side.gpu else 4)
        side.launch(_transform_kernel_for(fnd, len(arrays)), blocks, THREADS, res, ops[0], ops[1], ops[2])
    if out is not None:
        if side.kind == "numpy":
            out[...] = side.result(res, shape)
        return out
    return side.result(res, shape)
