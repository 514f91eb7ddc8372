"""Lowering of a module: typed tree -> one NVVM IR module with ``llvmlite.ir``.

The IR dialect is the one every libNVVM 13 target accepts (see TOOLCHAIN.md):
typed pointers, the long datalayout, ``nvvmir.version`` 2.0, kernels listed in
``nvvm.annotations`` and ``@llvm.used``.  :class:`ModuleLowering` owns the
module: declarations, kernel entry points and their flat parameters (the ABI of
:mod:`jitkit.lang.abi`), device functions, exports, line info and the debug-mode
error record.  Function bodies are lowered by :mod:`.function` (statements and
expressions), :mod:`.memory` (array access), :mod:`.atomics`, and the intrinsic
ops by the rule table of :mod:`.ops`.
"""

from __future__ import annotations

from llvmlite import ir

from ...lang import types as T
from ...lang import abi
from ...lang.abi import ERROR_SYMBOL, ERROR_WORDS   # the debug-mode error record (see ModuleLowering.fail_function)
from ...compiler import tir
from .function import FunctionLowering
from .scalars import I8, I32, I64, make_complex, memory_type, value_type

__all__ = ["ModuleLowering", "lower_kernel", "TRIPLE", "DATALAYOUT", "NVVMIR_VERSION", "ERROR_SYMBOL", "ERROR_WORDS"]

TRIPLE = "nvptx64-nvidia-cuda"
DATALAYOUT = ("e-p:64:64:64-i1:8:8-i8:8:8-i16:16:16-i32:32:32-i64:64:64-i128:128:128-f32:32:32-f64:64:64"
              "-v16:16:16-v32:32:32-v64:64:64-v128:128:128-n16:32:64")
NVVMIR_VERSION = (2, 0, 3, 2)


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
            return make_complex(b, ty, v, next(args))
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


def lower_kernel(func: tir.Function, options: dict | None = None, block: tuple | None = None) -> ModuleLowering:
    """The NVVM IR module (``.module``) of kernel ``func`` and every device function it calls, with the
    debug check sites (``.sites``) when ``options["debug"]``.  ``block``: the one block shape the
    kernel was specialised for (declared as its required launch shape)."""
    ml = ModuleLowering(func.name, options, block)
    ml.kernel(func)
    return ml
