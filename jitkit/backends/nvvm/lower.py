"""Lowering: typed tree -> NVVM IR with ``llvmlite.ir``.

The IR dialect is the one every libNVVM 13 target accepts (see TOOLCHAIN.md):
typed pointers, the long datalayout, ``nvvmir.version`` 2.0, kernels listed in
``nvvm.annotations`` and ``@llvm.used``.  Locals live in allocas at the entry
block (libNVVM's mem2reg turns them into registers).  Intrinsic ``Op`` nodes
are lowered through the table in :mod:`.nvvm_ops`.
"""

from __future__ import annotations

from llvmlite import ir

from ...lang import types as T
from ...lang import abi
from . import ops as nvvm_ops
from ...compiler import tir
from .ops import memory_type, value_type

TRIPLE = "nvptx64-nvidia-cuda"
ERROR_SYMBOL = "__jitkit_error"     # the debug-mode error record (see ModuleLowering.fail_function)
ERROR_WORDS = 11
DATALAYOUT = ("e-p:64:64:64-i1:8:8-i8:8:8-i16:16:16-i32:32:32-i64:64:64-i128:128:128-f32:32:32-f64:64:64"
              "-v16:16:16-v32:32:32-v64:64:64-v128:128:128-n16:32:64")
NVVMIR_VERSION = (2, 0, 3, 2)

I1, I8, I16, I32, I64 = ir.IntType(1), ir.IntType(8), ir.IntType(16), ir.IntType(32), ir.IntType(64)


class ModuleLowering:
    """Builds one NVVM IR module holding a kernel and every function it calls."""

    def __init__(self, name: str, options: dict | None = None, block: tuple | None = None):
        self.module = ir.Module(name)
        self.module.triple = TRIPLE
        self.module.data_layout = DATALAYOUT
        self.functions: dict = {}   # tir.Function -> ir.Function
        self.declared: dict = {}    # external / helper name -> ir.Function
        self.block = tuple(block) if block is not None else None   # the one block shape it was specialised for
        options = options or {}
        self.debug = bool(options.get("debug"))
        self.lineinfo = self.debug or bool(options.get("lineinfo"))
        self.sites: list = []       # debug check sites: (kind, Loc, message); the index is reported
        self._di_files: dict = {}
        self._di_cu = None
        self._strings: dict = {}    # text -> constant global (print formats)

    # ------------------------------------------------------------- line info
    def _di_file(self, filename: str):
        f = self._di_files.get(filename)
        if f is None:
            import os
            f = self._di_files[filename] = self.module.add_debug_info(
                "DIFile", {"filename": os.path.basename(filename), "directory": os.path.dirname(filename)})
        return f

    def subprogram(self, fn: ir.Function, func: tir.Function):
        """Attach a DISubprogram to ``fn`` (lineinfo): line tables map SASS back to the Python source."""
        m = self.module
        file = self._di_file(func.loc.filename)
        if self._di_cu is None:
            self._di_cu = m.add_debug_info("DICompileUnit", {
                "language": ir.DIToken("DW_LANG_Python"), "file": file, "producer": "jitkit",
                "runtimeVersion": 0, "isOptimized": True,
                "emissionKind": ir.DIToken("LineTablesOnly")}, is_distinct=True)
            m.add_named_metadata("llvm.dbg.cu").add(self._di_cu)
            flags = m.add_named_metadata("llvm.module.flags")
            flags.add(m.add_metadata([ir.Constant(I32, 2), ir.MetaDataString(m, "Dwarf Version"), ir.Constant(I32, 4)]))
            flags.add(m.add_metadata([ir.Constant(I32, 2), ir.MetaDataString(m, "Debug Info Version"),
                                      ir.Constant(I32, 3)]))
        sp = m.add_debug_info("DISubprogram", {
            "name": func.qualname, "file": file, "line": func.loc.line, "scopeLine": func.loc.line,
            "type": m.add_debug_info("DISubroutineType", {"types": m.add_metadata([])}),
            "isLocal": False, "isDefinition": True, "isOptimized": True, "unit": self._di_cu}, is_distinct=True)
        fn.set_metadata("dbg", sp)
        return sp

    def location(self, sp, loc):
        return self.module.add_debug_info("DILocation", {"line": loc.line, "column": loc.col + 1, "scope": sp})

    # ------------------------------------------------------------- debug checks
    def site(self, kind: str, loc, message: str | None = None) -> int:
        self.sites.append((kind, loc, message))
        return len(self.sites)      # 0 means "no error"

    def _global(self, name: str, n: int, linkage: str = "internal"):
        g = self.module.globals.get(name)
        if g is None:
            ty = ir.ArrayType(I64, n)
            g = ir.GlobalVariable(self.module, ty, name, addrspace=1)
            g.linkage = linkage
            g.initializer = ir.Constant(ty, None)
            g.align = 8
        return g

    def cstring(self, b: ir.IRBuilder, text: str):
        """A generic ``i8*`` to a NUL-terminated constant string (one global per distinct text)."""
        g = self._strings.get(text)
        if g is None:
            data = bytearray(text.encode()) + b"\0"
            ty = ir.ArrayType(I8, len(data))
            g = ir.GlobalVariable(self.module, ty, self.unique_name("__str"), addrspace=4)
            g.linkage = "internal"
            g.global_constant = True
            g.initializer = ir.Constant(ty, data)
            self._strings[text] = g
        return b.addrspacecast(b.gep(g, [ir.Constant(I32, 0), ir.Constant(I32, 0)]), I8.as_pointer())

    def scratch(self, b: ir.IRBuilder, elem_ptr_type):
        """A harmless global target for an access that failed its bounds check."""
        g = self._global("__jitkit_scratch", 4)
        return b.bitcast(b.addrspacecast(g, g.type.pointee.as_pointer()), elem_ptr_type)

    def fail_function(self) -> ir.Function:
        """``__jitkit_fail(site, index, extent, dim)``: the first failing thread records where and who.

        Layout of ``__jitkit_error`` (int64): flag, site, index, extent, dim, tid.xyz, ctaid.xyz
        (read and cleared by the host after a debug launch)."""
        fn = self.declared.get("__jitkit_fail")
        if fn is not None:
            return fn
        fn = self.declare("__jitkit_fail", ir.VoidType(), [I64, I64, I64, I64])
        fn.linkage = "internal"
        g = self._global(ERROR_SYMBOL, ERROR_WORDS, "")   # default linkage: visible to cuModuleGetGlobal
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        words = b.addrspacecast(g, g.type.pointee.as_pointer())

        def word(k):
            return b.gep(words, [ir.Constant(I32, 0), ir.Constant(I32, k)])
        first = b.extract_value(b.cmpxchg(word(0), ir.Constant(I64, 0), ir.Constant(I64, 1), "monotonic",
                                          "monotonic"), 1)
        record, done = fn.append_basic_block("record"), fn.append_basic_block("done")
        b.cbranch(first, record, done)
        b.position_at_end(record)
        for k, v in enumerate(fn.args, start=1):
            b.store(v, word(k))
        for k, reg in enumerate(("tid.x", "tid.y", "tid.z", "ctaid.x", "ctaid.y", "ctaid.z"), start=5):
            r = b.call(self.declare(f"llvm.nvvm.read.ptx.sreg.{reg}", I32, []), [])
            b.store(b.zext(r, I64), word(k))
        b.call(self.declare("llvm.nvvm.membar.gl", ir.VoidType(), []), [])
        b.branch(done)
        b.position_at_end(done)
        b.ret_void()
        return fn

    def unique_name(self, base: str) -> str:
        self._counter = getattr(self, "_counter", 0) + 1
        return f"{base}_{self._counter}"

    def declare(self, name: str, ret: ir.Type, args: list) -> ir.Function:
        fn = self.declared.get(name)
        if fn is None:
            fn = self.declared[name] = ir.Function(self.module, ir.FunctionType(ret, args), name)
        return fn

    def device_function(self, func: tir.Function) -> ir.Function:
        fn = self.functions.get(func)
        if fn is not None:
            return fn
        fnty = ir.FunctionType(value_type(func.return_type), [value_type(t) for _, t in func.runtime_params])
        fn = ir.Function(self.module, fnty, func.name)
        fn.linkage = "internal"
        self.functions[func] = fn
        builder = ir.IRBuilder(fn.append_basic_block("entry"))
        FunctionLowering(self, func, builder, self.subprogram(fn, func) if self.lineinfo else None).lower(list(fn.args))
        return fn

    def kernel(self, func: tir.Function) -> ir.Function:
        flat = [t for _, ty in func.runtime_params for t in _flat_param_types(ty)]
        fn = ir.Function(self.module, ir.FunctionType(ir.VoidType(), flat), func.name)
        builder = ir.IRBuilder(fn.append_basic_block("entry"))
        args = iter(fn.args)
        values = [_unflatten(builder, ty, args) for _, ty in func.runtime_params]
        FunctionLowering(self, func, builder, self.subprogram(fn, func) if self.lineinfo else None).lower(values)
        self._mark_kernel(fn)
        return fn

    def _mark_kernel(self, fn: ir.Function) -> None:
        m = self.module
        ann = m.add_named_metadata("nvvm.annotations")
        ann.add(m.add_metadata([fn, ir.MetaDataString(m, "kernel"), ir.Constant(I32, 1)]))
        if self.block is not None:   # compiled for one block shape: registers budgeted for it (CUB's launch bounds)
            for axis, n in zip("xyz", self.block):
                ann.add(m.add_metadata([fn, ir.MetaDataString(m, "reqntid" + axis), ir.Constant(I32, n)]))
        self._version()
        # nvJitLink -lto drops kernels not listed in @llvm.used (TOOLCHAIN.md)
        i8p = I8.as_pointer()
        used = ir.GlobalVariable(m, ir.ArrayType(i8p, 1), "llvm.used")
        used.linkage = "appending"
        used.section = "llvm.metadata"
        used.initializer = ir.Constant.literal_array([fn.bitcast(i8p)])

    def _version(self) -> None:
        m = self.module
        if "nvvmir.version" not in m.namedmetadata:
            m.add_named_metadata("nvvmir.version").add(
                m.add_metadata([ir.Constant(I32, v) for v in NVVMIR_VERSION]))

    def export(self, func: tir.Function, name: str) -> ir.Function:
        """An externally visible C-ABI entry ``name`` for device function ``func`` (scalars only)."""
        if func.name == name:
            func.name = f"{name}__jitkit_impl"
        inner = self.device_function(func)
        fn = ir.Function(self.module, inner.function_type, name)
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        r = b.call(inner, list(fn.args))
        if isinstance(func.return_type, T.NoneType):
            b.ret_void()
        else:
            b.ret(r)
        self._version()
        return fn


def _flat_param_types(ty: T.Type) -> list:
    """LLVM types of the flat kernel parameters of one argument (see :mod:`.abi`)."""
    if isinstance(ty, T.Tuple):
        return [t for item in ty.types for t in _flat_param_types(item)]
    slots = abi.param_slots(ty)
    if isinstance(ty, T.Array):
        return [memory_type(ty.dtype).as_pointer()] + [I64] * (len(slots) - 1)
    return [memory_type(s) for s in slots]


def _unflatten(b: ir.IRBuilder, ty: T.Type, args) -> ir.Value:
    """Rebuild the register value of one argument from its flat kernel parameters."""
    if isinstance(ty, T.Scalar):
        v = next(args)
        if ty.is_complex:
            return nvvm_ops.make_complex(b, ty, v, next(args))
        return b.icmp_unsigned("!=", v, ir.Constant(I8, 0)) if ty.is_bool else v
    if isinstance(ty, T.Tuple):
        agg = ir.Constant(value_type(ty), ir.Undefined)
        for i, t in enumerate(ty.types):
            agg = b.insert_value(agg, _unflatten(b, t, args), i)
        return agg
    data = next(args)
    shape = [next(args) for _ in range(ty.ndim)]
    if ty.layout == "A":
        strides = [next(args) for _ in range(ty.ndim)]
    else:  # contiguous: derive byte strides from the extents
        strides = [None] * ty.ndim
        acc = ir.Constant(I64, ty.dtype.itemsize)
        order = range(ty.ndim - 1, -1, -1) if ty.layout == "C" else range(ty.ndim)
        for d in order:
            strides[d] = acc
            acc = b.mul(acc, shape[d])
    agg = ir.Constant(value_type(ty), ir.Undefined)
    agg = b.insert_value(agg, data, 0)
    for d in range(ty.ndim):
        agg = b.insert_value(agg, shape[d], [1, d])
        agg = b.insert_value(agg, strides[d], [2, d])
    return agg


class FunctionLowering:
    """Lowers one typed function body into an LLVM function."""

    def __init__(self, ml: ModuleLowering, func: tir.Function, builder: ir.IRBuilder, subprogram=None):
        self.ml = ml
        self.func = func
        self.b = builder
        self.sp = subprogram
        self.slots: dict = {}
        self.loops: list = []   # (continue_block, break_block)

    # ------------------------------------------------------------- structure
    def lower(self, params: list) -> None:
        b = self.b
        body_bb = self._new_block("body")
        self._alloca_anchor = b.branch(body_bb)  # every alloca goes before this, in the entry block
        b.position_at_start(body_bb)
        for name, ty in self.func.locals.items():
            slot = self._alloca(value_type(ty), name.replace("$", "tmp."))
            b.store(ir.Constant(value_type(ty), None), slot)
            self.slots[name] = slot
        for (name, pty), v in zip(self.func.runtime_params, params):
            b.store(self.cast(v, pty, self.func.locals[name]), self.slots[name])
        self.block(self.func.body)
        if not b.block.is_terminated:
            if isinstance(self.func.return_type, T.NoneType):
                b.ret_void()
            else:  # typing proved every path returns; this block is unreachable
                b.unreachable()

    def _alloca(self, ty: ir.Type, name: str):
        """A stack slot in the entry block (where mem2reg promotes it), wherever we are now."""
        here = self.b.block
        self.b.position_before(self._alloca_anchor)
        slot = self.b.alloca(ty, name=name)
        self.b.position_at_end(here)
        return slot

    def block(self, stmts) -> None:
        for s in stmts:
            if self.b.block.is_terminated:
                return  # code after break/continue/return is dead
            if self.sp is not None and s.loc is not None:
                self.b.debug_metadata = self.ml.location(self.sp, s.loc)
            getattr(self, "stmt_" + type(s).__name__)(s)

    def _new_block(self, name):
        return self.b.append_basic_block(name)

    # ------------------------------------------------------------- statements
    def stmt_Assign(self, s: tir.Assign):
        self.b.store(self.expr(s.value), self.slots[s.name])

    def stmt_ExprStmt(self, s: tir.ExprStmt):
        self.expr(s.value)

    def stmt_Store(self, s: tir.Store):
        ptr = self.element_ptr(s.array, s.indices, s)
        v = self.expr(s.value)
        dt = s.array.type.dtype
        if dt.is_bool:
            v = self.b.zext(v, I8)
        elif isinstance(v.type, ir.HalfType):   # see _half_bits
            ptr, v = _as_i16(self.b, ptr), _half_bits(self.b, v, I16)
        self.b.store(v, ptr, align=dt.itemsize)

    def stmt_Assert(self, s: tir.Assert):
        if not self.ml.debug:  # like `python -O`: asserts cost nothing unless debug=True
            return
        ok = self.expr(s.cond)
        self._check(ok, "assert", s.loc, s.message, [ir.Constant(I64, 0)] * 3)

    def _check(self, ok, kind, loc, message, details):
        """In debug mode: when ``ok`` is false, report ``(site, *details)`` and go on."""
        b = self.b
        fail, cont = self._new_block("check.fail"), self._new_block("check.ok")
        b.cbranch(ok, cont, fail)
        b.position_at_end(fail)
        site = ir.Constant(I64, self.ml.site(kind, loc, message))
        b.call(self.ml.fail_function(), [site, *details])
        b.branch(cont)
        b.position_at_end(cont)

    def stmt_If(self, s: tir.If):
        b = self.b
        cond = self.expr(s.cond)
        then_bb, else_bb, end_bb = self._new_block("if.then"), self._new_block("if.else"), self._new_block("if.end")
        b.cbranch(cond, then_bb, else_bb)
        for bb, body in ((then_bb, s.body), (else_bb, s.orelse)):
            b.position_at_end(bb)
            self.block(body)
            if not b.block.is_terminated:
                b.branch(end_bb)
        b.position_at_end(end_bb)

    def stmt_While(self, s: tir.While):
        b = self.b
        head = self._new_block("while.cond")
        body_bb, else_bb, end_bb = self._new_block("while.body"), self._new_block("while.else"), \
            self._new_block("while.end")
        b.branch(head)
        b.position_at_end(head)
        b.cbranch(self.expr(s.cond), body_bb, else_bb)
        self._loop_body(body_bb, head, end_bb, s.body)
        b.position_at_end(else_bb)
        self.block(s.orelse)
        if not b.block.is_terminated:
            b.branch(end_bb)
        b.position_at_end(end_bb)

    def _loop_body(self, body_bb, cont_bb, end_bb, body):
        b = self.b
        b.position_at_end(body_bb)
        self.loops.append((cont_bb, end_bb))
        self.block(body)
        self.loops.pop()
        if not b.block.is_terminated:
            b.branch(cont_bb)

    def stmt_ForRange(self, s: tir.ForRange):
        b = self.b
        ty = self.func.locals[s.var]
        start, stop, step = self.expr(s.start), self.expr(s.stop), self.expr(s.step)
        ind = self._alloca(value_type(ty), f"{s.var}.ind")
        b.store(start, ind)
        head, step_bb = self._new_block("for.cond"), self._new_block("for.step")
        body_bb, else_bb, end_bb = self._new_block("for.body"), self._new_block("for.else"), \
            self._new_block("for.end")
        b.branch(head)
        b.position_at_end(head)
        i = b.load(ind)
        up = self.compare("lt", i, stop, ty)
        if s.step_sign > 0:
            go = up
        else:
            down = self.compare("gt", i, stop, ty)
            go = down if s.step_sign < 0 else b.select(self.compare("gt", step, self.zero(ty), ty), up, down)
        b.cbranch(go, body_bb, else_bb)
        b.position_at_end(body_bb)
        b.store(i, self.slots[s.var])
        self._loop_body(b.block, step_bb, end_bb, s.body)
        b.position_at_end(step_bb)
        b.store(self.arith("add", b.load(ind), step, ty), ind)
        b.branch(head)
        b.position_at_end(else_bb)
        self.block(s.orelse)
        if not b.block.is_terminated:
            b.branch(end_bb)
        b.position_at_end(end_bb)

    def stmt_Break(self, s):
        self.b.branch(self.loops[-1][1])

    def stmt_Continue(self, s):
        self.b.branch(self.loops[-1][0])

    def stmt_Return(self, s: tir.Return):
        if s.value is None or isinstance(s.value.type, T.NoneType):
            if s.value is not None:
                self.expr(s.value)
            self.b.ret_void()
        else:
            self.b.ret(self.expr(s.value))

    # ------------------------------------------------------------- expressions
    def expr(self, e: tir.Expr) -> ir.Value:
        return getattr(self, "expr_" + type(e).__name__)(e)

    def zero(self, ty):
        return ir.Constant(value_type(ty), 0)

    def expr_Const(self, e: tir.Const):
        if isinstance(e.type, T.NoneType):
            return None
        if e.type.is_bool:
            return ir.Constant(I1, int(bool(e.value)))
        if e.type.is_complex:
            z = complex(e.value)
            part = value_type(e.type.part)
            return ir.Constant(value_type(e.type), [ir.Constant(part, z.real), ir.Constant(part, z.imag)])
        if e.type.is_bf16:
            return ir.Constant(value_type(e.type), int(T.bf16_bits(e.value)))
        if e.type.is_float:
            return ir.Constant(value_type(e.type), float(e.value))
        return ir.Constant(value_type(e.type), int(e.value) & ((1 << e.type.bits) - 1))

    def expr_Var(self, e: tir.Var):
        return self.b.load(self.slots[e.name])

    def expr_Cast(self, e: tir.Cast):
        return self.cast(self.expr(e.value), e.value.type, e.type)

    def expr_BinOp(self, e: tir.BinOp):
        lhs = self.expr(e.lhs)
        if e.op == "pow" and e.type.is_float and isinstance(e.rhs, tir.Const) and e.rhs.value == 2:
            return self.b.fmul(lhs, lhs)  # exact, and what x ** 2 means
        if e.op == "pow" and e.type.is_float and e.rhs.type is not e.type:
            rhs = self.cast(self.expr(e.rhs), e.rhs.type, e.type)
        else:
            rhs = self.expr(e.rhs)
        return self.arith(e.op, lhs, rhs, e.type)

    def expr_Compare(self, e: tir.Compare):
        return self.compare(e.op, self.expr(e.lhs), self.expr(e.rhs), e.lhs.type)

    def expr_UnaryOp(self, e: tir.UnaryOp):
        v = self.expr(e.operand)
        b = self.b
        if e.op == "not":
            return b.xor(v, ir.Constant(I1, 1))
        if e.op == "invert":
            return b.xor(v, ir.Constant(v.type, -1))
        if e.type.is_complex:
            p = value_type(e.type.part)
            neg = [b.fsub(ir.Constant(p, -0.0), b.extract_value(v, k)) for k in (0, 1)]
            return nvvm_ops.make_complex(b, e.type, *neg)
        if e.type.is_float:  # fneg is LLVM 8+; libNVVM's LLVM 7 dialect wants fsub -0.0
            return b.fsub(ir.Constant(v.type, -0.0), v)
        return b.sub(ir.Constant(v.type, 0), v)

    def expr_BoolOp(self, e: tir.BoolOp):
        b = self.b
        end_bb = self._new_block("boolop.end")
        incoming = []
        for k, raw in enumerate(e.values):
            v = self.expr(raw)
            conv = self.cast(v, raw.type, e.type)
            if k == len(e.values) - 1:
                incoming.append((conv, b.block))
                b.branch(end_bb)
                break
            t = self.truth(v, raw.type)
            nxt = self._new_block("boolop.next")
            incoming.append((conv, b.block))
            if e.op == "and":
                b.cbranch(t, nxt, end_bb)
            else:
                b.cbranch(t, end_bb, nxt)
            b.position_at_end(nxt)
        b.position_at_end(end_bb)
        phi = b.phi(value_type(e.type))
        for v, bb in incoming:
            phi.add_incoming(v, bb)
        return phi

    def expr_IfExp(self, e: tir.IfExp):
        b = self.b
        cond = self.expr(e.cond)
        t_bb, f_bb, end_bb = self._new_block("ifexp.then"), self._new_block("ifexp.else"), self._new_block("ifexp.end")
        b.cbranch(cond, t_bb, f_bb)
        b.position_at_end(t_bb)
        tv, t_end = self.expr(e.then), None
        t_end = b.block
        b.branch(end_bb)
        b.position_at_end(f_bb)
        fv = self.expr(e.orelse)
        f_end = b.block
        b.branch(end_bb)
        b.position_at_end(end_bb)
        phi = b.phi(value_type(e.type))
        phi.add_incoming(tv, t_end)
        phi.add_incoming(fv, f_end)
        return phi

    def expr_Load(self, e: tir.Load):
        ptr = self.element_ptr(e.array, e.indices, e)
        if isinstance(ptr.type.pointee, ir.HalfType):
            ptr = _as_i16(self.b, ptr)
        return self._from_memory(self.b.load(ptr, align=e.type.itemsize), e.type)

    def _from_memory(self, v, ty: T.Scalar):
        """An element as loaded (bool as i8, float16 as i16: see _half_bits) as a register value."""
        if ty.is_bool:
            return self.b.icmp_unsigned("!=", v, ir.Constant(v.type, 0))
        if ty.bits == 16 and ty.is_float and not ty.is_bf16:
            return _half_bits(self.b, v, ir.HalfType())
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
                return nvvm_ops.f32_to_bf16(b, b.fadd(nvvm_ops.bf16_to_f32(b, old), nvvm_ops.bf16_to_f32(b, v)))
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
        loop, done = self._new_block("atomic.loop"), self._new_block("atomic.done")
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

    def expr_MakeTuple(self, e: tir.MakeTuple):
        agg = ir.Constant(value_type(e.type), ir.Undefined)
        for i, item in enumerate(e.items):
            agg = self.b.insert_value(agg, self.expr(item), i)
        return agg

    def expr_TupleGet(self, e: tir.TupleGet):
        return self.b.extract_value(self.expr(e.tuple), e.index)

    def expr_Print(self, e: tir.Print):
        """``vprintf(format, args)``: ints as %lld/%llu, floats as %g (double), bools as True/False."""
        b = self.b
        fmt, vals = [], []
        for p in e.parts:
            if isinstance(p, str):
                fmt.append(p.replace("%", "%%"))
                continue
            v, ty = self.expr(p), p.type
            if ty.is_bf16:
                v, ty = nvvm_ops.bf16_to_f32(b, v), T.float32
            if ty.is_bool:
                fmt.append("%s")
                vals.append(b.select(v, self.ml.cstring(b, "True"), self.ml.cstring(b, "False")))
            elif ty.is_complex:   # Python's (1+2j)
                fmt.append("(%g%+gj)")
                for k in (0, 1):
                    part = b.extract_value(v, k)
                    vals.append(b.fpext(part, ir.DoubleType()) if ty.bits < 128 else part)
            elif ty.is_float:
                fmt.append("%g")
                vals.append(b.fpext(v, ir.DoubleType()) if ty.bits < 64 else v)
            else:
                fmt.append("%lld" if ty.is_signed else "%llu")
                vals.append(v if ty.bits == 64 else (b.sext(v, I64) if ty.is_signed else b.zext(v, I64)))
        i8p = I8.as_pointer()
        if vals:
            buf_ty = ir.LiteralStructType([v.type for v in vals])
            buf = self._alloca(buf_ty, "printf.args")
            for k, v in enumerate(vals):
                b.store(v, b.gep(buf, [ir.Constant(I32, 0), ir.Constant(I32, k)]))
            args = b.bitcast(buf, i8p)
        else:
            args = ir.Constant(i8p, None)
        vprintf = self.ml.declare("vprintf", I32, [i8p, i8p])
        b.call(vprintf, [self.ml.cstring(b, "".join(fmt)), args])
        return None

    def expr_ExternCall(self, e: tir.ExternCall):
        b = self.b
        vals, tys = [], []
        for p, a in zip(e.decl.params, e.args):
            v = self.expr(a)
            if isinstance(p, tuple):
                v = b.extract_value(v, 0)
            vals.append(v)
            tys.append(v.type)
        fn = self.ml.module.globals.get(e.decl.name)
        if fn is None:
            fn = ir.Function(self.ml.module, ir.FunctionType(value_type(e.type), tys), e.decl.name)
        return b.call(fn, vals)

    def expr_InlineAsm(self, e: tir.InlineAsm):
        args = [self.expr(a) for a in e.args]
        fnty = ir.FunctionType(value_type(e.type), [a.type for a in args])
        return self.b.call(ir.InlineAsm(fnty, e.ptx, e.constraints, side_effect=True), args)

    def expr_Op(self, e: tir.Op):
        if e.name in ("array.vector_load", "array.is_aligned", "array.vector_store"):
            return self._vector_op(e)
        args = [self.expr(a) for a in e.args]
        return nvvm_ops.lower_op(self, e, args)

    def _vector_op(self, e: tir.Op):
        b = self.b
        ptr = self.element_ptr(e.args[0], [e.args[1]], e)
        if e.name == "array.is_aligned":
            low = b.and_(b.ptrtoint(ptr, I64), ir.Constant(I64, e.args[2].value - 1))
            ok = b.icmp_unsigned("==", low, ir.Constant(I64, 0))
            aty = e.args[0].type
            if aty.layout == "A":       # a strided view: vectors need unit stride too
                stride = b.extract_value(self.expr(e.args[0]), [2, 0])
                ok = b.and_(ok, b.icmp_signed("==", stride, ir.Constant(I64, aty.dtype.itemsize)))
            return ok
        dt = e.args[0].type.dtype
        half = isinstance(ptr.type.pointee, ir.HalfType)
        elem = I16 if half else ptr.type.pointee   # see _half_bits
        if e.name == "array.vector_store":
            tup = self.expr(e.args[2])
            n = len(e.args[2].type.types)
            vec = ir.Constant(ir.VectorType(elem, n), ir.Undefined)
            for k, t in enumerate(e.args[2].type.types):
                v = self.cast(b.extract_value(tup, k), t, dt)
                if dt.is_bool:
                    v = b.zext(v, I8)
                elif half:
                    v = _half_bits(b, v, I16)
                vec = b.insert_element(vec, v, ir.Constant(I32, k))
            b.store(vec, b.bitcast(ptr, ir.PointerType(vec.type, ptr.type.addrspace)), align=n * dt.itemsize)
            return None
        n = len(e.type.types)
        vec = b.load(b.bitcast(ptr, ir.PointerType(ir.VectorType(elem, n), ptr.type.addrspace)),
                      align=n * dt.itemsize)
        out = ir.Constant(value_type(e.type), ir.Undefined)
        for k in range(n):
            out = b.insert_value(out, self._from_memory(b.extract_element(vec, ir.Constant(I32, k)), dt), k)
        return out

    def expr_Call(self, e: tir.Call):
        fn = self.ml.device_function(e.func)
        return self.b.call(fn, [self.expr(a) for a in e.args])

    # ------------------------------------------------------------- arrays
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

    # ------------------------------------------------------------- primitives
    def cast(self, v, src: T.Type, dst: T.Type):
        return nvvm_ops.cast(self.b, v, src, dst)

    def truth(self, v, ty: T.Scalar):
        return nvvm_ops.truth(self.b, v, ty)

    def compare(self, op, lhs, rhs, ty: T.Scalar):
        return nvvm_ops.compare(self.b, op, lhs, rhs, ty)

    def arith(self, op, lhs, rhs, ty: T.Scalar):
        return nvvm_ops.arith(self, op, lhs, rhs, ty)


def _as_i16(b, ptr):
    return b.bitcast(ptr, ir.PointerType(I16, ptr.type.addrspace))


def _half_bits(b, v, to):
    """float16 array elements are loaded and stored as i16 and moved to and from half through an
    opaque ``mov.b16``: libNVVM's vectorizer otherwise merges neighbouring loads into <8 x half>
    (through a plain bitcast too), which its back end rejects ("unsupported operation").  ptxas
    removes the moves."""
    asm = ir.InlineAsm(ir.FunctionType(to, [v.type]), "mov.b16 $0, $1;", "=h,h")
    return b.call(asm, [v])


def lower_kernel(func: tir.Function, options: dict | None = None, block: tuple | None = None) -> ModuleLowering:
    """The NVVM IR module (``.module``) of kernel ``func`` and every device function it calls, with the
    debug check sites (``.sites``) when ``options["debug"]``.  ``block``: the one block shape the
    kernel was specialised for (declared as its required launch shape)."""
    ml = ModuleLowering(func.name, options, block)
    ml.kernel(func)
    return ml
