"""Typing of calls: dispatch on the callee, jit functions, foreign and inline-PTX code, print and friends.

:class:`CallTyping` is the part of :class:`~.typer.FunctionTyper` that types ``f(...)``.  The
callee is a compile-time object: a ``@jit`` function (typed for the argument types, recursively),
a ``jk.declare_device`` declaration, one of the calls with their own syntax here (``print``,
``jk.asm``, ``isinstance``, ``jk.bitcast``, ``jk.static_assert``, allocations, vector access,
atomics) or an entry of the builtins table (:mod:`.builtins`); anything else is a located error.
"""

from __future__ import annotations

import ast
import inspect

import numpy as np

from ...lang import intrinsics as I
from ...lang import types as T
from ...lang.errors import CompileError, TypingError, UnsupportedError
from ...lang.declarations import DeviceDeclaration
from . import builtins as B
from .. import tir
from .values import MISSING, BoundMethod, Static, compile_time_value

__all__ = ["CallTyping", "is_dispatcher"]


def is_dispatcher(obj) -> bool:
    return I.is_kernel(obj)


class CallTyping:
    """Call typing (a mixin of :class:`~.typer.FunctionTyper`)."""

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
        if isinstance(target, BoundMethod):
            if node.args or node.keywords:
                raise self.err(TypingError, f"{target.name}() takes no arguments", node)
            z = target.value
            return tir.op("complex.conj", self.loc(node), [z]) if z.type.is_complex else z
        if getattr(target, "name", "").startswith("atomic.") and isinstance(target, I.Intrinsic):
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
            v = a.value if isinstance(a, ast.Constant) else compile_time_value(self.expr(a))
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
        cls = compile_time_value(self.expr(node.args[1]))
        classes = cls if isinstance(cls, tuple) else (cls,)
        tests = [self._ISINSTANCE.get(c) if isinstance(c, type) else None for c in classes]
        if None in tests:
            raise self.err(TypingError, "isinstance() inside kernels takes jk.Array, jk.Tuple, tuple, jk.Scalar, "
                           "bool, int, float, complex or np.integer/np.signedinteger/np.unsignedinteger/np.floating",
                           node.args[1])
        return self.const(any(t(x.type) for t in tests), node)


    def static_assert_call(self, node):
        if len(node.args) != 2 or node.keywords:
            raise self.err(TypingError, "jitkit.static_assert() takes (condition, message)", node)
        cond = self.expr(node.args[0])
        msg = compile_time_value(self.expr(node.args[1]))
        if not isinstance(msg, str):
            raise self.err(TypingError, "the message of jitkit.static_assert() must be a compile-time string",
                           node.args[1])
        value = compile_time_value(cond)
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
        return tir.op("bitcast", self.loc(node), [x], dst)

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
            value = compile_time_value(a)
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
            func = self.type_callee(pyfunc, argtypes)
        except CompileError as exc:
            exc.add_call_site(loc)
            raise
        if func not in self.callees:
            self.callees.append(func)
        for (pname, _), a in zip(func.runtime_params, final):
            if pname in func.written_params:
                self._note_write(a)
        return tir.Call(func.return_type, loc, func, final)

