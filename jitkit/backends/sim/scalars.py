"""The simulator's scalar primitives: casts, truth, comparisons, arithmetic, atomic updates.

Values are NumPy vectors with one lane per simulated thread (or NumPy
scalars for values uniform across lanes).  Operands arrive already converted
by typing, so every operation here is a NumPy ufunc on equal dtypes and rounds
exactly like the GPU's IEEE operations in that precision (float32 stays
float32).  Names mirror :mod:`jitkit.backends.nvvm.scalars`; the intrinsic ops
are in :mod:`.ops`.
"""

from __future__ import annotations

import numpy as np

from ...lang import types as T

__all__ = ["cast", "truth", "compare", "arith", "unary", "atomic_update"]


def cast(v, src: T.Type, dst: T.Type):
    if src is dst:
        return v
    if isinstance(dst, T.Tuple):
        return tuple(cast(x, s, d) for x, s, d in zip(v, src.types, dst.types))
    if isinstance(dst, T.Array):
        return v
    if src.is_bf16:  # exact in float32
        return cast(np.asarray(v).astype(np.float32), T.float32, dst)
    if dst.is_bool:
        return truth(v, src)
    if dst.is_bf16:  # rounded once, as on the GPU (NumPy's ml_dtypes cast rounds twice from float64)
        return np.asarray(T.bf16_bits(v)).view(dst.dtype)
    return np.asarray(v).astype(dst.dtype)


def truth(v, ty: T.Scalar):
    if ty.is_bool:
        return v
    if ty.is_bf16:
        v = np.asarray(v).astype(np.float32)
    return np.not_equal(v, 0)  # NaN is true, as in Python


_CMP = {"lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal,
        "eq": np.equal, "ne": np.not_equal}


def compare(op, a, b, ty):
    return _CMP[op](a, b)


_ARITH = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "truediv": np.true_divide,
          "floordiv": np.floor_divide, "mod": np.remainder, "bitand": np.bitwise_and,
          "bitor": np.bitwise_or, "bitxor": np.bitwise_xor, "lshift": np.left_shift,
          "rshift": np.right_shift}


def arith(op, a, b, ty: T.Scalar):
    dt = ty.dtype
    if op == "pow":
        if ty.is_complex:   # 0 ** w = 0 and z ** 0 = 1 like the GPU lowering (NumPy gives nan for 0 ** w)
            a, b = np.asarray(a, dt), np.asarray(b, dt)
            with np.errstate(all="ignore"):
                r = np.exp(b * np.log(np.where(a == 0, np.ones((), dt), a))).astype(dt)
            return np.where(b == 0, np.ones((), dt), np.where(a == 0, np.zeros((), dt), r)).astype(dt)
        if ty.is_float:
            return np.power(np.asarray(a, dt), np.asarray(b).astype(dt)).astype(dt)
        return _ipow(np.asarray(a, dt), np.asarray(b, dt), ty)
    if op in ("floordiv", "mod") and not ty.is_float:
        b = np.where(np.asarray(b) == 0, np.ones((), dt), b)  # undefined on the GPU; avoid numpy's error path
    return np.asarray(_ARITH[op](a, b)).astype(dt, copy=False)


def _ipow(base, exp, ty):
    """Integer power with jitkit's rule: a negative exponent gives 0 unless |base| == 1."""
    dt = ty.dtype
    if ty.is_signed:
        neg = exp < 0
        safe = np.where(neg, 0, exp)
        r = np.power(base, safe).astype(dt)
        one = np.ones((), dt)
        special = np.where(base == 1, one, np.where(base == -1, np.where(exp % 2 == 1, -one, one), 0)).astype(dt)
        return np.where(neg, special, r).astype(dt)
    return np.power(base, exp).astype(dt)


def unary(op, v, ty):
    if op == "not":
        return np.logical_not(v)
    if op == "invert":
        return np.invert(v)
    return np.negative(v).astype(ty.dtype, copy=False)


def atomic_update(op, cur, *vals):
    """The new value an atomic ``op`` stores over ``cur`` (min/max follow Python, like the GPU lowering)."""
    if op == "load":
        return cur
    v = vals[-1]
    if op == "min":
        return np.where(v < cur, v, cur)
    if op == "max":
        return np.where(v > cur, v, cur)
    if op == "exch":
        return v
    if op == "and_":
        return np.bitwise_and(cur, v)
    if op == "or_":
        return np.bitwise_or(cur, v)
    if op == "xor":
        return np.bitwise_xor(cur, v)
    if op == "cas":
        return np.where(cur == vals[0], v, cur)
    if op == "inc":
        return np.where(cur >= v, np.zeros_like(cur), cur + np.ones_like(cur))
    if op == "dec":
        return np.where((cur == 0) | (cur > v), v, cur - np.ones_like(cur))
    raise NotImplementedError(f"the simulator has no atomic {op!r}")
