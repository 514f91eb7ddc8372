"""Plans (jk.plan_reduce, plan_scan, plan_sort, plan_argsort) against NumPy: on the simulator in CI,
on the GPU with NumPy, CuPy and PyTorch inputs on the device; and the replay mechanism behind them
(jitkit.primitives.host.plan), driven through fake launches where there is no GPU.

A plan serves arrays of the kind, dtype and size it was made for; another kind, dtype or size raises
ValueError, and anything else (another shape of that size, a strided view, out=, stream=) takes the
general path with the plan's parameters."""

import operator
import threading

import numpy as np
import pytest

import jitkit as jk
from conftest import HAVE_GPU, gpu, optional_module
from kernels import last
from jitkit.primitives.algorithms import ReducePlan, ScanPlan, plan_scan
from jitkit.primitives.host import plan as P
from jitkit.primitives.sort import ArgsortPlan, SortPlan, plan_argsort, plan_sort

TARGETS = ["sim", pytest.param("gpu", marks=gpu)]
SIZES = (0, 1, 31, 33, 4099)
BIG = 1000003


def _values(rng, dt, n):
    dt = np.dtype(dt)
    if dt.kind == "f":
        return rng.integers(-8, 9, n).astype(dt)          # small integers: every order of a sum is exact
    if dt.kind == "b":
        return rng.integers(0, 2, n).astype(dt)
    info = np.iinfo(dt)
    return rng.integers(max(info.min, -50), min(info.max, 50) + 1, n).astype(dt)


def _keys(rng, dt, n):
    """Sort keys with ties, and for floats -0.0, +0.0, infinities and NaNs."""
    dt = np.dtype(dt)
    if dt.kind == "f":
        k = rng.standard_normal(n).astype(dt)
        if n > 8:
            k[rng.integers(0, n, 6)] = np.array([np.nan, -0.0, 0.0, np.inf, -np.inf, np.nan], dt)
            k[: n // 4] = k[n // 2: n // 2 + n // 4]       # ties
        return k
    if dt.kind == "b":
        return rng.integers(0, 2, n).astype(dt)
    info = np.iinfo(dt)
    return rng.integers(info.min, info.max, n, dtype=np.int64 if dt.kind == "i" else np.uint64).astype(dt)


def _sorted(k, descending):
    """jk.sort's stable order: NumPy's (-0.0 == +0.0, NaNs last), or with ``descending`` the keys'
    order reversed and equal keys still in input order (the stable ascending order of the reversed
    keys, reversed, is that)."""
    if not descending:
        return np.argsort(k, kind="stable")
    return (len(k) - 1 - np.argsort(k[::-1], kind="stable")[::-1]).astype(np.int64)


def _same_bits(got, want):
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape
    assert got.tobytes() == want.tobytes()


# ------------------------------------------------------------------ plan_reduce
@pytest.mark.parametrize("target", TARGETS, indirect=True)
@pytest.mark.parametrize("dtype", ["int8", "int32", "uint64", "float32", "float64"])
@pytest.mark.parametrize("n", SIZES)
def test_plan_reduce(target, dtype, n, rng):
    """Each call reduces the array it is given (fresh data every call), like jk.reduce."""
    x = _values(rng, dtype, n)
    plan = jk.plan_reduce(x)
    assert isinstance(plan, ReducePlan)
    mx = jk.plan_reduce(x, max, init=np.dtype(dtype).type(-3) if np.dtype(dtype).kind != "u" else None)
    for _ in range(3):
        y = _values(rng, dtype, n)
        got = plan(y)
        assert np.asarray(got).dtype == np.dtype(dtype)
        want = np.add.reduce(y, dtype=dtype) if np.dtype(dtype).kind != "f" else y.astype(np.float64).sum()
        assert got == want
        if n or np.dtype(dtype).kind != "u":
            init = [np.dtype(dtype).type(-3)] if np.dtype(dtype).kind != "u" else []
            assert mx(y) == np.max(np.concatenate([init, y]).astype(dtype))


@pytest.mark.parametrize("target", TARGETS, indirect=True)
def test_plan_reduce_big_and_in_order(target, rng):
    """1000003 items over many blocks; an op without identity that does not commute keeps order."""
    x = rng.standard_normal(BIG)
    plan = jk.plan_reduce(x)
    firsts = jk.plan_reduce(x, lambda a, b: a)
    lasts = jk.plan_reduce(x, last)
    for _ in range(2):
        y = rng.standard_normal(BIG)
        assert np.isclose(plan(y), y.sum(), rtol=1e-12, atol=1e-9)
        assert firsts(y) == y[0] and lasts(y) == y[-1]


@pytest.mark.parametrize("target", TARGETS, indirect=True)
def test_plan_reduce_out_and_other_inputs(target, rng):
    """out= (poisoned first) and another shape of the same size take the general path; another
    dtype, size or kind raises ValueError."""
    x = rng.standard_normal(1000)
    plan = jk.plan_reduce(x, max)
    out = np.full(1, np.nan)
    y = rng.standard_normal(1000)
    assert plan(y, out=out) is out and out[0] == y.max()
    assert plan(y.reshape(10, 100)) == y.max()
    assert plan(y[::-1]) == y.max()
    with pytest.raises(ValueError, match="this plan reduces 1000 items of float64"):
        plan(y.astype(np.float32))
    with pytest.raises(ValueError, match="this plan reduces 1000 items of float64"):
        plan(y[:999])
    torch = optional_module("torch")
    if torch is not None and target == "gpu":
        with pytest.raises(ValueError, match="numpy arrays"):
            plan(torch.as_tensor(y, device="cuda"))


# ------------------------------------------------------------------ plan_scan
SCAN_CASES = [  # (op, inclusive, init, numpy)
    (operator.add, True, None, lambda y, dt: np.cumsum(y, dtype=dt)),
    (operator.add, False, None, lambda y, dt: np.concatenate([[0], np.cumsum(y, dtype=dt)]).astype(dt)[:len(y)]),
    (max, True, None, lambda y, dt: np.maximum.accumulate(y)),
    (max, False, 5, lambda y, dt: np.maximum.accumulate(np.concatenate([[5], y[:-1]]).astype(dt))[:len(y)]),
    (operator.add, True, 7, lambda y, dt: (7 + np.cumsum(y, dtype=dt)).astype(dt)),
]


@pytest.mark.parametrize("target", TARGETS, indirect=True)
@pytest.mark.parametrize("dtype", ["int32", "int64", "uint32", "float32", "float64"])
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("case", range(len(SCAN_CASES)))
def test_plan_scan(target, dtype, n, case, rng):
    op, inclusive, init, want = SCAN_CASES[case]
    dt = np.dtype(dtype)
    x = np.abs(_values(rng, dt, n))
    plan = plan_scan(x, op, inclusive, None if init is None else dt.type(init))
    assert isinstance(plan, ScanPlan)
    for _ in range(3):
        y = np.abs(_values(rng, dt, n))
        got = plan(y)
        assert got.dtype == dt and got.shape == (n,)
        np.testing.assert_array_equal(got, want(y, dt))


@pytest.mark.parametrize("target", TARGETS, indirect=True)
@pytest.mark.parametrize("dtype", ["int32", "float64"])
def test_plan_scan_big(target, dtype, rng):
    dt = np.dtype(dtype)
    plan = plan_scan(_values(rng, dt, BIG))
    for _ in range(2):
        y = _values(rng, dt, BIG)
        np.testing.assert_array_equal(plan(y), np.cumsum(y, dtype=dt))


@pytest.mark.parametrize("target", TARGETS, indirect=True)
def test_plan_scan_out_shape_and_other_inputs(target, rng):
    x = _values(rng, np.int32, 600)
    plan = plan_scan(x, inclusive=False)
    y = _values(rng, np.int32, 600)
    want = np.concatenate([[0], np.cumsum(y)[:-1]]).astype(np.int32)
    out = np.full(600, -12345, np.int32)
    assert plan(y, out=out) is out
    np.testing.assert_array_equal(out, want)
    got = plan(y.reshape(20, 30))
    assert got.shape == (20, 30)
    np.testing.assert_array_equal(got.reshape(-1), want)
    with pytest.raises(ValueError, match="this plan scans 600 items of int32"):
        plan(y.astype(np.int64))
    with pytest.raises(ValueError, match="this plan scans 600 items of int32"):
        plan(y[:-1])
    with pytest.raises(ValueError, match="exclusive jk.scan needs init"):
        plan_scan(x, last, inclusive=False)


# ------------------------------------------------------------------ plan_sort / plan_argsort
SORT_DTYPES = ["bool", "int8", "uint16", "int32", "uint32", "int64", "float16", "float32", "float64"]


@pytest.mark.parametrize("target", TARGETS, indirect=True)
@pytest.mark.parametrize("dtype", SORT_DTYPES)
@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("descending", [False, True])
def test_plan_sort_and_argsort(target, dtype, n, descending, rng):
    dt = np.dtype(dtype)
    k0 = _keys(rng, dt, n)
    sp, ap = plan_sort(k0, descending), plan_argsort(k0, descending)
    assert isinstance(sp, SortPlan) and isinstance(ap, ArgsortPlan)
    for _ in range(2):
        k = _keys(rng, dt, n)
        order = _sorted(k, descending)
        _same_bits(sp(k), k[order])
        got = ap(k)
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, order)


@pytest.mark.parametrize("target", TARGETS, indirect=True)
def test_plan_sort_other_inputs(target, rng):
    k = _keys(rng, np.float32, 1000)
    plan = plan_sort(k)
    m = _keys(rng, np.float32, 1000).reshape(10, 100)
    _same_bits(plan(m), np.sort(m, axis=-1, kind="stable"))   # another shape: jk.sort's rows
    _same_bits(plan(k[::-1]), np.sort(k[::-1], kind="stable"))
    with pytest.raises(ValueError, match="this plan sorts 1000 items of float32"):
        plan(k.astype(np.float64))
    with pytest.raises(ValueError, match="this plan argsorts 1000 items of float32"):
        plan_argsort(k)(k[:10])
    with pytest.raises(TypeError, match="radix-sorts integer, bool and float keys"):
        plan_sort(k.astype(np.complex64))


def test_sort_plan_big_on_the_simulator_or_gpu(rng):
    """1000003 keys (on the GPU where there is one; the simulator takes seconds per sort)."""
    jk.set_target("gpu" if HAVE_GPU else "sim")
    try:
        n = BIG if HAVE_GPU else 40009
        k = _keys(rng, np.uint32, n)
        plan = plan_sort(k)
        for _ in range(2):
            k = _keys(rng, np.uint32, n)
            _same_bits(plan(k), np.sort(k, kind="stable"))
    finally:
        jk.set_target("auto")


# ------------------------------------------------------------------ device arrays (GPU)
def _device_kinds():
    cupy, torch = optional_module("cupy"), optional_module("torch")
    kinds = []
    if cupy is not None:
        kinds.append(("cupy", cupy.asarray, lambda a: a.get()))
    if torch is not None:
        kinds.append(("torch", lambda h: torch.as_tensor(h, device="cuda"), lambda a: a.cpu().numpy()))
    return kinds


@gpu
@pytest.mark.parametrize("n", [1, 31, 33, 4099, BIG])
def test_device_plans_replay(n, rng):
    """CuPy arrays and PyTorch tensors: every plan replays prepared launches, each call gives a new
    result of the input's kind, and views, other shapes, out= and streams take the general path."""
    kinds = _device_kinds()
    if not kinds:
        pytest.skip("needs CuPy or PyTorch")
    for name, dev, host in kinds:
        xs = [rng.integers(-9, 10, n).astype(np.float32) for _ in range(3)]
        ds = [dev(x) for x in xs]
        plans = [jk.plan_reduce(ds[0]), plan_scan(ds[0]), plan_sort(ds[0], True), plan_argsort(ds[0]),
                 jk.plan_reduce(ds[0], max, init=np.float32(-100)), plan_scan(ds[0], max, False, np.float32(-100))]
        assert all(p.prepared for p in plans), name
        r, s, so, ao, mx, ex = plans
        results = []
        for _ in range(3):
            for x, d in zip(xs, ds):
                got = (r(d), s(d), so(d), ao(d), mx(d), ex(d))
                assert all(type(g) is type(d) for g in got)
                results.append(got)
                assert float(got[0]) == x.astype(np.float64).sum()
                np.testing.assert_array_equal(host(got[1]), np.cumsum(x.astype(np.float64)))
                _same_bits(host(got[2]), np.sort(x)[::-1])
                np.testing.assert_array_equal(host(got[3]), np.argsort(x, kind="stable"))
                assert float(got[4]) == max(-100, x.max())
                np.testing.assert_array_equal(host(got[5]), np.maximum.accumulate(np.concatenate([[-100], x[:-1]])))
        assert len({id(g[1]) for g in results}) == len(results)
        if n > 1:
            wide = dev(np.repeat(xs[0], 2))
            view = wide[::2]
            assert float(r(view)) == xs[0].astype(np.float64).sum()
            np.testing.assert_array_equal(host(s(view)), np.cumsum(xs[0].astype(np.float64)))
            _same_bits(host(so(view)), np.sort(xs[0])[::-1])


@gpu
@pytest.mark.parametrize("dtype", SORT_DTYPES)
def test_device_sort_plans_replay_every_key_type(dtype, rng):
    """Sort and argsort replays of CuPy keys of every width (bool keys move as bytes, floats as
    ordered bits): exact bits, stable order, both directions."""
    cupy = pytest.importorskip("cupy")
    dt = np.dtype(dtype)
    n = 20011
    for descending in (False, True):
        sp, ap = plan_sort(cupy.asarray(_keys(rng, dt, n)), descending), plan_argsort(cupy.asarray(_keys(rng, dt, n)),
                                                                                        descending)
        # argsort of 8-byte keys moves 16-byte items: over 48 KiB of dynamic shared memory a block,
        # which preparing the launch opts in to (as the general path's first launch would)
        assert sp.prepared and ap.prepared
        for _ in range(2):
            k = _keys(rng, dt, n)
            order = _sorted(k, descending)
            _same_bits(sp(cupy.asarray(k)).get(), k[order])
            np.testing.assert_array_equal(ap(cupy.asarray(k)).get(), order)


@gpu
def test_device_plans_from_threads(rng):
    """8 threads calling the same plans at once: each call its own result and its own tile ids."""
    cupy = pytest.importorskip("cupy")
    from concurrent.futures import ThreadPoolExecutor
    n = 100003
    xs = [rng.integers(-5, 6, n).astype(np.int32) for _ in range(8)]
    ds = [cupy.asarray(x) for x in xs]
    r, s, so = jk.plan_reduce(ds[0]), plan_scan(ds[0]), plan_sort(ds[0])

    def work(i):
        d = ds[i % 8]
        return i % 8, r(d), s(d), so(d)
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(work, range(64)))
    cupy.cuda.runtime.deviceSynchronize()
    for i, a, b, c in got:
        assert int(a) == int(xs[i].sum())
        np.testing.assert_array_equal(b.get(), np.cumsum(xs[i]).astype(np.int32))
        np.testing.assert_array_equal(c.get(), np.sort(xs[i]))


@gpu
def test_one_shot_calls_replay_cached_plans(rng):
    """Repeated jk.reduce / jk.scan / jk.sort of 1-d CuPy arrays find their plan in the one cache and
    replay it; a one-shot jk.argsort keeps no plan (its scratch would be twice the keys and their
    indices: plan_argsort is the explicit way)."""
    cupy = pytest.importorskip("cupy")
    n = 65537
    x = cupy.asarray(rng.standard_normal(n).astype(np.float32))
    for _ in range(3):
        jk.reduce(x), jk.scan(x), jk.sort(x), jk.argsort(x)
    keys = {k[0]: p for k, p in P.PLANS.items() if len(k) > 3 and k[1] is type(x) and k[3] == (n,)}
    assert {"reduce", "scan", "sort"} <= set(keys) and "argsort" not in keys
    assert all(p.prepared for p in keys.values())
    h = x.get()
    np.testing.assert_array_equal(jk.argsort(x).get(), np.argsort(h, kind="stable"))
    _same_bits(jk.sort(x).get(), np.sort(h))


# ------------------------------------------------------------------ the mechanism, without a GPU
class _Ptr:
    def __init__(self, ptr):
        self.ptr = ptr


class ndarray:                                    # noqa: N801 - a stand-in the kind test takes for CuPy's
    """Just enough of a 1-d CuPy array for a replay: class, dtype, shape, strides, pointer, 0-d views."""
    __module__ = "cupy.fake"
    _next = [0x10000]

    def __init__(self, n, dtype, stride=None, parent=None, index=None):
        self.dtype, self.shape = np.dtype(dtype), (n,)
        self.itemsize = self.dtype.itemsize
        self.strides = (stride or self.itemsize,)
        ndarray._next[0] += 0x1000
        self.data = _Ptr(ndarray._next[0])
        self.parent, self.index = parent, index

    @property
    def __cuda_array_interface__(self):
        return {"data": (self.data.ptr, False), "shape": self.shape, "typestr": self.dtype.str, "version": 3}

    def __getitem__(self, i):
        return ndarray(1, self.dtype, parent=self, index=i)


class _Prepared:
    def __init__(self, kernel, args, device):
        self.kernel, self.device = kernel, device
        self.params = [a.data.ptr if isinstance(a, ndarray) else a for a in args]

    def slot(self, i):
        return i                                  # one slot per argument here

    def set(self, k, v):
        self.params[k] = v

    def __call__(self):
        self.kernel.log.append(list(self.params))


class _Kernel:
    def __init__(self):
        self.log = []

    def __getitem__(self, cfg):
        return cfg

    def prepare(self, cfg, args):
        from jitkit.runtime import driver
        return _Prepared(self, args, driver.thread_device())


def test_replay_ring_of_results():
    """A reduce-like replay: x's pointer and the slot index rewritten every call, the ring refilled
    (and its pointer written) every RING calls; inputs not like the example are refused."""
    x = ndarray(100, np.float32)
    ring = ndarray(4, np.float32)
    partials = ndarray(8, np.float32)
    k = _Kernel()
    rings = []

    def new():
        rings.append(ndarray(4, np.float32))
        return rings[-1]
    rep = P.Replay([P.Step(k, 8, 256, (x, ring, partials, 0), vary={3: P.SLOT})], x, ring, new, ring=4)
    assert rep.prepared and "def run(x)" in rep.source
    ys = [ndarray(100, np.float32) for _ in range(10)]
    got = [rep.run(y) for y in ys]
    assert [g.index for g in got] == [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]
    assert [g.parent for g in got[:4]] == [ring] * 4 and got[4].parent is rings[0] and got[8].parent is rings[1]
    for y, g, params in zip(ys, got, k.log):
        assert params == [y.data.ptr, g.parent.data.ptr, partials.data.ptr, g.index]
    assert rep.run(ndarray(100, np.float64)) is None                 # another dtype
    assert rep.run(ndarray(99, np.float32)) is None                  # another shape
    assert rep.run(ndarray(100, np.float32, stride=8)) is None       # strided
    assert rep.run(np.zeros(100, np.float32)) is None                # another class
    assert len(k.log) == 10


def test_replay_fresh_results_tiles_and_threads():
    """A scan-like replay: a new result per call, tile ids taken per call under the replay's lock, so
    from 8 threads at once every launch still sees its own consecutive range."""
    x = ndarray(1000, np.int32)
    res = ndarray(1000, np.int32)
    k = _Kernel()

    class Tiles:
        issued = 0

        def next(self):
            first = self.issued
            self.issued += 5
            return np.int64(first), np.uint32(self.issued // 5)
    made = []                                     # recorded on a fresh thread, like the callers (one device check)
    t = threading.Thread(target=lambda: made.append(P.Replay(
        [P.Step(k, 5, 128, (x, res, np.int64(0), np.uint32(0)), vary={2: P.FIRST_TILE, 3: P.EPOCH}),
         P.Step(k, 1, 32, (res, x, 7))], x, res, lambda: ndarray(1000, np.int32), tiles=Tiles())))
    t.start()
    t.join()
    rep = made[0]
    assert rep.prepared
    ys = [ndarray(1000, np.int32) for _ in range(400)]
    outs = {}
    threads = [threading.Thread(target=lambda part: outs.update({id(y): rep.run(y) for y in part}), args=(ys[i::8],))
               for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(o) for o in outs.values()}) == 400
    firsts = [p[2] for p in k.log[0::2]]
    assert sorted(firsts) == list(range(0, 2000, 5)) and firsts == sorted(firsts)   # launch order = id order
    for a, b in zip(k.log[0::2], k.log[1::2]):
        assert a[3] == (a[2] + 5) // 5 and b[0] == a[1] and b[1] == a[0] and b[2] == 7


def test_replay_refuses_what_it_cannot_prepare():
    x = np.zeros(10, np.float32)
    rep = P.Replay([P.Step(_Kernel(), 1, 32, (x,))], x, x, None)
    assert not rep.prepared and rep.run(x) is None


def test_plan_cache_drops_the_least_recently_used():
    cache = P.PlanCache(3)
    for i in range(3):
        cache.put(i, f"plan {i}")
    assert cache.get(0) == "plan 0"                   # 0 used: 1 is now the least recent
    cache.put(3, "plan 3")
    assert cache.get(1) is None and [k for k, _ in cache.items()] == [2, 0, 3]
    assert len(cache) == 3 and cache.get(2) == "plan 2"
    cache.clear()
    assert len(cache) == 0 and cache.get(2) is None
