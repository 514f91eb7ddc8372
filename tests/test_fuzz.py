"""Differential fuzzing: random programs (tests/fuzz_programs.py) run as plain Python with NumPy
scalars, on the simulator and, where there is one, on the GPU; all must agree.

``JITKIT_FUZZ_EXAMPLES`` sets the number of programs (default 2000).  Without a GPU every third
program is also compiled to a cubin for sm_90 (the code generator must accept what the typer does).  A failure prints the program
and the input seed; each disagreement found becomes a test in ``tests/test_fuzz_regressions.py``.
"""

import importlib.util
import itertools
import os
import tempfile
import warnings

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, Phase, given, settings, strategies as st  # noqa: E402

import jitkit as jk  # noqa: E402
from conftest import HAVE_GPU  # noqa: E402
from jitkit.runtime.interop import type_of  # noqa: E402
from fuzz_programs import THREADS, inputs, programs  # noqa: E402

EXAMPLES = int(os.environ.get("JITKIT_FUZZ_EXAMPLES", "2000"))
COMPILE_EVERY = 3          # without a GPU, every third program also goes through libNVVM and nvJitLink
_DIR = tempfile.mkdtemp(prefix="jitkit-fuzz-")
_names = itertools.count()
_checked = itertools.count()

WRAPPER = '''
import numpy as np
import jitkit as jk

{source}

prog_dev = jk.jit({name})


@jk.jit
def kernel(a, b, x, y, oi, of):
    i = jk.grid(1)
    if i < oi.shape[0]:
        prog_dev(np.int64(i), a, b, x, y, oi, of)
'''


def load(program):
    """The program as a module in a file of its own (jitkit reads kernels' source)."""
    name = f"fuzz_{next(_names)}"
    path = os.path.join(_DIR, name + ".py")
    with open(path, "w") as f:
        f.write(WRAPPER.format(source=program.source.replace("def prog(", f"def {name}("), name=name))
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod, getattr(mod, name)


def run_python(fn, program, a, b, x, y):
    oi = np.zeros((THREADS, max(program.n_int, 1)), np.int64)
    of = np.zeros((THREADS, max(program.n_float, 1)), np.float64)
    a = a.copy()
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        for i in range(THREADS):
            fn(np.int64(i), a, b, x, y, oi, of)
    return a, oi, of


def run_kernel(mod, program, a, b, x, y, target):
    oi = np.zeros((THREADS, max(program.n_int, 1)), np.int64)
    of = np.zeros((THREADS, max(program.n_float, 1)), np.float64)
    a = a.copy()
    k = mod.kernel.with_target(target)
    k[2, THREADS // 2](a, b, x, y, oi, of)
    return a, oi, of


def check(program, seed, number=0):
    mod, fn = load(program)
    a, b, x, y = inputs(seed)
    want = run_python(fn, program, a, b, x, y)
    where = f"program:\n{program.source}\ninputs seed {seed}"
    sim = run_kernel(mod, program, a, b, x, y, "sim")
    for name, w, g in zip(("a", "oi", "of"), want, sim):
        np.testing.assert_array_equal(g, w, err_msg=f"simulator vs Python, {name}\n{where}")
    if HAVE_GPU:
        dev = run_kernel(mod, program, a, b, x, y, "gpu")
        np.testing.assert_array_equal(dev[0], want[0], err_msg=f"GPU vs Python, a\n{where}")
        np.testing.assert_array_equal(dev[1], want[1], err_msg=f"GPU vs Python, oi\n{where}")
        # the GPU contracts a * b + c into one FMA (rounded once): a tolerance for floats only
        np.testing.assert_allclose(dev[2], want[2], rtol=2e-6, atol=1e-30, equal_nan=True,
                                   err_msg=f"GPU vs Python, of\n{where}")
    elif number % COMPILE_EVERY == 0:
        oi = np.zeros((THREADS, 1), np.int64)
        sig = tuple(type_of(v) for v in (a, b, x, y, oi, oi.astype(np.float64)))
        assert mod.kernel.compile(sig, arch="sm_90").cubin, where


_PHASES = None if os.environ.get("JITKIT_FUZZ_SHRINK", "1") != "0" else [Phase.explicit, Phase.generate]


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None,
          **({"phases": _PHASES} if _PHASES else {}))
@given(programs(), st.integers(0, 2**32 - 1))
def test_random_programs_agree(program, seed):
    check(program, seed, next(_checked))


# ------------------------------------------------------------------ disagreements found, kept as tests
@pytest.mark.parametrize("target", ["sim", pytest.param("gpu", marks=pytest.mark.skipif(not HAVE_GPU,
                                                                                       reason="needs a CUDA GPU"))],
                         indirect=True)
def test_abs_of_the_most_negative_int(target):
    """Found on the H100: ptxas takes an integer abs as non-negative (CUDA C leaves abs(INT_MIN)
    undefined), so a branch on ``0 > abs(INT_MIN)`` goes the other way than in Python.  jitkit
    documents abs of the most negative integer as undefined on the GPU (README, typing rules); the
    simulator keeps Python's answer, and every other value agrees on both."""
    from fuzz_regressions import abs_branch
    v = (np.arange(64) - 2**31 + 1).astype(np.int32)   # the most negative int + 1 and up: defined everywhere
    v[::2] = -np.arange(32) - 5
    a = np.repeat(v[:, None], 8, axis=1)                  # every column: the kernel picks one per thread
    out = np.zeros(64, np.int64)
    abs_branch[2, 32](a, out)
    assert (out == 2).all()
    if target == "sim":
        a[:] = -2**31
        abs_branch[2, 32](a, out)
        assert (out == 1).all()                  # Python: abs(-2**31) wraps to -2**31 < 0
