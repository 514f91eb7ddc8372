"""jk.sort / jk.argsort against NumPy's stable sort: every key type, odd sizes, both directions,
-0.0 and NaN, values alongside, key=; on the simulator in CI, on the GPU (NumPy, CuPy, PyTorch) on
the device."""

import numpy as np
import pytest

import jitkit as jk
from conftest import gpu
from kernels import BF16, dtype_named

TARGETS = ["sim", pytest.param("gpu", marks=gpu)]
KEY_TYPES = ("bool", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64", "float16",
             "float32", "float64") + (("bfloat16",) if BF16 is not None else ())
SIZES = (1, 2, 383, 3073, 5120, 5121, 20001)  # a tile: 5120 keys up to 4 bytes (256 threads x 20), 3072 wider


def _keys(rng, dt, n, narrow=False):
    """Random keys with many ties; floats with -0.0, +0.0, +-inf and NaNs of both signs."""
    if dt == np.bool_:
        return rng.random(n) < 0.5
    if dt == BF16 or dt.kind == "f":
        x = rng.standard_normal(n) * (4 if narrow else 1e3)
        x = np.round(x, 1).astype(dt)
        specials = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan], dt)
        pick = rng.random(n) < 0.1
        x[pick] = specials[rng.integers(0, specials.size, int(pick.sum()))]
        neg_nan = rng.random(n) < 0.02                       # a NaN with the sign bit set
        x[neg_nan] = -np.abs(np.array(np.nan, dt))
        return x
    info = np.iinfo(dt)
    if narrow:
        return rng.integers(max(info.min, -3), min(info.max, 3) + 1, n).astype(dt)
    return rng.integers(info.min, info.max, n, dtype=dt, endpoint=True)


def _order(x, descending=False):
    """The stable order jk.sort promises: NumPy's (-0.0 == +0.0, NaNs after +inf), or reversed keys."""
    idx = np.arange(x.size)
    if x.dtype == np.bool_:
        k = x.astype(np.int64)
    elif x.dtype == BF16 or x.dtype.kind == "f":
        f = x.astype(np.float64)
        nan = np.isnan(f)
        rank = np.where(nan, 0.0, f) + 0.0                   # -0.0 -> +0.0
        return np.lexsort((idx, -rank, ~nan)) if descending else np.lexsort((idx, rank, nan))
    elif x.dtype.itemsize == 8:                              # exact 64-bit order through Python ints
        return np.array(sorted(range(x.size), key=lambda i: (-int(x[i]) if descending else int(x[i]), i)),
                        np.int64)
    else:
        k = x.astype(np.int64)
    return np.lexsort((idx, -k if descending else k))


def _same_bits(a, b):
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_array_equal(a.view(np.uint8), b.view(np.uint8))


@pytest.mark.parametrize("target", TARGETS, indirect=True)
@pytest.mark.parametrize("dtype", KEY_TYPES)
@pytest.mark.parametrize("n", SIZES)
def test_sort_and_argsort(target, dtype, n, rng):
    dt = dtype_named(dtype)
    for descending in (False, True):
        x = _keys(rng, dt, n, narrow=descending)             # narrow: many equal keys, stability matters
        order = _order(x, descending)
        _same_bits(jk.sort(x, descending=descending), x[order])          # the keys' exact bits come back
        a = jk.argsort(x, descending=descending)
        assert a.dtype == np.int64
        np.testing.assert_array_equal(a, order)


@pytest.mark.parametrize("target", TARGETS, indirect=True)
@pytest.mark.parametrize("kv", [("uint32", "float32"), ("float64", "int8"), ("int16", "uint64"),
                                ("uint8", "float64")])
def test_sort_pairs(target, kv, rng):
    kd, vd = np.dtype(kv[0]), np.dtype(kv[1])
    n = 9001
    k = _keys(rng, kd, n, narrow=True)
    v = rng.integers(0, 100, n).astype(vd)
    order = _order(k)
    sk, sv = jk.sort(k, v)
    _same_bits(sk, k[order])
    _same_bits(sv, v[order])
    sk, sv = jk.sort(k, v, descending=True)
    _same_bits(sv, v[_order(k, True)])


@jk.jit
def neg_square(v):
    return -(v * v)


@pytest.mark.parametrize("target", TARGETS, indirect=True)
def test_sort_by_key(target, rng):
    x = rng.integers(-50, 50, 5003).astype(np.int32)
    np.testing.assert_array_equal(jk.sort(x, key=abs), x[np.argsort(np.abs(x), kind="stable")])
    np.testing.assert_array_equal(jk.sort(x, key=neg_square), x[np.argsort(-(x * x), kind="stable")])
    f = rng.standard_normal(5003).astype(np.float32)
    o = np.argsort(np.abs(f - 0.5), kind="stable")
    np.testing.assert_array_equal(jk.sort(f, key=lambda v: abs(v - 0.5)), f[o])
    labels = np.arange(5003, dtype=np.int64)
    sx, sl = jk.sort(x, labels, key=abs, descending=True)
    o = _order(np.abs(x), True)
    np.testing.assert_array_equal(sx, x[o])
    np.testing.assert_array_equal(sl, labels[o])


@pytest.mark.parametrize("target", TARGETS, indirect=True)
def test_sort_edges_and_errors(target, rng):
    e = np.zeros(0, np.float32)
    assert jk.sort(e).shape == (0,) and jk.argsort(e).shape == (0,) and jk.argsort(e).dtype == np.int64
    k, v = jk.sort(e, np.zeros(0, np.int8))
    assert k.shape == v.shape == (0,)
    x = rng.standard_normal(100)
    x0 = x.copy()
    jk.sort(x)
    np.testing.assert_array_equal(x, x0)                                 # the input is untouched
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        jk.sort(np.zeros((3, 4)), axis=2)
    with pytest.raises(ValueError, match="axis 1 is out of range"):
        jk.argsort(np.zeros(4), axis=1)
    with pytest.raises(ValueError, match=r"values has shape \(3,\)"):
        jk.sort(np.zeros(4), np.zeros(3))
    with pytest.raises(TypeError, match="integer, bool and float keys"):
        jk.sort(np.zeros(4, np.complex64))
    with pytest.raises(TypeError, match="same kind of array"):
        jk.sort(np.zeros(4), [1, 2, 3, 4])


@pytest.mark.parametrize("target", TARGETS, indirect=True)
@pytest.mark.parametrize("shape, axis", [((7, 301), -1), ((7, 301), 0), ((3, 1, 5000), 2), ((300, 2, 5), 0),
                                         ((4, 0, 3), 1), ((40, 9), None), ((1, 50), -1)])
def test_sort_along_an_axis(target, shape, axis, rng):
    """n-d keys sort along an axis like np.sort / np.argsort (stable): radix keys with ties,
    descending, values alongside, key= and less=."""
    x = rng.integers(-20, 20, shape).astype(np.float32)
    x[x == 3] = np.nan
    np.testing.assert_array_equal(jk.sort(x, axis=axis), np.sort(x, axis=axis))
    a = jk.argsort(x, axis=axis)
    assert a.dtype == np.int64 and a.flags.c_contiguous
    np.testing.assert_array_equal(a, np.argsort(x, axis=axis, kind="stable"))
    if x.size:                                  # descending: each row in _order's reversed order
        moved = x.reshape(1, -1) if axis is None else np.moveaxis(x, axis, -1)
        rows = moved.reshape(-1, moved.shape[-1])
        got = jk.sort(x, descending=True, axis=axis)
        got_rows = (got.reshape(1, -1) if axis is None else np.moveaxis(got, axis, -1)).reshape(rows.shape)
        np.testing.assert_array_equal(got_rows, np.stack([r[_order(r, True)] for r in rows]))
    v = np.arange(x.size, dtype=np.int64).reshape(shape)
    sk, sv = jk.sort(x, v, axis=axis)
    np.testing.assert_array_equal(sv, np.take_along_axis(v, np.argsort(x, axis=axis, kind="stable"), axis=axis))
    i = rng.integers(-9, 9, shape).astype(np.int16)
    byabs = np.take_along_axis(i, np.argsort(np.abs(i), axis=-1, kind="stable"), axis=-1)
    np.testing.assert_array_equal(jk.sort(i, key=abs), byabs)
    np.testing.assert_array_equal(jk.sort(i, less=lambda p, q: abs(p) < abs(q)), byabs)


@gpu
def test_sort_device_arrays(rng):
    cupy = pytest.importorskip("cupy")
    n = (1 << 22) + 5
    x = rng.integers(0, 1 << 32, n, dtype=np.uint32)
    cx = cupy.asarray(x)
    s = jk.sort(cx)
    assert isinstance(s, cupy.ndarray)
    np.testing.assert_array_equal(s.get(), np.sort(x))
    for _ in range(2):                                                   # repeated calls reuse nothing stale
        np.testing.assert_array_equal(jk.argsort(cx).get(), np.argsort(x, kind="stable"))
    f = rng.standard_normal(n).astype(np.float32)
    stream = cupy.cuda.Stream()
    sf = jk.sort(cupy.asarray(f), descending=True, stream=stream)
    stream.synchronize()
    np.testing.assert_array_equal(sf.get(), np.sort(f)[::-1])
    torch = pytest.importorskip("torch")
    t = torch.as_tensor(f, device="cuda")
    st, si = jk.sort(t, torch.arange(n, device="cuda"))
    assert isinstance(st, torch.Tensor) and st.is_cuda
    np.testing.assert_array_equal(si.cpu().numpy(), np.argsort(f, kind="stable"))
    d = rng.integers(-(1 << 62), 1 << 62, 1 << 21, dtype=np.int64)
    np.testing.assert_array_equal(jk.sort(cupy.asarray(d)).get(), np.sort(d))


@pytest.mark.parametrize("target", TARGETS, indirect=True)
@pytest.mark.parametrize("dtype", ("bool", "int8", "uint16", "int32", "int64", "float16", "float32", "float64"))
def test_unique(target, dtype, rng):
    dt = dtype_named(dtype)
    x = _keys(rng, dt, 7000, narrow=True)
    if dt.kind == "f":
        x[::13] = -0.0
    x2 = x.reshape(-1, 7)                                   # flattened, like np.unique
    got = jk.unique(x2, return_index=True, return_inverse=True, return_counts=True)
    want = np.unique(x2, return_index=True, return_inverse=True, return_counts=True)
    u, idx, inv, cnt = got
    np.testing.assert_array_equal(u, want[0])             # NaNs one value; -0.0 == +0.0
    np.testing.assert_array_equal(u[inv.ravel()], x.ravel())   # the inverse rebuilds x (its own -0.0s aside)
    assert inv.shape == want[2].shape
    np.testing.assert_array_equal(cnt, want[3])
    assert idx.dtype == inv.dtype == cnt.dtype == np.int64
    np.testing.assert_array_equal(x.ravel()[idx], u)
    first = {}                                             # each index is the first occurrence
    for i, v in enumerate(x.ravel().tolist()):
        key = "nan" if v != v else v
        first.setdefault(key, i)
    assert [first["nan" if v != v else v] for v in u.tolist()] == idx.tolist()
    assert jk.unique(x[:0]).shape == (0,)
    e, c = jk.unique(x[:0], return_counts=True)
    assert e.shape == c.shape == (0,)


@jk.jit
def by_last_digit_then_larger(a, b):
    """A comparator: last decimal digit ascending, then the larger number first."""
    da, db = a % 10, b % 10
    return da < db or (da == db and a > b)


@pytest.mark.parametrize("target", TARGETS, indirect=True)
@pytest.mark.parametrize("n", (1, 1023, 1024, 1025, 20001))
def test_sort_with_comparator(target, n, rng):
    x = rng.integers(0, 1000, n).astype(np.int32)
    idx = np.arange(n)
    want = np.lexsort((idx, x % 10))                                   # stable by last digit
    np.testing.assert_array_equal(jk.sort(x, less=lambda a, b: a % 10 < b % 10), x[want])
    np.testing.assert_array_equal(jk.argsort(x, less=lambda a, b: a % 10 < b % 10), want)
    np.testing.assert_array_equal(jk.argsort(x, less=lambda a, b: a % 10 < b % 10, descending=True),
                                  np.lexsort((idx, -(x % 10))))
    np.testing.assert_array_equal(jk.sort(x, less=by_last_digit_then_larger), x[np.lexsort((idx, -x, x % 10))])
    f = rng.standard_normal(n)
    labels = rng.integers(0, 50, n).astype(np.uint16)
    sk, sv = jk.sort(f, labels, less=lambda a, b: a < b)
    o = np.argsort(f, kind="stable")
    np.testing.assert_array_equal(sk, f[o])
    np.testing.assert_array_equal(sv, labels[o])
    with pytest.raises(ValueError, match="key= or less="):
        jk.sort(x, key=abs, less=lambda a, b: a < b)


@gpu
def test_sort_along_an_axis_on_device_arrays(rng):
    """CuPy and PyTorch n-d keys sort along an axis in place on the device (same kind out)."""
    cupy = pytest.importorskip("cupy")
    torch = pytest.importorskip("torch")
    x = rng.integers(0, 1000, (300, 1001)).astype(np.int32)
    for conv, back in ((cupy.asarray, lambda a: a.get()), (lambda h: torch.as_tensor(h, device="cuda"),
                                                           lambda a: a.cpu().numpy())):
        d = conv(x)
        for axis in (0, 1):
            s = jk.sort(d, axis=axis)
            assert type(s) is type(d)
            np.testing.assert_array_equal(back(s), np.sort(x, axis=axis))
            np.testing.assert_array_equal(back(jk.argsort(d, axis=axis)), np.argsort(x, axis=axis, kind="stable"))


@gpu
@pytest.mark.parametrize("dtype", ["uint32", "float32", "int8", "float64"])
@pytest.mark.parametrize("descending", [False, True])
def test_sort_hot_path(dtype, descending, rng):
    """A repeated jk.sort of a 1-d CuPy array (keys only, no stream=) replays its five launches
    with prepared parameters on kept scratch: distinct arrays of one size sort right again and
    again, results are new arrays, strided views take the general path, 4 threads at once are safe."""
    cupy = pytest.importorskip("cupy")
    from concurrent.futures import ThreadPoolExecutor
    from jitkit.primitives.host.plan import PLANS
    dt = np.dtype(dtype)
    n = 70001
    xs = [_keys(rng, dt, n) for _ in range(4)]
    cxs = [cupy.asarray(x) for x in xs]
    want = [x[_order(x, descending)] for x in xs]
    got = [jk.sort(c, descending=descending) for c in cxs * 3]
    assert any(k[0] == "sort" and k[3] == (n,) and k[2] == dt and h.prepared for k, h in PLANS.items()), \
        "a repeated sort should replay prepared launches"
    assert len({g.data.ptr for g in got}) == len(got)
    for g, w in zip(got, want * 3):
        _same_bits(g.get(), w)
    wide = cupy.asarray(_keys(rng, dt, 2 * n))
    _same_bits(jk.sort(wide[::2], descending=descending).get(), wide.get()[::2][_order(wide.get()[::2], descending)])
    with ThreadPoolExecutor(4) as pool:
        again = list(pool.map(lambda c: jk.sort(c, descending=descending), cxs * 4))
    cupy.cuda.runtime.deviceSynchronize()
    for g, w in zip(again, want * 4):
        _same_bits(g.get(), w)
