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

__version__ = "0.1.0"

from .errors import (BarrierError, CompileError, CudaError, JitkitError, LaunchError,  # noqa: E402
                     ToolchainError, TypingError, UnsupportedError)
from .types import (Array, Literal, Scalar, Tuple, bfloat16, bool_, boolean, complex64, complex128, float16, float32,  # noqa: E402
                    float64, int8, int16, int32, int64,
                    uint8, uint16, uint32, uint64)
from .intrinsics import (activemask, brev, clz, ffs, popc, all_sync, asm, bitcast, block_dims, static_assert, vector_load, vector_store, is_aligned, constexpr, any_sync, atomic, ballot_sync, lanemask_lt,  # noqa: E402
                         threadfence, threadfence_block, blockDim, blockIdx, grid, gridDim,  # noqa: E402
                         grid_sync, gridsize, laneid, local, match_all_sync, match_any_sync, shared, shfl_down_sync, shfl_sync, shfl_up_sync,
                         shfl_xor_sync, syncthreads, syncwarp, threadIdx, warpsize)
from .dispatcher import Dispatcher, jit  # noqa: E402
from .runtime.linking import CUDASource, declare_device  # noqa: E402
from .config import set_target  # noqa: E402
from .runtime.driver import NoGPUError, gpu_available, synchronize  # noqa: E402

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
from .primitives.algorithms import (histogram, partition, plan_reduce, reduce, scan, searchsorted,  # noqa: E402
                                    segmented_reduce, select, transform)

from .primitives.sort import argsort, sort, unique  # noqa: E402

__all__ += ["sort", "argsort", "unique", "block", "warp", "reduce", "scan", "transform", "plan_reduce", "segmented_reduce", "searchsorted",
            "select", "partition", "histogram"]

from . import notebook  # noqa: E402  (Jupyter: kernel cards, compile errors as HTML, progress)
from .notebook import load_ipython_extension  # noqa: E402  (%load_ext jitkit)

__all__ += ["notebook"]
notebook._auto_install()
