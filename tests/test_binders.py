"""The launch fast path's generated binders, without a GPU: stand-ins for CuPy arrays and PyTorch
tensors (the same class names and attributes), a loaded kernel whose launch site records what it
was given.  Checks that a binder packs exactly the parameters the general binder would, and that
every mismatch (class, dtype, layout, rank, range, constexpr value, configuration) falls back."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from jitkit.lang import types as T
from jitkit.runtime import driver, launch


class _Ptr:
    def __init__(self, ptr):
        self.ptr = ptr


def _cupy_class():
    cls = type("ndarray", (), {"__module__": "cupy._stand_in"})

    def make(shape, dtype, strides=None, ptr=0x7F0000001000):
        a = cls()
        a.dtype, a.shape = np.dtype(dtype), tuple(shape)
        a.ndim, a.size = len(a.shape), int(np.prod(a.shape))
        a.strides = strides or tuple(int(np.prod(a.shape[k + 1:])) * a.dtype.itemsize for k in range(a.ndim))
        a.data = _Ptr(ptr)
        return a
    return make


class _Tensor:
    """Enough of a CUDA torch.Tensor for a binder: dtype, is_cuda, dim/numel/stride, shape, data_ptr."""
    __module__ = "torch._stand_in"

    def __init__(self, shape, dtype, strides=None, ptr=0x7F0000002000):
        self.dtype, self.shape, self.is_cuda, self._ptr = np.dtype(dtype), tuple(shape), True, ptr
        self._strides = strides or tuple(int(np.prod(self.shape[k + 1:])) for k in range(len(self.shape)))

    def dim(self):
        return len(self.shape)

    def numel(self):
        return int(np.prod(self.shape))

    def stride(self, k=None):
        return self._strides if k is None else self._strides[k]

    def data_ptr(self):
        return self._ptr


_Tensor.__name__ = "Tensor"


class _Loaded:
    """What fast_binder reads of a LoadedKernel; its launch site records (dims, parameters)."""

    def __init__(self, argtypes, block=None):
        self.argtypes, self.block, self.name = argtypes, block, "stand_in"
        self.params = launch.Params(argtypes)
        self.device = driver.thread_device()       # this thread's (None without a GPU): the binder's test passes
        self.dyn_ok = 48 * 1024
        self.log = []

        def site(dims, addr):
            pb = self.params.thread_buffer()
            assert addr == pb.addr
            self.log.append((dims, self.params.struct.unpack_from(pb.buf, 0)))
        self.launch = site


class _Cfg:
    def __init__(self, grid=(4, 1, 1), block=(128, 1, 1), shared=0, stream=0):
        self.grid, self.block, self.shared, self.stream = grid, block, shared, stream
        self.dims = (*grid, *block, shared, stream)


def _packed(argtypes, values):
    p = launch.Params(argtypes)
    return p.struct.unpack(p.struct.pack(*values))


def test_cupy_and_scalars_pack_what_the_general_binder_would():
    cupy = _cupy_class()
    x, out = cupy((1001,), np.float32, ptr=0x1000), cupy((1001,), np.float32, ptr=0x9000)
    tys = (T.float64, T.Array(T.float32, 1, "C"), T.int64, T.Array(T.float32, 1, "C"))
    loaded = _Loaded(tys)
    fast = launch.fast_binder((2.5, x, 7, out), loaded)
    assert fast is not None and "a1.data.ptr" in fast.source
    cfg = _Cfg()
    assert fast(cfg, (2.5, x, 7, out))
    dims, got = loaded.log[-1]
    assert dims == cfg.dims
    assert got == _packed(tys, (2.5, 0x1000, 1001, 7, 0x9000, 1001))
    y = cupy((33,), np.float32, ptr=0x5000)                 # same classes, another array: repacked
    assert fast(cfg, (-1.0, y, 3, out))
    assert loaded.log[-1][1] == _packed(tys, (-1.0, 0x5000, 33, 3, 0x9000, 1001))


@pytest.mark.parametrize("change", ["dtype", "strided", "rank", "class", "int range", "scalar class", "count",
                                    "shared", "one item strided"])
def test_cupy_mismatches_fall_back(change):
    cupy = _cupy_class()
    x, out = cupy((100,), np.float32), cupy((100,), np.float32)
    tys = (T.float64, T.Array(T.float32, 1, "C"), T.int64, T.Array(T.float32, 1, "C"))
    loaded = _Loaded(tys)
    fast = launch.fast_binder((2.5, x, 7, out), loaded)
    args, cfg = [2.5, x, 7, out], _Cfg()
    if change == "dtype":
        args[1] = cupy((100,), np.float64)
    elif change == "strided":
        args[1] = cupy((100,), np.float32, strides=(8,))
    elif change == "rank":
        args[1] = cupy((10, 10), np.float32)
    elif change == "class":
        args[1] = _Tensor((100,), np.float32)
    elif change == "int range":
        args[2] = 1 << 63
    elif change == "scalar class":
        args[2] = np.int32(7)
    elif change == "count":
        args = args[:3]
    elif change == "shared":
        cfg = _Cfg(shared=64 * 1024)
    elif change == "one item strided":                      # one item: any stride is contiguous
        args[1] = cupy((1,), np.float32, strides=(400,))
        assert fast(cfg, tuple(args)) and loaded.log[-1][1][2] == 1
        return
    assert fast(cfg, tuple(args)) is False and not loaded.log


def test_strided_and_nd_arrays_pass_their_strides():
    cupy = _cupy_class()
    a = cupy((5, 7), np.int16, strides=(28, 4), ptr=0x2000)      # every other column: layout 'A'
    b = cupy((5, 7), np.int16, ptr=0x3000)                       # C
    tys = (T.Array(T.int16, 2, "A"), T.Array(T.int16, 2, "C"))
    loaded = _Loaded(tys)
    fast = launch.fast_binder((a, b), loaded)
    assert fast(_Cfg(), (a, b))
    assert loaded.log[-1][1] == _packed(tys, (0x2000, 5, 7, 28, 4, 0x3000, 5, 7))
    assert fast(_Cfg(), (b, b)) is False                         # a C array where 'A' was bound: its own signature


def test_torch_tensors_pack_byte_strides():
    t = _Tensor((64,), np.float64, ptr=0x4000)
    v = _Tensor((8, 4), np.float64, strides=(8, 2), ptr=0x6000)   # strides in items
    tys = (T.Array(T.float64, 1, "C"), T.Array(T.float64, 2, "A"))
    loaded = _Loaded(tys)
    fast = launch.fast_binder((t, v), loaded)
    assert fast(_Cfg(), (t, v))
    assert loaded.log[-1][1] == _packed(tys, (0x4000, 64, 0x6000, 8, 4, 64, 16))
    t.is_cuda = False
    assert fast(_Cfg(), (t, v)) is False
    assert fast(_Cfg(), (_Tensor((64,), np.float64, strides=(2,)), v)) is False


def test_constexpr_values_and_per_block_kernels():
    cupy = _cupy_class()
    x = cupy((10,), np.float32)
    tys = (T.Array(T.float32, 1, "C"), T.Literal.of(4))
    loaded = _Loaded(tys, block=(128, 1, 1))
    fast = launch.fast_binder((x, 4), loaded)
    assert fast(_Cfg(), (x, 4))
    assert fast(_Cfg(), (x, 5)) is False                          # another constexpr value: another kernel
    assert fast(_Cfg(), (x, 4.0)) is False
    assert fast(_Cfg(block=(256, 1, 1)), (x, 4)) is False         # compiled for 128 threads only


def test_what_never_takes_the_fast_path():
    cupy = _cupy_class()
    x = cupy((10,), np.float32)
    tys = (T.Array(T.float32, 1, "C"), T.Tuple((T.int64, T.int64)))
    assert launch.fast_binder((x, (1, 2)), _Loaded(tys)) is None  # tuples
    tys = (T.Array(T.float32, 1, "C"), T.bfloat16)
    if T.HAVE_BF16_DTYPE:
        assert launch.fast_binder((x, T.bfloat16.dtype.type(1.0)), _Loaded(tys)) is None   # its bit pattern
    tys = (T.Array(T.float32, 1, "C"),)
    assert launch.fast_binder((np.zeros(10, np.float32),), _Loaded(tys)) is None        # host arrays stage


def test_binder_for_remembers_per_argument_classes():
    cupy = _cupy_class()
    x = cupy((10,), np.float32)
    t = _Tensor((10,), np.float32)
    tys = (T.Array(T.float32, 1, "C"),)
    loaded = _Loaded(tys)
    loaded.binders, loaded.general_only = {}, False
    a = launch.binder_for((x,), loaded)
    assert launch.binder_for((x,), loaded) is a                    # remembered
    b = launch.binder_for((t,), loaded)                            # a second kind of array, same signature
    assert b is not a and b(_Cfg(), (t,)) and not a(_Cfg(), (t,))
    loaded.general_only = True
    assert launch.binder_for((cupy((3,), np.float32), 1), loaded) is None


def test_struct_slots_are_8_bytes():
    tys = (T.boolean, T.int8, T.uint16, T.float32, T.complex64, T.Array(T.float64, 2, "A"))
    p = launch.Params(tys)
    assert p.struct.size == 8 * p.count == 8 * (1 + 1 + 1 + 1 + 2 + 5)
    assert p.firsts == [0, 1, 2, 3, 4, 6]
    assert struct.calcsize("<" + "".join(c.format[1:] for c in p.codes)) == p.struct.size
