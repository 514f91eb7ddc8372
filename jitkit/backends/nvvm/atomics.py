"""Lowering of atomics: ``jk.atomic.<op>(array, index, ...)`` as LLVM atomics, NVVM intrinsics or CAS loops.

Integer add/sub/min/max/exch/and/or/xor/cas are single ``atomicrmw``/``cmpxchg`` instructions;
float add/sub use NVVM's ``atomic.load.add``; float min/max (Python's NaN rule) and 64-bit or
signed inc/dec are compare-and-swap loops; float16/bfloat16 add updates its aligned 32-bit word.
All are relaxed (``monotonic``); ``load`` reads past the caches.
"""

from __future__ import annotations

from llvmlite import ir

from ...lang import types as T
from ...compiler import tir
from .scalars import I32, I64, bf16_to_f32, f32_to_bf16, value_type

__all__ = ["AtomicLowering"]


class AtomicLowering:
    """Atomics (a mixin of :class:`~.function.FunctionLowering`)."""

    _RMW = {"add": "add", "sub": "sub", "exch": "xchg", "and_": "and", "or_": "or", "xor": "xor"}

    def expr_Atomic(self, e: tir.Atomic):
        b = self.b
        ptr = self.element_ptr(e.array, e.indices, e)
        vals = [self.expr(v) for v in e.values]
        ty = e.type
        if e.op == "load":     # NVVM emits ld.volatile.global: past L1, coherent with other SMs' atomics
            return b.load_atomic(ptr, "monotonic", ty.itemsize)
        if ty.bits == 16 and ty.is_float:  # typing allows only add: a compare-and-swap loop on the aligned
            # 32-bit word (PTX atom.add.noftz.f16 makes nvJitLink crash when line info is on)
            return self._half_add(ptr, vals[0], ty)
        if ty.is_float:
            ity = ir.IntType(ty.bits)
            iptr = b.bitcast(ptr, ity.as_pointer())
            if e.op in ("add", "sub"):  # LLVM 7 has no atomicrmw fadd: NVVM's own intrinsic
                v = vals[0] if e.op == "add" else b.fsub(ir.Constant(vals[0].type, -0.0), vals[0])
                sfx = "f32.p0f32" if ty.bits == 32 else "f64.p0f64"
                fn = self.ml.declare(f"llvm.nvvm.atomic.load.add.{sfx}", v.type, [ptr.type, v.type])
                return b.call(fn, [ptr, v])
            if e.op == "exch":
                return b.bitcast(b.atomic_rmw("xchg", iptr, b.bitcast(vals[0], ity), "monotonic"), vals[0].type)
            v = vals[0]
            op = "lt" if e.op == "min" else "gt"   # Python semantics: NaN in memory or value never replaces
            return self._cas_loop(iptr, ty, lambda old: b.select(self.compare(op, v, old, ty), v, old))
        if e.op == "cas":
            pair = b.cmpxchg(ptr, vals[0], vals[1], "monotonic", "monotonic")
            return b.extract_value(pair, 0)
        if e.op in ("inc", "dec"):
            v = vals[0]
            if ty is T.uint32:  # the hardware's atom.inc / atom.dec
                fn = self.ml.declare(f"llvm.nvvm.atomic.load.{e.op}.32.p0i32", I32, [ptr.type, I32])
                return b.call(fn, [ptr, v])
            zero, one = ir.Constant(v.type, 0), ir.Constant(v.type, 1)
            if e.op == "inc":
                return self._cas_loop(ptr, ty, lambda old: b.select(self.compare("ge", old, v, ty), zero,
                                                                     b.add(old, one)))
            return self._cas_loop(ptr, ty, lambda old: b.select(
                b.or_(self.compare("eq", old, zero, ty), self.compare("gt", old, v, ty)), v, b.sub(old, one)))
        if e.op in ("min", "max"):
            op = ("" if ty.is_signed else "u") + e.op
            return b.atomic_rmw(op, ptr, vals[0], "monotonic")
        return b.atomic_rmw(self._RMW[e.op], ptr, vals[0], "monotonic")

    def _half_add(self, ptr, v, ty: T.Scalar):
        """Atomic add on a float16 or bfloat16 element (bfloat16: the float32 sum rounded once)."""
        b = self.b
        i16 = ir.IntType(16)
        addr = b.ptrtoint(ptr, I64)
        word = b.inttoptr(b.and_(addr, ir.Constant(I64, ~3)), I32.as_pointer())
        shift = b.trunc(b.shl(b.and_(addr, ir.Constant(I64, 2)), ir.Constant(I64, 3)), I32)
        mask = b.shl(ir.Constant(I32, 0xFFFF), shift)

        def bits_add(old):
            if ty.is_bf16:
                return f32_to_bf16(b, b.fadd(bf16_to_f32(b, old), bf16_to_f32(b, v)))
            return b.bitcast(b.fadd(b.bitcast(old, ir.HalfType()), v), i16)

        def update(cur):
            new = b.zext(bits_add(b.trunc(b.lshr(cur, shift), i16)), I32)
            return b.or_(b.and_(cur, b.xor(mask, ir.Constant(I32, -1))), b.shl(new, shift))
        old = b.trunc(b.lshr(self._cas_loop(word, T.uint32, update), shift), i16)
        return old if ty.is_bf16 else b.bitcast(old, ir.HalfType())

    def _cas_loop(self, iptr, ty: T.Scalar, update):
        """Atomically replace the element at ``iptr`` (integer-typed) by ``update(old)``; returns old.
        ``update`` receives and returns values of ``ty``'s register type."""
        b = self.b
        ity = iptr.type.pointee
        vty = value_type(ty)
        start = b.load(iptr, align=ty.itemsize)
        entry = b.block
        loop, done = self.new_block("atomic.loop"), self.new_block("atomic.done")
        b.branch(loop)
        b.position_at_end(loop)
        cur = b.phi(ity)
        cur.add_incoming(start, entry)
        old = b.bitcast(cur, vty) if vty != ity else cur
        new = update(old)
        pair = b.cmpxchg(iptr, cur, b.bitcast(new, ity) if vty != ity else new, "monotonic", "monotonic")
        seen, ok = b.extract_value(pair, 0), b.extract_value(pair, 1)
        cur.add_incoming(seen, b.block)
        b.cbranch(ok, done, loop)
        b.position_at_end(done)
        return old
