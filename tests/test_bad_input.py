"""The bad-input catalogue at run time: wrong launches, wrong arguments, wrong calls of the host
algorithms, resource limits and faults.  Each case is a test; each must raise a clear jitkit error
(``TypeError``/``ValueError``/``jk.LaunchError`` before anything runs, ``jk.CudaError`` naming the
kernel for what only the GPU finds) and leave the process usable where CUDA allows it.

Compile-time bad programs (unsupported syntax, type errors) are the catalogue in test_errors.py.
"""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import jitkit as jk
from bad_input_kernels import (add, double, fill, first_column, keep_positive, no_such_attribute, pair_of,
                               returns_nothing, wild_write)
from conftest import HAVE_GPU, gpu, optional_module

Z = np.zeros(4, np.float32)

# (id, call, exception, message pattern): raised before any launch, on every target
LAUNCH = [
    ("too-few-args", lambda: add[1, 32](Z, Z), TypeError, "takes 3 arguments, got 2"),
    ("too-many-args", lambda: add[1, 32](Z, Z, Z, Z), TypeError, "takes 3 arguments, got 4"),
    ("list-arg", lambda: add[1, 32]([1, 2], Z, Z), TypeError, "cannot pass list"),
    ("str-arg", lambda: add[1, 32]("abc", Z, Z), TypeError, "cannot pass str"),
    ("none-arg", lambda: add[1, 32](None, Z, Z), TypeError, "cannot pass NoneType"),
    ("dict-arg", lambda: add[1, 32]({}, Z, Z), TypeError, "cannot pass dict"),
    ("object-dtype", lambda: add[1, 32](np.zeros(3, object), Z, Z), TypeError, "does not support dtype object"),
    ("datetime-dtype", lambda: add[1, 32](np.zeros(3, "M8[s]"), Z, Z), TypeError, "does not support dtype datetime64"),
    ("string-dtype", lambda: add[1, 32](np.zeros(3, "U3"), Z, Z), TypeError, "does not support dtype <U3"),
    ("0-d-array", lambda: add[1, 32](np.zeros(()), Z, Z), jk.LaunchError, "0-d arrays are not supported"),
    ("int-too-big", lambda: fill[1, 32](Z, 2**70), jk.LaunchError, "does not fit in int64"),
    ("ndim-1-for-2", lambda: first_column[1, 32](Z), jk.CompileError, "too many indices for a 1-d array"),
    ("grid-0", lambda: add[0, 32], jk.LaunchError, "must all be >= 1"),
    ("block-0", lambda: add[1, 0], jk.LaunchError, "must all be >= 1"),
    ("grid-float", lambda: add[1.5, 32], jk.LaunchError, "must be an int or a tuple"),
    ("grid-4-dims", lambda: add[(1, 2, 3, 4), 32], jk.LaunchError, "must be an int or a tuple of 1 to 3"),
    ("block-2048", lambda: add[1, 2048], jk.LaunchError, "blockDim.x is at most 1024"),
    ("block-2048-threads", lambda: add[1, (32, 32, 2)], jk.LaunchError, "has 2048 threads"),
    ("block-z-65", lambda: add[1, (1, 1, 65)], jk.LaunchError, "blockDim.z is at most 64"),
    ("grid-y-65536", lambda: add[(1, 65536), 32], jk.LaunchError, "gridDim.y is at most 65535"),
    ("grid-x-2^31", lambda: add[2**31, 32], jk.LaunchError, "gridDim.x is at most 2147483647"),
    ("shared-negative", lambda: add[1, 32, 0, -1], jk.LaunchError, "shared_bytes must be >= 0"),
    ("shared-over-limit", lambda: add[1, 32, 0, 300_000](Z, Z, Z), jk.LaunchError,
     r"shared_bytes=300000 .*exceed.* 232448 bytes .*for kernel add"),
    ("shared-float", lambda: add[1, 32, 0, 1.5], jk.LaunchError, "shared_bytes must be an int"),
    ("stream-str", lambda: add[1, 32, "s"], TypeError, "cannot use str 's' as a CUDA stream"),
    ("stream-negative", lambda: add[1, 32, -1], TypeError, "non-negative int"),
    ("stream-object", lambda: add[1, 32, object()], TypeError, "cannot use object as a CUDA stream"),
    ("config-1-item", lambda: add[(1,)], jk.LaunchError, r"kernel\[grid, block\]"),
    ("direct-call", lambda: add(Z, Z, Z), TypeError, r"add\[grid, block\]"),
    ("bad-option", lambda: jk.jit(nosuch=True), TypeError, "unknown jit option"),
    ("bad-opt-level", lambda: jk.jit(opt=7), ValueError, "opt must be 0, 1, 2 or 3"),
]

# host algorithms called wrongly
ALGORITHMS = [
    ("reduce-list", lambda: jk.reduce([1, 2, 3]), TypeError, "take NumPy, CuPy, PyTorch"),
    ("reduce-op-not-callable", lambda: jk.reduce(Z, 3), TypeError, "op must be a function"),
    ("reduce-op-gives-none", lambda: jk.reduce(Z, returns_nothing), TypeError, "must give a scalar"),
    ("reduce-op-gives-pair", lambda: jk.reduce(Z, pair_of), TypeError, "must give a scalar"),
    ("reduce-op-bad-attr", lambda: jk.reduce(Z, no_such_attribute), jk.CompileError, "has no attribute 'nosuch'"),
    ("reduce-empty-no-identity", lambda: jk.reduce(np.zeros(0), max), ValueError, "needs init="),
    ("reduce-axis-out-of-range", lambda: jk.reduce(np.zeros((2, 3)), axis=2), ValueError, "axis 2 is out of range"),
    ("reduce-out-shape", lambda: jk.reduce(Z, out=np.zeros(3, np.float32)), ValueError, "out= has shape"),
    ("reduce-out-dtype", lambda: jk.reduce(Z, out=np.zeros((), np.int8)), ValueError, "out= has dtype int8"),
    ("reduce-pair-3-arrays", lambda: jk.reduce((Z, Z, Z), pair_of), ValueError, "3-tuple"),
    ("reduce-pair-shapes", lambda: jk.reduce((Z, Z[:3]), pair_of), ValueError, "one shape"),
    ("reduce-complex-max", lambda: jk.reduce(np.zeros(3, np.complex64), max), jk.CompileError,
     "max.. needs real arguments, got complex64"),
    ("scan-out-dtype", lambda: jk.scan(Z, out=np.zeros(4, np.int8)), ValueError, "out= has dtype int8"),
    ("scan-out-shape", lambda: jk.scan(Z, out=np.zeros(5, np.float32)), ValueError, "out= has shape"),
    ("scan-exclusive-no-init", lambda: jk.scan(Z, max, inclusive=False), ValueError, "needs init="),
    ("transform-arity", lambda: jk.transform(double, Z, Z), TypeError,
     r"double\(\) takes 1 positional argument, and is called here with 2"),
    ("reduce-op-arity", lambda: jk.reduce(Z, double), TypeError, r"double\(\) takes 1 positional argument"),
    ("transform-mismatch", lambda: jk.transform(pair_of, Z, np.zeros(5)), ValueError, "one shape"),
    ("transform-4-operands", lambda: jk.transform(double, Z, Z, Z, Z), TypeError, "1 to 3 operands"),
    ("transform-no-array", lambda: jk.transform(double, 1.0), TypeError, "at least one array"),
    ("sort-complex", lambda: jk.sort(np.zeros(3, np.complex64)), TypeError, "integer, bool and float keys"),
    ("sort-values-shape", lambda: jk.sort(np.zeros(4), np.zeros(3)), ValueError, "values has shape"),
    ("sort-values-kind", lambda: jk.sort(np.zeros(4), [1, 2, 3, 4]), TypeError, "same kind of array"),
    ("sort-key-and-less", lambda: jk.sort(Z, key=double, less=pair_of), ValueError, "key= or less=, not both"),
    ("sort-axis", lambda: jk.sort(np.zeros((2, 2)), axis=2), ValueError, "axis 2 is out of range"),
    ("histogram-bins-0", lambda: jk.histogram(Z, 0), ValueError, "positive number of bins"),
    ("searchsorted-2d", lambda: jk.searchsorted(np.zeros((2, 2)), Z), ValueError, "searches a 1-d array"),
    ("segmented-offsets-decrease", lambda: jk.segmented_reduce(Z, np.array([0, 3, 2])), ValueError,
     "non-decreasing"),
    ("segmented-offsets-past-end", lambda: jk.segmented_reduce(Z, np.array([0, 9])), ValueError, "from 0 to x.size"),
    ("segmented-offsets-float", lambda: jk.segmented_reduce(Z, np.array([0.0, 2.0])), TypeError,
     "offsets must be integers"),
    ("select-not-a-function", lambda: jk.select(Z, "v > 0"), TypeError, "must be a function"),
]


@pytest.fixture(params=["sim", pytest.param("gpu", marks=gpu)])
def on(request):
    jk.set_target(request.param)
    yield request.param
    jk.set_target("auto")


@pytest.mark.parametrize("call, exc, pattern", [c[1:] for c in LAUNCH], ids=[c[0] for c in LAUNCH])
def test_bad_launch(on, call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()
    out = np.zeros(4, np.float32)                       # still usable: the same kernel launches fine
    add[1, 32](np.ones(4, np.float32), np.ones(4, np.float32), out)
    np.testing.assert_array_equal(out, 2)


@pytest.mark.parametrize("call, exc, pattern", [c[1:] for c in ALGORITHMS], ids=[c[0] for c in ALGORITHMS])
def test_bad_algorithm_call(on, call, exc, pattern):
    with pytest.raises(exc, match=pattern):
        call()
    assert jk.reduce(np.arange(10.0)) == 45.0


def test_catalogue_size():
    assert len(LAUNCH) + len(ALGORITHMS) >= 50


def test_zero_size_arrays_everywhere(on):
    """Empty inputs are not errors: kernels run (and write nothing), algorithms give empty results."""
    e = np.zeros(0, np.float32)
    add[1, 32](e, e, e)
    assert jk.reduce(e) == 0 and jk.scan(e).shape == (0,) and jk.sort(e).shape == (0,)
    assert jk.transform(double, e).shape == (0,) and jk.select(e, keep_positive).shape == (0,)
    assert jk.unique(e).shape == (0,) and jk.argsort(e).shape == (0,)
    counts, edges = jk.histogram(e, 4, range=(0.0, 1.0))
    assert counts.tolist() == [0, 0, 0, 0] and edges.shape == (5,)
    assert jk.segmented_reduce(e, np.array([0, 0, 0])).tolist() == [0, 0]
    assert jk.searchsorted(e, np.array([1.0], np.float32)).tolist() == [0]
    assert jk.reduce(np.zeros((3, 0)), axis=1).tolist() == [0, 0, 0]


def test_out_of_bounds_on_the_simulator_is_located():
    """What faults on the GPU is an IndexError on the simulator, with the kernel, thread and line."""
    x = np.zeros(4, np.float32)
    with pytest.raises(IndexError, match=r"out of bounds .* in kernel wild_write, block \(0, 0, 0\), thread"):
        wild_write.with_target("sim")[1, 1](x, 1 << 40)


@gpu
def test_out_of_memory_is_a_cuda_error_and_the_process_goes_on():
    from jitkit.runtime.memory import DeviceBuffer
    with pytest.raises(jk.CudaError, match="CUDA_ERROR_OUT_OF_MEMORY.*still usable"):
        DeviceBuffer(1 << 50, np.uint8)                # a petabyte
    huge = np.broadcast_to(np.float32(1), (1 << 20,))   # a big launch after it works
    out = np.zeros(1 << 20, np.float32)
    add[(1 << 20) // 256, 256](huge, huge, out)
    assert (out == 2).all()


@gpu
def test_block_too_big_for_the_kernel_is_a_cuda_error_naming_it():
    """A block within CUDA's limits that the compiled kernel cannot run (registers) fails at launch
    with the kernel's name; launches after it work."""
    cupy = pytest.importorskip("cupy")
    x = cupy.zeros(8, np.float32)
    fill[1, 32, 0, 200 * 1024](x, 1.0)                 # 200 KB of dynamic shared memory: allowed on sm_90
    assert float(x.sum()) == 8


@gpu
def test_fault_is_sticky_and_says_so(tmp_path):
    """An illegal address raises CudaError naming the kernel; CUDA keeps the context broken, and the
    next GPU call says so too (in a subprocess: the context cannot be recovered)."""
    if optional_module("cupy") is None:
        pytest.skip("needs cupy")
    script = tmp_path / "fault.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(__import__('os').path.dirname(__file__))!r})
        import numpy as np, cupy, jitkit as jk
        from bad_input_kernels import wild_write, fill
        d = cupy.zeros(4, np.float32)
        try:
            wild_write[1, 1](d, 1 << 40)
            jk.synchronize()
        except jk.CudaError as e:
            print("FIRST", e.sticky, e)
        try:
            fill[1, 32](d, 1.0)
            jk.synchronize()
        except jk.CudaError as e:
            print("SECOND", e.sticky, e)
    """))
    res = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert "FIRST True" in res.stdout and "wild_write" in res.stdout, res.stdout + res.stderr
    assert "CUDA_ERROR_ILLEGAL_ADDRESS" in res.stdout and "restart the process" in res.stdout
    assert "SECOND True" in res.stdout, res.stdout + res.stderr


def test_gpu_absent_is_clear(monkeypatch):
    if HAVE_GPU:
        pytest.skip("a GPU is present")
    with pytest.raises(jk.NoGPUError, match="no CUDA driver|no GPU"):
        add.with_target("gpu")[1, 32](Z, Z, Z)
