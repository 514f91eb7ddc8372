"""Host algorithms (jk.reduce, jk.transform, plans) against NumPy: on the simulator in CI, on the GPU
with NumPy, CuPy and PyTorch inputs on the device."""

import operator

import numpy as np
import pytest

import jitkit as jk
from conftest import gpu
from kernels import BF16, dtype_named, last

TARGETS = ["sim", pytest.param("gpu", marks=gpu)]
DTYPES = ("int8", "uint8", "int16", "int32", "int64", "uint32", "uint64", "float16", "float32", "float64") + \
    (("bfloat16",) if BF16 is not None else ())
SIZES = (1, 5, 2047, 2048, 2049, 30001)


def _values(rng, dt, n):
    if dt == BF16 or np.dtype(dt).kind == "f":
        return rng.integers(-8, 9, n).astype(np.float32).astype(dt)
    info = np.iinfo(dt)
    return rng.integers(max(info.min, -50), min(info.max, 50) + 1, n).astype(dt)


@pytest.mark.parametrize("target", TARGETS, indirect=True)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", SIZES)
def test_reduce_ops(target, dtype, n, rng):
    dt = dtype_named(dtype)
    x = _values(rng, dt, n)
    wide = x.astype(np.float64) if (dt == BF16 or np.dtype(dt).kind == "f") else x
    s = jk.reduce(x)
    if dt == BF16 or np.dtype(dt).itemsize == 2 and np.dtype(dt).kind == "f":
        # 16-bit floats round partial sums past 256 (bfloat16) or 2048 (float16): any order is as good
        assert abs(float(s) - wide.sum()) <= 0.02 * np.abs(wide).sum() + 1
    elif np.dtype(dt).kind == "f":                # small integers: every order of the sum is exact
        assert float(s) == wide.sum()
    else:                                         # integers wrap in their own type, like NumPy's add
        assert s == np.add.reduce(x, dtype=dt) and np.asarray(s).dtype == dt
    assert jk.reduce(x, max) == x.max() and jk.reduce(x, min) == x.min()
    assert jk.reduce(x, last) == x[-1]                                   # in order
    assert jk.reduce(x, lambda a, b: a if a > b else b) == x.max()      # a lambda
    # a float64 init makes a float64 accumulator: exact for every dtype here
    assert float(jk.reduce(x, init=np.float64(0.5))) == float(wide.astype(np.float64).sum()) + 0.5


@pytest.mark.parametrize("target", TARGETS, indirect=True)
def test_reduce_init_types_empty_and_errors(target, rng):
    x = rng.integers(-100, 100, 5001).astype(np.int8)
    assert jk.reduce(x, init=np.int64(0)) == x.astype(np.int64).sum()       # a wide accumulator
    assert jk.reduce(x, operator.add, np.int64(7)) == x.astype(np.int64).sum() + 7
    e = np.zeros(0, np.float32)
    assert jk.reduce(e) == 0 and jk.reduce(e, init=3.0) == 3.0 and jk.reduce(e, operator.mul) == 1
    with pytest.raises(ValueError, match="needs init="):
        jk.reduce(e, max)
    nc = rng.standard_normal((64, 33))[:, ::2]                           # not contiguous
    assert np.isclose(jk.reduce(nc), nc.sum())
    out = np.zeros((), np.float64)
    assert jk.reduce(nc, out=out) is out and np.isclose(out, nc.sum())
    with pytest.raises(TypeError, match="NumPy, CuPy, PyTorch"):
        jk.reduce([1, 2, 3])
    with pytest.raises(TypeError):
        jk.reduce(x, lambda a, b: (a, b))                                 # not a scalar result


@pytest.mark.parametrize("target", TARGETS, indirect=True)
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_reduce_axis(target, axis, rng):
    m = rng.integers(-9, 10, (7, 300, 5)).astype(np.float32)
    got = jk.reduce(m, axis=axis)
    np.testing.assert_array_equal(got, m.sum(axis=axis))
    np.testing.assert_array_equal(jk.reduce(m, max, axis=axis), m.max(axis=axis))
    assert jk.reduce(np.zeros((3, 0)), axis=1).tolist() == [0, 0, 0]
    with pytest.raises(ValueError, match="out of range"):
        jk.reduce(m, axis=3)


@pytest.mark.parametrize("target", TARGETS, indirect=True)
def test_plan_reuses_temporaries(target, rng):
    x = rng.standard_normal(10007).astype(np.float32)
    plan = jk.plan_reduce(x, max)
    for _ in range(3):
        y = rng.standard_normal(10007).astype(np.float32)
        assert plan(y) == y.max()
    with pytest.raises(ValueError, match="this plan reduces 10007 items of float32"):
        plan(np.zeros(10, np.float32))


@pytest.mark.parametrize("target", TARGETS, indirect=True)
def test_reduce_in_one_launch_over_many_blocks(target, rng):
    """The last block to finish combines the partials in block order and re-zeroes its counter: the
    same (cached) plan, called again and again, stays right; order-sensitive ops see block order."""
    n = (1 << 22) + 5 if target == "gpu" else 50001
    for _ in range(3):
        x = rng.standard_normal(n)
        assert np.isclose(jk.reduce(x), x.sum(), rtol=1e-12, atol=1e-9)
        assert jk.reduce(x, lambda a, b: b) == x[-1]          # no identity, does not commute
        assert jk.reduce(x, lambda a, b: a) == x[0]
        assert jk.reduce(x, lambda a, b: a if a >= b else b, init=-np.inf) == x.max()
    unaligned = rng.standard_normal(n + 1).astype(np.float32)[1:]   # off 16-byte alignment: no vector loads
    assert np.isclose(jk.reduce(unaligned), unaligned.astype(np.float64).sum(), rtol=1e-4, atol=1e-2)
    assert jk.reduce(unaligned, max) == unaligned.max()


@pytest.mark.parametrize("target", TARGETS, indirect=True)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", SIZES)
def test_scan(target, dtype, n, rng):
    dt = dtype_named(dtype)
    x = _values(rng, dt, n)
    if dt == BF16 or np.dtype(dt).kind == "f":
        x = (x.astype(np.float32) % 3).astype(dt)      # small non-negative: exact running sums in 16 bits too
        want = np.cumsum(x.astype(np.float64))
        got = jk.scan(x).astype(np.float64)
        lim = 256 if dt == BF16 else (2048 if np.dtype(dt).itemsize == 2 else None)
        ok = want <= lim if lim else np.ones(n, bool)  # past 256/2048 16-bit sums round
        np.testing.assert_array_equal(got[ok], want[ok])
    else:
        np.testing.assert_array_equal(jk.scan(x), np.cumsum(x, dtype=dt))
    np.testing.assert_array_equal(jk.scan(x, max), np.maximum.accumulate(x))
    np.testing.assert_array_equal(jk.scan(x, last), x)                         # in order
    ex = jk.scan(x, min, inclusive=False, init=x[0])
    np.testing.assert_array_equal(ex, np.minimum.accumulate(np.concatenate([x[:1], x[:-1]])))
    wide = jk.scan(x, init=np.float64(0.5))                                   # a float64 accumulator
    np.testing.assert_array_equal(wide, 0.5 + np.cumsum(x.astype(np.float64)))


@pytest.mark.parametrize("target", TARGETS, indirect=True)
def test_scan_exclusive_shapes_out_and_errors(target, rng):
    x = rng.integers(0, 5, (30, 77)).astype(np.int32)
    e = jk.scan(x, inclusive=False)
    assert e.shape == x.shape
    np.testing.assert_array_equal(e.ravel(), np.concatenate([[0], np.cumsum(x.ravel())[:-1]]))
    out = np.zeros_like(x)
    assert jk.scan(x, lambda a, b: a + b, out=out) is out
    np.testing.assert_array_equal(out.ravel(), np.cumsum(x.ravel()))
    with pytest.raises(ValueError, match="needs init="):
        jk.scan(x, max, inclusive=False)
    with pytest.raises(ValueError, match="out= has shape"):
        jk.scan(x, out=np.zeros(5, np.int32))
    assert jk.scan(np.zeros(0, np.float32)).shape == (0,)


@jk.jit
def fma3(a, b, c):
    return a * b + c


@pytest.mark.parametrize("target", TARGETS, indirect=True)
def test_transform(target, rng):
    x = rng.standard_normal((50, 41)).astype(np.float32)
    y = rng.standard_normal((50, 41)).astype(np.float32)
    got = jk.transform(lambda a, b: a * 2 + b, x, 1.5)
    assert got.dtype == np.float32 and got.shape == x.shape               # 1.5 takes the arrays' type
    np.testing.assert_allclose(got, x * 2 + 1.5, rtol=1e-6)
    want = x.astype(np.float64) * y + x                      # the GPU fuses a * b + c: one rounding
    np.testing.assert_allclose(jk.transform(fma3, x, y, x), want, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(jk.transform(abs, x), np.abs(x))
    out = np.zeros_like(x, dtype=np.float64)
    assert jk.transform(lambda a: a + 1, x, out=out) is out
    np.testing.assert_allclose(out, x.astype(np.float64) + 1, rtol=1e-6)
    i = np.arange(10, dtype=np.int32)
    np.testing.assert_array_equal(jk.transform(lambda a: a * 3, i), i * 3)
    with pytest.raises(ValueError, match="one shape"):
        jk.transform(operator.add, x, y[:10])
    with pytest.raises(TypeError, match="1 to 3 operands"):
        jk.transform(fma3, x, x, x, x)
    assert jk.transform(lambda a: a, np.zeros(0, np.float32)).shape == (0,)


# ------------------------------------------------------------------ device arrays (zero-copy, same kind out)
@gpu
def test_device_arrays_cupy_and_torch(rng):
    cupy = pytest.importorskip("cupy")
    x = rng.standard_normal(1 << 20).astype(np.float32)
    cx = cupy.asarray(x)
    s = jk.reduce(cx)
    assert isinstance(s, cupy.ndarray) and s.shape == () and np.isclose(float(s), x.astype(np.float64).sum(),
                                                                         rtol=1e-5, atol=1e-2)
    assert float(jk.reduce(cx, max)) == x.max()
    m = cupy.asarray(rng.integers(-9, 10, (33, 1000)).astype(np.float32))
    np.testing.assert_array_equal(jk.reduce(m, axis=1).get(), m.get().sum(axis=1))
    y = jk.transform(lambda a: a * 2, cx)
    assert isinstance(y, cupy.ndarray) and bool((y == cx * 2).all())
    out = cupy.zeros(1, cupy.float32)
    assert jk.reduce(cx, max, out=out) is out and float(out[0]) == x.max()
    stream = cupy.cuda.Stream()
    r = jk.reduce(cx, max, stream=stream)
    stream.synchronize()
    assert float(r) == x.max()
    torch = pytest.importorskip("torch")
    t = torch.from_numpy(x).cuda()
    st = jk.reduce(t, max)
    assert isinstance(st, torch.Tensor) and st.is_cuda and float(st) == x.max()
    yt = jk.transform(lambda a, b: a - b, t, t)
    assert isinstance(yt, torch.Tensor) and float(yt.abs().max()) == 0
    assert float(jk.reduce(torch.from_numpy(x), max)) == x.max()        # a CPU tensor: staged
    xs = cupy.asarray(rng.integers(0, 3, 1 << 20).astype(np.int32))
    cs = jk.scan(xs)
    assert isinstance(cs, cupy.ndarray) and bool((cs == cupy.cumsum(xs)).all())
    ts = jk.scan(torch.as_tensor(xs, device="cuda"), max)
    assert isinstance(ts, torch.Tensor) and bool((ts.cpu().numpy() == np.maximum.accumulate(xs.get())).all())


@gpu
def test_reduce_hot_path_takes_only_what_it_was_planned_for(rng):
    """A plan's hot path (1-d contiguous CuPy/PyTorch, default stream, no out=) hands anything else
    to the general path: strided views, other dtypes, out=, streams."""
    cupy = pytest.importorskip("cupy")
    torch = pytest.importorskip("torch")
    x = rng.standard_normal(100002)
    for dev in (cupy.asarray(x), torch.as_tensor(x, device="cuda")):
        for part in (dev[::2], dev[:50001], dev[1::2], dev[50001:]):   # 50001 items, strided or not
            host = (part.get() if hasattr(part, "get") else part.cpu().numpy())
            got = jk.reduce(part)
            assert type(got) is type(dev) and got.shape == ()
            assert np.isclose(float(got), host.sum(), rtol=1e-12, atol=1e-9)
        f32 = dev[:50001].astype(cupy.float32) if hasattr(dev, "get") else dev[:50001].float()
        assert np.isclose(float(jk.reduce(f32)), x[:50001].sum(), rtol=1e-4, atol=1e-2)
        out = dev[:1].clone() if hasattr(dev, "clone") else dev[:1].copy()
        assert jk.reduce(dev, max, out=out) is out and float(out[0]) == x.max()
        stream = cupy.cuda.Stream() if hasattr(dev, "get") else torch.cuda.Stream()
        r = jk.reduce(dev, max, stream=stream)
        stream.synchronize()
        assert float(r) == x.max()


@gpu
def test_reduce_hot_path_results_are_distinct(rng):
    """The hot path's results are 0-d views of shared allocations of result slots: 600 calls (past
    two refills) give 600 distinct results that keep their values, also from 8 threads at once."""
    cupy = pytest.importorskip("cupy")
    from concurrent.futures import ThreadPoolExecutor
    distinct = [cupy.asarray(rng.integers(-1000, 1000, 100003)) for _ in range(50)]   # 25 blocks each
    xs = distinct * 12
    plan = jk.plan_reduce(xs[0])
    got = [plan(x) for x in xs]
    want = [int(x.sum()) for x in xs]
    assert all(g.shape == () for g in got)
    assert len({g.data.ptr for g in got}) == len(got)
    assert [int(g) for g in got] == want
    with ThreadPoolExecutor(8) as pool:
        again = list(pool.map(jk.reduce, xs))
    cupy.cuda.runtime.deviceSynchronize()
    assert [int(g) for g in again] == want and len({g.data.ptr for g in again}) == len(again)
    torch = pytest.importorskip("torch")
    for n in (1000, 100003):            # one block (its partials are the result slots) and 25
        small = [torch.as_tensor(rng.standard_normal(n), device="cuda") for _ in range(7)] * 80
        plan = jk.plan_reduce(small[0], max)
        got = [plan(x) for x in small]
        assert plan.prepared, "the hot path should launch with prepared parameters"
        assert [float(g) for g in got] == [float(x.max()) for x in small]


@gpu
@pytest.mark.parametrize("n", [1, 7, 4095, 4096, 4097, 50001, 1 << 20, (1 << 22) + 3])
def test_single_pass_scan(n, rng):
    """4-byte types on the GPU take the decoupled look-back scan: repeated calls (the tile words are
    never cleared, each call has its own epoch), every op kind, in order, exclusive, with init;
    views one item off 16-byte alignment (input, output) take the 4-byte loads and stores."""
    cupy = pytest.importorskip("cupy")
    x = rng.integers(0, 3, n).astype(np.float32)
    cx = cupy.asarray(x)
    for _ in range(3):
        np.testing.assert_array_equal(jk.scan(cx).get(), np.cumsum(x.astype(np.float64)))
    out = cupy.zeros(n + 1, np.float32)
    np.testing.assert_array_equal(jk.scan(cx, out=out[1:]).get(), np.cumsum(x.astype(np.float64)))
    np.testing.assert_array_equal(jk.scan(cx[1:]).get(), np.cumsum(x[1:].astype(np.float64)))
    xi = rng.integers(-9, 10, n).astype(np.int32)
    ci = cupy.asarray(xi)
    np.testing.assert_array_equal(jk.scan(ci, max).get(), np.maximum.accumulate(xi))
    np.testing.assert_array_equal(jk.scan(ci, last).get(), xi)
    np.testing.assert_array_equal(jk.scan(ci, inclusive=False).get(),
                                  np.concatenate([[0], np.cumsum(xi)[:-1]]).astype(np.int32))
    np.testing.assert_array_equal(jk.scan(ci, init=np.int32(5)).get(), (5 + np.cumsum(xi)).astype(np.int32))
    np.testing.assert_array_equal(jk.scan(xi, min, inclusive=False, init=np.int32(3)),
                                  np.minimum.accumulate(np.concatenate([[3], xi[:-1]])))
    xu = rng.integers(0, 1 << 31, n).astype(np.uint32)
    np.testing.assert_array_equal(jk.scan(cupy.asarray(xu), operator.xor).get(), np.bitwise_xor.accumulate(xu))


@gpu
def test_scan_hot_path(rng):
    """A repeated jk.scan of a 1-d CuPy array (no init=, out=, stream=) launches with prepared
    parameters: new results each call, strided views and other ops take the general path, and 8
    threads scanning at once each get their own tile ids in launch order."""
    cupy = pytest.importorskip("cupy")
    from concurrent.futures import ThreadPoolExecutor
    from jitkit.primitives.host.plan import PLANS
    n = 100003
    xs = [cupy.asarray(rng.integers(-5, 6, n).astype(np.int32)) for _ in range(6)]
    want = [np.cumsum(x.get()).astype(np.int32) for x in xs]
    got = [jk.scan(x) for x in xs * 3]
    hot = [h for k, h in PLANS.items() if k[0] == "scan" and k[3] == (n,) and k[4] is operator.add and k[5]]
    assert hot and hot[0].prepared, "a repeated scan should launch with prepared parameters"
    assert len({g.data.ptr for g in got}) == len(got)
    for g, w in zip(got, want * 3):
        np.testing.assert_array_equal(g.get(), w)
    wide = cupy.asarray(rng.integers(-5, 6, 2 * n).astype(np.int32))
    np.testing.assert_array_equal(jk.scan(wide[::2]).get(), np.cumsum(wide.get()[::2]).astype(np.int32))
    np.testing.assert_array_equal(jk.scan(xs[0], max).get(), np.maximum.accumulate(xs[0].get()))
    np.testing.assert_array_equal(jk.scan(xs[0], inclusive=False).get(),
                                  np.concatenate([[0], want[0][:-1]]).astype(np.int32))
    with ThreadPoolExecutor(8) as pool:
        again = list(pool.map(jk.scan, xs * 8))
    cupy.cuda.runtime.deviceSynchronize()
    for g, w in zip(again, want * 8):
        np.testing.assert_array_equal(g.get(), w)


@pytest.mark.parametrize("target", TARGETS, indirect=True)
@pytest.mark.parametrize("dtype", ("int32", "float32", "float64", "uint8"))
def test_segmented_reduce(target, dtype, rng):
    x = _values(rng, np.dtype(dtype), 20000)
    cuts = np.sort(rng.integers(0, x.size, 40))
    off = np.concatenate([[0], cuts, cuts[:3], [x.size]]).astype(np.int64)
    off.sort()                                              # repeated cuts: empty segments
    segs = [x[a:b] for a, b in zip(off[:-1], off[1:])]
    got = jk.segmented_reduce(x, off, init=np.float64(0))
    np.testing.assert_array_equal(got, [s.astype(np.float64).sum() for s in segs])
    got = jk.segmented_reduce(x, off, max)
    ident = np.iinfo(x.dtype).min if x.dtype.kind in "iu" else -np.inf
    np.testing.assert_array_equal(got, [s.max() if s.size else ident for s in segs])
    got = jk.segmented_reduce(x, off, last, init=x.dtype.type(7))                  # in order, init first
    np.testing.assert_array_equal(got, [s[-1] if s.size else 7 for s in segs])
    assert jk.segmented_reduce(x, np.array([0]), max).shape == (0,)
    with pytest.raises(ValueError, match="needs init="):
        jk.segmented_reduce(x, off, last)
    with pytest.raises(TypeError, match="offsets must be integers"):
        jk.segmented_reduce(x, off.astype(np.float32))


@pytest.mark.parametrize("target", TARGETS, indirect=True)
@pytest.mark.parametrize("side", ["left", "right"])
def test_searchsorted(target, side, rng):
    a = np.sort(rng.integers(-50, 50, 3001)).astype(np.float64)
    a[-5:] = np.nan                                            # NumPy sorts NaNs last
    v = np.concatenate([rng.integers(-60, 60, 700).astype(np.float64), [np.nan, -np.inf, np.inf]])
    np.testing.assert_array_equal(jk.searchsorted(a, v, side), np.searchsorted(a, v, side))
    ai = np.sort(rng.integers(0, 1000, 999)).astype(np.int32)
    vi = rng.integers(-5, 1005, (20, 30)).astype(np.int32)
    got = jk.searchsorted(ai, vi, side)
    assert got.shape == vi.shape and got.dtype == np.int64
    np.testing.assert_array_equal(got, np.searchsorted(ai, vi, side))
    assert jk.searchsorted(ai, 500, side) == np.searchsorted(ai, 500, side)
    assert jk.searchsorted(ai[:0], vi, side).tolist() == np.zeros(vi.shape, int).tolist()
    with pytest.raises(ValueError, match="side is 'left' or 'right'"):
        jk.searchsorted(ai, vi, "middle")


@pytest.mark.parametrize("target", TARGETS, indirect=True)
@pytest.mark.parametrize("n", [0, 1, 2049, 30001])
def test_select_and_partition(target, n, rng):
    x = rng.integers(-50, 50, n).astype(np.int16)
    np.testing.assert_array_equal(jk.select(x, lambda v: v > 0), x[x > 0])
    even = jk.jit(lambda v: v % 2 == 0)
    p, k = jk.partition(x, even)
    assert k == (x % 2 == 0).sum()
    np.testing.assert_array_equal(p, np.concatenate([x[x % 2 == 0], x[x % 2 != 0]]))    # stable both sides
    m = rng.standard_normal((40, 30)).astype(np.float32)
    np.testing.assert_array_equal(jk.select(m, lambda v: v < -1), m.ravel()[m.ravel() < -1])


@pytest.mark.parametrize("target", TARGETS, indirect=True)
@pytest.mark.parametrize("bins,rng_range", [(10, None), (7, (-3.0, 2.5)), (1, None), (300, (-1, 1))])
def test_histogram(target, bins, rng_range, rng):
    x = rng.standard_normal(40001)
    x[:5] = [np.nan, -10, 10, 2.5, -3.0]                  # NaN and outside are not counted; edges are
    xs = x[1:] if rng_range is None else x                 # (NumPy refuses a NaN range)
    got, edges = jk.histogram(xs, bins, rng_range)
    want, wedges = np.histogram(xs, bins, rng_range)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(edges, wedges)
    i = rng.integers(0, 20, 5000).astype(np.int32)
    np.testing.assert_array_equal(jk.histogram(i, 20, (0, 20))[0], np.histogram(i, 20, (0, 20))[0])
    with pytest.raises(ValueError, match="positive number of bins"):
        jk.histogram(xs, 0)


@gpu
def test_numba_device_arrays_come_back_as_numba(rng):
    """numba device arrays are used in place and results are numba device arrays."""
    if not hasattr(np, "row_stack"):  # numba-cuda 0.30 still names np.row_stack, gone in NumPy 2.5
        np.row_stack = np.vstack
    cuda = pytest.importorskip("numba.cuda")
    x = rng.integers(-100, 100, 100_003).astype(np.int32)
    d = cuda.to_device(x)
    s = jk.scan(d)
    assert type(s).__module__.startswith("numba") and s.shape == x.shape
    np.testing.assert_array_equal(s.copy_to_host(), np.cumsum(x).astype(np.int32))
    r = jk.reduce(d, max)
    assert type(r).__module__.startswith("numba") and int(r.copy_to_host()) == x.max()
    srt = jk.sort(d)
    assert type(srt).__module__.startswith("numba")
    np.testing.assert_array_equal(srt.copy_to_host(), np.sort(x))
    m = cuda.to_device(x.reshape(-1, 1))
    np.testing.assert_array_equal(jk.transform(lambda a: a + 1, m).copy_to_host(), x.reshape(-1, 1) + 1)


# ------------------------------------------------------------------ pairs of arrays: ops on tuples
def _argmin(a, b):
    """(value, index) pairs: the smaller value, the first index on ties.  Not commutative in general."""
    if b[0] < a[0] or (b[0] == a[0] and b[1] < a[1]):
        return b
    return a


def _affine(p, q):
    """The composition of x -> p0 x + p1, then x -> q0 x + q1 (associative, not commutative)."""
    return p[0] * q[0], p[1] * q[0] + q[1]


def _recurrence(a, b, x0=0.0):
    """x[i] = a[i] x[i-1] + b[i], x[-1] = x0, in float64."""
    out = np.empty(len(a))
    x = x0
    for i in range(len(a)):
        x = a[i] * x + b[i]
        out[i] = x
    return out


@pytest.mark.parametrize("target", TARGETS, indirect=True)
@pytest.mark.parametrize("n", SIZES + (1 << 17,))
def test_reduce_and_scan_of_pairs(target, n, rng):
    """jk.reduce / jk.scan over a pair of arrays with an op on tuples: an arg-min (ties give the first
    index), an affine recurrence (order matters), a segmented sum over (flag, value) pairs."""
    v = rng.integers(-20, 20, n).astype(np.float32)                    # many ties
    idx = np.arange(n, dtype=np.int64)
    m, i = jk.reduce((v, idx), _argmin)
    assert m == v.min() and i == np.argmin(v) and type(i) is np.int64
    a, b = rng.uniform(0.999, 1.001, n), rng.standard_normal(n)   # products stay normal
    ca, cb = jk.scan((a, b), _affine)
    np.testing.assert_allclose(cb, _recurrence(a, b), rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(ca, np.cumprod(a), rtol=1e-8)
    ra, rb = jk.reduce((a, b), _affine, init=(1.0, 2.0))               # x0 = 2
    assert np.isclose(rb, _recurrence(a, b, 2.0)[-1], rtol=1e-8, atol=1e-8)
    flags = (rng.random(n) < 0.01).astype(np.int32)
    x = rng.integers(0, 5, n).astype(np.int64)
    seg = lambda p, q: (p[0] | q[0], q[1] if q[0] else p[1] + q[1])   # noqa: E731 - segmented sum
    f, s = jk.scan((flags, x), seg)
    starts = np.maximum.accumulate(np.where(flags == 1, np.arange(n), 0))
    want = np.cumsum(x) - np.concatenate([[0], np.cumsum(x)])[starts]
    np.testing.assert_array_equal(s, want)
    np.testing.assert_array_equal(f, np.maximum.accumulate(flags))
    ea, eb = jk.scan((a, b), _affine, inclusive=False, init=(1.0, 0.0))
    np.testing.assert_allclose(eb, np.concatenate([[0.0], _recurrence(a, b)[:-1]]), rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(ea, np.concatenate([[1.0], np.cumprod(a)[:-1]]), rtol=1e-8)


@pytest.mark.parametrize("target", TARGETS, indirect=True)
def test_pairs_shapes_out_empty_and_errors(target, rng):
    a = rng.standard_normal((30, 41))
    b = np.broadcast_to(np.arange(41.0), (30, 41))[:, ::-1]             # n-d, not contiguous
    ca, cb = jk.scan((a, b), _affine)
    assert ca.shape == cb.shape == (30, 41)
    np.testing.assert_allclose(cb.ravel(), _recurrence(a.ravel(), b.ravel()), rtol=1e-9, atol=1e-9)
    oa, ob = np.zeros((30, 41)), np.zeros((30, 41))
    assert jk.scan((a, b), _affine, out=(oa, ob)) == (oa, ob)
    np.testing.assert_array_equal(ob, cb)
    e = np.zeros(0, np.float32)
    assert jk.reduce((e, e.astype(np.int64)), _argmin, init=(np.float32(np.inf), np.int64(-1))) == (np.inf, -1)
    assert [c.shape for c in jk.scan((e, e), _affine)] == [(0,), (0,)]
    with pytest.raises(ValueError, match="needs init="):
        jk.reduce((e, e), _affine)
    with pytest.raises(ValueError, match="needs init="):
        jk.scan((a, b), _affine, inclusive=False)
    with pytest.raises(ValueError, match="one shape"):
        jk.reduce((a, b[:, :40]), _affine)
    with pytest.raises(ValueError, match="3-tuple"):
        jk.reduce((a, a, a), _affine)
    with pytest.raises(TypeError, match="must give a pair"):
        jk.reduce((a, b), lambda p, q: p[0] + q[0])
    with pytest.raises(ValueError, match="axis"):
        jk.reduce((a, b), _affine, axis=0)
    with pytest.raises(TypeError, match="init= of a pair"):
        jk.reduce((a, b), _affine, init=1.0)
    with pytest.raises(ValueError, match="out= must hold"):
        jk.scan((a, b), _affine, out=(oa, np.zeros(3)))


@gpu
def test_pairs_on_device_arrays(rng):
    """CuPy and PyTorch pairs stay on the device: 0-d device results, out= written in place."""
    cupy = pytest.importorskip("cupy")
    torch = pytest.importorskip("torch")
    n = (1 << 20) + 17
    v = rng.integers(-1000, 1000, n).astype(np.float32)
    idx = np.arange(n, dtype=np.int64)
    for conv in (cupy.asarray, lambda h: torch.as_tensor(h, device="cuda")):
        dv, di = conv(v), conv(idx)
        m, i = jk.reduce((dv, di), _argmin)
        assert type(m) is type(dv) and m.shape == () and float(m) == v.min() and int(i) == np.argmin(v)
        om, oi = conv(np.zeros(1, np.float32)), conv(np.zeros(1, np.int64))
        assert jk.reduce((dv, di), _argmin, out=(om, oi)) == (om, oi) and int(oi[0]) == np.argmin(v)
        a, b = rng.uniform(0.999, 1.001, n), rng.standard_normal(n)   # products stay normal
        ca, cb = jk.scan((conv(a), conv(b)), _affine)
        assert type(cb) is type(dv)
        got = cb.get() if hasattr(cb, "get") else cb.cpu().numpy()
        np.testing.assert_allclose(got, _recurrence(a, b), rtol=1e-9, atol=1e-9)
