"""Array interop: every foreign array and stream jitkit takes, recognised in one place.

- kinds: :func:`array_kind` names what an object is (NumPy, CuPy, PyTorch, numba, any
  ``__cuda_array_interface__`` or DLPack producer); :func:`numpy_dtype` / :func:`torch_dtype` map
  dtypes both ways (bfloat16 included); :func:`layout_of` / :func:`is_contiguous` read strides;
  :func:`stream_handle` takes any stream object.
- kernel arguments: one handler per Python type turns an argument into its jitkit type and flat
  parameter values (the launch binder in :mod:`jitkit.runtime.launch` calls them).

- NumPy arrays are copied to the device before the launch and back after it
  (only those the kernel may write), like numba; non-contiguous ones travel
  as contiguous copies.
- Objects with ``__cuda_array_interface__`` or a CUDA ``__dlpack__`` (CuPy,
  PyTorch, numba device arrays, JAX...) are passed zero-copy.  CuPy and
  PyTorch get attribute-level fast paths.
- Python and NumPy scalars, and tuples of them.

One handler per Python type, found once and cached, keeps the per-launch
cost to a dictionary lookup and a few attribute reads per argument.
"""

from __future__ import annotations

import ctypes

import numpy as np

from ..lang import types as T
from ..lang.errors import LaunchError
from . import driver

_layout_cache: dict = {}


def layout_of(shape: tuple, strides, itemsize: int) -> str:
    """'C', 'F' or 'A' for byte ``strides`` (None means C-contiguous)."""
    if strides is None:
        return "C"
    key = (shape, strides, itemsize)
    found = _layout_cache.get(key)
    if found is not None:
        return found
    c = f = True
    acc = itemsize
    for n, s in zip(reversed(shape), reversed(strides)):
        if n != 1 and s != acc:
            c = False
        acc *= n
    acc = itemsize
    for n, s in zip(shape, strides):
        if n != 1 and s != acc:
            f = False
        acc *= n
    res = "C" if c or 0 in shape else ("F" if f else "A")
    if len(_layout_cache) > 4096:
        _layout_cache.clear()
    _layout_cache[key] = res
    return res


_MEMORY_MODULE = __name__.rsplit(".", 1)[0] + ".memory"     # jitkit.runtime.memory: DeviceBuffer
_CLASS_KINDS: dict = {}


def class_kind(a) -> str | None:
    """The kind of ``type(a)``, decided once per class: "numpy", "cupy", "torch" (a tensor, CPU or
    CUDA), "numba", "jitkit" (a DeviceBuffer), "cai" (any other ``__cuda_array_interface__``),
    "dlpack" (a ``__dlpack__`` producer) or None.  Every kind test in jitkit reads this."""
    cls = type(a)
    kind = _CLASS_KINDS.get(cls, False)
    if kind is not False:
        return kind
    mod = getattr(cls, "__module__", "") or ""
    if issubclass(cls, np.ndarray):
        kind = "numpy"
    elif mod == _MEMORY_MODULE:
        kind = "jitkit"
    elif mod.startswith("cupy") and cls.__name__ == "ndarray":
        kind = "cupy"
    elif mod.startswith("torch") and cls.__name__ in ("Tensor", "Parameter"):
        kind = "torch"
    elif hasattr(a, "__cuda_array_interface__"):
        kind = "numba" if mod.startswith("numba") else "cai"
    elif hasattr(a, "__dlpack__") and hasattr(a, "__dlpack_device__"):
        kind = "dlpack"
    else:
        kind = None
    if len(_CLASS_KINDS) > 1024:
        _CLASS_KINDS.clear()
    _CLASS_KINDS[cls] = kind
    return kind


def array_kind(a) -> str:
    """What the host algorithms see ``a`` as: "numpy", "cupy", "torch" (CUDA tensor), "torch_cpu",
    "numba" or "cai" (any other ``__cuda_array_interface__``, jitkit's DeviceBuffer included);
    TypeError for anything else."""
    kind = class_kind(a)
    if kind == "torch":
        return "torch" if a.is_cuda else "torch_cpu"
    if kind == "jitkit":
        return "cai"
    if kind is None or kind == "dlpack":
        raise TypeError(f"jitkit algorithms take NumPy, CuPy, PyTorch or __cuda_array_interface__ arrays, "
                        f"got {type(a).__qualname__}")
    return kind


def fast_kind(a) -> str | None:
    """"cupy", "torch" or "jitkit" where ``a`` is a device array of a kind the launch fast path reads
    by attribute, else None."""
    kind = class_kind(a)
    if kind == "torch":
        return kind if a.is_cuda else None
    return kind if kind in ("cupy", "jitkit") else None


_NP_OF_TORCH: dict = {}


def numpy_dtype(a) -> np.dtype:
    """The NumPy dtype of ``a``'s items (a PyTorch tensor's too; bfloat16 as ml_dtypes' bfloat16)."""
    d = a.dtype
    if isinstance(d, np.dtype):
        return d
    if "torch" in str(type(d)):
        got = _NP_OF_TORCH.get(d)
        if got is None:
            name = str(d).replace("torch.", "")
            got = _NP_OF_TORCH[d] = T.bfloat16.dtype if name == "bfloat16" else np.dtype(name)
        return got
    return np.dtype(str(d))


def torch_dtype(dtype):
    """The torch dtype of a NumPy dtype (bfloat16 included)."""
    import torch
    dtype = np.dtype(dtype)
    if T.HAVE_BF16_DTYPE and dtype == T.bfloat16.dtype:
        return torch.bfloat16
    return torch.from_numpy(np.empty(0, dtype)).dtype


def is_contiguous(a) -> bool:
    """True where ``a``'s items are C-contiguous: PyTorch's ``is_contiguous()``, NumPy/CuPy flags, or
    a ``__cuda_array_interface__`` without strides."""
    if hasattr(a, "is_contiguous"):
        return bool(a.is_contiguous())
    flags = getattr(a, "flags", None)
    if flags is not None:
        return bool(flags.c_contiguous)
    return a.__cuda_array_interface__.get("strides") is None


def _require_ndim(shape, index: int, what: str = "device arrays") -> None:
    if not shape:
        raise LaunchError(f"argument {index}: 0-d {what} are not supported; pass a scalar instead")


def _array_values(vals: list, ptr: int, shape: tuple, strides, layout: str, itemsize: int) -> None:
    vals.append(ptr)
    vals.extend(shape)
    if layout == "A":
        vals.extend(strides)


class HostCopy:
    """A NumPy argument staged on the device for one launch."""

    __slots__ = ("index", "host", "target", "dptr", "nbytes")

    def __init__(self, index, host, target, dptr, nbytes):
        self.index = index      # argument position
        self.host = host        # contiguous host array holding the data
        self.target = target    # the user's array (written back into when it differs from host)
        self.dptr = dptr
        self.nbytes = nbytes


def _numpy(a: np.ndarray, vals: list, staged: list, stream: int, index: int) -> T.Type:
    dt = T.scalar_from_dtype(a.dtype)
    _require_ndim(a.shape, index, "arrays")
    flags = a.flags
    if flags.c_contiguous:
        host, layout = a, "C"
    elif flags.f_contiguous:
        host, layout = a, "F"
    else:
        host, layout = np.ascontiguousarray(a), "C"
    if not host.dtype.isnative:
        host = host.astype(host.dtype.newbyteorder("="))
    nbytes = host.nbytes
    dptr = driver.mem_alloc(nbytes)
    staged.append(HostCopy(index, host, a, dptr, nbytes))
    driver.memcpy_htod(dptr, host.ctypes.data, nbytes, stream)
    vals.append(dptr)
    vals.extend(a.shape)
    return T.Array(dt, a.ndim, layout)


def _cai(a, vals: list, staged, stream, index) -> T.Type:
    iface = a.__cuda_array_interface__
    shape = tuple(iface["shape"])
    dtype = np.dtype(iface["typestr"])
    dt = T.scalar_from_dtype(dtype)
    strides = iface.get("strides")
    strides = tuple(strides) if strides is not None else None
    _require_ndim(shape, index)
    layout = layout_of(shape, strides, dtype.itemsize)
    _array_values(vals, iface["data"][0], shape, strides, layout, dtype.itemsize)
    return T.Array(dt, len(shape), layout)


def _devbuf(a, vals: list, staged, stream, index) -> T.Type:
    """jitkit's own DeviceBuffer (C-contiguous; its dtype kept, bfloat16 included)."""
    vals.append(a.ptr)
    vals.extend(a.shape)
    return T.Array(T.scalar_from_dtype(a.dtype), len(a.shape), "C")


def _cupy(a, vals: list, staged, stream, index) -> T.Type:
    shape = a.shape
    _require_ndim(shape, index)
    dtype = a.dtype
    strides = a.strides
    layout = layout_of(shape, strides, dtype.itemsize)
    _array_values(vals, a.data.ptr, shape, strides, layout, dtype.itemsize)
    return T.Array(T.scalar_from_dtype(dtype), len(shape), layout)


_TORCH_DTYPES: dict = {}


def _torch(a, vals: list, staged, stream, index) -> T.Type:
    if not a.is_cuda:
        t = a.detach()
        if str(t.dtype) == "torch.bfloat16":  # NumPy has no bfloat16: share the bits, view them as ml_dtypes'
            import torch  # already imported: ``a`` is a tensor
            return _numpy(t.view(torch.int16).numpy().view(T.bfloat16.dtype), vals, staged, stream, index)
        return _numpy(t.numpy(), vals, staged, stream, index)
    dt = _TORCH_DTYPES.get(a.dtype)
    if dt is None:
        name = str(a.dtype).replace("torch.", "")
        try:
            dt = _TORCH_DTYPES[a.dtype] = T.bfloat16 if name == "bfloat16" else T.scalar_from_dtype(name)
        except TypeError:
            raise LaunchError(f"argument {index}: torch dtype {a.dtype} is not supported") from None
    shape = tuple(a.shape)
    _require_ndim(shape, index, "tensors")
    isz = dt.itemsize
    strides = tuple(s * isz for s in a.stride())
    layout = layout_of(shape, strides, isz)
    _array_values(vals, a.data_ptr(), shape, strides, layout, isz)
    return T.Array(dt, len(shape), layout)


# ---------------------------------------------------------------- DLPack

class _DLDevice(ctypes.Structure):
    _fields_ = [("device_type", ctypes.c_int32), ("device_id", ctypes.c_int32)]


class _DLDataType(ctypes.Structure):
    _fields_ = [("code", ctypes.c_uint8), ("bits", ctypes.c_uint8), ("lanes", ctypes.c_uint16)]


class _DLTensor(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("device", _DLDevice), ("ndim", ctypes.c_int32),
                ("dtype", _DLDataType), ("shape", ctypes.POINTER(ctypes.c_int64)),
                ("strides", ctypes.POINTER(ctypes.c_int64)), ("byte_offset", ctypes.c_uint64)]


_kDLCPU, _kDLCUDA = 1, 2
_DL_KIND = {0: "i", 1: "u", 2: "f", 4: "bf", 6: "b"}


def _dlpack(a, vals: list, staged, stream, index) -> T.Type:
    dev_type, _ = a.__dlpack_device__()
    if dev_type == _kDLCPU:
        return _numpy(np.from_dlpack(a), vals, staged, stream, index)
    if dev_type != _kDLCUDA:
        raise LaunchError(f"argument {index}: DLPack device type {dev_type} is not a CUDA device")
    capsule = a.__dlpack__(stream=None)
    get = ctypes.pythonapi.PyCapsule_GetPointer
    get.restype, get.argtypes = ctypes.c_void_p, [ctypes.py_object, ctypes.c_char_p]
    t = _DLTensor.from_address(get(capsule, b"dltensor"))  # DLManagedTensor starts with a DLTensor
    kind = _DL_KIND.get(t.dtype.code)
    if kind is None or t.dtype.lanes != 1:
        raise LaunchError(f"argument {index}: DLPack dtype code {t.dtype.code} is not supported")
    dt = T.boolean if kind == "b" else (T.bfloat16 if kind == "bf" else T.Scalar(kind, t.dtype.bits))
    shape = tuple(t.shape[i] for i in range(t.ndim))
    _require_ndim(shape, index)
    isz = dt.itemsize
    strides = tuple(t.strides[i] * isz for i in range(t.ndim)) if t.strides else None
    layout = layout_of(shape, strides, isz)
    if strides is None:
        strides = ()
    _array_values(vals, (t.data or 0) + t.byte_offset, shape, strides, layout, isz)
    del capsule  # the producer still owns the memory; its deleter runs with the capsule
    return T.Array(dt, len(shape), layout)


# ---------------------------------------------------------------- scalars

def _py_bool(a, vals, staged, stream, index):
    vals.append(a)
    return T.boolean


def _py_int(a, vals, staged, stream, index):
    if not -(2 ** 63) <= a < 2 ** 63:
        raise LaunchError(f"argument {index}: integer {a} does not fit in int64")
    vals.append(a)
    return T.int64


def _py_float(a, vals, staged, stream, index):
    vals.append(a)
    return T.float64


def _py_complex(a, vals, staged, stream, index):
    vals += (a.real, a.imag)
    return T.complex128


def _np_scalar(a, vals, staged, stream, index):
    ty = T.scalar_from_dtype(a.dtype)
    if ty.is_complex:
        vals += (float(a.real), float(a.imag))
    elif ty.is_bf16:
        vals.append(int(T.bf16_bits(a)))   # the parameter holds the bit pattern
    else:
        vals.append(a.item())
    return ty


def _tuple(a, vals, staged, stream, index):
    items = []
    for x in a:
        h = handler_for(x, index)
        items.append(h(x, vals, staged, stream, index))
    return T.Tuple(tuple(items))


HANDLERS: dict = {bool: _py_bool, int: _py_int, float: _py_float, complex: _py_complex, np.ndarray: _numpy,
                   tuple: _tuple}
for _t in T.SCALARS:
    if not (_t.is_bf16 and not T.HAVE_BF16_DTYPE):
        HANDLERS[_t.dtype.type] = _np_scalar


_KIND_HANDLERS = {"numpy": _numpy, "jitkit": _devbuf, "cupy": _cupy, "torch": _torch, "numba": _cai, "cai": _cai,
                  "dlpack": _dlpack}


def handler_for(a, index: int):
    """The (cached) handler for ``type(a)``; TypeError for unsupported arguments."""
    cls = type(a)
    h = HANDLERS.get(cls)
    if h is not None:
        return h
    h = _KIND_HANDLERS.get(class_kind(a))
    if h is None and isinstance(a, np.generic):
        h = _np_scalar
    if h is None:
        raise TypeError(f"argument {index}: jitkit cannot pass {cls.__qualname__} to a kernel; "
                        "supported: numpy arrays, device arrays (__cuda_array_interface__ / __dlpack__), "
                        "numbers and tuples of them")
    HANDLERS[cls] = h
    return h


def type_of(a, index: int = 0) -> T.Type:
    """The jitkit type ``a`` would have as a kernel argument (no device needed)."""
    if isinstance(a, np.ndarray):
        _require_ndim(a.shape, index, "arrays")
        f = a.flags
        layout = "C" if f.c_contiguous else ("F" if f.f_contiguous else "C")
        return T.Array(T.scalar_from_dtype(a.dtype), a.ndim, layout)
    if isinstance(a, tuple):
        return T.Tuple(tuple(type_of(x, index) for x in a))
    h = handler_for(a, index)
    return h(a, [], [], 0, index)


# ---------------------------------------------------------------- streams

def stream_handle(s) -> int:
    """A CUstream handle (int) from None, an int, or a stream object of cuda.core/CuPy/PyTorch."""
    if s is None or (s == 0 and not isinstance(s, str)):
        return 0
    if isinstance(s, int):
        if isinstance(s, bool) or s < 0:
            raise TypeError(f"a CUDA stream handle is a non-negative int, got {s!r}")
        return s
    if isinstance(s, (str, bytes, float)):
        raise TypeError(f"cannot use {type(s).__qualname__} {s!r} as a CUDA stream; pass an int handle or a stream "
                        "object (cuda.core, CuPy, PyTorch)")
    proto = getattr(s, "__cuda_stream__", None)
    if proto is not None:
        return int(proto()[1])
    for attr in ("cuda_stream", "ptr", "handle"):  # PyTorch, CuPy, cuda.core/others
        h = getattr(s, attr, None)
        if h is not None:
            try:
                return int(h)
            except TypeError:
                continue
    try:
        return int(s)  # cuda.bindings CUstream
    except (TypeError, ValueError):
        raise TypeError(f"cannot use {type(s).__qualname__} as a CUDA stream; pass an int handle or an object "
                        "with __cuda_stream__ (cuda.core), .ptr (CuPy) or .cuda_stream (PyTorch)") from None
