"""Typing of calls to compile-time objects: builtins, ``math``, casts, intrinsics.

One table maps a Python object (``math.sqrt``, ``min``, ``jk.float32``,
``np.int32``, ``jk.grid``...) to a typing rule.  A rule checks the call's
arguments, converts them, and returns typed-tree nodes: the intrinsic
operations are :func:`~jitkit.compiler.tir.op` nodes of the vocabulary declared
in :mod:`jitkit.lang.ops`, which both backends implement.  Anything not in the
table is a located error, never a fall-through.
"""

from __future__ import annotations

import builtins
import cmath
import math
import operator

import numpy as np

from ...lang import intrinsics as I
from ...lang import types as T
from ...lang.errors import NeedsBlockShape, TypingError, UnsupportedError
from ...lang.ops import CMATH_FUNCS, MATH_FUNCS
from . import operators
from .. import tir
from .values import Static

_HANDLERS: dict = {}

_OPERATOR_FUNCS = {
    **{getattr(operator, n): ("binop", op) for n, op in (
        ("add", "add"), ("sub", "sub"), ("mul", "mul"), ("truediv", "truediv"), ("floordiv", "floordiv"),
        ("mod", "mod"), ("pow", "pow"), ("lshift", "lshift"), ("rshift", "rshift"), ("and_", "bitand"),
        ("or_", "bitor"), ("xor", "bitxor"))},
    **{getattr(operator, n): ("compare", n) for n in ("lt", "le", "gt", "ge", "eq", "ne")},
    operator.neg: ("unary", "neg"), operator.invert: ("unary", "invert"), operator.not_: ("unary", "not"),
    operator.pos: ("unary", "pos"),
}


def _float_type(t: T.Scalar) -> T.Scalar:
    return t if t.is_float else T.float64


def _work(t: T.Scalar) -> T.Scalar:
    """The type an operation on ``t`` computes in: bfloat16 is widened to float32."""
    return T.float32 if t.is_bf16 else t


def _no_kwargs(typer, node, kwargs, what):
    if kwargs:
        raise typer.err(TypingError, f"{what} takes no keyword arguments", node)


def _arity(typer, node, args, n, what):
    if len(args) != n:
        raise typer.err(TypingError, f"{what} takes {n} argument{'s' * (n != 1)}, got {len(args)}", node)


def _scalars(typer, node, args, what, complex_ok=False):
    for a in args:
        if not isinstance(a.type, T.Scalar):
            raise typer.err(TypingError, f"{what} needs numeric arguments, got {a.type}", node)
        if a.type.is_complex and not complex_ok:
            raise typer.err(TypingError, f"{what} needs real arguments, got {a.type}", node,
                            "use cmath for complex functions, or z.real / abs(z)")


def _plain_call(typer, node, args, kwargs, what, n):
    """The checks every fixed-arity, positional, scalar-argument rule starts with."""
    _no_kwargs(typer, node, kwargs, what)
    _arity(typer, node, args, n, what)
    _scalars(typer, node, args, what)


def _math(name):
    arity, kind = MATH_FUNCS[name]

    def rule(typer, node, args, kwargs):
        what = f"math.{name}()"
        _plain_call(typer, node, args, kwargs, what, arity)
        if arity == 2:
            ty = T.promote(args[0].type, args[1].type, typer.is_weak(args[0]), typer.is_weak(args[1]))
        else:
            ty = args[0].type
        fty = _float_type(ty)
        loc = typer.loc(node)
        if kind == "bool":
            if not ty.is_float:
                return typer.const(False if name != "isfinite" else True, node)
            return tir.op(f"math.{name}", loc, [typer.convert(a, _work(fty), node) for a in args])
        if kind == "int":
            if ty.is_int:
                return typer.convert(args[0], T.int64, node)
            return tir.op(f"math.{name}", loc, [typer.convert(a, _work(fty), node) for a in args])
        return operators.in_float32(typer, node, fty, lambda w: tir.op(
            f"math.{name}", loc, [typer.convert(a, w, node) for a in args]))
    return rule


def _minmax(name):
    def rule(typer, node, args, kwargs):
        what = f"{name}()"
        _no_kwargs(typer, node, kwargs, what)
        if len(args) < 2:
            raise typer.err(TypingError, f"{what} inside kernels takes two or more scalar arguments", node,
                            "reductions over arrays are loops (or jk.reduce on the host)")
        _scalars(typer, node, args, what)
        acc = args[0]
        for b in args[1:]:
            ty = T.promote(acc.type, b.type, typer.is_weak(acc), typer.is_weak(b))
            weak = typer.is_weak(acc) and typer.is_weak(b)
            acc = typer.mark(operators.in_float32(typer, node, ty, lambda w, a=acc, b=b: tir.op(
                name, typer.loc(node), [typer.convert(a, w, node), typer.convert(b, w, node)])), weak)
        return acc
    return rule


def _abs(typer, node, args, kwargs):
    _no_kwargs(typer, node, kwargs, "abs()")
    _arity(typer, node, args, 1, "abs()")
    _scalars(typer, node, args, "abs()", complex_ok=True)
    x = args[0]
    if x.type.is_complex:
        return tir.op("complex.abs", typer.loc(node), [x])
    if isinstance(x, tir.Const) and typer.is_weak(x):
        return typer.const(abs(x.value), node)
    ty = T.int64 if x.type.is_bool else x.type
    if ty.kind == "u":
        return x
    return typer.mark(operators.in_float32(typer, node, ty, lambda w: tir.op(
        "abs", typer.loc(node), [typer.convert(x, w, node)])), typer.is_weak(x))


def _round(typer, node, args, kwargs):
    _no_kwargs(typer, node, kwargs, "round()")
    if len(args) != 1:
        raise typer.err(UnsupportedError, "round() with ndigits is not supported in kernels", node,
                        "use round(x) (returns int64) or math.floor(x * 10**k + 0.5) / 10**k")
    _scalars(typer, node, args, "round()")
    x = args[0]
    if not x.type.is_float:
        return typer.convert(x, T.int64, node)
    return tir.op("round", typer.loc(node), [typer.convert(x, _work(x.type), node)])


def _cast_to(ty: T.Scalar, what: str):
    def rule(typer, node, args, kwargs):
        _no_kwargs(typer, node, kwargs, what)
        if len(args) == 0 and ty is not T.boolean:
            return typer.const(0, node, ty)
        if ty.is_complex and len(args) == 2:
            return _make_complex(typer, node, args, ty, what)
        _arity(typer, node, args, 1, what)
        _scalars(typer, node, args, what, complex_ok=ty.is_bool or ty.is_complex)
        if ty is T.boolean:
            return typer.truth(args[0], node)
        return typer.mark(typer.convert(args[0], ty, node, explicit=True), False)
    return rule


def _make_complex(typer, node, args, ty, what):
    _scalars(typer, node, args, what)
    parts = [typer.convert(a, ty.part, node) for a in args]
    return typer.mark(tir.op("complex.make", typer.loc(node), parts), False)


def _complex(typer, node, args, kwargs):
    """``complex(re=0, im=0)``: complex128 (like numba), from real parts."""
    _no_kwargs(typer, node, kwargs, "complex()")
    if len(args) > 2:
        raise typer.err(TypingError, "complex() takes at most 2 arguments", node)
    if len(args) == 1 and args[0].type.is_complex:
        return typer.convert(args[0], T.complex128, node)
    args = list(args) + [typer.const(0.0, node)] * (2 - len(args))
    return _make_complex(typer, node, args, T.complex128, "complex()")


def _cmath(name):
    def rule(typer, node, args, kwargs):
        what = f"cmath.{name}()"
        _no_kwargs(typer, node, kwargs, what)
        if name == "rect":
            _arity(typer, node, args, 2, what)
            _scalars(typer, node, args, what)
            ty = T.promote(args[0].type, args[1].type, typer.is_weak(args[0]), typer.is_weak(args[1]))
            ty = ty if ty.is_float else T.float64
            cty = T.complex64 if ty is T.float32 else T.complex128
            # the parts are converted to the result's part type (float16 and bfloat16 to float64)
            return tir.op("cmath.rect", typer.loc(node), [typer.convert(a, cty.part, node) for a in args])
        _arity(typer, node, args, 1, what)
        _scalars(typer, node, args, what, complex_ok=True)
        z = args[0]
        cty = z.type if z.type.is_complex else (T.complex64 if z.type is T.float32 else T.complex128)
        z = typer.convert(z, cty, node)
        loc = typer.loc(node)
        if name in ("isnan", "isinf", "isfinite"):
            return tir.op(f"cmath.{name}", loc, [z])
        if name == "phase":
            return tir.op("cmath.phase", loc, [z])
        if name == "polar":
            items = [tir.op("complex.abs", loc, [z]), tir.op("cmath.phase", loc, [z])]
            return tir.MakeTuple(T.Tuple((cty.part, cty.part)), loc, items)
        return tir.op(f"cmath.{name}", loc, [z])
    return rule


def _pow(typer, node, args, kwargs):
    _no_kwargs(typer, node, kwargs, "pow()")
    _arity(typer, node, args, 2, "pow()")
    return operators.binop(typer, node, "pow", args[0], args[1])


def _len(typer, node, args, kwargs):
    _arity(typer, node, args, 1, "len()")
    x = args[0]
    if isinstance(x.type, T.Array):
        return tir.ArrayAttr(T.int64, typer.loc(node), x, "shape", 0)
    if isinstance(x.type, T.Tuple):
        return typer.const(x.type.count, node)
    raise typer.err(TypingError, f"len() is not supported on {x.type}", node)


def _const_int(typer, node, e, what) -> int:
    if not (isinstance(e, tir.Const) and isinstance(e.value, int)):
        raise typer.err(TypingError, f"{what} needs a constant integer argument", node)
    return e.value


def _sreg(name: str, loc) -> tir.Expr:
    return tir.op(f"sreg.{name}", loc, [])


def dim3_attr(typer, node, obj: I.Dim3, attr: str) -> tir.Expr:
    if attr not in ("x", "y", "z"):
        raise typer.err(TypingError, f"jitkit.{obj.name} has no attribute {attr!r}", node, "use .x, .y or .z")
    return _sreg(f"{obj.sreg}.{attr}", typer.loc(node))


def special_value(typer, node, obj: I.Special) -> tir.Expr:
    if obj is I.warpsize:
        return typer.mark(tir.Const(T.int32, typer.loc(node), 32), False)
    return _sreg(obj.name, typer.loc(node))


def _grid(kind):
    def rule(typer, node, args, kwargs):
        what = f"jitkit.{kind}()"
        _no_kwargs(typer, node, kwargs, what)
        _arity(typer, node, args, 1, what)
        n = _const_int(typer, node, args[0], what)
        if n not in (1, 2, 3):
            raise typer.err(TypingError, f"{what} takes 1, 2 or 3, got {n}", node)
        loc = typer.loc(node)
        items = [tir.op(f"{kind}.{d}", loc, []) for d in "xyz"[:n]]
        return items[0] if n == 1 else tir.MakeTuple(T.Tuple(tuple(T.int64 for _ in items)), loc, items)
    return rule


def _block_dims(typer, node, args, kwargs):
    _no_kwargs(typer, node, kwargs, "jitkit.block_dims()")
    _arity(typer, node, args, 0, "jitkit.block_dims()")
    block = typer.unit.block
    if block is None:
        raise NeedsBlockShape()
    items = [typer.const(n, node) for n in block]
    return tir.MakeTuple(T.Tuple(tuple(i.type for i in items)), typer.loc(node), items)


def _type(typer, node, args, kwargs):
    """``type(x)``: the jitkit type of a scalar, usable as a cast or a dtype (``type(x)(0)``,
    ``jk.shared.array(n, type(x))``)."""
    _no_kwargs(typer, node, kwargs, "type()")
    _arity(typer, node, args, 1, "type()")
    t = args[0].type
    if not isinstance(t, T.Scalar):
        raise typer.err(TypingError, f"type() inside kernels takes a scalar, got {t}", node,
                        "for arrays use a.dtype")
    return Static(t)


def _syncthreads(typer, node, args, kwargs):
    _no_kwargs(typer, node, kwargs, "jitkit.syncthreads()")
    _arity(typer, node, args, 0, "jitkit.syncthreads()")
    return tir.op("syncthreads", typer.loc(node), [])


def _shfl(name):
    def rule(typer, node, args, kwargs):
        what = f"jitkit.{name}()"
        value = args[1] if len(args) == 3 else None
        if value is not None and isinstance(value.type, T.Tuple):   # a tuple: element by element
            _no_kwargs(typer, node, kwargs, what)
            mask = typer.convert(args[0], T.uint32, node)
            lane = typer.convert(args[2], T.int32, node)
            return _shfl_tuple(typer, node, name, mask, value, lane)
        _plain_call(typer, node, args, kwargs, what, 3)
        mask = typer.convert(args[0], T.uint32, node)
        value = args[1]          # any bool/int/float scalar (_plain_call checked)
        lane = typer.convert(args[2], T.int32, node)
        return tir.op(f"warp.{name}", typer.loc(node), [mask, value, lane])
    return rule


def _shfl_tuple(typer, node, name, mask, value, lane):
    loc = typer.loc(node)
    if isinstance(value, tir.MakeTuple):
        items = value.items
    elif isinstance(value, (tir.Var, tir.TupleGet)):
        items = [tir.TupleGet(t, loc, value, i) for i, t in enumerate(value.type.types)]
    else:
        raise typer.err(TypingError, f"jitkit.{name}() shuffles a tuple held in a variable or written out", node,
                        "assign the tuple to a variable first")
    out = []
    for it in items:
        if isinstance(it.type, T.Tuple):
            out.append(_shfl_tuple(typer, node, name, mask, it, lane))
        else:
            _scalars(typer, node, [it], f"jitkit.{name}()")
            out.append(tir.op(f"warp.{name}", loc, [mask, it, lane]))
    return tir.MakeTuple(T.Tuple(tuple(o.type for o in out)), loc, out)


def _vote(name):
    def rule(typer, node, args, kwargs):
        what = f"jitkit.{name}()"
        _plain_call(typer, node, args, kwargs, what, 2)
        mask = typer.convert(args[0], T.uint32, node)
        return tir.op(f"warp.{name}", typer.loc(node), [mask, typer.truth(args[1], node)])
    return rule


def _match(name):
    def rule(typer, node, args, kwargs):
        what = f"jitkit.{name}()"
        _plain_call(typer, node, args, kwargs, what, 2)
        mask = typer.convert(args[0], T.uint32, node)
        return tir.op(f"warp.{name}", typer.loc(node), [mask, args[1]])
    return rule


def _syncwarp(typer, node, args, kwargs):
    _no_kwargs(typer, node, kwargs, "jitkit.syncwarp()")
    if len(args) > 1:
        raise typer.err(TypingError, "jitkit.syncwarp() takes at most one argument (the mask)", node)
    _scalars(typer, node, args, "jitkit.syncwarp()")
    mask = typer.convert(args[0], T.uint32, node) if args else typer.const(0xFFFFFFFF, node, T.uint32)
    return tir.op("warp.syncwarp", typer.loc(node), [mask])


def _nullary(name, op):
    def rule(typer, node, args, kwargs):
        _plain_call(typer, node, args, kwargs, f"jitkit.{name}()", 0)
        return tir.op(op, typer.loc(node), [])
    return rule


def _operator(kind, op):
    """``operator.add(a, b)`` and friends: the same rule as the operator syntax."""
    n = 1 if kind == "unary" else 2

    def rule(typer, node, args, kwargs):
        what = f"operator.{op}()"
        _no_kwargs(typer, node, kwargs, what)
        _arity(typer, node, args, n, what)
        if kind == "binop":
            return operators.binop(typer, node, op, *args)
        if kind == "compare":
            return operators.compare(typer, node, op, *args)
        return operators.unary(typer, node, op, args[0])
    return rule


def _bits(name):
    def rule(typer, node, args, kwargs):
        what = f"jitkit.{name}()"
        _plain_call(typer, node, args, kwargs, what, 1)
        x = args[0]
        if not x.type.is_int:
            raise typer.err(TypingError, f"{what} takes an integer, got {x.type}", node,
                            "for a float's bits use jk.bitcast(x, jk.uint32) first")
        return tir.op(f"bits.{name}", typer.loc(node), [x])
    return rule


def _grid_sync(typer, node, args, kwargs):
    _plain_call(typer, node, args, kwargs, "jitkit.grid_sync()", 0)
    typer.cooperative = True
    return tir.op("grid_sync", typer.loc(node), [])


def _range_outside_for(typer, node, args, kwargs):
    raise typer.err(UnsupportedError, "range() is only supported as the iterable of a for loop", node)


def _build():
    table = {
        builtins.min: _minmax("min"), builtins.max: _minmax("max"), builtins.abs: _abs,
        builtins.round: _round, builtins.pow: _pow, builtins.len: _len,
        builtins.int: _cast_to(T.int64, "int()"), builtins.float: _cast_to(T.float64, "float()"),
        builtins.bool: _cast_to(T.boolean, "bool()"), builtins.range: _range_outside_for,
        I.grid: _grid("grid"), I.gridsize: _grid("gridsize"), I.syncthreads: _syncthreads,
        I.block_dims: _block_dims, builtins.type: _type,
        I.shfl_sync: _shfl("shfl_sync"), I.shfl_up_sync: _shfl("shfl_up_sync"),
        I.shfl_down_sync: _shfl("shfl_down_sync"), I.shfl_xor_sync: _shfl("shfl_xor_sync"),
        I.ballot_sync: _vote("ballot_sync"), I.any_sync: _vote("any_sync"), I.all_sync: _vote("all_sync"),
        I.syncwarp: _syncwarp,
        I.match_any_sync: _match("match_any_sync"), I.match_all_sync: _match("match_all_sync"),
        I.activemask: _nullary("activemask", "warp.activemask"), I.lanemask_lt: _nullary("lanemask_lt", "warp.lanemask_lt"),
        I.grid_sync: _grid_sync,
        I.popc: _bits("popc"), I.clz: _bits("clz"), I.ffs: _bits("ffs"), I.brev: _bits("brev"),
        I.threadfence: _nullary("threadfence", "threadfence"),
        I.threadfence_block: _nullary("threadfence_block", "threadfence_block"),
    }
    for fn, (kind, op) in _OPERATOR_FUNCS.items():
        table[fn] = _operator(kind, op)
    table[builtins.complex] = _complex
    for name in CMATH_FUNCS:
        table[getattr(cmath, name)] = _cmath(name)
    for name in MATH_FUNCS:
        fn = getattr(math, name, None)
        if fn is not None:
            table[fn] = _math(name)
    for t in T.SCALARS:
        table[t] = _cast_to(t, f"{t.name}()")
        if not (t.is_bf16 and not T.HAVE_BF16_DTYPE):
            table[t.dtype.type] = _cast_to(t, f"numpy.{t.name}()")   # ml_dtypes.bfloat16 too
    table[np.bool_] = _cast_to(T.boolean, "numpy.bool_()")
    return table


def lookup(obj):
    """The typing rule for calling ``obj`` inside a kernel, or None."""
    if not _HANDLERS:
        _HANDLERS.update(_build())
    try:
        return _HANDLERS.get(obj)
    except TypeError:  # unhashable
        return None
