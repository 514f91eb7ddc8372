"""What typing passes around besides typed-tree nodes, shared by every typing module.

:class:`Static` wraps a compile-time Python object a kernel reaches (a module, a function, an
intrinsic, a dtype, a string); :class:`BoundMethod` is ``z.conjugate`` before the call;
:class:`Deferred` is the signal of a lenient pass that met a variable of unknown type.
:func:`compile_time_value` reads the Python value of a constant expression and :func:`unify` joins
the types of two values held by one variable.
"""

from __future__ import annotations

from ...lang import types as T
from .. import tir
from ..frontend import MISSING

__all__ = ["Deferred", "Static", "BoundMethod", "compile_time_value", "unify", "MISSING"]


class Deferred(Exception):
    """A lenient pass met a variable whose type is not known yet."""


class Static:
    """A compile-time Python object reached by a kernel (module, function, intrinsic...)."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


class BoundMethod:
    """``z.conjugate`` before it is called."""

    __slots__ = ("value", "name")

    def __init__(self, value, name):
        self.value = value
        self.name = name


def unify(a, aw: bool, b, bw: bool):
    """The type that holds values of both ``a`` and ``b``, or None."""
    if a is b:
        return a
    if isinstance(a, T.Scalar) and isinstance(b, T.Scalar):
        return T.promote(a, b, aw, bw)
    if isinstance(a, T.Array) and isinstance(b, T.Array) and a.dtype is b.dtype and a.ndim == b.ndim:
        return T.Array(a.dtype, a.ndim, "A")
    if isinstance(a, T.Tuple) and isinstance(b, T.Tuple) and a.count == b.count:
        items = [unify(x, aw, y, bw) for x, y in zip(a.types, b.types)]
        return None if None in items else T.Tuple(tuple(items))
    return None


def compile_time_value(e):
    """The Python value of a constant expression (literal, tuple of literals, Static), else MISSING."""
    if isinstance(e, Static):
        return e.value
    if isinstance(e, tir.Const) and not isinstance(e.type, T.NoneType):
        return e.value
    if isinstance(e, tir.MakeTuple):
        items = [compile_time_value(i) for i in e.items]
        return MISSING if MISSING in items else tuple(items)
    return MISSING

