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
import inspect
import re
import types as pytypes

import numpy as np

from ...lang import intrinsics as I
from ...lang import types as T
from ...lang.errors import CompileError, TypingError, UnsupportedError
from ...lang.declarations import DeviceDeclaration
from . import builtins as B
from . import operators as O
from .. import tir
from ..frontend import MISSING, parse_function


class _Deferred(Exception):
    """A lenient pass met a variable whose type is not known yet."""


class Static:
    """A compile-time Python object reached by a kernel (module, function, intrinsic...)."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value


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


def is_dispatcher(obj) -> bool:
    return getattr(type(obj), "_jitkit_dispatcher", False)


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


def _compile_time_value(e):
    """The Python value of a constant expression (literal, tuple of literals, Static), else MISSING."""
    if isinstance(e, Static):
        return e.value
    if isinstance(e, tir.Const) and not isinstance(e.type, T.NoneType):
        return e.value
    if isinstance(e, tir.MakeTuple):
        items = [_compile_time_value(i) for i in e.items]
        return MISSING if MISSING in items else tuple(items)
    return MISSING


def _stored_once(tree: ast.FunctionDef) -> set:
    """Names stored exactly once in the function (parameters count as stores)."""
    counts: dict = {a.arg: 1 for a in tree.args.args}
    for n in ast.walk(tree):
        if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del)):
            counts[n.id] = counts.get(n.id, 0) + 1
        elif isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Name):
            counts[n.target.id] = counts.get(n.target.id, 0) + 1
    return {k for k, c in counts.items() if c == 1}


def _always_returns(stmts) -> bool:
    if not stmts:
        return False
    last = stmts[-1]
    if isinstance(last, tir.Return):
        return True
    if isinstance(last, tir.If):
        return _always_returns(last.body) and _always_returns(last.orelse)
    return False


def _assigned_names(tree: ast.FunctionDef) -> set:
    names = {a.arg for a in tree.args.args}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names


_UNSUPPORTED_STMT_HINTS = {
    ast.FunctionDef: "define helpers at module level and decorate them with @jit",
    ast.ClassDef: "classes are not supported in kernels",
    ast.With: "context managers are not supported in kernels",
    ast.Try: "exceptions are not supported in kernels",
    ast.Raise: "exceptions are not supported in kernels; write an error flag to an output array",
    ast.Import: "import modules at module level; kernels can use them from there",
    ast.ImportFrom: "import at module level; kernels can use the names from there",
    ast.Global: "kernels cannot rebind globals; write results to arrays",
    ast.Nonlocal: "kernels cannot rebind enclosing variables; write results to arrays",
    ast.Delete: "del is not supported in kernels",
}

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


class FunctionTyper:
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
        if ret is not T.none and not _always_returns(body):
            raise self.err(TypingError, f"{self.p.qualname}() returns {ret} on some paths but can reach its end "
                           "without returning", self.p.tree.body[-1], "add a return statement at the end")
        func = tir.Function(self.unit.symbol(self.p.qualname), self.p.qualname,
                            list(zip(self.params, self.argtypes)),
                            {n: t for n, t in self.vars.items()}, body, ret, self.loc(None))
        func.callees = self.callees
        func.written_params = self.written
        func.cooperative = self.cooperative or any(c.cooperative for c in self.callees)
        return func

    def block(self, stmts) -> list:
        out = []
        for s in stmts:
            method = getattr(self, "stmt_" + type(s).__name__, None)
            if method is None:
                raise self.err(UnsupportedError, f"{type(s).__name__.lower()} statements are not supported "
                               "in kernels", s, _UNSUPPORTED_STMT_HINTS.get(type(s)))
            try:
                r = method(s)
            except _Deferred:
                self.deferred = True
                continue
            if isinstance(r, list):
                out.extend(r)
            elif r is not None:
                out.append(r)
            if out and _always_returns(out):
                break   # unreachable after a return (e.g. one under a compile-time `if`): not typed
        return out

    # ------------------------------------------------------------- statements
    def stmt_Pass(self, s):
        return None

    def stmt_Assert(self, s):
        msg = None
        if s.msg is not None:
            if not (isinstance(s.msg, ast.Constant) and isinstance(s.msg.value, str)):
                raise self.err(UnsupportedError, "an assert message in a kernel must be a string literal", s.msg)
            msg = s.msg.value
        return tir.Assert(self.loc(s), self.truth(self.rexpr(s.test), s.test), msg)

    def stmt_Expr(self, s):
        if isinstance(s.value, ast.Constant):  # docstrings and bare literals
            return None
        value = self.expr(s.value)
        if isinstance(value, Static):         # jk.static_assert(...), a bare compile-time name
            return None
        return tir.ExprStmt(self.loc(s), self.runtime(value, s.value))

    def stmt_Assign(self, s):
        if id(s) in self._top and len(s.targets) == 1:
            value = self.expr(s.value)
            if self._const_local(s.targets[0], value):
                return []
            value = self.runtime(value, s.value)
        else:
            value = self.rexpr(s.value)
        out = []
        if len(s.targets) > 1 and not isinstance(value, (tir.Const, tir.Var)):
            tmp = self._tmp(s)
            out.append(self.assign_var(tmp, value, s))
            value = self._var(tmp, s)
        for target in s.targets:
            out.extend(self.assign_target(target, value, s))
        return out

    def _const_local(self, target, value) -> bool:
        if isinstance(target, ast.Name):
            if target.id in self._once and target.id not in self.declared and \
                    _compile_time_value(value) is not MISSING:
                self.const_locals[target.id] = value
                return True
            return False
        if isinstance(target, ast.Tuple) and isinstance(value, tir.MakeTuple) and \
                len(target.elts) == len(value.items) and \
                all(isinstance(t, ast.Name) and t.id in self._once for t in target.elts) and \
                all(_compile_time_value(v) is not MISSING for v in value.items):
            for t, v in zip(target.elts, value.items):
                self.const_locals[t.id] = v
            return True
        return False

    def stmt_AnnAssign(self, s):
        if not isinstance(s.target, ast.Name):
            raise self.err(UnsupportedError, "annotations are only supported on plain names", s.target)
        ann = self.expr(s.annotation)
        if not (isinstance(ann, Static) and isinstance(ann.value, T.Scalar)):
            raise self.err(TypingError, "a variable annotation must be a jitkit scalar type such as jk.float32",
                           s.annotation)
        self.declared[s.target.id] = ann.value
        if s.target.id not in self.vars:
            self.vars[s.target.id] = ann.value
            self.weak_vars[s.target.id] = False
        if s.value is None:
            return None
        return self.assign_target(s.target, self.rexpr(s.value), s)

    def stmt_AugAssign(self, s):
        opname = O.BINOPS.get(type(s.op))
        if opname is None:
            raise self.err(UnsupportedError, f"operator {type(s.op).__name__} is not supported", s)
        rhs = self.rexpr(s.value)
        t = s.target
        if isinstance(t, ast.Name):
            cur = self._var(t.id, t)
            return self.assign_var(t.id, O.binop(self, s, opname, cur, rhs), s)
        if isinstance(t, ast.Subscript):
            arr = self.rexpr(t.value)
            if not isinstance(arr.type, T.Array):
                raise self.err(TypingError, f"cannot assign into {arr.type}", t, "only arrays are mutable")
            pre, idx = [], []
            for k, ix in enumerate(self.indices(t, arr)):
                if isinstance(ix, (tir.Var, tir.Const)):
                    idx.append(ix)
                else:
                    name = self._tmp(t, k)
                    pre.append(self.assign_var(name, ix, t))
                    idx.append(self._var(name, t))
            if len(idx) != arr.type.ndim:
                raise self.err(TypingError, "augmented assignment needs one index per dimension", t)
            cur = tir.Load(arr.type.dtype, self.loc(t), arr, idx)
            new = O.binop(self, s, opname, cur, rhs)
            self._note_write(arr)
            return pre + [tir.Store(self.loc(s), arr, idx, self.convert(new, arr.type.dtype, s))]
        raise self.err(UnsupportedError, "augmented assignment to this target is not supported", t)

    def assign_target(self, target, value: tir.Expr, s) -> list:
        if isinstance(target, ast.Name):
            return [self.assign_var(target.id, value, s)]
        if isinstance(target, ast.Subscript):
            arr = self.rexpr(target.value)
            if not isinstance(arr.type, T.Array):
                raise self.err(TypingError, f"cannot assign into {arr.type}", target,
                               "tuples are immutable; only arrays can be written")
            idx = self.indices(target, arr)
            if len(idx) != arr.type.ndim:
                raise self.err(TypingError, f"assignment to a {arr.type.ndim}-d array needs "
                               f"{arr.type.ndim} indices, got {len(idx)}", target, "slice assignment is not supported")
            if not isinstance(value.type, T.Scalar):
                raise self.err(TypingError, f"cannot store {value.type} into an array of {arr.type.dtype}", s)
            self._note_write(arr)
            return [tir.Store(self.loc(s), arr, idx, self.convert(value, arr.type.dtype, s))]
        if isinstance(target, (ast.Tuple, ast.List)):
            if not isinstance(value.type, T.Tuple) or value.type.count != len(target.elts):
                n = value.type.count if isinstance(value.type, T.Tuple) else "a non-tuple"
                raise self.err(TypingError, f"cannot unpack {n} values into {len(target.elts)} targets", target)
            out = []
            if not isinstance(value, tir.Var):
                tmp = self._tmp(target)
                out.append(self.assign_var(tmp, value, s))
                value = self._var(tmp, s)
            for i, elt in enumerate(target.elts):
                out.extend(self.assign_target(elt, tir.TupleGet(value.type.types[i], value.loc, value, i), s))
            return out
        if isinstance(target, ast.Attribute):
            raise self.err(UnsupportedError, "assigning to attributes is not supported in kernels", target)
        raise self.err(UnsupportedError, f"cannot assign to {type(target).__name__}", target)

    def assign_var(self, name: str, value: tir.Expr, node) -> tir.Assign:
        if isinstance(value.type, T.NoneType):
            raise self.err(TypingError, f"cannot assign a value of type none to {name!r}", node,
                           "the right-hand side returns nothing")
        if name in self.declared:
            return tir.Assign(self.loc(node), name, self.convert(value, self.declared[name], node))
        w = self.is_weak(value)
        old = self.vars.get(name)
        if old is None:
            new, neww = value.type, w
        else:
            oldw = self.weak_vars[name]
            new = unify(old, oldw, value.type, w)
            if new is None:
                raise self.err(TypingError, f"variable {name!r} holds {old} elsewhere but is assigned {value.type} "
                               "here", node, "a variable keeps one type; use a second name")
            neww = oldw and w
        if new is not old or neww != self.weak_vars.get(name):
            if self.strict:  # pragma: no cover - the lenient passes converge first
                raise CompileError(f"internal error: type of {name!r} changed in the final pass", self.loc(node))
            self.changed = True
            self.vars[name] = new
            self.weak_vars[name] = neww
        if isinstance(new, T.Array):
            self.aliases.setdefault(name, set()).update(self._roots(value))
        return tir.Assign(self.loc(node), name, self.convert(value, new, node))

    def stmt_If(self, s):
        cond = self._cond(s.test)
        if isinstance(cond, tir.Const):  # compile-time branch: only the taken side is compiled
            return self.block(s.body if cond.value else s.orelse)
        if cond is None:  # deferred: still type both branches so the lenient pass makes progress
            self.block(s.body)
            self.block(s.orelse)
            return None
        return tir.If(self.loc(s), cond, self.block(s.body), self.block(s.orelse))

    def _cond(self, node):
        try:
            return self.truth(self.rexpr(node), node)
        except _Deferred:
            self.deferred = True
            return None

    def stmt_While(self, s):
        cond = self._cond(s.test)
        self.loop_depth += 1
        body = self.block(s.body)
        self.loop_depth -= 1
        orelse = self.block(s.orelse)
        if cond is None:
            return None
        return tir.While(self.loc(s), cond, body, orelse)

    def stmt_For(self, s):
        it = s.iter
        fn = self.expr(it.func) if isinstance(it, ast.Call) else None
        if not (isinstance(fn, Static) and fn.value is range):
            raise self.err(UnsupportedError, "for loops only iterate over range(...)", it,
                           "write `for i in range(n):` and index the array")
        if not isinstance(s.target, ast.Name):
            raise self.err(UnsupportedError, "the loop variable must be a plain name", s.target)
        if it.keywords or not 1 <= len(it.args) <= 3:
            raise self.err(TypingError, "range() takes 1 to 3 positional arguments", it)
        args = [self.rexpr(a) for a in it.args]
        for a, n in zip(args, it.args):
            if not (isinstance(a.type, T.Scalar) and (a.type.is_int or a.type.is_bool)):
                raise self.err(TypingError, f"range() needs integer arguments, got {a.type}", n)
        if len(args) == 1:
            args = [self.const(0, it)] + args
        if len(args) == 2:
            args.append(self.const(1, it))
        start, stop, step = args
        ty = start.type
        weak = self.is_weak(start)
        for a in (stop, step):
            ty = T.promote(ty, a.type, weak, self.is_weak(a))
            weak = weak and self.is_weak(a)
        if ty.is_bool:
            ty = T.int64
        sign = 0
        if isinstance(step, tir.Const):
            if step.value == 0:
                raise self.err(TypingError, "range() step must not be zero", it.args[2])
            sign = 1 if step.value > 0 else -1
        var = s.target.id
        self.assign_var(var, self.mark(tir.Var(ty, self.loc(s.target), var), weak), s)
        vty = self.vars[var]
        self.loop_depth += 1
        body = self.block(s.body)
        self.loop_depth -= 1
        orelse = self.block(s.orelse)
        start, stop, step = (self.convert(a, vty, it) for a in (start, stop, step))
        return tir.ForRange(self.loc(s), var, start, stop, step, sign, body, orelse)

    def stmt_Break(self, s):
        return tir.Break(self.loc(s))

    def stmt_Continue(self, s):
        return tir.Continue(self.loc(s))

    def stmt_Return(self, s):
        if s.value is None:
            value = None
            ty, w = T.none, False
        else:
            value = self.rexpr(s.value)
            ty, w = value.type, self.is_weak(value)
        if self.ret_type is None:
            new, neww = ty, w
        elif isinstance(ty, T.NoneType) != isinstance(self.ret_type, T.NoneType):
            raise self.err(TypingError, "this function returns a value on some paths and nothing on others", s)
        else:
            new = unify(self.ret_type, self.ret_weak, ty, w)
            neww = self.ret_weak and w
            if new is None:
                raise self.err(TypingError, f"return type {ty} conflicts with {self.ret_type} returned elsewhere", s)
        if new is not self.ret_type or neww != self.ret_weak:
            self.changed = True
            self.ret_type, self.ret_weak = new, neww
        if value is not None:
            value = self.convert(value, new, s)
        return tir.Return(self.loc(s), value)

    # ------------------------------------------------------------- expressions
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
                raise _Deferred
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
        if isinstance(value, I._Special):
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
            if isinstance(v, I._Dim3):
                return B.dim3_attr(self, node, v, attr)
            if isinstance(v, I._Atomics):
                if attr not in I._Atomics.OPS:
                    raise self.err(TypingError, f"jitkit.atomic has no operation {attr!r}", node,
                                   "available: " + ", ".join(I._Atomics.OPS))
                return Static(getattr(v, attr))
            if isinstance(v, I._Namespace):
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
            if ty.shape is not None and attr in ("shape", "size"):   # an allocation: compile-time
                if attr == "size":
                    return self.const(int(np.prod(ty.shape)), node)
                return tir.MakeTuple(T.Tuple((T.int64,) * ty.ndim), loc,
                                     [self.const(n, node) for n in ty.shape])
            if attr in ("shape", "strides"):
                items = [tir.ArrayAttr(T.int64, loc, base, attr, d) for d in range(ty.ndim)]
                return tir.MakeTuple(T.Tuple((T.int64,) * ty.ndim), loc, items)
            if attr == "size":
                return tir.ArrayAttr(T.int64, loc, base, "size")
            if attr == "ndim":
                return self.const(ty.ndim, node)
            if attr == "itemsize":
                return self.const(ty.dtype.itemsize, node)
            if attr == "dtype":  # a compile-time type: usable in casts and array allocations
                return Static(ty.dtype)
        if isinstance(ty, T.Scalar) and attr in ("real", "imag", "conjugate"):
            if attr == "conjugate":
                return Static(B.BoundMethod(base, attr))
            if ty.is_complex:
                return tir.Op(ty.part, loc, f"complex.{attr}", [base])
            return base if attr == "real" else self.const(0, node, ty)
        raise self.err(TypingError, f"{ty} has no attribute {attr!r} in kernels", node,
                       "arrays support .shape, .size, .ndim, .strides, .itemsize, .dtype" if isinstance(ty, T.Array) else None)

    def indices(self, node: ast.Subscript, arr: tir.Expr) -> list:
        sl = node.slice
        if isinstance(sl, ast.Slice) or (isinstance(sl, ast.Tuple) and any(isinstance(e, ast.Slice) for e in sl.elts)):
            raise self.err(UnsupportedError, "array slicing is not supported yet", sl,
                           "index with integers: a[i], a[i, j]")
        parts = [self.rexpr(e) for e in sl.elts] if isinstance(sl, ast.Tuple) else [self.rexpr(sl)]
        out = []
        for e in parts:
            if isinstance(e.type, T.Tuple):
                out.extend(tir.TupleGet(t, e.loc, e, i) for i, t in enumerate(e.type.types))
            else:
                out.append(e)
        for e in out:
            if not (isinstance(e.type, T.Scalar) and (e.type.is_int or e.type.is_bool)):
                raise self.err(TypingError, f"array indices must be integers, got {e.type}", sl,
                               "convert with int(x)")
        if len(out) > arr.type.ndim:
            raise self.err(TypingError, f"too many indices for a {arr.type.ndim}-d array: {len(out)}", sl)
        return out

    def expr_Subscript(self, node):
        base = self.rexpr(node.value)
        ty = base.type
        loc = self.loc(node)
        if isinstance(ty, T.Array):
            idx = self.indices(node, base)
            if len(idx) == ty.ndim:
                return tir.Load(ty.dtype, loc, base, idx)
            layout = "C" if ty.layout == "C" else "A"
            return tir.SubArray(T.Array(ty.dtype, ty.ndim - len(idx), layout), loc, base, idx)
        if isinstance(ty, T.Tuple):
            sl = node.slice
            if isinstance(sl, ast.Slice):
                bounds = [None if b is None else self.rexpr(b) for b in (sl.lower, sl.upper, sl.step)]
                if not all(b is None or (isinstance(b, tir.Const) and isinstance(b.value, int)) for b in bounds):
                    raise self.err(TypingError, "tuple slices need constant bounds", sl)
                picked = range(ty.count)[slice(*(None if b is None else b.value for b in bounds))]
                items = [tir.TupleGet(ty.types[i], loc, base, i) for i in picked]
                return tir.MakeTuple(T.Tuple(tuple(i.type for i in items)), loc, items)
            k = self.rexpr(sl)
            if not (isinstance(k, tir.Const) and isinstance(k.value, int) and not isinstance(k.value, bool)):
                raise self.err(TypingError, "tuples can only be indexed by constant integers", sl,
                               "use a constant index such as t[0]; index arrays with variables")
            i = k.value + ty.count if k.value < 0 else k.value
            if not 0 <= i < ty.count:
                raise self.err(TypingError, f"tuple index {k.value} out of range for {ty}", sl)
            return tir.TupleGet(ty.types[i], loc, base, i)
        raise self.err(TypingError, f"{ty} cannot be indexed", node)

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
                va, vb = _compile_time_value(a), _compile_time_value(b)
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
        tmps, pre = [], []
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
            v = None if isinstance(e, tir.Const) and isinstance(e.type, T.NoneType) else _compile_time_value(e)
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

    def expr_Call(self, node):
        fn = self.expr(node.func)
        for a in node.args:
            if isinstance(a, ast.Starred):
                raise self.err(UnsupportedError, "*args in calls is not supported in kernels", a)
        if any(k.arg is None for k in node.keywords):
            raise self.err(UnsupportedError, "**kwargs in calls is not supported in kernels", node)
        if not isinstance(fn, Static):
            raise self.err(TypingError, f"a value of type {fn.type} is not callable", node.func)
        target = fn.value
        if is_dispatcher(target):
            return self.call_jit(node, target)
        if isinstance(target, DeviceDeclaration):
            return self.extern_call(node, target)
        if isinstance(target, B.BoundMethod):
            if node.args or node.keywords:
                raise self.err(TypingError, f"{target.name}() takes no arguments", node)
            z = target.value
            return tir.Op(z.type, self.loc(node), "complex.conj", [z]) if z.type.is_complex else z
        if getattr(target, "name", "").startswith("atomic.") and isinstance(target, I._Intrinsic):
            return self.atomic(node, target.name[7:])
        if target is print:
            return self.print_call(node)
        if target is I.asm:
            return self.inline_asm(node)
        if target is I.shared.array or target is I.local.array:
            return self.alloc_array(node, "shared" if target is I.shared.array else "local")
        if target is isinstance:
            return self.isinstance_call(node)
        if target is I.bitcast:
            return self.bitcast_call(node)
        if target is I.static_assert:
            return self.static_assert_call(node)
        if target is I.vector_load or target is I.is_aligned:
            return self.vector_call(node, target is I.vector_load)
        if target is I.vector_store:
            return self.vector_store_call(node)
        args = [self.rexpr(a) for a in node.args]
        kwargs = {k.arg: self.rexpr(k.value) for k in node.keywords}
        rule = B.lookup(target)
        if rule is not None:
            return rule(self, node, args, kwargs)
        name = getattr(target, "__qualname__", None) or repr(target)
        if inspect.isfunction(target):
            raise self.err(TypingError, f"{name}() is a plain Python function", node.func,
                           f"decorate {name} with @jitkit.jit to call it from a kernel")
        raise self.err(UnsupportedError, f"calling {name} is not supported in kernels", node.func,
                       "kernels can call @jit functions, math.*, min/max/abs/round, casts and jitkit intrinsics")

    def atomic(self, node, op: str):
        what = f"jitkit.atomic.{op}()"
        if node.keywords:
            raise self.err(TypingError, f"{what} takes positional arguments only", node)
        nvals = 2 if op == "cas" else (0 if op == "load" else 1)
        if len(node.args) != 2 + nvals:
            raise self.err(TypingError, f"{what} takes (array, index"
                           f"{', expected, value' if op == 'cas' else ('' if op == 'load' else ', value')})", node)
        arr = self.rexpr(node.args[0])
        if not isinstance(arr.type, T.Array):
            raise self.err(TypingError, f"{what} needs an array, got {arr.type}", node.args[0])
        dt = arr.type.dtype
        ints = (T.int32, T.uint32, T.int64, T.uint64)
        allowed = ints if op in ("and_", "or_", "xor", "cas", "inc", "dec") else ints + (T.float32, T.float64)
        if op == "add":
            allowed += (T.float16, T.bfloat16)
        if dt not in allowed:
            raise self.err(TypingError, f"{what} is not supported on {dt} arrays", node.args[0],
                           "supported: " + ", ".join(t.name for t in allowed))
        fake = ast.Subscript(value=node.args[0], slice=node.args[1], ctx=ast.Load())
        ast.copy_location(fake, node.args[1])
        idx = self.indices(fake, arr)
        if len(idx) != arr.type.ndim:
            raise self.err(TypingError, f"{what} needs one index per dimension ({arr.type.ndim})", node.args[1])
        vals = [self.convert(self.rexpr(v), dt, v) for v in node.args[2:]]
        for v in vals:
            if not isinstance(v.type, T.Scalar):
                raise self.err(TypingError, f"{what} needs scalar values", node)
        if op != "load":
            self._note_write(arr)
        return tir.Atomic(dt, self.loc(node), op, arr, idx, vals)

    def extern_call(self, node, decl):
        what = f"{decl.name}()"
        if node.keywords or len(node.args) != len(decl.params):
            raise self.err(TypingError, f"{what} takes {len(decl.params)} positional argument(s) ({decl!r})", node)
        args = []
        for p, a in zip(decl.params, node.args):
            e = self.rexpr(a)
            if isinstance(p, tuple):
                if not (isinstance(e.type, T.Array) and e.type.dtype is p[1]):
                    raise self.err(TypingError, f"{what} expects an array of {p[1]} (passed as a pointer), "
                                   f"got {e.type}", a)
                self._note_write(e)   # the foreign function may write through the pointer
                args.append(e)
            else:
                if not isinstance(e.type, T.Scalar):
                    raise self.err(TypingError, f"{what} expects {p}, got {e.type}", a)
                args.append(self.convert(e, p, a))
        return tir.ExternCall(decl.restype, self.loc(node), decl, args)

    def inline_asm(self, node):
        what = "jitkit.asm()"
        if len(node.args) < 3:
            raise self.err(TypingError, f"{what} takes (ptx, constraints, result_type, *args, sim=None)", node)
        texts = []
        for a in node.args[:2]:
            v = a.value if isinstance(a, ast.Constant) else _compile_time_value(self.expr(a))
            if not isinstance(v, str):
                raise self.err(TypingError, f"the PTX text and constraints of {what} must be compile-time strings "
                               "(literals or captured str constants)", a)
            texts.append(v)
        ptx, constraints = texts
        rt = self.expr(node.args[2])
        if isinstance(rt, tir.Const) and rt.value is None:
            ret = T.none
        else:
            ret = self._dtype_arg(node.args[2], what)
            if ret.is_bool:
                raise self.err(TypingError, f"{what} cannot return bool (PTX has no predicate outputs here)",
                               node.args[2], "return an int and compare it")
        args = [self.rexpr(a) for a in node.args[3:]]
        for a, n in zip(args, node.args[3:]):
            if not isinstance(a.type, T.Scalar) or a.type.is_bool:
                raise self.err(TypingError, f"{what} operands must be numbers, got {a.type}", n,
                               "convert bools with jk.int32(b)")
        sim = None
        for k in node.keywords:
            if k.arg != "sim":
                raise self.err(TypingError, f"{what} takes only the keyword sim=", node)
            v = self.expr(k.value)
            if not (isinstance(v, Static) and callable(v.value)):
                raise self.err(TypingError, "sim= must be a Python function (taking and returning NumPy arrays)",
                               k.value)
            sim = v.value
        n_ops = len([c for c in constraints.split(",") if c.strip()])
        want = len(args) + (0 if ret is T.none else 1)
        if n_ops != want:
            raise self.err(TypingError, f"{what} constraints name {n_ops} operands but the call has {want} "
                           f"({'a result and ' if ret is not T.none else ''}{len(args)} argument(s))", node.args[1])
        # a literal operand takes Python's type (a PTX register needs a concrete width)
        args = [self.convert(a, T.int64 if a.type.is_int else T.float64, node) if self.is_weak(a) else a
                for a in args]
        return tir.InlineAsm(ret, self.loc(node), ptx, constraints, args, sim)

    _ISINSTANCE = {T.Array: lambda t: isinstance(t, T.Array), T.Tuple: lambda t: isinstance(t, T.Tuple),
                   tuple: lambda t: isinstance(t, T.Tuple), T.Scalar: lambda t: isinstance(t, T.Scalar),
                   bool: lambda t: isinstance(t, T.Scalar) and t.is_bool,
                   int: lambda t: isinstance(t, T.Scalar) and (t.is_int or t.is_bool),
                   float: lambda t: isinstance(t, T.Scalar) and t.is_float,
                   complex: lambda t: isinstance(t, T.Scalar) and t.is_complex,
                   np.integer: lambda t: isinstance(t, T.Scalar) and t.is_int,
                   np.signedinteger: lambda t: isinstance(t, T.Scalar) and t.is_signed,
                   np.unsignedinteger: lambda t: isinstance(t, T.Scalar) and t.kind == "u",
                   np.floating: lambda t: isinstance(t, T.Scalar) and t.is_float,
                   np.complexfloating: lambda t: isinstance(t, T.Scalar) and t.is_complex,
                   np.bool_: lambda t: isinstance(t, T.Scalar) and t.is_bool}

    def isinstance_call(self, node):
        """``isinstance(x, cls)`` decided at compile time from x's jitkit type; ``cls`` is jk.Array,
        jk.Tuple/tuple, jk.Scalar, bool, int, float, complex, NumPy's abstract scalar classes
        (np.signedinteger, np.unsignedinteger, np.integer, np.floating...) or a tuple of those."""
        if len(node.args) != 2 or node.keywords:
            raise self.err(TypingError, "isinstance() takes (value, class)", node)
        x = self.expr(node.args[0])
        if isinstance(x, Static):
            raise self.err(TypingError, "isinstance() inside kernels tests values, not compile-time objects", node)
        cls = _compile_time_value(self.expr(node.args[1]))
        classes = cls if isinstance(cls, tuple) else (cls,)
        tests = [self._ISINSTANCE.get(c) if isinstance(c, type) else None for c in classes]
        if None in tests:
            raise self.err(TypingError, "isinstance() inside kernels takes jk.Array, jk.Tuple, tuple, jk.Scalar, "
                           "bool, int, float, complex or np.integer/np.signedinteger/np.unsignedinteger/np.floating",
                           node.args[1])
        return self.const(any(t(x.type) for t in tests), node)

    def _vector_operands(self, node, what: str, third: str):
        """The (1-d array, integer index) of a vector_load / vector_store / is_aligned call of 3 arguments."""
        if len(node.args) != 3 or node.keywords:
            raise self.err(TypingError, f"{what} takes (array, index, {third})", node)
        arr = self.rexpr(node.args[0])
        if not (isinstance(arr.type, T.Array) and arr.type.ndim == 1):
            raise self.err(TypingError, f"{what} needs a 1-d array, got {arr.type}", node.args[0])
        i = self.rexpr(node.args[1])
        if not (isinstance(i.type, T.Scalar) and i.type.is_int):
            raise self.err(TypingError, f"{what} needs an integer index, got {i.type}", node.args[1])
        return arr, i

    def vector_call(self, node, load: bool):
        what = "jitkit.vector_load()" if load else "jitkit.is_aligned()"
        arr, i = self._vector_operands(node, what, "n" if load else "nbytes")
        n = _compile_time_value(self.expr(node.args[2]))
        dt = arr.type.dtype
        loc = self.loc(node)
        if not load:
            if not (isinstance(n, int) and n > 0 and n & (n - 1) == 0):
                raise self.err(TypingError, f"{what} needs a compile-time power of two of bytes", node.args[2])
            return tir.Op(T.boolean, loc, "array.is_aligned", [arr, self.convert(i, T.int64, node), self.const(n, node)])
        if n not in (2, 4) or n * dt.itemsize > 16 or dt.is_complex:
            raise self.err(TypingError, f"{what} loads 2 or 4 real scalars of at most 16 bytes in all, got "
                           f"{n!r} x {dt}", node.args[2])
        return tir.Op(T.Tuple((dt,) * n), loc, "array.vector_load", [arr, self.convert(i, T.int64, node)])

    def vector_store_call(self, node):
        what = "jitkit.vector_store()"
        arr, i = self._vector_operands(node, what, "values")
        v = self.rexpr(node.args[2])
        dt = arr.type.dtype
        n = v.type.count if isinstance(v.type, T.Tuple) else None
        if n not in (2, 4) or n * dt.itemsize > 16 or dt.is_complex:
            raise self.err(TypingError, f"{what} stores a tuple of 2 or 4 real numbers of at most 16 bytes in all, "
                           f"got {v.type} into an array of {dt}", node.args[2])
        for k, t in enumerate(v.type.types):
            if not isinstance(t, T.Scalar) or t.is_complex:
                raise self.err(TypingError, f"{what}: item {k} is {t}, not a real number", node.args[2])
        self._note_write(arr)
        return tir.Op(T.none, self.loc(node), "array.vector_store", [arr, self.convert(i, T.int64, node), v])

    def static_assert_call(self, node):
        if len(node.args) != 2 or node.keywords:
            raise self.err(TypingError, "jitkit.static_assert() takes (condition, message)", node)
        cond = self.expr(node.args[0])
        msg = _compile_time_value(self.expr(node.args[1]))
        if not isinstance(msg, str):
            raise self.err(TypingError, "the message of jitkit.static_assert() must be a compile-time string",
                           node.args[1])
        value = _compile_time_value(cond)
        if value is MISSING:
            raise self.err(TypingError, "the condition of jitkit.static_assert() must be known at compile time",
                           node.args[0])
        if not value:
            raise self.err(TypingError, msg, node)
        return Static(None)

    def bitcast_call(self, node):
        if len(node.args) != 2 or node.keywords:
            raise self.err(TypingError, "jitkit.bitcast() takes (value, type)", node)
        x = self.rexpr(node.args[0])
        dst = self._dtype_arg(node.args[1], "jitkit.bitcast()")
        src = x.type
        if not (isinstance(src, T.Scalar) and not src.is_bool and not dst.is_bool and src.bits == dst.bits
                and not src.is_complex and not dst.is_complex):
            raise self.err(TypingError, f"jitkit.bitcast() reinterprets a non-bool scalar as a type of the same "
                           f"width, got {src} to {dst}", node)
        if src is dst:
            return x
        return tir.Op(dst, self.loc(node), "bitcast", [x])

    def print_call(self, node):
        opts = {"sep": " ", "end": "\n"}
        for k in node.keywords:
            if k.arg not in opts or not (isinstance(k.value, ast.Constant) and isinstance(k.value.value, str)):
                raise self.err(UnsupportedError, f"print() in kernels takes sep= and end= as string literals only, "
                               f"got {k.arg}=", k.value)
            opts[k.arg] = k.value.value
        parts: list = []

        def add(e, at):
            if isinstance(e.type, T.Scalar):
                parts.append(e)
            elif isinstance(e.type, T.Tuple):
                parts.append("(")
                for k, t in enumerate(e.type.types):
                    if k:
                        parts.append(", ")
                    add(tir.TupleGet(t, e.loc, e, k), at)
                parts.append(",)" if e.type.count == 1 else ")")
            else:
                raise self.err(TypingError, f"print() in kernels prints numbers, bools, tuples and strings, "
                               f"got {e.type}", at, "print array elements, e.g. print(x[i])")
        for k, a in enumerate(node.args):
            if k:
                parts.append(opts["sep"])
            if isinstance(a, ast.Constant) and isinstance(a.value, str):
                parts.append(a.value)
            else:
                add(self.rexpr(a), a)
        parts.append(opts["end"])
        return tir.Print(T.none, self.loc(node), parts)

    def alloc_array(self, node, space: str):
        what = f"jitkit.{space}.array()"
        params = ["shape", "dtype", "align"]
        got = dict(zip(params, node.args))
        for k in node.keywords:
            if k.arg not in params or k.arg in got:
                raise self.err(TypingError, f"{what} takes (shape, dtype, align=None), got keyword {k.arg!r}", node)
            got[k.arg] = k.value
        if len(node.args) > 3 or not {"shape", "dtype"} <= set(got):
            raise self.err(TypingError, f"{what} takes (shape, dtype, align=None)", node)
        shape_e = self.expr(got["shape"])
        items = shape_e.items if isinstance(shape_e, tir.MakeTuple) else [shape_e]
        if not all(isinstance(i, tir.Const) and isinstance(i.value, int) and not isinstance(i.value, bool)
                   for i in items):
            raise self.err(TypingError, f"the shape of {what} must be a constant int or tuple of ints",
                           got["shape"], "use literals, module-level constants or jk.constexpr parameters")
        shape = tuple(i.value for i in items)
        dynamic = space == "shared" and shape == (0,)
        if not dynamic and (not shape or min(shape) < 1):
            raise self.err(TypingError, f"{what} needs positive extents, got {shape}", got["shape"],
                           "jk.shared.array(0, dtype) is the dynamic shared array sized by the launch"
                           if space == "shared" else None)
        dtype = self._dtype_arg(got["dtype"], what)
        align = dtype.itemsize
        if "align" in got:
            a = self.expr(got["align"])
            if not (isinstance(a, tir.Const) and isinstance(a.value, int) and not isinstance(a.value, bool)) or \
                    a.value < 1 or a.value & (a.value - 1) or a.value > 256:
                raise self.err(TypingError, f"align of {what} must be a constant power of two up to 256",
                               got["align"])
            align = max(align, a.value)
        if dynamic:
            return tir.AllocArray(T.Array(dtype, 1, "C"), self.loc(node), "dynamic", None, max(align, 16))
        nbytes = int(np.prod(shape)) * dtype.itemsize
        if space == "shared" and nbytes > 48 * 1024:
            raise self.err(TypingError, f"static shared array of {nbytes} bytes exceeds the 48 KiB limit", node,
                           "use the dynamic shared array, jk.shared.array(0, dtype), sized by the launch's "
                           "shared_bytes (up to the device's opt-in limit)")
        return tir.AllocArray(T.Array(dtype, len(shape), "C", shape), self.loc(node), space, shape, align)

    def _dtype_arg(self, node, what) -> T.Scalar:
        dt = self.expr(node)
        if isinstance(dt, Static):
            v = dt.value
            if isinstance(v, T.Scalar):
                return v
            try:
                return T.scalar_from_dtype(v)
            except TypeError:
                pass
        raise self.err(TypingError, f"the dtype of {what} must be a jitkit or numpy scalar type", node,
                       "e.g. jk.float32 or np.int32")

    def call_jit(self, node, disp):
        pyfunc = disp.py_func
        loc = self.loc(node)
        if pyfunc in self.unit.stack:
            chain = " -> ".join(f.__qualname__ for f in self.unit.stack[self.unit.stack.index(pyfunc):])
            raise self.err(UnsupportedError, f"recursive call: {chain} -> {pyfunc.__qualname__}", node,
                           "GPU kernels here cannot recurse; rewrite it as a loop")
        sig = inspect.signature(pyfunc)
        args = [self.expr(a) for a in node.args]
        kwargs = {k.arg: self.expr(k.value) for k in node.keywords}
        try:
            bound = sig.bind(*args, **kwargs)
        except TypeError as exc:
            raise self.err(TypingError, f"bad call of {pyfunc.__qualname__}(): {exc}", node) from None
        cx = I.constexpr_params(pyfunc)
        final, argtypes = [], []
        for name, param in sig.parameters.items():
            if name in bound.arguments:
                a = bound.arguments[name]
            else:
                a = self.static_value(param.default, node, name)
            if isinstance(a, tir.Const) and isinstance(a.type, T.NoneType):
                a = Static(None)                      # a literal None argument is a compile-time value
            value = _compile_time_value(a)
            if name in cx or isinstance(a, Static):  # compile-time: part of the callee's types
                if value is MISSING:
                    raise self.err(TypingError, f"argument {name!r} of {pyfunc.__qualname__}() is jk.constexpr: "
                                   "pass a compile-time constant", node)
                try:
                    argtypes.append(T.Literal.of(value))
                except TypeError as exc:
                    raise self.err(TypingError, f"argument {name!r} of {pyfunc.__qualname__}(): {exc}", node) \
                        from None
                continue
            if isinstance(a.type, T.NoneType):
                raise self.err(TypingError, f"{pyfunc.__qualname__}() argument must be a number, tuple or array",
                               node)
            final.append(a)
            argtypes.append(a.type)
        argtypes = tuple(argtypes)
        try:
            func = type_function(self.unit, pyfunc, argtypes)
        except CompileError as exc:
            exc.add_call_site(loc)
            raise
        if func not in self.callees:
            self.callees.append(func)
        for (pname, _), a in zip(func.runtime_params, final):
            if pname in func.written_params:
                self._note_write(a)
        return tir.Call(func.return_type, loc, func, final)

    # ------------------------------------------------------------- writes
    def _roots(self, e) -> set:
        """The array parameters an array-typed expression may alias."""
        if isinstance(e, tir.Var):
            return self.aliases.get(e.name, {e.name} if e.name in self.params else set())
        if isinstance(e, (tir.SubArray, tir.Cast)):
            return self._roots(e.array if isinstance(e, tir.SubArray) else e.value)
        if isinstance(e, tir.IfExp):
            return self._roots(e.then) | self._roots(e.orelse)
        return {n for n, t in zip(self.params, self.argtypes) if isinstance(t, (T.Array, T.Tuple))}

    def _note_write(self, arr):
        if isinstance(arr.type, T.Array):
            self.written.update(self._roots(arr))
