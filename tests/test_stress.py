"""Concurrency and resources: compiling and launching from 8 threads, two processes sharing one
disk cache, and many launches and compilations without growing host or device memory.

CI runs these on the simulator (and compiles for sm_90 without a GPU); on the GPU the same tests
launch there, with the full 10^5 launches and 10^4 compilations.
"""

import gc
import os
import subprocess
import sys
import textwrap
import tracemalloc
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import jitkit as jk
from bad_input_kernels import add, fill
from conftest import gpu

TARGETS = ["sim", pytest.param("gpu", marks=gpu)]

KERNEL_SRC = '''
import jitkit as jk


def make(c):
    @jk.jit
    def kern(x, out):
        i = jk.grid(1)
        if i < out.size:
            out[i] = x[i] * c + i
    return kern
'''


@pytest.fixture
def kernels_module(tmp_path, monkeypatch):
    """A module that makes a fresh kernel per call (a closure over ``c``), from a file."""
    path = tmp_path / "stress_kernels.py"
    path.write_text(KERNEL_SRC)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("stress_kernels", None)
    import stress_kernels
    return stress_kernels


@pytest.mark.parametrize("target", TARGETS, indirect=True)
def test_eight_threads_compile_and_launch(target, kernels_module, rng):
    """8 threads at once: one shared kernel launched with new argument types (concurrent compiles of
    one dispatcher), a kernel of each thread's own, and the host algorithms."""
    dtypes = [np.float32, np.float64, np.int32, np.int64, np.int16, np.uint32, np.float16, np.uint8]

    def work(t):
        dt = dtypes[t]
        x = rng.integers(0, 50, 1000).astype(dt) if t else np.arange(1000, dtype=dt)
        out = np.zeros(1000, dt)
        for _ in range(3):
            add[4, 256](x, x, out)                           # shared, a new signature per thread
        own = kernels_module.make(t + 1)                     # a kernel of this thread's own
        res = np.zeros(1000, np.float64)
        own[4, 256](x.astype(np.float64), res)
        f = x.astype(np.float32)
        return (np.array_equal(out, x + x), np.array_equal(res, x.astype(np.float64) * (t + 1) + np.arange(1000)),
                jk.reduce(f) == f.astype(np.float64).sum(), np.array_equal(jk.scan(f), np.cumsum(f)),
                np.array_equal(jk.sort(f), np.sort(f)))

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(work, range(8)))
    assert all(all(r) for r in results), [r for r in results if not all(r)]


@gpu
def test_eight_threads_on_device_arrays(rng):
    """CuPy arrays from 8 threads: the launch fast path, reduce plans and single-pass scans shared
    between threads give every thread its own right answer."""
    cupy = pytest.importorskip("cupy")
    xs = [cupy.asarray(rng.integers(0, 100, 100003).astype(np.float32)) for _ in range(8)]

    def work(t):
        x = xs[t]
        ok = True
        for _ in range(50):
            out = cupy.empty_like(x)
            add[(x.size + 255) // 256, 256](x, x, out)
            ok &= bool((out == 2 * x).all())
            ok &= float(jk.reduce(x)) == float(x.sum(dtype=cupy.float64))
            ok &= bool((jk.scan(x) == cupy.cumsum(x)).all())
        return ok

    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(work, range(8)))


def test_two_processes_share_one_disk_cache(tmp_path):
    """Two processes compile the same kernels into one cache directory at once (for sm_90, no GPU
    needed), each checks its results on the simulator; a third finds every entry on disk."""
    cache = tmp_path / "cache"
    (tmp_path / "shared_kernels.py").write_text(KERNEL_SRC)
    script = tmp_path / "worker.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        import numpy as np, jitkit as jk
        from shared_kernels import make
        jk.set_target("sim")
        F64 = jk.Array(jk.float64, 1, "C")
        hits = 0
        for c in range(12):
            k = make(c)
            r = k.compile((F64, F64), arch="sm_90")
            hits += r.from_disk
            x = np.arange(100.0)
            out = np.zeros(100)
            k[1, 128](x, out)
            assert np.array_equal(out, x * c + np.arange(100)), c
        print("HITS", hits)
    """))
    env = {**os.environ, "JITKIT_CACHE_DIR": str(cache)}
    procs = [subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env) for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0 and "HITS" in out, out + err
    third = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=300)
    assert "HITS 12" in third.stdout, third.stdout + third.stderr
    assert not [p for p in cache.rglob("*") if p.name.startswith(".tmp-")]       # no half-written entries


def _growth(fn, warm: int, n: int):
    """Bytes of Python memory still held after ``n`` more calls of ``fn`` than after ``warm`` calls."""
    for _ in range(warm):
        fn()
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(n):
            fn()
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def _free_device_bytes() -> int:
    from jitkit.runtime import driver
    driver.current_device()
    free, _ = driver.api().cuMemGetInfo()[1:]
    return int(free)


@pytest.mark.parametrize("target", TARGETS, indirect=True)
def test_launches_do_not_grow_memory(target):
    """10^4 launches on the simulator (10^5 on the GPU) leave no Python memory behind (nor device
    memory on the GPU)."""
    n = 100_000 if target == "gpu" else 10_000
    if target == "gpu":
        cupy = pytest.importorskip("cupy")
        x = cupy.zeros(1024, np.float32)
        launch = fill[4, 256]
        before = _free_device_bytes()
        grown = _growth(lambda: launch(x, 1.5), 1000, n)
        cupy.cuda.runtime.deviceSynchronize()
        assert float(x[0]) == 1.5
        assert before - _free_device_bytes() < (8 << 20)
    else:
        x = np.zeros(64, np.float32)
        launch = fill[1, 64]
        grown = _growth(lambda: launch(x, 1.5), 200, n)
        assert x[0] == 1.5
    assert grown < 256 * 1024, f"{grown} bytes held after {n} launches"


@pytest.mark.parametrize("target", TARGETS, indirect=True)
def test_compilations_do_not_grow_memory(target, kernels_module):
    """Kernels made, compiled, launched and dropped, again and again (10^3 on the simulator, 10^4 on
    the GPU, there mostly from the disk cache): what they held is released, modules unloaded."""
    n = 10_000 if target == "gpu" else 1_000
    x = np.arange(64.0)
    out = np.zeros(64)
    counter = iter(range(10**9))

    def one():
        k = kernels_module.make(next(counter) % 4)       # 4 distinct kernels, each made anew
        k[1, 64](x, out)

    before = _free_device_bytes() if target == "gpu" else 0
    grown = _growth(one, 50, n)
    assert grown < 2 * 1024 * 1024, f"{grown} bytes held after {n} compilations"
    if target == "gpu":
        gc.collect()
        assert before - _free_device_bytes() < (16 << 20)

