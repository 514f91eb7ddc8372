"""Type inference: Python AST + argument types -> typed tree (:mod:`tir`).

Each local variable has one type for the whole function, the unification of
every value assigned to it (so ``s = 0`` then ``s += x[i]`` makes ``s`` float32
for a float32 ``x``: literals are weak, NEP 50 style).  Inference runs lenient
passes until the variable types stop changing -- a statement that reads a
variable whose type is not known yet is skipped in that pass -- then one strict
pass that builds the tree and reports every remaining problem with its
location.  Dispatch is one table from AST node type to method; a construct not
in the table is an :class:`UnsupportedError`.
"""

from __future__ import annotations

import ast
import re

import numpy as np

from ...lang import types as T
from ...lang.errors import CompileError, TypingError
from .. import tir
from ..frontend import parse_function
from . import operators as O
from .arrays import ArrayTyping
from .calls import CallTyping, is_dispatcher
from .expressions import ExpressionTyping
from .statements import StatementTyping, always_returns
from .values import Static, unify

__all__ = ["CompileUnit", "FunctionTyper", "type_function", "is_dispatcher", "Static", "unify"]


class CompileUnit:
    """State shared by the functions typed for one kernel specialisation.

    ``block`` is the launch's block shape ``(x, y, z)`` for kernels specialised on it
    (those reaching ``jk.block_dims()``), else None."""

    def __init__(self, block: tuple | None = None):
        self.block = block
        self.functions: dict = {}     # (pyfunc, argtypes) -> tir.Function
        self.stack: list = []         # pyfuncs being typed (recursion detection)
        self._names: set = set()

    def symbol(self, qualname: str) -> str:
        base = re.sub(r"[^A-Za-z0-9_]", "_", qualname.replace("<locals>.", "")) or "fn"
        name, k = base, 1
        while name in self._names:
            k += 1
            name = f"{base}_{k}"
        self._names.add(name)
        return name


def type_function(unit: CompileUnit, pyfunc, argtypes: tuple) -> tir.Function:
    """Type ``pyfunc`` for ``argtypes`` within ``unit`` (memoised per unit)."""
    key = (pyfunc, argtypes)
    found = unit.functions.get(key)
    if found is not None:
        return found
    parsed = parse_function(pyfunc)
    unit.stack.append(pyfunc)
    try:
        func = FunctionTyper(unit, parsed, argtypes).run()
    finally:
        unit.stack.pop()
    unit.functions[key] = func
    return func


def _stored_once(tree: ast.FunctionDef) -> set:
    """Names stored exactly once in the function (parameters count as stores)."""
    counts: dict = {a.arg: 1 for a in tree.args.args}
    for n in ast.walk(tree):
        if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del)):
            counts[n.id] = counts.get(n.id, 0) + 1
        elif isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Name):
            counts[n.target.id] = counts.get(n.target.id, 0) + 1
    return {k for k, c in counts.items() if c == 1}


def _assigned_names(tree: ast.FunctionDef) -> set:
    names = {a.arg for a in tree.args.args}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names


class FunctionTyper(StatementTyping, ExpressionTyping, CallTyping, ArrayTyping):
    """Types one Python function for one argument signature: the state of the passes (variable
    types, weak literals, writes, callees) and the helpers every typing module uses (locations,
    errors, literals, conversions, truth).  Statements, expressions, calls and array operations
    are typed by the mixins of :mod:`.statements`, :mod:`.expressions`, :mod:`.calls` and
    :mod:`.arrays`."""

    def __init__(self, unit: CompileUnit, parsed, argtypes: tuple):
        self.unit = unit
        self.p = parsed
        self.argtypes = argtypes
        self.params = parsed.arg_names
        self.constexprs = {n: t.value for n, t in zip(self.params, argtypes) if isinstance(t, T.Literal)}
        self.locals = _assigned_names(parsed.tree) - set(self.constexprs)
        self.vars: dict = {n: t for n, t in zip(self.params, argtypes) if n not in self.constexprs}
        self.weak_vars: dict = {n: False for n in self.vars}
        self.declared: dict = {}
        self.weak: dict = {}  # id -> expr for weak (literal-derived) expressions; holding
                              # the expr keeps its id from being reused within a pass
        self.ret_type = None
        self.ret_weak = False
        self.strict = False
        self.changed = False
        self.deferred = False
        self.loop_depth = 0
        self.callees: list = []
        self.written: set = set()
        self.cooperative = False
        self.aliases: dict = {}
        self._tmp_names: dict = {}
        # a local assigned once, by a top-level statement, from a compile-time value is that value
        # (``n = x.size * 4`` on a static shape, ``bx, by, bz = jk.block_dims()``, ``dt = type(v)``)
        self.const_locals: dict = {}
        self._once = _stored_once(parsed.tree)
        self._top = {id(st) for st in parsed.tree.body if isinstance(st, ast.Assign)}

    # ------------------------------------------------------------- helpers
    def loc(self, node):
        return self.p.loc(node)

    def err(self, cls, message, node, hint=None) -> CompileError:
        return self.p.error(cls, message, node, hint)

    def mark(self, e: tir.Expr, weak: bool) -> tir.Expr:
        if weak:
            self.weak[id(e)] = e
        else:
            self.weak.pop(id(e), None)
        return e

    def is_weak(self, e) -> bool:
        return id(e) in self.weak

    def const(self, value, node, ty=None) -> tir.Expr:
        if isinstance(value, np.generic):
            return tir.Const(T.scalar_from_dtype(value.dtype), self.loc(node), value.item())
        if ty is None:
            try:
                ty = O.literal_type(value)
            except OverflowError as exc:
                raise self.err(TypingError, str(exc), node) from None
            return self.mark(tir.Const(ty, self.loc(node), value), True)
        return self.convert(self.const(value, node), ty, node)

    def _tmp(self, node, k=0) -> str:
        key = (id(node), k)
        name = self._tmp_names.get(key)
        if name is None:
            name = self._tmp_names[key] = f"$t{len(self._tmp_names)}"
            self.locals.add(name)
        return name

    def convert(self, e: tir.Expr, ty, node, explicit: bool = False) -> tir.Expr:
        """``e`` as a value of ``ty`` (a Cast node, or a folded literal)."""
        if e.type is ty:
            return e
        if isinstance(ty, T.Scalar) and isinstance(e.type, T.Scalar) and e.type.is_complex \
                and not (ty.is_complex or ty.is_bool):
            raise self.err(TypingError, f"cannot convert {e.type} to {ty}", node,
                           "take z.real, z.imag or abs(z)")
        if isinstance(ty, T.Scalar) and isinstance(e.type, T.Scalar):
            if isinstance(e, tir.Const) and self.is_weak(e) and not (ty.is_bool and not explicit):
                return self.mark(tir.Const(ty, e.loc, self._convert_literal(e.value, ty, node, explicit)), True)
            return tir.Cast(ty, e.loc, e)
        if isinstance(ty, T.Array) and isinstance(e.type, T.Array) and ty.layout == "A" \
                and ty.dtype is e.type.dtype and ty.ndim == e.type.ndim:
            return tir.Cast(ty, e.loc, e)
        if isinstance(ty, T.Tuple) and isinstance(e.type, T.Tuple) and ty.count == e.type.count:
            items = [self.convert(tir.TupleGet(t, e.loc, e, i), ty.types[i], node)
                     for i, t in enumerate(e.type.types)]
            return tir.MakeTuple(ty, e.loc, items)
        raise self.err(TypingError, f"cannot convert {e.type} to {ty}", node)

    def _convert_literal(self, value, ty: T.Scalar, node, explicit: bool):
        if ty.is_bool:
            return bool(value)
        if ty.is_complex:
            return complex(value)
        if ty.is_float:
            return float(value)
        if isinstance(value, float):
            if value != value or value in (float("inf"), float("-inf")):
                raise self.err(TypingError, f"cannot convert {value} to {ty}", node)
            value = int(value)
        value = int(value)
        info = np.iinfo(ty.dtype)
        if not info.min <= value <= info.max:
            if explicit:
                return int(np.array(value & ((1 << ty.bits) - 1)).astype(np.uint64).astype(ty.dtype))
            raise self.err(TypingError, f"integer literal {value} does not fit in {ty}", node,
                           f"write {ty.name}(...) to wrap explicitly, or widen the other operand")
        return value

    def truth(self, e: tir.Expr, node) -> tir.Expr:
        if e.type is T.boolean:
            return e
        if isinstance(e.type, T.Scalar):
            if isinstance(e, tir.Const):
                return self.const(bool(e.value), node)
            if e.type.is_bf16:
                e = tir.Cast(T.float32, e.loc, e)   # exact
            zero = tir.Const(e.type, e.loc, 0)
            return tir.Compare(T.boolean, e.loc, "ne", e, zero)
        if isinstance(e.type, T.Tuple):
            return self.const(e.type.count > 0, node)
        raise self.err(TypingError, f"the truth value of {e.type} is ambiguous", node,
                       "compare explicitly, e.g. `a.size > 0`")

    # ------------------------------------------------------------- driver
    def run(self) -> tir.Function:
        if self.constexprs:
            for node in ast.walk(self.p.tree):
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and node.id in self.constexprs:
                    raise self.err(TypingError, f"constexpr parameter {node.id!r} cannot be assigned", node,
                                   "it is a compile-time constant; assign to a new name")
        for _ in range(50):
            self.changed = self.deferred = False
            self.weak.clear()
            self.const_locals.clear()
            self.block(self.p.tree.body)
            if not self.changed and not self.deferred:
                break
            if not self.changed:  # deferred only: the strict pass reports it
                break
        self.strict = True
        self.weak.clear()
        self.const_locals.clear()
        body = self.block(self.p.tree.body)
        ret = self.ret_type if self.ret_type is not None else T.none
        if ret is not T.none and not always_returns(body):
            raise self.err(TypingError, f"{self.p.qualname}() returns {ret} on some paths but can reach its end "
                           "without returning", self.p.tree.body[-1], "add a return statement at the end")
        func = tir.Function(self.unit.symbol(self.p.qualname), self.p.qualname,
                            list(zip(self.params, self.argtypes)),
                            {n: t for n, t in self.vars.items()}, body, ret, self.loc(None))
        func.callees = self.callees
        func.written_params = self.written
        func.cooperative = self.cooperative or any(c.cooperative for c in self.callees)
        return func


    def type_callee(self, pyfunc, argtypes: tuple) -> tir.Function:
        """``pyfunc`` typed for ``argtypes`` in this compile unit (memoised, recursion checked by the caller)."""
        return type_function(self.unit, pyfunc, argtypes)
