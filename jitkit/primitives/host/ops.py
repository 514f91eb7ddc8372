"""The user's operators as the host algorithms' kernels take them: :func:`device_fn` (a lambda or
plain ``def`` compiled once per code object), the identities of well-known operators
(:data:`IDENTITY`, :func:`identity`), the accumulator type of a reduction or scan
(:func:`accumulator`, :func:`result_type`: typed by probe kernels, never compiled), and
:func:`cached`, the one table of per-op kernels the algorithms build.
"""

from __future__ import annotations

import operator

import numpy as np

from ...dispatcher import jit
from ...lang.intrinsics import is_kernel
from ...lang import types as T
from ...lang.intrinsics import constexpr
from ...runtime import interop

__all__ = ["IDENTITY", "cached", "device_fn", "identity", "accumulator", "result_type", "check_arity", "scalar_type"]

# operators with an identity element: commutative, padded with the identity, accumulated per thread
IDENTITY = {operator.add: "zero", operator.mul: "one", min: "max", max: "min",
            operator.and_: "ones", operator.or_: "zero", operator.xor: "zero"}


_KERNELS: dict = {}


def cached(key, make):
    """One @jit function per key, made once by ``make()``: the algorithms' per-op kernels and
    callbacks capture every compile-time value, so a launch passes arrays and scalars only (the
    dispatcher's fast path)."""
    k = _KERNELS.get(key)
    if k is None:
        k = _KERNELS[key] = make()
    return k


_JITTED: dict = {}


def device_fn(fn, what: str):
    """``fn`` as something a kernel can call: @jit functions and well-known operators as they are,
    other Python functions (lambdas included) compiled with @jit -- once per code object, so a lambda
    written inline in a loop does not compile again."""
    if fn in IDENTITY or is_kernel(fn) or fn in (abs, round):
        return fn
    if callable(fn) and hasattr(fn, "__code__"):
        if fn.__closure__:
            return jit(fn)
        key = (fn.__code__, fn.__defaults__)
        f = _JITTED.get(key)
        if f is None:
            if len(_JITTED) > 256:
                _JITTED.clear()
            f = _JITTED[key] = jit(fn)
        return f
    if callable(fn):   # a builtin or operator jitkit knows (operator.sub, math.hypot...): the typer decides
        return fn
    raise TypeError(f"{what} must be a function jitkit can compile, got {type(fn).__qualname__}")


def identity(kind: str, dtype: np.dtype):
    """The identity value in ``dtype`` of an :data:`IDENTITY` kind ("zero", "one", "ones", "max", "min")."""
    if kind == "zero":
        return dtype.type(0)
    if kind == "one":
        return dtype.type(1)
    if dtype.kind == "b":
        return dtype.type(kind in ("ones", "max"))
    if kind == "ones":
        return dtype.type(-1) if dtype.kind == "i" else dtype.type(np.iinfo(dtype).max)
    if dtype.kind == "f" or dtype == T.bfloat16.dtype:
        return dtype.type(np.inf if kind == "max" else -np.inf)
    info = np.iinfo(dtype)
    return dtype.type(info.max if kind == "max" else info.min)


_RESULT_TYPES: dict = {}


def accumulator(opf, dt, init, what: str):
    """(accumulator dtype, identity kind or None, identity value or 0): the accumulator has the type
    of ``op(init or x, x)``, as in a kernel."""
    xt = T.scalar_from_dtype(dt)
    acc = result_type(opf, scalar_type(init) if init is not None else xt, xt)
    if not isinstance(acc, T.Scalar):
        raise TypeError(f"{what}: op({xt}, {xt}) gives {acc}; it must give a scalar")
    kind = IDENTITY.get(opf)
    acc = acc.dtype
    return acc, kind, (identity(kind, acc) if kind else acc.type(0))


def result_type(fn, *types) -> T.Type:
    """The type ``fn`` returns for arguments of ``types`` (typed, not compiled; remembered)."""
    key = (fn, types)
    rt = _RESULT_TYPES.get(key)
    if rt is None:
        check_arity(fn, len(types))
        from ...build import pipeline           # at first use: the compiler's typing is heavy to import
        probe = _PROBES.get(len(types))
        func, _ = pipeline.type_kernel(probe.py_func, tuple(types) + (T.Literal.of(fn),), kernel=False)
        rt = _RESULT_TYPES[key] = func.return_type
    return rt


def check_arity(fn, n: int):
    """TypeError where a Python function cannot take ``n`` positional arguments (before typing, so the
    error names the user's function, not jitkit's call of it)."""
    py = getattr(fn, "py_func", fn)
    code = getattr(py, "__code__", None)
    if code is None or code.co_flags & 0x04:          # builtins and *args take what they take
        return
    most = code.co_argcount
    least = most - len(py.__defaults__ or ())
    if not least <= n <= most:
        takes = f"{most}" if least == most else f"{least} to {most}"
        raise TypeError(f"{py.__qualname__}() takes {takes} positional argument{'s' if most != 1 else ''}, "
                        f"and is called here with {n}")


@jit
def _probe1(a, fn: constexpr):
    return fn(a)


@jit
def _probe2(a, b, fn: constexpr):
    return fn(a, b)


@jit
def _probe3(a, b, c, fn: constexpr):
    return fn(a, b, c)


_PROBES = {1: _probe1, 2: _probe2, 3: _probe3}


def scalar_type(v) -> T.Type:
    """The jitkit type of a host value (an ``init=``, a scalar operand)."""
    return interop.type_of(v)
