"""The compile pipeline as named stages: ``typed -> nvvm -> ltoir -> cubin`` (+ ``ptx`` on demand).

:func:`compile_kernel` types the function for a signature, looks the result up
in the disk cache (keyed by the typed unit's fingerprint: sources, captured
constants, signature, arch, options, toolchain), and otherwise lowers to NVVM
IR, runs libNVVM (-gen-lto) and nvJitLink (-lto) and stores the cubin.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from .. import __version__
from .. import types as T
from ..runtime import cache, toolchain
from . import infer

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
    typed: object = None            # tir.Function (None when loaded from disk)
    ltoir: bytes | None = None
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


def type_kernel(pyfunc, argtypes: tuple):
    """Type ``pyfunc`` as a kernel for ``argtypes``: ``(tir.Function, CompileUnit)``."""
    unit = infer.CompileUnit()
    func = infer.type_function(unit, pyfunc, argtypes)
    return func, unit


def _written_indices(func) -> frozenset:
    names = [n for n, _ in func.params]
    return frozenset(i for i, n in enumerate(names) if n in func.written_params)


def compile_kernel(pyfunc, argtypes: tuple, arch: str, options: dict) -> CompileResult:
    t0 = time.perf_counter()
    func, unit = type_kernel(pyfunc, argtypes)
    t1 = time.perf_counter()
    key = cache.make_key(__version__, toolchain.fingerprint(), arch, repr(sorted(options.items())),
                         repr(argtypes), *unit.fingerprint)
    hit = cache.load(key)
    if hit is not None:
        meta, blobs = hit
        return CompileResult(meta["name"], func.qualname, argtypes, arch, options, blobs["ir"].decode(),
                             blobs["cubin"], _written_indices(func), typed=func, from_disk=True,
                             timings={"typed": t1 - t0, "disk": time.perf_counter() - t1})
    from .lower import lower_kernel  # llvmlite loads only when something must be compiled
    module = lower_kernel(func)
    ir_text = str(module)
    t2 = time.perf_counter()
    ltoir = toolchain.nvvm_compile(ir_text, arch, lto=True, name=func.qualname, options=options)
    t3 = time.perf_counter()
    cubin = toolchain.link([("ltoir", ltoir, func.name)], arch, name=func.qualname)
    t4 = time.perf_counter()
    cache.store(key, {"name": func.name, "qualname": func.qualname}, {"ir": ir_text.encode(), "cubin": cubin})
    return CompileResult(func.name, func.qualname, argtypes, arch, options, ir_text, cubin,
                         _written_indices(func), typed=func, ltoir=ltoir,
                         timings={"typed": t1 - t0, "nvvm": t2 - t1, "ltoir": t3 - t2, "cubin": t4 - t3})


def signature_str(argtypes: tuple) -> str:
    return "(" + ", ".join(str(t) for t in argtypes) + ")"


__all__ = ["CompileResult", "compile_kernel", "type_kernel", "STAGES", "signature_str", "T"]
