"""Typing of array operations: subscripts, array attributes, atomics, vector access, allocations.

:class:`ArrayTyping` is the part of :class:`~.typer.FunctionTyper` for everything that reads or
writes array memory.  It also tracks which array parameters a function may write (through any
alias), which the runtime uses to copy back only written host arrays.
"""

from __future__ import annotations

import ast

import numpy as np

from ...lang import types as T
from ...lang.errors import TypingError, UnsupportedError
from .. import tir
from .values import Static, compile_time_value

__all__ = ["ArrayTyping"]


class ArrayTyping:
    """Array typing (a mixin of :class:`~.typer.FunctionTyper`)."""

    def array_attr(self, node, base: tir.Expr, attr: str):
        """``a.shape``, ``a.size``, ``a.strides``, ``a.ndim``, ``a.itemsize``, ``a.dtype`` of an array
        (compile-time where the shape is static), or None for another attribute."""
        ty = base.type
        loc = self.loc(node)
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
        return None

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
        n = compile_time_value(self.expr(node.args[2]))
        dt = arr.type.dtype
        loc = self.loc(node)
        if not load:
            if not (isinstance(n, int) and n > 0 and n & (n - 1) == 0):
                raise self.err(TypingError, f"{what} needs a compile-time power of two of bytes", node.args[2])
            return tir.op("array.is_aligned", loc, [arr, self.convert(i, T.int64, node), self.const(n, node)])
        if n not in (2, 4) or n * dt.itemsize > 16 or dt.is_complex:
            raise self.err(TypingError, f"{what} loads 2 or 4 real scalars of at most 16 bytes in all, got "
                           f"{n!r} x {dt}", node.args[2])
        return tir.op("array.vector_load", loc, [arr, self.convert(i, T.int64, node)], T.Tuple((dt,) * n))

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
        return tir.op("array.vector_store", self.loc(node), [arr, self.convert(i, T.int64, node), v])


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
