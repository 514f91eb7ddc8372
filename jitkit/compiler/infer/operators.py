"""Typing rules of Python operators on jitkit scalars.

Each rule takes already-typed operands and returns a typed-tree node with the
operands converted to the operation's type.  Literal-only expressions are
folded here with Python's own semantics, so ``-1`` or ``2 ** 10`` stay weak
literals.
"""

from __future__ import annotations

import ast
import operator

from ...lang import types as T
from ...lang.errors import TypingError
from .. import tir

BINOPS = {
    ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "truediv", ast.FloorDiv: "floordiv",
    ast.Mod: "mod", ast.Pow: "pow", ast.LShift: "lshift", ast.RShift: "rshift",
    ast.BitAnd: "bitand", ast.BitOr: "bitor", ast.BitXor: "bitxor",
}
SYMBOL = {"add": "+", "sub": "-", "mul": "*", "truediv": "/", "floordiv": "//", "mod": "%", "pow": "**",
          "lshift": "<<", "rshift": ">>", "bitand": "&", "bitor": "|", "bitxor": "^",
          "lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "==", "ne": "!=",
          "neg": "-", "invert": "~", "not": "not", "pos": "+"}
CMPOPS = {ast.Lt: "lt", ast.LtE: "le", ast.Gt: "gt", ast.GtE: "ge", ast.Eq: "eq", ast.NotEq: "ne"}
UNOPS = {ast.USub: "neg", ast.UAdd: "pos", ast.Invert: "invert", ast.Not: "not"}

_PYOPS = {"add": operator.add, "sub": operator.sub, "mul": operator.mul, "truediv": operator.truediv,
          "floordiv": operator.floordiv, "mod": operator.mod, "pow": operator.pow,
          "lshift": operator.lshift, "rshift": operator.rshift, "bitand": operator.and_,
          "bitor": operator.or_, "bitxor": operator.xor,
          "lt": operator.lt, "le": operator.le, "gt": operator.gt, "ge": operator.ge,
          "eq": operator.eq, "ne": operator.ne}

_INT_ONLY = ("lshift", "rshift", "bitand", "bitor", "bitxor")


def literal_type(value) -> T.Scalar:
    """The type a Python literal gets on its own: bool, int64 (uint64 if it must), float64."""
    if isinstance(value, bool):
        return T.boolean
    if isinstance(value, int):
        if -(2 ** 63) <= value < 2 ** 63:
            return T.int64
        if 0 <= value < 2 ** 64:
            return T.uint64
        raise OverflowError(f"integer literal {value} does not fit in 64 bits")
    if isinstance(value, float):
        return T.float64
    if isinstance(value, complex):
        return T.complex128
    raise TypeError(value)


def _scalar(typer, e: tir.Expr, op: str, node) -> T.Scalar:
    if not isinstance(e.type, T.Scalar):
        raise typer.err(TypingError, f"operator {SYMBOL[op]!r} is not supported on {e.type}", node,
                        "operators work on numeric and bool scalars; index arrays to get elements")
    return e.type


def in_float32(typer, node, ty: T.Scalar, build) -> tir.Expr:
    """bfloat16 is a storage format: ``build(work_type)`` makes the operation, which for
    bfloat16 runs in float32 and is rounded back once.  Rounding a float32 sum, difference,
    product, quotient or square root of bfloat16 values to bfloat16 gives the correctly
    rounded bfloat16 result (24 >= 2*8 + 2 bits), so this is bfloat16 arithmetic exactly."""
    if not ty.is_bf16:
        return build(ty)
    return tir.Cast(ty, typer.loc(node), build(T.float32))


def binop(typer, node, op: str, lhs: tir.Expr, rhs: tir.Expr) -> tir.Expr:
    lt, rt = _scalar(typer, lhs, op, node), _scalar(typer, rhs, op, node)
    lw, rw = typer.is_weak(lhs), typer.is_weak(rhs)
    if lw and rw and isinstance(lhs, tir.Const) and isinstance(rhs, tir.Const):
        return _fold(typer, node, op, lhs.value, rhs.value)
    if op in _INT_ONLY:
        if not (lt.is_int or lt.is_bool) or not (rt.is_int or rt.is_bool):
            raise typer.err(TypingError, f"operator {SYMBOL[op]!r} needs integer or bool operands, "
                            f"got {lt} and {rt}", node, "convert with int(x) first")
        if op in ("lshift", "rshift"):
            ty = T.promote(lt, rt, lw, rw)
            if ty.is_bool:
                ty = T.int64
        else:
            ty = T.promote(lt, rt, lw, rw)
        return typer.mark(tir.BinOp(ty, typer.loc(node), op, typer.convert(lhs, ty, node),
                                    typer.convert(rhs, ty, node)), lw and rw)
    ty = T.promote(lt, rt, lw, rw)
    if ty.is_bool:
        ty = T.int64
    if ty.is_complex and op in ("floordiv", "mod"):
        raise typer.err(TypingError, f"operator {SYMBOL[op]!r} is not defined for complex numbers", node)
    if op == "truediv" and not (ty.is_float or ty.is_complex):
        ty = T.float64
    if op == "pow" and ty.is_float and rt.is_int and not rw:
        # float ** int: keep the integer exponent (lowered to powi or repeated multiply)
        return typer.mark(in_float32(typer, node, ty, lambda w: tir.BinOp(
            w, typer.loc(node), op, typer.convert(lhs, w, node), rhs)), False)
    return typer.mark(in_float32(typer, node, ty, lambda w: tir.BinOp(
        w, typer.loc(node), op, typer.convert(lhs, w, node), typer.convert(rhs, w, node))), lw and rw)


def _fold(typer, node, op: str, a, b) -> tir.Expr:
    try:
        value = _PYOPS[op](a, b)
    except ZeroDivisionError:
        raise typer.err(TypingError, "division by zero in a constant expression", node) from None
    except (TypeError, ValueError, OverflowError) as exc:
        raise typer.err(TypingError, f"cannot evaluate constant expression: {exc}", node) from None
    return typer.const(value, node)


def compare(typer, node, op: str, lhs: tir.Expr, rhs: tir.Expr) -> tir.Expr:
    lt, rt = _scalar(typer, lhs, op, node), _scalar(typer, rhs, op, node)
    lw, rw = typer.is_weak(lhs), typer.is_weak(rhs)
    if lw and rw and isinstance(lhs, tir.Const) and isinstance(rhs, tir.Const):
        return typer.const(bool(_PYOPS[op](lhs.value, rhs.value)), node)
    ty = T.promote(lt, rt, lw, rw)
    if ty.is_complex and op not in ("eq", "ne"):
        raise typer.err(TypingError, f"complex numbers are not ordered: {SYMBOL[op]!r} is not supported", node,
                        "compare abs(z) or z.real")
    for e, w in ((lhs, lw), (rhs, rw)):
        # NumPy 2: a Python int outside the other operand's range compares by value
        if w and isinstance(e, tir.Const) and ty.is_int and not _fits(e.value, ty):
            ty = T.promote(lt, rt, False, False)
    if ty.is_bf16:
        ty = T.float32  # exact
    return typer.mark(tir.Compare(T.boolean, typer.loc(node), op, typer.convert(lhs, ty, node),
                                  typer.convert(rhs, ty, node)), False)


def _fits(value, ty: T.Scalar) -> bool:
    if isinstance(value, float):
        return False
    import numpy as np
    info = np.iinfo(ty.dtype)
    return info.min <= int(value) <= info.max


def unary(typer, node, op: str, operand: tir.Expr) -> tir.Expr:
    if op == "not":
        t = typer.truth(operand, node)
        if isinstance(t, tir.Const):   # compile-time (`not isinstance(...)`, constexpr flags)
            return typer.const(not t.value, node)
        return tir.UnaryOp(T.boolean, typer.loc(node), "not", t)
    ty = _scalar(typer, operand, op, node)
    weak = typer.is_weak(operand)
    if isinstance(operand, tir.Const) and weak:
        value = {"neg": operator.neg, "pos": operator.pos, "invert": operator.invert}[op](operand.value)
        return typer.const(value, node)
    if op == "invert" and not (ty.is_int or ty.is_bool):
        raise typer.err(TypingError, f"operator '~' needs an integer or bool operand, got {ty}", node)
    if ty.is_bool:  # Python: -True == -1, ~True == -2
        ty = T.int64
        operand = typer.convert(operand, ty, node)
    if op == "pos":
        return operand
    return typer.mark(in_float32(typer, node, ty, lambda w: tir.UnaryOp(
        w, typer.loc(node), op, typer.convert(operand, w, node))), weak)
