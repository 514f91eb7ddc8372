"""Typing of statements: assignments (and the variable types they unify), control flow, returns.

:class:`StatementTyping` is the part of :class:`~.typer.FunctionTyper` that turns statement nodes
into typed-tree statements; ``block`` dispatches on the node type (``stmt_<Name>``), and a statement
not in the table is an :class:`UnsupportedError` with a hint.  A ``for`` loop iterates over
``range`` only; an ``if`` on a compile-time condition compiles the taken branch alone.
"""

from __future__ import annotations

import ast

from ...lang import types as T
from ...lang.errors import CompileError, TypingError, UnsupportedError
from . import operators as O
from .. import tir
from .values import MISSING, Deferred, Static, compile_time_value, unify

__all__ = ["StatementTyping", "always_returns"]


def always_returns(stmts) -> bool:
    """Whether a typed statement list ends in a return on every path."""
    if not stmts:
        return False
    last = stmts[-1]
    if isinstance(last, tir.Return):
        return True
    if isinstance(last, tir.If):
        return always_returns(last.body) and always_returns(last.orelse)
    return False


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


class StatementTyping:
    """Statement typing (a mixin of :class:`~.typer.FunctionTyper`)."""

    def block(self, stmts) -> list:
        out = []
        for s in stmts:
            method = getattr(self, "stmt_" + type(s).__name__, None)
            if method is None:
                raise self.err(UnsupportedError, f"{type(s).__name__.lower()} statements are not supported "
                               "in kernels", s, _UNSUPPORTED_STMT_HINTS.get(type(s)))
            try:
                r = method(s)
            except Deferred:
                self.deferred = True
                continue
            if isinstance(r, list):
                out.extend(r)
            elif r is not None:
                out.append(r)
            if out and always_returns(out):
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
                    compile_time_value(value) is not MISSING:
                self.const_locals[target.id] = value
                return True
            return False
        if isinstance(target, ast.Tuple) and isinstance(value, tir.MakeTuple) and \
                len(target.elts) == len(value.items) and \
                all(isinstance(t, ast.Name) and t.id in self._once for t in target.elts) and \
                all(compile_time_value(v) is not MISSING for v in value.items):
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
        except Deferred:
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

