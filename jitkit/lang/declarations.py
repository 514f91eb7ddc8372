"""Declarations of code defined outside jitkit that kernels may call or link.

- :class:`DeviceDeclaration` / :func:`declare_device`: a foreign ``extern "C"`` device function with
  a fixed signature (typing reads it; the NVVM backend declares it; the simulator calls ``sim``).
- :class:`CUDASource`: CUDA C++ text to link (compiled by :mod:`jitkit.build.linking` with NVRTC).

Plain data at the bottom layer: the compiler types calls to them without reaching into the build.
"""

from __future__ import annotations

import re

from . import types as T

__all__ = ["CUDASource", "DeviceDeclaration", "declare_device"]


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
