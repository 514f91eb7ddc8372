"""A minimal device buffer for jitkit's own temporaries and staged NumPy data.

``DeviceBuffer`` is a 1-d (or n-d, C-order) allocation that kernels take zero-copy (it exposes
``__cuda_array_interface__``).  Freed memory goes to a per-size free list and is reused, so host
algorithms called in a loop do not pay ``cuMemAlloc`` each time.  It is not a user-facing array type:
results go back to the caller as their own kind of array.
"""

from __future__ import annotations

import math
import threading

import numpy as np

from . import driver
from ..lang.errors import CudaError

_free: dict = {}            # (context id, rounded bytes) -> [device pointers]
_lock = threading.Lock()
_KEEP = 8                   # free pointers kept per size


def _rounded(nbytes: int) -> int:
    return 256 if nbytes <= 256 else 1 << (int(nbytes) - 1).bit_length()


def release_free_lists() -> None:
    """Free every pointer kept for reuse (done by itself when an allocation runs out of memory)."""
    with _lock:
        ptrs = [p for pool in _free.values() for p in pool]
        _free.clear()
    for p in ptrs:
        try:
            driver.mem_free(p)
        except CudaError:
            pass


class DeviceBuffer:
    """``shape`` items of ``dtype`` in device memory (contents undefined until written)."""

    __slots__ = ("ptr", "shape", "dtype", "nbytes", "_key", "_base", "__weakref__")

    def __init__(self, shape, dtype):
        self.shape = tuple(shape) if isinstance(shape, tuple) else (int(shape),)
        self.dtype = np.dtype(dtype)
        self.nbytes = int(math.prod(self.shape)) * self.dtype.itemsize
        self._key = (driver.current_device().context_id, _rounded(self.nbytes))
        with _lock:
            pool = _free.get(self._key)
            ptr = pool.pop() if pool else None
        if ptr is None:
            try:
                ptr = driver.mem_alloc(self._key[1])
            except CudaError as e:
                if e.name != "CUDA_ERROR_OUT_OF_MEMORY":
                    raise
                release_free_lists()          # memory parked for reuse goes back; then one more try
                ptr = driver.mem_alloc(self._key[1])
        self.ptr = ptr
        self._base = None

    def reshape(self, shape) -> "DeviceBuffer":
        """The same items in another C-order shape (keeps this one alive)."""
        shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
        if int(np.prod(shape)) != self.size:
            raise ValueError(f"cannot reshape {self.size} items into {shape}")
        v = self.view(self.dtype)
        v.shape = shape
        return v

    def view(self, dtype) -> "DeviceBuffer":
        """The same bytes as a 1-d buffer of another dtype (keeps this one alive)."""
        dtype = np.dtype(dtype)
        if self.nbytes % dtype.itemsize:
            raise ValueError(f"{self.nbytes} bytes are not a whole number of {dtype} items")
        v = DeviceBuffer.__new__(DeviceBuffer)
        v.ptr, v.shape, v.dtype, v.nbytes = self.ptr, (self.nbytes // dtype.itemsize,), dtype, self.nbytes
        v._key, v._base = None, self
        return v

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def __cuda_array_interface__(self) -> dict:
        return {"shape": self.shape, "typestr": self.dtype.str, "data": (self.ptr, False), "version": 3,
                "strides": None}

    @classmethod
    def from_host(cls, a: np.ndarray, stream: int = 0) -> "DeviceBuffer":
        a = np.ascontiguousarray(a)
        buf = cls(a.shape, a.dtype)
        driver.memcpy_htod(buf.ptr, a.ctypes.data, a.nbytes, stream)
        if stream:
            driver.stream_synchronize(stream)    # ``a`` may be a temporary
        return buf

    def to_host(self, stream: int = 0) -> np.ndarray:
        out = np.empty(self.shape, self.dtype)
        driver.memcpy_dtoh(out.ctypes.data, self.ptr, self.nbytes, stream)
        driver.stream_synchronize(stream)
        return out

    def __del__(self):
        ptr, key = getattr(self, "ptr", None), getattr(self, "_key", None)
        if ptr is None or key is None or _lock is None:     # a view, or interpreter shutdown
            return
        with _lock:
            pool = _free.setdefault(key, [])
            if len(pool) < _KEEP:
                pool.append(ptr)
                return
        try:
            driver.mem_free(ptr)
        except Exception:   # interpreter shutdown, or a context already gone
            pass

    def __repr__(self):
        return f"<jitkit DeviceBuffer {self.shape} {self.dtype} at {self.ptr:#x}>"
