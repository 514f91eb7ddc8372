"""Typing of expressions: names and constants, attributes, tuples, operators, comparisons, conditionals.

:class:`ExpressionTyping` is the part of :class:`~.typer.FunctionTyper` that types expression
nodes; ``expr`` dispatches on the node type (``expr_<Name>``), and an expression not in the table
is an :class:`UnsupportedError` with a hint.  Names resolve at compile time (locals, constexpr
parameters, globals, closure cells); a compile-time object becomes a :class:`~.values.Static`.
Calls are in :mod:`.calls`, subscripts and array attributes in :mod:`.arrays`.
"""

from __future__ import annotations

import ast
import types as pytypes

import numpy as np

from ...lang import intrinsics as I
from ...lang import types as T
from ...lang.errors import TypingError, UnsupportedError
from . import builtins as B
from . import operators as O
from .. import tir
from .values import MISSING, BoundMethod, Deferred, Static, compile_time_value, unify

__all__ = ["ExpressionTyping"]

_UNSUPPORTED_EXPR_HINTS = {
    ast.List: "lists are not supported in kernels; use a tuple or an array argument",
    ast.Dict: "dicts are not supported in kernels",
    ast.Set: "sets are not supported in kernels",
    ast.ListComp: "comprehensions are not supported in kernels; write a for loop",
    ast.SetComp: "comprehensions are not supported in kernels; write a for loop",
    ast.DictComp: "comprehensions are not supported in kernels; write a for loop",
    ast.GeneratorExp: "generators are not supported in kernels; write a for loop",
    ast.Lambda: "lambdas are not supported inside kernels; define a @jit function",
    ast.JoinedStr: "strings are not supported in kernels",
    ast.Yield: "generators are not supported in kernels",
    ast.YieldFrom: "generators are not supported in kernels",
    ast.Await: "async code is not supported in kernels",
    ast.NamedExpr: "assignment expressions (:=) are not supported; assign on a separate line",
    ast.Starred: "star-unpacking is not supported in kernels",
    ast.Slice: "array slicing is not supported yet; index with integers",
}


class ExpressionTyping:
    """Expression typing (a mixin of :class:`~.typer.FunctionTyper`)."""

    def rexpr(self, node) -> tir.Expr:
        """An expression that must be a runtime value."""
        return self.runtime(self.expr(node), node)

    def runtime(self, e, node) -> tir.Expr:
        """``e`` (typed from ``node``), which must be a runtime value rather than a compile-time object."""
        if isinstance(e, Static):
            v = e.value
            if isinstance(v, str):
                raise self.err(UnsupportedError, "str constants are compile-time values only in kernels", node,
                               "compare them with == / != (mode names) or pass them to jk.static_assert()")
            what = getattr(v, "__name__", None) or type(v).__name__
            raise self.err(TypingError, f"{what!s} cannot be used as a value inside a kernel", node,
                           "call it, or pass data as an argument")
        return e

    def expr(self, node):
        method = getattr(self, "expr_" + type(node).__name__, None)
        if method is None:
            raise self.err(UnsupportedError, f"{type(node).__name__} expressions are not supported in kernels",
                           node, _UNSUPPORTED_EXPR_HINTS.get(type(node)))
        return method(node)

    def expr_Constant(self, node):
        v = node.value
        if isinstance(v, (bool, int, float, complex)):
            return self.const(v, node)
        if v is None:
            return tir.Const(T.none, self.loc(node), None)
        if isinstance(v, str):          # compile-time only: compared with a constexpr, or a message
            return Static(v)
        raise self.err(UnsupportedError, f"{type(v).__name__} constants are not supported in kernels", node,
                       "kernels work on numbers, bools, tuples and arrays")

    def _var(self, name, node) -> tir.Expr:
        ty = self.vars.get(name)
        if ty is None:
            if not self.strict:
                raise Deferred
            raise self.err(TypingError, f"local variable {name!r} is used before it is assigned", node)
        return self.mark(tir.Var(ty, self.loc(node), name), self.weak_vars.get(name, False))

    def expr_Name(self, node):
        name = node.id
        if name in self.constexprs:
            return self.static_value(self.constexprs[name], node, name)
        if name in self.const_locals:
            return self.const_locals[name]
        if name in self.locals:
            return self._var(name, node)
        value = self.p.resolve(name)
        if value is MISSING:
            raise self.err(TypingError, f"name {name!r} is not defined", node)
        return self.static_value(value, node, name)

    def static_value(self, value, node, name: str):
        """A compile-time Python object as a typed constant, or wrapped as Static.

        (Every value reachable this way is also hashed into the disk-cache key,
        see :mod:`jitkit.build.cachekey`.)
        """
        if isinstance(value, (bool, int, float, np.generic)) and not isinstance(value, (np.str_, np.bytes_)):
            if isinstance(value, np.generic) and value.dtype not in [t.dtype for t in T.SCALARS]:
                raise self.err(TypingError, f"{name!r} has unsupported type {value.dtype}", node)
            return self.const(value, node)
        if isinstance(value, tuple) and all(isinstance(v, (bool, int, float, np.generic)) for v in value):
            items = [self.const(v, node) for v in value]
            return tir.MakeTuple(T.Tuple(tuple(i.type for i in items)), self.loc(node), items)
        if isinstance(value, I.Special):
            return B.special_value(self, node, value)
        if isinstance(value, np.ndarray):
            raise self.err(UnsupportedError, f"global array {name!r} cannot be captured by a kernel", node,
                           "pass the array as a kernel argument")
        return Static(value)

    def expr_Attribute(self, node):
        base = self.expr(node.value)
        attr = node.attr
        if isinstance(base, Static):
            v = base.value
            if isinstance(v, I.Dim3):
                return B.dim3_attr(self, node, v, attr)
            if isinstance(v, I.Atomics):
                if attr not in I.Atomics.OPS:
                    raise self.err(TypingError, f"jitkit.atomic has no operation {attr!r}", node,
                                   "available: " + ", ".join(I.Atomics.OPS))
                return Static(getattr(v, attr))
            if isinstance(v, I.Namespace):
                if attr != "array":
                    raise self.err(TypingError, f"jitkit.{v.name} has no attribute {attr!r}", node,
                                   f"use jitkit.{v.name}.array(shape, dtype)")
                return Static(v.array)
            if isinstance(v, pytypes.ModuleType):
                found = getattr(v, attr, MISSING)
                if found is MISSING:
                    raise self.err(TypingError, f"module {v.__name__!r} has no attribute {attr!r}", node)
                return self.static_value(found, node, f"{v.__name__}.{attr}")
            raise self.err(UnsupportedError, f"attribute {attr!r} of {v!r} is not supported in kernels", node)
        ty = base.type
        loc = self.loc(node)
        if isinstance(ty, T.Array):
            found = self.array_attr(node, base, attr)
            if found is not None:
                return found
        if isinstance(ty, T.Scalar) and attr in ("real", "imag", "conjugate"):
            if attr == "conjugate":
                return Static(BoundMethod(base, attr))
            if ty.is_complex:
                return tir.op(f"complex.{attr}", loc, [base])
            return base if attr == "real" else self.const(0, node, ty)
        raise self.err(TypingError, f"{ty} has no attribute {attr!r} in kernels", node,
                       "arrays support .shape, .size, .ndim, .strides, .itemsize, .dtype" if isinstance(ty, T.Array) else None)

    def expr_Tuple(self, node):
        items = [self.rexpr(e) for e in node.elts]
        return tir.MakeTuple(T.Tuple(tuple(i.type for i in items)), self.loc(node), items)

    def expr_BinOp(self, node):
        op = O.BINOPS.get(type(node.op))
        if op is None:
            raise self.err(UnsupportedError, f"operator {type(node.op).__name__} is not supported in kernels", node)
        return O.binop(self, node, op, self.rexpr(node.left), self.rexpr(node.right))

    def expr_UnaryOp(self, node):
        return O.unary(self, node, O.UNOPS[type(node.op)], self.rexpr(node.operand))

    def expr_Compare(self, node):
        if len(node.ops) == 1 and isinstance(node.ops[0], (ast.Is, ast.IsNot)):
            return self._identity(node)
        if len(node.ops) == 1 and isinstance(node.ops[0], (ast.Eq, ast.NotEq)):
            a, b = self.expr(node.left), self.expr(node.comparators[0])
            if isinstance(a, Static) or isinstance(b, Static):   # compile-time strings: mode names
                va, vb = compile_time_value(a), compile_time_value(b)
                if va is MISSING or vb is MISSING:
                    raise self.err(TypingError, "== and != compare a compile-time object with compile-time "
                                   "values only", node)
                return self.const((va == vb) == isinstance(node.ops[0], ast.Eq), node)
        operands = [self.rexpr(node.left)] + [self.rexpr(c) for c in node.comparators]
        for op in node.ops:
            if type(op) not in O.CMPOPS:
                raise self.err(UnsupportedError, f"comparison {type(op).__name__} is not supported in kernels",
                               node, "use ==, !=, <, <=, >, >=")
        if len(node.ops) == 1:
            return O.compare(self, node, O.CMPOPS[type(node.ops[0])], operands[0], operands[1])
        # a < b < c: each middle operand is evaluated once, comparisons short-circuit
        tmps = []
        for k, e in enumerate(operands):
            if 0 < k < len(operands) - 1 and not isinstance(e, (tir.Var, tir.Const)):
                raise self.err(UnsupportedError, "chained comparisons need simple middle operands", node,
                               "assign the middle expression to a variable first")
            tmps.append(e)
        tests = [O.compare(self, node, O.CMPOPS[type(op)], tmps[k], tmps[k + 1]) for k, op in enumerate(node.ops)]
        return tir.BoolOp(T.boolean, self.loc(node), "and", tests)

    def _identity(self, node):
        """``a is b`` / ``a is not b`` on compile-time values (``op is None`` for optional constexpr
        functions): a constant."""
        vals = []
        for n in (node.left, node.comparators[0]):
            e = self.expr(n)
            v = None if isinstance(e, tir.Const) and isinstance(e.type, T.NoneType) else compile_time_value(e)
            vals.append(e if v is MISSING else v)   # a run-time value: is not None, not anything else known
        runtime = [isinstance(v, tir.Expr) for v in vals]
        if all(runtime) or (any(runtime) and None not in vals):
            raise self.err(UnsupportedError, "'is' compares compile-time values only (e.g. `op is None` for an "
                           "optional function or value)", node, "compare numbers with == and !=")
        same = vals[0] is vals[1]
        return self.const(same if isinstance(node.ops[0], ast.Is) else not same, node)

    def expr_BoolOp(self, node):
        op = "and" if isinstance(node.op, ast.And) else "or"
        nodes = list(node.values)
        while len(nodes) > 1:       # leading compile-time bools fold away: `flag or mode == "x"`
            first = self.rexpr(nodes[0])
            if not (isinstance(first, tir.Const) and first.type is T.boolean):
                break
            if bool(first.value) == (op == "or"):
                return first        # decides the result; later operands are not compiled
            nodes.pop(0)
        if len(nodes) == 1:
            return self.rexpr(nodes[0])
        values = [self.rexpr(v) for v in nodes]
        ty, weak = values[0].type, self.is_weak(values[0])
        for v in values[1:]:
            t = unify(ty, weak, v.type, self.is_weak(v))
            if t is None or not isinstance(t, T.Scalar):
                raise self.err(TypingError, f"operands of {op!r} have incompatible types {ty} and {v.type}", node)
            ty, weak = t, weak and self.is_weak(v)
        if not isinstance(ty, T.Scalar):
            raise self.err(TypingError, f"operands of {op!r} must be scalars, got {ty}", node)
        for v in values:  # literal operands must fit the result type
            self.convert(v, ty, node)
        return self.mark(tir.BoolOp(ty, self.loc(node), op, values), weak)

    def expr_IfExp(self, node):
        cond = self.truth(self.rexpr(node.test), node.test)
        if isinstance(cond, tir.Const):   # compile-time: only the taken side (which may be a type or function)
            return self.expr(node.body if cond.value else node.orelse)
        a, b = self.rexpr(node.body), self.rexpr(node.orelse)
        ty = unify(a.type, self.is_weak(a), b.type, self.is_weak(b))
        if ty is None:
            raise self.err(TypingError, f"the branches of this conditional expression have incompatible types "
                           f"{a.type} and {b.type}", node)
        weak = self.is_weak(a) and self.is_weak(b)
        return self.mark(tir.IfExp(ty, self.loc(node), cond, self.convert(a, ty, node),
                                   self.convert(b, ty, node)), weak)

