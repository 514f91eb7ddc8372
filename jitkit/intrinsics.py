"""Kernel intrinsics: the names a ``@jit`` function uses for thread indices and barriers.

These objects are markers.  The compiler recognises them by identity wherever
a kernel reaches them (``jk.threadIdx.x``, ``from jitkit import grid``); on the
host they only explain that they belong inside a kernel.

Example::

    @jk.jit
    def fill(out):
        i = jk.grid(1)
        if i < out.size:
            out[i] = jk.threadIdx.x
"""

from __future__ import annotations

__all__ = [
    "threadIdx", "blockIdx", "blockDim", "gridDim",
    "grid", "gridsize", "laneid", "warpsize", "syncthreads",
]


class _Intrinsic:
    """A function usable only inside kernels."""

    __slots__ = ("name", "doc")

    def __init__(self, name: str, doc: str):
        self.name = name
        self.doc = doc

    def __call__(self, *args, **kwargs):
        raise RuntimeError(f"jitkit.{self.name}() can only be called inside a @jit function: {self.doc}")

    def __repr__(self):
        return f"<jitkit intrinsic {self.name}>"


class _Dim3:
    """``threadIdx``/``blockIdx``/``blockDim``/``gridDim``: ``.x``, ``.y``, ``.z`` are int32."""

    __slots__ = ("name", "sreg")

    def __init__(self, name: str, sreg: str):
        self.name = name
        self.sreg = sreg

    def __getattr__(self, attr):
        if attr in ("x", "y", "z"):
            raise RuntimeError(f"jitkit.{self.name}.{attr} can only be read inside a @jit function")
        raise AttributeError(attr)

    def __repr__(self):
        return f"<jitkit intrinsic {self.name}>"


class _Special:
    """A read-only special value (``laneid``, ``warpsize``), int32 inside kernels."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __repr__(self):
        return f"<jitkit intrinsic {self.name}>"


threadIdx = _Dim3("threadIdx", "tid")
blockIdx = _Dim3("blockIdx", "ctaid")
blockDim = _Dim3("blockDim", "ntid")
gridDim = _Dim3("gridDim", "nctaid")
laneid = _Special("laneid")
warpsize = _Special("warpsize")
grid = _Intrinsic("grid", "grid(n) returns the absolute thread index in n dimensions (int64, a tuple for n > 1)")
gridsize = _Intrinsic("gridsize", "gridsize(n) returns the total number of threads in n dimensions")
syncthreads = _Intrinsic("syncthreads", "syncthreads() waits until every thread of the block reaches it")
