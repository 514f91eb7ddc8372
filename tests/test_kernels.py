"""Every kernel of the catalogue, on every tier: compile to cubin (CI), run on the GPU (device)."""

import numpy as np
import pytest

from conftest import HAVE_GPU, gpu, optional_module
from kernels import BF16, CASES, blocks_for

ARCHS = ("sm_90", "sm_80")


def _ids(c):
    return c.name


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_compiles_to_cubin(case, arch, rng):
    args = case.make(rng)
    res = case.kernel.compile(tuple(args), arch=arch)
    assert res.cubin[:4] == b"\x7fELF", "not an ELF cubin"
    assert res.name.encode() + b"\x00" in res.cubin, "kernel symbol missing from the cubin"
    assert res.arch == arch


def _launch_config(case, args):
    if case.launch is not None:
        return case.launch(args)
    return blocks_for(np.asarray(args[case.outputs[0]]).size)


def _check(case, got, want):
    got = np.asarray(got)
    want = np.asarray(want)
    if BF16 is not None and got.dtype == BF16:  # compare bfloat16 by value, as float32 (exact)
        got, want = got.astype(np.float32), want.astype(np.float32)
    assert got.shape == want.shape, (got.shape, want.shape)
    if got.dtype.kind in "fc":
        assert not np.isnan(got).any() or np.isnan(want).any(), "outputs left unwritten (poison NaN)"
        np.testing.assert_allclose(got, want.astype(got.dtype) if want.dtype.kind not in "fc" else want,
                                   rtol=case.rtol, atol=case.atol)
    else:
        np.testing.assert_array_equal(got, want.astype(got.dtype))


def _to(framework, a):
    if not isinstance(a, np.ndarray):
        return a
    if framework == "numpy":
        return a
    if framework == "cupy":
        import cupy
        return cupy.asarray(a)
    import torch
    if BF16 is not None and a.dtype == BF16:  # torch does not take ml_dtypes' bfloat16: share the bits
        return torch.from_numpy(np.ascontiguousarray(a).view(np.int16)).view(torch.bfloat16).cuda()
    return torch.from_numpy(np.ascontiguousarray(a)).cuda()


def _back(framework, a):
    if framework == "numpy":
        return a
    if framework == "cupy":
        import cupy
        return cupy.asnumpy(a)
    import torch
    if a.dtype == torch.bfloat16:
        return a.cpu().view(torch.int16).numpy().view(BF16)
    return a.cpu().numpy()


FRAMEWORKS = ["numpy", "cupy", "torch"]


def _run_case(case, target, framework, rng, kernel=None):
    args = case.make(rng)
    if framework == "torch" and any(isinstance(a, np.ndarray) and a.dtype in (np.uint16, np.uint32, np.uint64)
                                    for a in args):
        pytest.skip("torch has no general uint16/32/64 tensors")
    if framework == "cupy" and BF16 is not None and any(isinstance(a, np.ndarray) and a.dtype == BF16 for a in args):
        try:
            import cupy
            cupy.zeros(1, BF16)
        except (TypeError, ValueError):
            pytest.skip("this CuPy has no bfloat16 arrays")
    inputs = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    dev_args = [_to(framework, a) for a in args]
    (kernel or case.kernel).with_target(target)[tuple(_launch_config(case, args))](*dev_args)
    if framework != "numpy":
        import jitkit as jk
        jk.synchronize()
    want = case.ref(inputs)
    for k, idx in enumerate(case.outputs):
        _check(case, _back(framework, dev_args[idx]), want[k])
    for i, a in enumerate(inputs):  # inputs the kernel does not write are untouched
        if isinstance(a, np.ndarray) and i not in case.outputs:
            np.testing.assert_array_equal(_back(framework, dev_args[i]), a)


@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_sim_matches_numpy(case, rng):
    """The CPU simulator tier: every catalogue kernel, same assertions and tolerances as the GPU."""
    _run_case(case, "sim", "numpy", rng)


@gpu
@pytest.mark.parametrize("framework", FRAMEWORKS)
@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_gpu_matches_numpy(case, framework, rng):
    if framework != "numpy" and optional_module(framework) is None:
        pytest.skip(f"{framework} is not installed")
    _run_case(case, "gpu", framework, rng)


_DEBUG = {}


@gpu
@pytest.mark.parametrize("case", CASES, ids=_ids)
def test_gpu_debug_mode_matches_numpy(case, rng):
    """debug=True (bounds checks, asserts) on every catalogue kernel: same results, no false alarms."""
    import jitkit as jk
    k = _DEBUG.get(case.name)
    if k is None:
        k = _DEBUG[case.name] = jk.jit(debug=True)(case.kernel.py_func)
    _run_case(case, "gpu", "numpy", rng, kernel=k)


def test_catalogue_is_large():
    assert len(CASES) >= 150
    assert HAVE_GPU in (True, False)
