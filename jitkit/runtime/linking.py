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
import re
import threading

from .. import types as T
from ..errors import ToolchainError

__all__ = ["CUDASource", "DeviceDeclaration", "declare_device", "link_inputs_key", "load_link_inputs"]

_SUFFIX_KINDS = {".cu": "cu", ".cuh": "cu", ".ptx": "ptx", ".ltoir": "ltoir", ".lto": "ltoir", ".cubin": "cubin",
                 ".fatbin": "fatbin", ".o": "object", ".a": "library"}


class CUDASource:
    """CUDA C++ source text to link (compiled with NVRTC); functions must be ``extern "C" __device__``."""

    __slots__ = ("code", "name", "options")

    def __init__(self, code: str, name: str = "source.cu", options: tuple = ()):
        if not isinstance(code, str):
            raise TypeError(f"CUDASource takes the C++ source as a str, got {type(code).__qualname__}")
        self.code = code
        self.name = name
        self.options = tuple(options)

    def __repr__(self):
        return f"<jitkit.CUDASource {self.name} ({len(self.code)} chars)>"


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


# ---------------------------------------------------------------- declarations

class DeviceDeclaration:
    """A foreign device function a kernel can call: ``name`` with C linkage and a fixed signature.

    Parameters are scalars (passed by value) or pointers (``"float32*"``: pass an array, its data
    pointer is passed).  ``sim`` is an optional NumPy function the CPU simulator calls instead.
    """

    __slots__ = ("name", "restype", "params", "sim", "__name__")

    def __init__(self, name: str, restype, params: tuple, sim=None):
        self.name = name
        self.__name__ = name
        self.restype = restype        # T.Scalar or T.none
        self.params = params          # T.Scalar, or ("ptr", T.Scalar)
        self.sim = sim

    def __call__(self, *args):
        raise RuntimeError(f"{self.name}() is a device function declared with jk.declare_device; "
                           "call it inside a @jit function")

    def __repr__(self):
        ps = ", ".join(f"{p[1].name}*" if isinstance(p, tuple) else p.name for p in self.params)
        return f"<jitkit device declaration {self.restype.name} {self.name}({ps})>"


_SIG = re.compile(r"^\s*(\w+\s*\**)\s*\((.*)\)\s*$")


def _parse_type(text: str, what: str):
    text = text.strip()
    ptr = text.endswith("*")
    base = text.rstrip("*").strip()
    if base in ("void", "none") and not ptr:
        return T.none
    ty = getattr(T, base, None)
    if not isinstance(ty, T.Scalar) or ty.is_bool or ty.is_complex:
        raise ValueError(f"{what}: unknown or unsupported type {text!r}; use jitkit scalar names such as "
                         "float32, int64, uint32 (bool and complex are not supported across the C ABI), "
                         "'float32*' for pointers, 'void' for no result")
    return ("ptr", ty) if ptr else ty


def declare_device(name: str, signature: str, sim=None) -> DeviceDeclaration:
    """Declare an external device function, e.g. ``declare_device("cube", "float32(float32)")``.

    Link its definition with ``@jk.jit(link=[...])``.  ``signature`` is ``"restype(argtypes)"``
    with jitkit scalar names, ``T*`` for pointers and ``void`` for no result.
    """
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_]\w*", name):
        raise ValueError(f"declare_device: {name!r} is not a valid C function name")
    m = _SIG.match(signature) if isinstance(signature, str) else None
    if m is None:
        raise ValueError(f"declare_device: signature must look like 'float32(float32, int32*)', got {signature!r}")
    what = f"declare_device({name!r})"
    restype = _parse_type(m[1], what)
    if isinstance(restype, tuple):
        raise ValueError(f"{what}: functions cannot return pointers")
    params = tuple(_parse_type(p, what) for p in m[2].split(",")) if m[2].strip() else ()
    if any(p is T.none for p in params):
        raise ValueError(f"{what}: void is only valid as the result type")
    if sim is not None and not callable(sim):
        raise TypeError(f"{what}: sim must be a Python function")
    return DeviceDeclaration(name, restype, params, sim)
