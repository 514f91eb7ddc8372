"""The compile pipeline as named stages: ``typed -> nvvm -> ltoir -> cubin`` (+ ``ptx`` on demand).

:func:`compile_kernel` looks the kernel up in the disk cache (keyed by
:func:`~jitkit.build.cachekey.function_key` -- bytecode and every reachable
value -- plus signature, arch, options and toolchain) and otherwise types it,
lowers it to NVVM IR, runs libNVVM (-gen-lto) and nvJitLink (-lto) and stores
the cubin.  A hit neither parses nor types the function.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from ..lang.version import __version__
from ..lang import types as T
from . import cache, cachekey, toolchain

STAGES = ("typed", "nvvm", "ltoir", "cubin", "ptx")


@dataclass(eq=False)
class CompileResult:
    """Everything one (function, signature, arch, options) compile produced."""
    name: str                       # kernel symbol in the cubin
    qualname: str
    argtypes: tuple
    arch: str
    options: dict
    ir: str                         # NVVM IR text
    cubin: bytes
    written: frozenset              # indices of array arguments the kernel may write
    typed: object = None            # tir.Function (typed again on demand after a disk hit)
    pyfunc: object = None
    ltoir: bytes | None = None
    sites: tuple = ()               # debug=True: (kind, Loc, message) per check site, 1-based ids
    cooperative: bool = False       # uses grid_sync: must be launched cooperatively
    block: tuple | None = None      # the block shape it was specialised for (jk.block_dims()), or None
    from_disk: bool = False
    timings: dict = field(default_factory=dict)
    _ptx: str | None = None

    @property
    def ptx(self) -> str:
        if self._ptx is None:
            self._ptx = toolchain.nvvm_compile(self.ir, self.arch, lto=False, name=self.qualname,
                                               options=self.options).decode()
        return self._ptx

    def stage(self, name: str):
        """The artifact of a named stage (see :data:`STAGES`)."""
        if name == "typed":
            if self.typed is None:
                self.typed = type_kernel(self.pyfunc, self.argtypes, block=self.block)[0]
            return self.typed
        if name == "nvvm":
            return self.ir
        if name == "ptx":
            return self.ptx
        if name == "ltoir":
            if self.ltoir is None:
                self.ltoir = toolchain.nvvm_compile(self.ir, self.arch, lto=True, name=self.qualname,
                                                    options=self.options)
            return self.ltoir
        if name == "cubin":
            return self.cubin
        raise ValueError(f"unknown stage {name!r}; stages: {', '.join(STAGES)}")


def type_kernel(pyfunc, argtypes: tuple, kernel: bool = True, block: tuple | None = None):
    """Type ``pyfunc`` for ``argtypes``: ``(tir.Function, CompileUnit)``.

    With ``kernel=True`` it must return nothing (every backend launches it as a kernel).
    ``block`` is the launch block shape for kernels that use ``jk.block_dims()``; without it
    such a kernel raises ``jitkit.lang.errors.NeedsBlockShape``.
    """
    from ..lang.errors import CompileError
    from ..compiler.infer import typer as infer
    unit = infer.CompileUnit(block)
    func = infer.type_function(unit, pyfunc, argtypes)
    if kernel and not isinstance(func.return_type, T.NoneType):
        raise CompileError(f"kernel {func.qualname} returns {func.return_type}; kernels return nothing",
                           func.loc, "write results to an output array, or call it from another kernel")
    return func, unit


def _written_indices(func) -> frozenset:
    names = [n for n, _ in func.params]
    return frozenset(i for i, n in enumerate(names) if n in func.written_params)


def compile_kernel(pyfunc, argtypes: tuple, arch: str, options: dict, block: tuple | None = None) -> CompileResult:
    t0 = time.perf_counter()
    key = cache.make_key(__version__, cachekey.sources_key(), toolchain.fingerprint(), arch, repr(sorted(options.items())),
                         repr(argtypes), repr(block), cachekey.function_key(pyfunc),
                         cachekey.values_key(t.value for t in argtypes if isinstance(t, T.Literal)),
                         _link_key(options))
    hit = cache.load(key)
    if hit is not None:
        meta, blobs = hit
        return CompileResult(meta["name"], meta["qualname"], argtypes, arch, options, blobs["ir"].decode(),
                             blobs["cubin"], frozenset(meta["written"]), pyfunc=pyfunc, from_disk=True,
                             sites=_load_sites(meta.get("sites", ())), cooperative=meta.get("cooperative", False),
                             block=block, timings={"disk": time.perf_counter() - t0})
    t1 = time.perf_counter()
    func, _ = type_kernel(pyfunc, argtypes, block=block)
    written = _written_indices(func)
    t2 = time.perf_counter()
    from ..backends.nvvm.lower import lower_kernel  # llvmlite loads only when something must be compiled
    ml = lower_kernel(func, options, block)
    ir_text = str(ml.module)
    t3 = time.perf_counter()
    ltoir = toolchain.nvvm_compile(ir_text, arch, lto=True, name=func.qualname, options=options)
    t4 = time.perf_counter()
    objects = [("ltoir", ltoir, func.name)]
    if options.get("link"):
        from .linking import load_link_inputs
        objects += load_link_inputs(options["link"], arch)
    cubin = toolchain.link(objects, arch, name=func.qualname, options=toolchain.link_options(options))
    t5 = time.perf_counter()
    sites = tuple(ml.sites)
    cache.store(key, {"name": func.name, "qualname": func.qualname, "written": sorted(written),
                      "sites": _dump_sites(sites), "cooperative": func.cooperative},
                {"ir": ir_text.encode(), "cubin": cubin})
    return CompileResult(func.name, func.qualname, argtypes, arch, options, ir_text, cubin, written,
                         typed=func, ltoir=ltoir, pyfunc=pyfunc, sites=sites, cooperative=func.cooperative, block=block,
                         timings={"key": t1 - t0, "typed": t2 - t1, "nvvm": t3 - t2, "ltoir": t4 - t3,
                                  "cubin": t5 - t4})


def export_device(pyfunc, argtypes: tuple, arch: str, options: dict, name: str, kind: str,
                  block: tuple | None = None) -> bytes:
    """LTO-IR or PTX of device function ``pyfunc`` for ``argtypes`` as an ``extern "C"`` function ``name``
    (scalar parameters and result), for other programs to link.  ``block``: the block shape the
    caller launches with, for functions using block primitives (``jk.block_dims()``)."""
    from ..lang.errors import CompileError
    from ..backends.nvvm.lower import ModuleLowering
    func, _ = type_kernel(pyfunc, argtypes, kernel=False, block=block)

    def c_scalar(t):
        return isinstance(t, T.Scalar) and not (t.is_bool or t.is_complex)
    for (pname, t) in func.runtime_params:
        if not c_scalar(t):
            raise CompileError(f"cannot export {func.qualname}: parameter {pname!r} is {t}; exported functions take "
                               "non-bool, non-complex scalars (the C ABI)", func.loc)
    rt = func.return_type
    if not (isinstance(rt, T.NoneType) or c_scalar(rt)):
        raise CompileError(f"cannot export {func.qualname}: it returns {rt}; exported functions return a "
                           "non-bool, non-complex scalar or nothing", func.loc)
    ml = ModuleLowering(name, options)
    ml.export(func, name)
    return toolchain.nvvm_compile(str(ml.module), arch, lto=kind == "ltoir", name=func.qualname, options=options)


def _link_key(options) -> str:
    if not options.get("link"):
        return ""
    from .linking import link_inputs_key
    return link_inputs_key(options["link"])


def _dump_sites(sites) -> list:
    return [[k, loc.filename, loc.line, loc.col, loc.source_line, loc.func, msg] for k, loc, msg in sites]


def _load_sites(rows) -> tuple:
    from ..lang.errors import Loc
    return tuple((k, Loc(f, line, col, src, fn), msg) for k, f, line, col, src, fn, msg in rows)


def signature_str(argtypes: tuple) -> str:
    return "(" + ", ".join(str(t) for t in argtypes) + ")"


__all__ = ["CompileResult", "compile_kernel", "type_kernel", "STAGES", "signature_str"]
