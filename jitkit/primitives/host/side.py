"""Where a host algorithm runs for one input, and how its arrays are made and handed back.

:class:`Side` is the one place that knows the kinds of array the algorithms take (NumPy, CuPy,
PyTorch, numba, other ``__cuda_array_interface__`` arrays): it stages NumPy input to the GPU (or
keeps it on the CPU simulator), makes scratch and result arrays of the input's kind, launches on the
input's stream and hands results back as the input's kind.  Also here: the small helpers that
fill, zero, copy and check those arrays (:func:`zeroed`, :func:`filled`, :func:`to_side`,
:func:`to_out`, :func:`flat_out`, :func:`axis_last`, :func:`max_blocks`).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from ... import config
from ...runtime import driver
from ...runtime.interop import array_kind, numpy_dtype, stream_handle, torch_dtype
from ...runtime.memory import DeviceBuffer

__all__ = ["Side", "on_gpu", "zeroed", "filled", "to_side", "to_out", "flat_out", "axis_last", "max_blocks"]


def on_gpu() -> bool:
    """Whether NumPy input runs on the GPU: the process target (:func:`jitkit.set_target`), or
    whether a GPU is present where it is "auto"."""
    t = config.target()
    if t == "sim":
        return False
    if t == "gpu":
        return True
    return driver.gpu_available()


class Side:
    """Where an algorithm runs for one input: how its arrays are made and handed back."""

    def __init__(self, a, stream):
        self.kind = array_kind(a)
        if self.kind == "torch_cpu":
            self.kind = "numpy"
        self.gpu = self.kind != "numpy" or on_gpu()
        self.like = a
        self.stream = stream

    def flat(self, a):
        """``a`` as a contiguous 1-d array kernels take (NumPy staged to the GPU where one is used)."""
        if self.kind == "numpy":
            if not isinstance(a, np.ndarray) and hasattr(a, "__cuda_array_interface__"):
                return a                                # already staged: one of jitkit's temporaries
            h = np.ascontiguousarray(a.numpy() if hasattr(a, "numpy") and not isinstance(a, np.ndarray)
                                     else a).reshape(-1)
            if not self.gpu:
                return h
            return DeviceBuffer.from_host(h, stream_handle(self.stream))
        if self.kind == "cupy":
            if a.ndim == 1 and a.flags.c_contiguous:
                return a
            import cupy
            return cupy.ascontiguousarray(a).reshape(-1)
        if self.kind == "torch":
            return a if a.dim() == 1 and a.is_contiguous() else a.contiguous().reshape(-1)
        if self.kind == "numba" and a.is_c_contiguous():
            return a.reshape(-1) if a.ndim != 1 else a
        iface = a.__cuda_array_interface__
        if iface.get("strides") is not None:
            raise ValueError("jitkit algorithms take contiguous __cuda_array_interface__ arrays; "
                             "make a contiguous copy first")
        return a

    def empty(self, n: int, dtype):
        """A 1-d scratch or result array of n items on this side."""
        dtype = np.dtype(dtype)
        if not self.gpu:
            return np.empty(n, dtype)
        if self.kind == "cupy":
            import cupy
            return cupy.empty(n, dtype)
        if self.kind == "torch":
            import torch
            return torch.empty(n, dtype=torch_dtype(dtype), device=self.like.device)
        return DeviceBuffer(n, dtype)

    def maker(self, n: int, dtype):
        """A function of no arguments that makes a new 1-d array of n items like :meth:`empty` does,
        with the least host time (a plan's per-call result: CuPy and PyTorch sides only)."""
        dtype = np.dtype(dtype)
        if self.kind == "cupy":
            import cupy
            return functools.partial(cupy.empty, n, dtype)
        import torch
        return functools.partial(torch.empty, n, dtype=torch_dtype(dtype), device=self.like.device)

    def result(self, dev, shape):
        """A device result handed back as the input's kind of array, reshaped."""
        if self.kind == "numpy":
            h = dev if isinstance(dev, np.ndarray) else dev.to_host(stream_handle(self.stream))
            return h.reshape(shape)
        if self.kind in ("cupy", "torch"):
            return dev.reshape(shape)
        if self.kind == "numba":               # numba's own device array over the same memory (it keeps dev alive)
            from numba import cuda
            arr = dev if type(dev).__module__.startswith("numba") else cuda.as_cuda_array(dev)
            return arr.reshape(*shape) if tuple(arr.shape) != tuple(shape) else arr
        return dev.reshape(shape) if tuple(dev.shape) != tuple(shape) else dev

    def launch(self, kernel, grid, block, *args, shared=0):
        k = kernel if self.gpu else kernel.with_target("sim")
        if (self.stream is not None and self.gpu) or shared:
            k[grid, block, self.stream if self.gpu else None, shared](*args)
        else:
            k[grid, block](*args)

    def contiguous(self, a):
        """``a`` itself where it is C-contiguous, else a C-contiguous copy (NumPy, CuPy, PyTorch)."""
        if self.kind == "numpy":
            return np.ascontiguousarray(a)
        if self.kind == "cupy":
            import cupy
            return cupy.ascontiguousarray(a)
        if self.kind == "torch":
            return a.contiguous()
        return a

    def view(self, a, dtype):
        """``a``'s bytes as another dtype of the same size."""
        dtype = np.dtype(dtype)
        if self.kind == "torch":
            return a.view(torch_dtype(dtype))
        return a.view(dtype)


def zeroed(side, n: int, dtype):
    """A zeroed scratch array of jitkit's own (a DeviceBuffer on the GPU, whatever the input kind)."""
    if not side.gpu:
        return np.zeros(n, dtype)
    buf = DeviceBuffer(n, dtype)
    driver.memset_d8(buf.ptr, 0, buf.nbytes, stream_handle(side.stream))
    return buf


def filled(side, n, dtype, v, res=None):
    """n items of dtype equal to v, on this side (NumPy on the simulator): in ``res`` if given."""
    if not side.gpu:
        if res is None:
            return np.full(n, v, dtype)
        res[...] = v
        return res
    if res is None:
        res = side.empty(n, dtype)
    if side.kind in ("cupy", "torch"):
        res[...] = v
        return res
    h = np.full(n, v, dtype)
    driver.memcpy_htod(res.ptr, h.ctypes.data, h.nbytes, stream_handle(side.stream))
    driver.stream_synchronize(stream_handle(side.stream))
    return res


def to_side(side, host: np.ndarray):
    """A host array copied to the device in ``side``'s kind (as it is on the simulator)."""
    if not side.gpu:
        return host
    if side.kind == "cupy":
        import cupy
        return cupy.asarray(host)
    if side.kind == "torch":
        import torch
        return torch.as_tensor(host, device=side.like.device)
    return DeviceBuffer.from_host(host, stream_handle(side.stream))


def flat_out(out, dtype):
    """``out=`` of a one-item result, checked and flattened."""
    if np.dtype(numpy_dtype(out)) != np.dtype(dtype) or int(np.prod(out.shape)) != 1:
        raise ValueError(f"out= must hold one {np.dtype(dtype)}, got {out.shape} of {numpy_dtype(out)}")
    return out.reshape(-1)


def to_out(out, value):
    """``value`` written into ``out`` (same dtype; same shape, or one item for a scalar)."""
    if out is None:
        return value
    vshape, vdt = tuple(np.shape(value)), numpy_dtype(value)
    if np.dtype(numpy_dtype(out)) != np.dtype(vdt):
        raise ValueError(f"out= has dtype {numpy_dtype(out)}; the result is {vdt}")
    if tuple(out.shape) != vshape and not (vshape == () and math.prod(out.shape) == 1):
        raise ValueError(f"out= has shape {tuple(out.shape)}; the result has shape {vshape}")
    out[...] = value
    return out


def axis_last(side, x, axis: int, what: str, back: bool = False):
    """A view of ``x`` with ``axis`` moved last (``back``: moved from last to ``axis``)."""
    nd = len(x.shape)
    if not -nd <= axis < nd:
        raise ValueError(f"{what}: axis {axis} is out of range for a {nd}-d array")
    src, dst = (-1, axis % nd) if back else (axis % nd, -1)
    if side.kind == "numpy":
        return np.moveaxis(np.asarray(x), src, dst)
    if side.kind == "cupy":
        import cupy
        return cupy.moveaxis(x, src, dst)
    if side.kind == "torch":
        return x.movedim(src, dst)
    if src % nd == dst % nd:
        return x
    raise ValueError(f"{what} along a middle axis takes NumPy, CuPy or PyTorch arrays")


def max_blocks(side, per_sm: int = 8) -> int:
    """``per_sm`` blocks per multiprocessor of the current device (4 on the simulator)."""
    if not side.gpu:
        return 4                                # the simulator: few blocks, the same code paths
    return driver.current_device().limits["multiprocessors"] * per_sm
