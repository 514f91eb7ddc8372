"""jitkit: write GPU kernels in Python, compiled through libNVVM and nvJitLink.

Example::

    import numpy as np
    import jitkit as jk

    @jk.jit
    def saxpy(a, x, y, out):
        i = jk.grid(1)
        if i < x.size:
            out[i] = a * x[i] + y[i]

    n = 1000
    x, y = np.random.rand(n).astype(np.float32), np.random.rand(n).astype(np.float32)
    out = np.empty_like(x)
    saxpy[(n + 255) // 256, 256](np.float32(2.0), x, y, out)
"""

from .lang.version import __version__
from .lang import types  # jk.types: the type objects and their promotion rules
from .lang.errors import (BarrierError, CompileError, CudaError, JitkitError, LaunchError, ToolchainError,
                          TypingError, UnsupportedError)
from .lang.types import (Array, Literal, Scalar, Tuple, bfloat16, bool_, boolean, complex64, complex128, float16,
                         float32, float64, int8, int16, int32, int64, uint8, uint16, uint32, uint64)
from .lang.intrinsics import (activemask, all_sync, any_sync, asm, atomic, ballot_sync, bitcast, block_dims, blockDim,
                              blockIdx, brev, clz, constexpr, ffs, grid, grid_sync, gridDim, gridsize, is_aligned,
                              lanemask_lt, laneid, local, match_all_sync, match_any_sync, popc, shared,
                              shfl_down_sync, shfl_sync, shfl_up_sync, shfl_xor_sync, static_assert, syncthreads,
                              syncwarp, threadfence, threadfence_block, threadIdx, vector_load, vector_store,
                              warpsize)
from .lang.declarations import CUDASource, declare_device
from .config import set_target
from .runtime.driver import NoGPUError, gpu_available, synchronize
from .dispatcher import Dispatcher, jit

__all__ = [
    "jit", "Dispatcher", "constexpr", "asm", "declare_device", "CUDASource", "gpu_available", "synchronize", "set_target", "BarrierError",
    "CompileError", "TypingError", "UnsupportedError", "CudaError", "ToolchainError", "LaunchError",
    "JitkitError", "NoGPUError",
    "Array", "Literal", "Scalar", "Tuple", "bool_", "boolean", "int8", "int16", "int32", "int64",
    "uint8", "uint16", "uint32", "uint64", "float16", "bfloat16", "float32", "float64", "complex64", "complex128",
    "threadIdx", "blockIdx", "blockDim", "gridDim", "grid", "gridsize", "laneid", "warpsize", "syncthreads",
    "block_dims", "bitcast", "static_assert", "vector_load", "vector_store", "is_aligned",
    "grid_sync", "shared", "local", "atomic", "shfl_sync", "shfl_up_sync", "shfl_down_sync", "shfl_xor_sync", "ballot_sync",
    "any_sync", "all_sync", "match_any_sync", "match_all_sync", "syncwarp", "activemask", "lanemask_lt", "threadfence", "threadfence_block",
    "popc", "clz", "ffs", "brev",
]

from .primitives import block, warp  # noqa: E402  (written in the kernel language: needs the names above)
from .primitives.algorithms import (histogram, partition, plan_reduce, plan_scan, reduce, scan,  # noqa: E402
                                    searchsorted, segmented_reduce, select, transform)
from .primitives.sort import argsort, plan_argsort, plan_sort, sort, unique  # noqa: E402

__all__ += ["sort", "argsort", "unique", "block", "warp", "reduce", "scan", "transform", "segmented_reduce",
            "searchsorted", "select", "partition", "histogram", "plan_reduce", "plan_scan", "plan_sort",
            "plan_argsort"]

from . import notebook  # noqa: E402  (Jupyter: kernel cards, compile errors as HTML, progress)
from .notebook import load_ipython_extension  # noqa: E402  (%load_ext jitkit)

__all__ += ["notebook"]
notebook.auto_install()
