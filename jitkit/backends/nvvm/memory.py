"""Lowering of array memory: element addresses (with debug bounds checks), loads and stores, views,
array attributes, and shared, local and dynamic shared allocations.

An array value is ``{data pointer, [extents], [byte strides]}``; a C- or F-contiguous array
indexes by extents, any other by byte strides.  Negative indices count from the end (Python)
unless the index is a non-negative constant.  bool elements are bytes; float16 elements move
as i16 (see :func:`~.scalars.half_bits`).
"""

from __future__ import annotations

from llvmlite import ir

from ...lang import types as T
from ...compiler import tir
from .scalars import I8, I16, I32, I64, as_i16, half_bits, memory_type, value_type

__all__ = ["MemoryLowering"]


class MemoryLowering:
    """Array memory (a mixin of :class:`~.function.FunctionLowering`)."""

    def stmt_Store(self, s: tir.Store):
        ptr = self.element_ptr(s.array, s.indices, s)
        v = self.expr(s.value)
        dt = s.array.type.dtype
        if dt.is_bool:
            v = self.b.zext(v, I8)
        elif isinstance(v.type, ir.HalfType):   # see half_bits
            ptr, v = as_i16(self.b, ptr), half_bits(self.b, v, I16)
        self.b.store(v, ptr, align=dt.itemsize)

    def expr_Load(self, e: tir.Load):
        ptr = self.element_ptr(e.array, e.indices, e)
        if isinstance(ptr.type.pointee, ir.HalfType):
            ptr = as_i16(self.b, ptr)
        return self.from_memory(self.b.load(ptr, align=e.type.itemsize), e.type)

    def from_memory(self, v, ty: T.Scalar):
        """An element as loaded (bool as i8, float16 as i16: see half_bits) as a register value."""
        if ty.is_bool:
            return self.b.icmp_unsigned("!=", v, ir.Constant(v.type, 0))
        if ty.bits == 16 and ty.is_float and not ty.is_bf16:
            return half_bits(self.b, v, ir.HalfType())
        return v

    def expr_SubArray(self, e: tir.SubArray):
        b = self.b
        arr = self.expr(e.array)
        aty = e.array.type
        off, _ = self._byte_offset(arr, aty, e.indices, e)
        data = b.extract_value(arr, 0)
        base = b.gep(b.bitcast(data, I8.as_pointer()), [off], inbounds=True)
        out = ir.Constant(value_type(e.type), ir.Undefined)
        out = b.insert_value(out, b.bitcast(base, data.type), 0)
        k = len(e.indices)
        for d in range(e.type.ndim):
            out = b.insert_value(out, b.extract_value(arr, [1, k + d]), [1, d])
            out = b.insert_value(out, b.extract_value(arr, [2, k + d]), [2, d])
        return out

    def expr_ArrayAttr(self, e: tir.ArrayAttr):
        arr = self.expr(e.array)
        if e.attr == "size":
            acc = ir.Constant(I64, 1)
            for d in range(e.array.type.ndim):
                acc = self.b.mul(acc, self.b.extract_value(arr, [1, d]))
            return acc
        return self.b.extract_value(arr, [1 if e.attr == "shape" else 2, e.dim])

    def expr_AllocArray(self, e: tir.AllocArray):
        b = self.b
        ty = e.type
        memty = memory_type(ty.dtype)
        if e.space == "dynamic":
            return self._dynamic_shared(e, memty)
        n = 1
        for d in e.shape:
            n *= d
        arrty = ir.ArrayType(memty, n)
        if e.space == "shared":  # one static allocation per block, in the shared address space
            g = ir.GlobalVariable(self.ml.module, arrty, self.ml.unique_name("__shared"), addrspace=3)
            g.linkage = "internal"
            g.initializer = ir.Constant(arrty, ir.Undefined)
            g.align = max(16, e.align)
            data = b.addrspacecast(b.gep(g, [ir.Constant(I32, 0), ir.Constant(I32, 0)]), memty.as_pointer())
        else:  # per thread: a stack array in the entry block (registers when indices are constant)
            slot = self._alloca(arrty, "local")
            slot.align = e.align
            data = b.gep(slot, [ir.Constant(I32, 0), ir.Constant(I32, 0)])
        strides, stride = [], ty.dtype.itemsize
        for d in reversed(e.shape):
            strides.append(stride)
            stride *= d
        return self._array_value(ty, data, [ir.Constant(I64, d) for d in e.shape],
                                 [ir.Constant(I64, st) for st in reversed(strides)])

    def _array_value(self, ty: T.Array, data, shape: list, strides: list):
        b = self.b
        agg = ir.Constant(value_type(ty), ir.Undefined)
        agg = b.insert_value(agg, data, 0)
        for k, (extent, st) in enumerate(zip(shape, strides)):
            agg = b.insert_value(agg, extent, [1, k])
            agg = b.insert_value(agg, st, [2, k])
        return agg

    def _dynamic_shared(self, e: tir.AllocArray, memty):
        """The launch's dynamic shared memory: one extern array that every dynamic array aliases."""
        b = self.b
        m = self.ml.module
        g = m.globals.get("__jitkit_dynamic_shared")
        if g is None:
            g = ir.GlobalVariable(m, ir.ArrayType(I8, 0), "__jitkit_dynamic_shared", addrspace=3)
            g.linkage = "external"
            g.align = 16
        g.align = max(g.align, e.align)
        data = b.addrspacecast(b.bitcast(g, memty.as_pointer(3)), memty.as_pointer())
        size = ir.InlineAsm(ir.FunctionType(I32, []), "mov.u32 $0, %dynamic_smem_size;", "=r")
        n = b.udiv(b.zext(b.call(size, []), I64), ir.Constant(I64, e.type.dtype.itemsize))
        return self._array_value(e.type, data, [n], [ir.Constant(I64, e.type.dtype.itemsize)])

    def _index(self, v, ty: T.Scalar, extent, wrap: bool):
        """An index as i64; negative signed indices count from the end (Python)."""
        b = self.b
        if ty.is_bool or ty.kind == "u":
            return b.zext(v, I64) if v.type.width < 64 else v
        i = b.sext(v, I64) if v.type.width < 64 else v
        if not wrap:
            return i
        neg = b.icmp_signed("<", i, ir.Constant(I64, 0))
        return b.select(neg, b.add(i, extent), i)

    def _indices(self, arr, indices, node=None):
        """The i64 indices (negative ones wrapped); in debug mode each is bounds-checked against its
        extent (a failure is reported, and the index clamped to 0).  Returns (indices, all_ok or None)."""
        b = self.b
        out, all_ok = [], None
        for d, ix in enumerate(indices):
            wrap = not (isinstance(ix, tir.Const) and ix.value >= 0)
            extent = b.extract_value(arr, [1, d])
            raw = self.expr(ix)
            i = self._index(raw, ix.type, extent, wrap)
            if self.ml.debug and node is not None:
                ok = b.icmp_unsigned("<", i, extent)
                shown = i if ix.type.is_bool or ix.type.kind == "u" else \
                    (b.sext(raw, I64) if raw.type.width < 64 else raw)
                self._check(ok, "index", node.loc, None, [shown, extent, ir.Constant(I64, d)])
                i = b.select(ok, i, ir.Constant(I64, 0))
                all_ok = ok if all_ok is None else b.and_(all_ok, ok)
            out.append(i)
        return out, all_ok

    def _byte_offset(self, arr, aty: T.Array, indices, node=None):
        b = self.b
        off = ir.Constant(I64, 0)
        idx, ok = self._indices(arr, indices, node)
        for d, i in enumerate(idx):
            off = b.add(off, b.mul(i, b.extract_value(arr, [2, d])))
        return off, ok

    def element_ptr(self, array: tir.Expr, indices, node=None) -> ir.Value:
        """Address of ``array[indices]``; with debug checks (``node`` given) a failed access goes to a
        scratch word instead of out of bounds."""
        b = self.b
        arr = self.expr(array)
        aty = array.type
        data = b.extract_value(arr, 0)
        if aty.layout == "A":
            off, ok = self._byte_offset(arr, aty, indices, node)
            ptr = b.bitcast(b.gep(b.bitcast(data, I8.as_pointer()), [off], inbounds=True), data.type)
        else:
            idx, ok = self._indices(arr, indices, node)
            dims = range(aty.ndim) if aty.layout == "C" else range(aty.ndim - 1, -1, -1)
            lin = None
            for d in dims:
                lin = idx[d] if lin is None else b.add(b.mul(lin, b.extract_value(arr, [1, d])), idx[d])
            ptr = b.gep(data, [lin], inbounds=True)
        if ok is not None:
            ptr = b.select(ok, ptr, self.ml.scratch(b, ptr.type))
        return ptr
