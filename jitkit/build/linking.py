"""Linking foreign device code into kernels: ``@jk.jit(link=[...])`` and ``jk.declare_device``.

A kernel may call functions defined outside jitkit -- CUDA C++ (compiled here
with NVRTC to LTO-IR), PTX, LTO-IR, relocatable cubins and fatbins -- declared
with :func:`declare_device`.  nvJitLink links them with the kernel's own LTO-IR
(so LTO-IR and C++ inputs are optimised together with the kernel).

Example::

    cube = jk.declare_device("cube", "float32(float32)")

    @jk.jit(link=["cube.cu"])        # extern "C" __device__ float cube(float x) { return x * x * x; }
    def k(x):
        i = jk.grid(1)
        if i < x.size:
            x[i] = cube(x[i])
"""

from __future__ import annotations

import hashlib
import os
import threading

from ..lang.declarations import CUDASource
from ..lang.errors import ToolchainError

__all__ = ["check_link_option", "link_inputs_key", "load_link_inputs", "nvrtc_compile"]

_SUFFIX_KINDS = {".cu": "cu", ".cuh": "cu", ".ptx": "ptx", ".ltoir": "ltoir", ".lto": "ltoir", ".cubin": "cubin",
                 ".fatbin": "fatbin", ".o": "object", ".a": "library"}


def _kind_and_bytes(item) -> tuple:
    """(kind, content, name) of one link item, reading files."""
    if isinstance(item, CUDASource):
        return "cu", item.code.encode(), item.name
    if isinstance(item, (str, os.PathLike)):
        path = os.fspath(item)
        kind = _SUFFIX_KINDS.get(os.path.splitext(path)[1].lower())
        if kind is None:
            raise ValueError(f"cannot link {path!r}: unknown file type; use .cu, .ptx, .ltoir, .cubin, .fatbin, "
                             ".o or .a")
        try:
            with open(path, "rb") as f:
                return kind, f.read(), os.path.basename(path)
        except OSError as exc:
            raise ValueError(f"cannot link {path!r}: {exc.strerror}") from None
    raise TypeError(f"link items are file paths or jk.CUDASource objects, got {type(item).__qualname__}")


def check_link_option(items) -> tuple:
    """Validate ``link=`` at decoration time (files must exist); returns a tuple."""
    if isinstance(items, (str, os.PathLike, CUDASource)):
        items = [items]
    items = tuple(items)
    for it in items:
        _kind_and_bytes(it)
    return items


def link_inputs_key(items) -> str:
    """Hash of the link inputs' kinds and contents (part of the disk-cache key)."""
    h = hashlib.sha256()
    for it in items:
        kind, data, name = _kind_and_bytes(it)
        h.update(f"{kind}:{name}:{len(data)}:".encode())
        h.update(data)
        if isinstance(it, CUDASource):
            h.update(repr(it.options).encode())
    return h.hexdigest()


_nvrtc_cache: dict = {}
_nvrtc_lock = threading.Lock()


def load_link_inputs(items, arch: str) -> list:
    """``[(kind, bytes, name)]`` for nvJitLink; CUDA C++ is compiled to LTO-IR for ``arch``."""
    out = []
    for it in items:
        kind, data, name = _kind_and_bytes(it)
        if kind == "cu":
            options = it.options if isinstance(it, CUDASource) else ()
            data, kind = nvrtc_compile(data, name, arch, options), "ltoir"
        out.append((kind, data, name))
    return out


def nvrtc_compile(source: bytes, name: str, arch: str, options: tuple = (), output: str = "ltoir") -> bytes:
    """CUDA C++ -> LTO-IR (``output="ltoir"``), relocatable cubin or PTX with NVRTC (memoised)."""
    from .toolchain import check_arch
    sm, compute = check_arch(arch)
    key = (hashlib.sha256(source).hexdigest(), name, sm, tuple(options), output)
    found = _nvrtc_cache.get(key)
    if found is not None:
        return found
    try:
        from cuda.bindings import nvrtc
        nvrtc.nvrtcVersion()
    except Exception as exc:  # noqa: BLE001 - a missing library surfaces in several exception types
        raise ToolchainError("linking CUDA C++ needs NVRTC: pip install 'cuda-toolkit[nvrtc]==13.*' "
                             f"(or jitkit[link]); {type(exc).__name__}: {exc}") from None
    target = {"ltoir": [f"-arch={compute}", "-dlto"], "cubin": [f"-arch={sm}"], "ptx": [f"-arch={compute}"]}[output]
    opts = [o.encode() for o in (*target, "-rdc=true", "-default-device", *options)]
    with _nvrtc_lock:
        err, prog = nvrtc.nvrtcCreateProgram(source, name.encode(), 0, [], [])
        _nvrtc_check(nvrtc, err, "nvrtcCreateProgram", name)
        try:
            err, = nvrtc.nvrtcCompileProgram(prog, len(opts), opts)
            if err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
                _, size = nvrtc.nvrtcGetProgramLogSize(prog)
                log = b" " * size
                nvrtc.nvrtcGetProgramLog(prog, log)
                raise ToolchainError(f"NVRTC could not compile {name} for {sm}",
                                     log.decode(errors="replace").rstrip("\x00 "))
            size_fn, get_fn = {"ltoir": (nvrtc.nvrtcGetLTOIRSize, nvrtc.nvrtcGetLTOIR),
                               "cubin": (nvrtc.nvrtcGetCUBINSize, nvrtc.nvrtcGetCUBIN),
                               "ptx": (nvrtc.nvrtcGetPTXSize, nvrtc.nvrtcGetPTX)}[output]
            err, size = size_fn(prog)
            _nvrtc_check(nvrtc, err, size_fn.__name__, name)
            buf = b" " * size
            err, = get_fn(prog, buf)
            _nvrtc_check(nvrtc, err, get_fn.__name__, name)
        finally:
            nvrtc.nvrtcDestroyProgram(prog)
    out = bytes(buf)
    if output == "ptx":
        out = out.rstrip(b"\x00")
    _nvrtc_cache[key] = out
    return out


def _nvrtc_check(nvrtc, err, call, name):
    if err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
        raise ToolchainError(f"{call} failed for {name}: {err.name}")
