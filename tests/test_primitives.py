"""Warp and block primitives: every primitive x dtype x block size x op against NumPy, on the
simulator (CI) and the GPU (device).  The same kernels and assertions serve both targets."""

import operator

import numpy as np
import pytest

import jitkit as jk
from conftest import gpu

from kernels import BF16, dtype_named, last  # NumPy storage for bfloat16 (ml_dtypes), or None

TARGETS = ["sim", pytest.param("gpu", marks=gpu)]
BLOCKS = (32, 64, 96, 128, 256, 1024)
INTS = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
FLOATS = ("float16", "float32", "float64") + (("bfloat16",) if BF16 is not None else ())
DTYPES = INTS + FLOATS
TOL = {"float16": 2e-2, "bfloat16": 6e-2, "float32": 1e-5, "float64": 1e-12}


OPS = {"add": operator.add, "max": max, "min": min, "last": last}
NP_OPS = {"add": np.add, "max": np.maximum, "min": np.minimum, "last": lambda a, b: b}


def _values(rng, dt, n):
    if dt == BF16 or dt.kind == "f":
        return np.asarray(rng.integers(-3, 4, n), np.float32).astype(dt) if dt != BF16 else \
            np.asarray(rng.integers(-3, 4, n), np.float32).astype(BF16)
    info = np.iinfo(dt)
    return rng.integers(max(info.min, -100), min(info.max, 100) + 1, n).astype(dt)


def _scan_ref(x, op, dt):
    """Inclusive scan in the array's own type (integer wrap-around is associative, so order-free)."""
    if op == "last":
        return x.copy()
    f = NP_OPS[op]
    if dt == BF16 or dt.kind == "f":
        return f.accumulate(x.astype(np.float64))
    return f.accumulate(x, dtype=dt) if op == "add" else f.accumulate(x)


def _close(got, want, dt, what):
    if dt == BF16 or dt.kind == "f":
        got = np.asarray(got).astype(np.float64)
        want = np.asarray(want).astype(np.float64)
        scale = max(1.0, float(np.abs(want).max()))
        np.testing.assert_allclose(got, want, rtol=TOL[dt.name if dt != BF16 else "bfloat16"],
                                   atol=TOL[dt.name if dt != BF16 else "bfloat16"] * scale, err_msg=what)
    else:
        np.testing.assert_array_equal(got, want, err_msg=what)


@jk.jit
def reduce_scan_kernel(x, wred, wscan, bred, binc, bexc, bagg, op: jk.constexpr):
    i = jk.grid(1)
    v = x[i]
    if jk.blockDim.x % 32 == 0:
        wred[i] = jk.warp.reduce(v, op)
        wscan[i] = jk.warp.inclusive_scan(v, op)
    bred[i] = jk.block.reduce(v, op)
    binc[i] = jk.block.inclusive_scan(v, op)
    ex, agg = jk.block.exclusive_scan(v, op, x[0], aggregate=True)
    bexc[i] = ex
    bagg[i] = agg


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("op", list(OPS))
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("nt", BLOCKS)
def test_reduce_and_scan(target, op, dtype, nt, rng):
    dt = dtype_named(dtype)
    nblocks = 3
    n = nblocks * nt
    x = _values(rng, dt, n)
    outs = [np.zeros(n, dt) for _ in range(6)]
    reduce_scan_kernel.with_target(target)[nblocks, nt](x, *outs, OPS[op])
    wred, wscan, bred, binc, bexc, bagg = outs
    f = NP_OPS[op]
    xw, xb = x.reshape(-1, 32), x.reshape(nblocks, nt)
    _close(wred, np.repeat(np.stack([_scan_ref(w, op, dt)[-1] for w in xw]), 32), dt, "warp.reduce")
    _close(wscan, np.concatenate([_scan_ref(w, op, dt) for w in xw]), dt, "warp.inclusive_scan")
    inc = np.stack([_scan_ref(b, op, dt) for b in xb])
    _close(bred, np.repeat(inc[:, -1], nt), dt, "block.reduce")
    _close(binc, inc.ravel(), dt, "block.inclusive_scan")
    seed = np.asarray(x[0])
    wide = (lambda a: a.astype(np.float64)) if (dt == BF16 or dt.kind == "f") else (lambda a: a)
    exc = np.concatenate([np.full((nblocks, 1), wide(seed)), f(wide(seed), inc[:, :-1]) if op != "last"
                          else inc[:, :-1]], axis=1)
    _close(bexc, exc.ravel(), dt, "block.exclusive_scan")
    _close(bagg, np.repeat(inc[:, -1], nt), dt, "block aggregate")


# ------------------------------------------------------------------ items per thread, prefix callback
@jk.jit
def running_total(aggregate, carry):
    """The prefix callback of a multi-tile scan: returns the running total, then adds the tile."""
    p = carry[0]
    if jk.laneid == 0:
        carry[0] = p + aggregate
    return p


@jk.jit
def tiled_scan_kernel(x, out, totals, ipt: jk.constexpr):
    """One block scans the whole array tile by tile, seeding each tile with the running total."""
    items = jk.local.array(ipt, x.dtype)
    carry = jk.shared.array(1, x.dtype)
    if jk.threadIdx.x == 0:
        carry[0] = 0
    jk.syncthreads()
    tile = jk.blockDim.x * ipt
    base = 0
    while base < x.size:
        jk.block.load(x, base, items, default=0)
        agg = jk.block.inclusive_scan(items, operator.add, prefix_op=running_total, state=carry)
        jk.block.store(out, base, items)
        if jk.threadIdx.x == 0:
            totals[base // tile] = agg
        base += tile


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("dtype", ("int32", "uint64", "float32", "float64"))
@pytest.mark.parametrize("nt,ipt", [(32, 1), (96, 3), (128, 4), (1024, 2)])
def test_multi_tile_scan_with_prefix_callback(target, dtype, nt, ipt, rng):
    dt = np.dtype(dtype)
    n = nt * ipt * 3 + 17                       # a ragged last tile
    x = _values(rng, dt, n)
    out, totals = np.zeros(n, dt), np.zeros(4, dt)
    tiled_scan_kernel.with_target(target)[1, nt](x, out, totals, ipt)
    _close(out, _scan_ref(x, "add", dt), dt, "scan over tiles")
    tile = nt * ipt
    want = [x[k:k + tile].astype(np.float64 if dt.kind == "f" else dt).sum(dtype=np.float64 if dt.kind == "f"
                                                                             else dt) for k in range(0, n, tile)]
    _close(totals, np.asarray(want), dt, "tile aggregates (without the prefix)")


@jk.jit
def items_kernel(x, red, exc, ipt: jk.constexpr):
    items = jk.local.array(ipt, x.dtype)
    base = jk.blockIdx.x * jk.blockDim.x * ipt
    jk.block.load(x, base, items)
    r = jk.block.reduce(items, max)
    jk.block.exclusive_scan(items, operator.add, 5)
    jk.block.store(exc, base, items)
    if jk.threadIdx.x == 0:
        red[jk.blockIdx.x] = r


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("nt,ipt", [(32, 4), (96, 2), (256, 3), (1024, 1)])
def test_items_per_thread_reduce_and_exclusive_scan(target, nt, ipt, rng):
    nb = 2
    x = rng.integers(-1000, 1000, nb * nt * ipt).astype(np.int32)
    red, exc = np.zeros(nb, np.int32), np.zeros_like(x)
    items_kernel.with_target(target)[nb, nt](x, red, exc, ipt)
    xb = x.reshape(nb, -1)
    np.testing.assert_array_equal(red, xb.max(1))
    np.testing.assert_array_equal(exc, (np.cumsum(xb, 1) - xb + 5).ravel())


# ------------------------------------------------------------------ radix sort
@jk.jit
def sort_kernel(keys, vals, out_k, out_v, ipt: jk.constexpr, desc: jk.constexpr, lo: jk.constexpr,
                hi: jk.constexpr, pairs: jk.constexpr):
    k = jk.local.array(ipt, keys.dtype)
    v = jk.local.array(ipt, vals.dtype)
    base = jk.blockIdx.x * jk.blockDim.x * ipt
    jk.block.load(keys, base, k)
    if pairs:
        jk.block.load(vals, base, v)
        jk.block.radix_sort(k, v, descending=desc, begin_bit=lo, end_bit=hi)
        jk.block.store(out_v, base, v)
    else:
        jk.block.radix_sort(k, descending=desc, begin_bit=lo, end_bit=hi)
    jk.block.store(out_k, base, k)


def _sort_keys(rng, dt, n):
    if dt == BF16 or dt.kind == "f":
        x = (rng.standard_normal(n) * 100).astype(np.float32)
        x[::7] = np.round(x[::7])               # duplicates, to see stability
        x[3] = np.inf
        x[5] = -np.inf
        x = x.astype(dt)
        x[x == 0] = 0                           # +0.0 only: -0.0 < +0.0 is checked on its own below
        return x
    info = np.iinfo(dt)
    x = rng.integers(info.min, info.max, n, dtype=dt, endpoint=True)
    x[::5] = x[1]                               # duplicates
    return x


def _stable_order(key, desc):
    if not desc:
        return np.argsort(key, kind="stable")
    a = np.argsort(key[::-1], kind="stable")
    return (len(key) - 1 - a)[::-1]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("nt,ipt", [(32, 4), (64, 1), (96, 3), (128, 2), (256, 4), (1024, 1)])
@pytest.mark.parametrize("desc", [False, True])
def test_block_radix_sort_pairs(target, dtype, nt, ipt, desc, rng):
    dt = dtype_named(dtype)
    nb = 2
    n = nb * nt * ipt
    keys = _sort_keys(rng, dt, n)
    vals = np.arange(n, dtype=np.int32)
    out_k, out_v = np.zeros_like(keys), np.zeros_like(vals)
    bits = keys.itemsize * 8
    sort_kernel.with_target(target)[nb, nt](keys, vals, out_k, out_v, ipt, desc, 0, bits, True)
    kb = keys.reshape(nb, -1)
    cmp = kb.astype(np.float32) if dt == BF16 else kb
    for b in range(nb):
        order = _stable_order(cmp[b], desc)
        np.testing.assert_array_equal(out_v.reshape(nb, -1)[b], order + b * kb.shape[1], err_msg="values (stability)")
        np.testing.assert_array_equal(out_k.reshape(nb, -1)[b].view(np.uint8), kb[b][order].view(np.uint8),
                                      err_msg="keys")


@pytest.mark.parametrize("target", TARGETS)
def test_block_radix_sort_keys_only_and_bit_range(target, rng):
    nt, ipt, nb = 128, 4, 2
    n = nb * nt * ipt
    keys = rng.integers(0, 2 ** 32, n, dtype=np.uint32)
    out = np.zeros_like(keys)
    dummy = np.zeros(1, np.int32)
    sort_kernel.with_target(target)[nb, nt](keys, dummy, out, dummy, ipt, False, 4, 12, False)
    kb = keys.reshape(nb, -1)
    for b in range(nb):
        order = np.argsort((kb[b] >> 4) & 0xFF, kind="stable")     # only bits 4..11 decide
        np.testing.assert_array_equal(out.reshape(nb, -1)[b], kb[b][order])


def test_radix_sort_tile_too_big_for_shared_memory_is_a_compile_error():
    a64, a32 = jk.Array(jk.int64, 1, "C"), jk.Array(jk.int32, 1, "C")
    L = jk.Literal.of
    with pytest.raises(jk.TypingError, match="needs more than the 48 KiB of static shared memory") as e:
        sort_kernel.compile((a64, a32, a64, a32, L(2), L(False), L(0), L(64), L(True)), arch="sm_90", block=1024)
    assert "in sort_kernel" in str(e.value)
    sort_kernel.compile((a64, a32, a64, a32, L(1), L(False), L(0), L(64), L(True)), arch="sm_90", block=1024)


def test_radix_sort_float_order_is_total(rng):
    """-inf < negatives < -0.0 < +0.0 < positives < +inf < NaN, on the simulator (GPU: same kernel)."""
    x = np.array([np.nan, 1.0, -0.0, 0.0, -np.inf, -2.0, np.inf, 3.0] * 4, np.float32)
    out = np.zeros_like(x)
    dummy = np.zeros(1, np.int32)
    sort_kernel.with_target("sim")[1, 32](x, dummy, out, dummy, 1, False, 0, 32, False)
    want = np.array([-np.inf] * 4 + [-2.0] * 4 + [-0.0] * 4 + [0.0] * 4 + [1.0] * 4 + [3.0] * 4 + [np.inf] * 4
                    + [np.nan] * 4, np.float32)
    np.testing.assert_array_equal(out.view(np.uint32), want.view(np.uint32))


# ------------------------------------------------------------------ load/store, exchange, histogram, differences
@jk.jit
def movement_kernel(x, striped_out, roundtrip, hist, diff, heads, tails, ipt: jk.constexpr):
    items = jk.local.array(ipt, x.dtype)
    d = jk.local.array(ipt, x.dtype)
    fh = jk.local.array(ipt, jk.boolean)
    ft = jk.local.array(ipt, jk.boolean)
    bins = jk.local.array(ipt, jk.int32)
    h = jk.shared.array(16, jk.int32)
    base = jk.blockIdx.x * jk.blockDim.x * ipt
    jk.block.load(x, base, items, striped=True)          # thread t: items t, t+T, ...
    jk.block.store(striped_out, base, items)             # written back blocked: a transpose
    jk.block.striped_to_blocked(items)                   # now blocked: the tile in order
    jk.block.adjacent_difference(items, d)
    jk.block.flag_heads(items, fh)
    jk.block.flag_tails(items, ft)
    jk.block.store(diff, base, d)
    jk.block.store(heads, base, fh)
    jk.block.store(tails, base, ft)
    jk.block.blocked_to_striped(items)
    jk.block.store(roundtrip, base, items, striped=True)
    for k in range(ipt):
        bins[k] = jk.int32(items[k]) & 15
    jk.block.histogram(bins, h)
    t = jk.threadIdx.x
    if t < 16:
        hist[jk.blockIdx.x, t] = h[t]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("nt,ipt", [(32, 2), (96, 3), (256, 2), (1024, 1)])   # 1024 x 2: > 48 KiB of buffers
def test_load_store_exchange_histogram_differences(target, nt, ipt, rng):
    nb = 2
    tile = nt * ipt
    x = rng.integers(0, 6, nb * tile).astype(np.int64)
    outs = [np.zeros_like(x), np.zeros_like(x), np.zeros((nb, 16), np.int32), np.zeros_like(x),
            np.zeros(x.size, np.bool_), np.zeros(x.size, np.bool_)]
    movement_kernel.with_target(target)[nb, nt](x, *outs, ipt)
    striped, roundtrip, hist, diff, heads, tails = outs
    xb = x.reshape(nb, tile)
    np.testing.assert_array_equal(striped.reshape(nb, nt, ipt), xb.reshape(nb, ipt, nt).transpose(0, 2, 1))
    np.testing.assert_array_equal(roundtrip, x)
    np.testing.assert_array_equal(hist, np.stack([np.bincount(b & 15, minlength=16) for b in xb]))
    d = np.diff(xb, axis=1, prepend=0)
    d[:, 0] = xb[:, 0]
    np.testing.assert_array_equal(diff.reshape(nb, tile), d)
    h = np.ones_like(xb, bool)
    h[:, 1:] = xb[:, 1:] != xb[:, :-1]
    np.testing.assert_array_equal(heads.reshape(nb, tile), h)
    t = np.ones_like(xb, bool)
    t[:, :-1] = xb[:, :-1] != xb[:, 1:]
    np.testing.assert_array_equal(tails.reshape(nb, tile), t)


def test_block_primitives_need_the_block_shape_ahead_of_time():
    sig = (jk.Array(jk.float32, 1, "C"),) * 7 + (jk.Literal.of(operator.add),)
    with pytest.raises(TypeError, match="compiles once per block shape: pass block="):
        reduce_scan_kernel.compile(sig, arch="sm_90")
    res = reduce_scan_kernel.compile(sig, arch="sm_90", block=128)
    assert res.block == (128, 1, 1) and res.cubin[:4] == b"\x7fELF"
    # declared as the kernel's launch shape, so registers are budgeted for it: at 1024 threads a
    # kernel over 64 registers would not launch at all
    assert ".reqntid 128, 1, 1" in res.ptx
    assert reduce_scan_kernel.inspect_resources(sig, arch="sm_90", block=1024)["registers"] <= 64


# ------------------------------------------------------------------ pairs (tuples) as values
@jk.jit
def argmin(a, b):
    """(value, index) pairs: the smaller value, the earlier index on ties (not commutative)."""
    return b if b[0] < a[0] else a


@jk.jit
def sum_and_max(a, b):
    return a[0] + b[0], max(a[1], b[1])


@jk.jit
def pair_kernel(x, wmin, bmin, bscan_s, bscan_m, bex_s):
    i = jk.grid(1)
    p = (x[i], jk.int32(i))
    if jk.blockDim.x % 32 == 0:
        w = jk.warp.reduce(p, argmin)
        wmin[i] = w[1]
    b = jk.block.reduce(p, argmin)
    bmin[i] = b[1]
    q = (jk.float64(x[i]), x[i])
    s = jk.block.inclusive_scan(q, sum_and_max)
    bscan_s[i] = s[0]
    bscan_m[i] = s[1]
    e = jk.block.exclusive_scan(q, sum_and_max, (jk.float64(100), x[0]))
    bex_s[i] = e[0]


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("nt", (32, 96, 256, 1024))
def test_pairs_as_values(target, nt, rng):
    nb = 2
    n = nb * nt
    x = rng.integers(-20, 20, n).astype(np.float32)           # many ties: the earliest index must win
    wmin, bmin = np.zeros(n, np.int32), np.zeros(n, np.int32)
    bscan_s, bscan_m, bex_s = np.zeros(n), np.zeros(n, np.float32), np.zeros(n)
    pair_kernel.with_target(target)[nb, nt](x, wmin, bmin, bscan_s, bscan_m, bex_s)
    xw, xb = x.reshape(-1, 32), x.reshape(nb, nt)
    np.testing.assert_array_equal(wmin, np.repeat(np.argmin(xw, axis=1) + np.arange(0, n, 32), 32))
    np.testing.assert_array_equal(bmin, np.repeat(np.argmin(xb, axis=1) + np.arange(0, n, nt), nt))
    np.testing.assert_array_equal(bscan_s, np.cumsum(xb.astype(np.float64), axis=1).ravel())
    np.testing.assert_array_equal(bscan_m, np.maximum.accumulate(xb, axis=1).ravel())
    ex = 100 + np.concatenate([np.zeros((nb, 1)), np.cumsum(xb.astype(np.float64), axis=1)[:, :-1]], axis=1)
    np.testing.assert_array_equal(bex_s, ex.ravel())


# ------------------------------------------------------------------ load/store methods, warp load/store
@jk.jit
def methods_kernel(x, out, wout, ipt: jk.constexpr, lmethod: jk.constexpr, smethod: jk.constexpr):
    items = jk.local.array(ipt, x.dtype)
    tile = jk.blockDim.x * ipt
    base = jk.blockIdx.x * tile
    jk.block.load(x, base, items, default=-1, method=lmethod)
    for k in range(ipt):                       # blocked: thread t holds tile items t*ipt + k
        items[k] = items[k] * 2 + (jk.threadIdx.x * ipt + k) % 7
    jk.block.store(out, base, items, method=smethod)
    w = jk.local.array(ipt, x.dtype)           # the same through warp tiles of 32 * ipt
    wbase = base + (jk.threadIdx.x // 32) * 32 * ipt
    jk.warp.load(x, wbase, w, default=-1,
                 method=lmethod if lmethod == "direct" or lmethod == "vectorized" else "transpose")
    for k in range(ipt):
        w[k] = w[k] * 2 + (jk.laneid * ipt + k) % 7
    jk.warp.store(wout, wbase, w, method="direct" if smethod == "direct" else "transpose")


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("lmethod,smethod", [("direct", "transpose"), ("transpose", "warp_transpose"),
                                             ("warp_transpose", "direct"), ("vectorized", "direct")])
@pytest.mark.parametrize("nt,ipt", [(32, 3), (96, 2), (256, 4)])
@pytest.mark.parametrize("dtype", ("int32", "float16", "float64"))
def test_load_store_methods(target, lmethod, smethod, nt, ipt, dtype, rng):
    dt = np.dtype(dtype)
    nb = 3
    n = nb * nt * ipt - 5                      # a ragged last tile: loads fill -1, stores stop at the end
    x = rng.integers(-50, 50, n).astype(dt)
    out, wout = np.zeros(n, dt), np.zeros(n, dt)
    methods_kernel.with_target(target)[nb, nt](x, out, wout, ipt, lmethod, smethod)
    xp = np.concatenate([x, np.full(5, -1, dt)])
    pos = np.arange(nb * nt * ipt)
    want = (xp * 2 + (pos % (nt * ipt)) % 7).astype(dt)[:n]
    np.testing.assert_array_equal(out, want)
    wwant = (xp * 2 + (pos % (32 * ipt)) % 7).astype(dt)[:n]
    np.testing.assert_array_equal(wout, wwant)


@jk.jit
def vector_kernel(x, out, off, ipt: jk.constexpr):
    items = jk.local.array(ipt, x.dtype)
    base = jk.blockIdx.x * jk.blockDim.x * ipt
    jk.block.load(x, off + base, items, default=7, method="vectorized")
    jk.block.store(out, base, items)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("dtype,ipt", [("float32", 4), ("int64", 2), ("float16", 4), ("uint8", 4), ("float64", 3)])
@pytest.mark.parametrize("off", [0, 1])              # 1: every run misaligned, so the direct fallback runs
def test_vectorized_load(target, dtype, ipt, off, rng):
    dt = np.dtype(dtype)
    nt, nb = 64, 3
    n = nt * nb * ipt
    x = rng.integers(0, 100, n).astype(dt)
    out = np.zeros(n, dt)
    vector_kernel.with_target(target)[nb, nt](x, out, off, ipt)
    want = np.concatenate([x[off:], np.full(off, 7, dt)])
    np.testing.assert_array_equal(out, want)


def test_vectorized_load_emits_vector_loads():
    f32 = jk.Array(jk.float32, 1, "C")
    ptx = vector_kernel.inspect_ptx((f32, f32, jk.int64, jk.Literal.of(4)), arch="sm_90", block=64)
    assert "ld.global.v4.f32" in ptx or "ld.v4.f32" in ptx
    h = jk.Array(jk.float16, 1, "C")
    ptx = vector_kernel.inspect_ptx((h, h, jk.int64, jk.Literal.of(4)), arch="sm_90", block=64)
    assert ".v4.u16" in ptx or ".v4.b16" in ptx or ".v2.u32" in ptx or ".u64" in ptx


@jk.jit
def bad_vector_width(x, out):
    t = jk.vector_load(x, 0, 3)
    out[0] = t[0]


@jk.jit
def bad_vector_array(x, out):
    t = jk.vector_load(x, 0, 2)
    out[0] = t[0]


def test_vector_load_misuse_is_a_located_compile_error():
    f32 = jk.Array(jk.float32, 1, "C")
    with pytest.raises(jk.TypingError, match="loads 2 or 4 real scalars") as e:
        bad_vector_width.compile((f32, f32), arch="sm_90")
    assert "vector_load(x, 0, 3)" in str(e.value)
    with pytest.raises(jk.TypingError, match="needs a 1-d array"):
        bad_vector_array.compile((jk.Array(jk.float32, 2, "C"), f32), arch="sm_90")  # 2-d


@jk.jit
def warp_transpose_kernel(x, out, off, ipt: jk.constexpr):
    items = jk.local.array(ipt, out.dtype)
    base = jk.blockIdx.x * jk.blockDim.x * ipt
    jk.block.load(x, off + base, items, default=1, method="warp_transpose")
    for k in range(ipt):                       # blocked order shows: item k of thread t is tile item t*ipt + k
        items[k] = items[k] + ((jk.threadIdx.x * ipt + k) % 3 == 1)
    jk.block.store(out, off + base, items, method="warp_transpose")


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("dtype", ["bool", "uint8", "int16", "float16", "float32", "int64", "float64", "complex64"])
@pytest.mark.parametrize("nt,ipt,off", [(64, 8, 0), (64, 8, 3), (128, 20, 0), (48, 4, 0), (32, 6, 2)])
def test_warp_transpose_vectors(target, dtype, nt, ipt, off, rng):
    """Whole, aligned warp stretches move as 16-byte vectors (ipt a multiple of the vector width, all
    32 lanes there), the rest as 4-byte striped loads: misaligned starts (off), 48-thread blocks, a
    ragged last tile, strided views; each must give the blocked tile."""
    dt = np.dtype(dtype)
    nb = 3
    n = off + nb * nt * ipt - 7
    for strided in (False, True):
        x = rng.integers(0, 2 if dt == bool else 50, n * (2 if strided else 1)).astype(dt)
        out = np.zeros(n * (2 if strided else 1), dt)
        xs, outs = (x[::2], out[::2]) if strided else (x, out)
        warp_transpose_kernel.with_target(target)[nb, nt](xs, outs, off, ipt)
        pos = np.arange(n) - off
        bump = ((pos % (nt * ipt)) % 3 == 1)
        want = np.where(pos >= 0, (xs | bump) if dt == bool else xs + bump.astype(dt), 0).astype(dt)
        np.testing.assert_array_equal(outs, want, err_msg=f"strided={strided}")
        if strided:
            assert not out[1::2].any()           # nothing written between the view's items


def test_warp_transpose_emits_vectors():
    f32 = jk.Array(jk.float32, 1, "C")
    ptx = warp_transpose_kernel.inspect_ptx((f32, f32, jk.int64, jk.Literal.of(20)), arch="sm_90", block=128)
    assert "ld.global.v4.f32" in ptx and "st.global.v4.f32" in ptx
    f64 = jk.Array(jk.float64, 1, "A")       # a strided view may be contiguous at run time: both forms
    ptx = warp_transpose_kernel.inspect_ptx((f64, f64, jk.int64, jk.Literal.of(4)), arch="sm_90", block=128)
    assert "ld.global.v2.f64" in ptx and "st.global.v2.f64" in ptx


@jk.jit
def vector_store_kernel(x, out, off):
    i = off + jk.grid(1) * 4
    if i + 4 <= out.size:
        if jk.is_aligned(out, i, 4 * out.itemsize):
            t = jk.vector_load(x, i, 4)
            jk.vector_store(out, i, (t[3], t[2] + 1, t[1], t[0]))
        else:
            out[i] = x[i + 3]
            out[i + 1] = x[i + 2] + 1
            out[i + 2] = x[i + 1]
            out[i + 3] = x[i]


@jk.jit
def vector_store2_kernel(x, out):
    i = jk.grid(1) * 2
    if i + 2 <= out.size:
        jk.vector_store(out, i, (x[i + 1] * 0.5, 3))     # converted to out's type


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("dtype", ["bool", "uint8", "float16", "int32", "float32"])
@pytest.mark.parametrize("off", [0, 1])
def test_vector_store(target, dtype, off, rng):
    dt = np.dtype(dtype)
    n = 4 * 64 + off
    x = rng.integers(0, 2 if dt == bool else 100, n).astype(dt)
    out = np.zeros(n, dt)
    vector_store_kernel.with_target(target)[2, 32](x, out, off)
    w = x[off:].reshape(-1, 4)[:, ::-1].copy()
    w[:, 1] = w[:, 1] + np.ones(1, dt) if dt != bool else True
    np.testing.assert_array_equal(out[off:], w.reshape(-1))
    assert not out[:off].any()


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("dtype", ["float64", "int64", "float32"])
def test_vector_store_converts(target, dtype):
    dt = np.dtype(dtype)
    x = np.arange(64).astype(dt)
    out = np.zeros(64, dt)
    vector_store2_kernel.with_target(target)[1, 32](x, out)
    np.testing.assert_array_equal(out[0::2], (x[1::2] * 0.5).astype(dt))
    np.testing.assert_array_equal(out[1::2], 3)


@jk.jit
def bad_vector_store(x, out):
    jk.vector_store(out, 0, (x[0], x[1], x[2]))


def test_vector_store_misuse_is_a_located_compile_error():
    f32 = jk.Array(jk.float32, 1, "C")
    with pytest.raises(jk.TypingError, match="stores a tuple of 2 or 4 real numbers") as e:
        bad_vector_store.compile((f32, f32), arch="sm_90")
    assert "vector_store(out, 0, (x[0], x[1], x[2]))" in str(e.value)
    with pytest.raises(jk.TypingError, match="needs a 1-d array"):
        bad_vector_store.compile((f32, jk.Array(jk.float32, 2, "C")), arch="sm_90")


def test_unknown_load_method_is_a_located_compile_error():
    a = jk.Array(jk.int32, 1, "C")
    with pytest.raises(jk.TypingError, match="method is .direct., .vectorized., .transpose. or .warp_transpose.") as e:
        methods_kernel.compile((a, a, a, jk.Literal.of(2), jk.Literal.of("vectorise"), jk.Literal.of("direct")),
                               arch="sm_90", block=64)
    assert "in methods_kernel" in str(e.value)


# ------------------------------------------------------------------ merge sort
@jk.jit
def by_low_bits(a, b):
    """A strict weak order with many ties: only the key's low 3 bits count (stability shows)."""
    return (jk.int32(a) & 7) < (jk.int32(b) & 7)


@jk.jit
def merge_sort_kernel(keys, vals, out_k, out_v, ipt: jk.constexpr, less: jk.constexpr, warp: jk.constexpr):
    k = jk.local.array(ipt, keys.dtype)
    v = jk.local.array(ipt, jk.int32)
    base = jk.blockIdx.x * jk.blockDim.x * ipt
    jk.block.load(keys, base, k)
    jk.block.load(vals, base, v)
    if warp:
        jk.warp.merge_sort(k, less, v)
    else:
        jk.block.merge_sort(k, less, v)
    jk.block.store(out_k, base, k)
    jk.block.store(out_v, base, v)


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("warp", [False, True], ids=["block", "warp"])
@pytest.mark.parametrize("nt,ipt", [(32, 1), (64, 3), (96, 2), (256, 4), (1024, 1)])
@pytest.mark.parametrize("dtype,less", [("int32", "lt"), ("float32", "gt"), ("uint8", "low_bits"),
                                        ("float16", "lt"), ("int64", "low_bits")])
def test_merge_sort(target, warp, nt, ipt, dtype, less, rng):
    dt = np.dtype(dtype)
    nb = 2
    n = nb * nt * ipt
    keys = (rng.integers(0, 40, n) - (0 if dt.kind == "u" else 20)).astype(dt)
    vals = np.arange(n, dtype=np.int32)
    out_k, out_v = np.zeros_like(keys), np.zeros_like(vals)
    fn = {"lt": operator.lt, "gt": operator.gt, "low_bits": by_low_bits}[less]
    merge_sort_kernel.with_target(target)[nb, nt](keys, vals, out_k, out_v, ipt, fn, warp)
    seg = 32 * ipt if warp else nt * ipt
    for s in range(0, n, seg):                 # stable: equal keys keep their order (by the value index)
        kk = keys[s:s + seg]
        sort_key = {"lt": kk, "gt": -kk.astype(np.float64), "low_bits": kk.astype(np.int64) & 7}[less]
        order = np.argsort(sort_key, kind="stable")
        np.testing.assert_array_equal(out_v[s:s + seg], vals[s:s + seg][order])
        np.testing.assert_array_equal(out_k[s:s + seg], kk[order])


# ------------------------------------------------------------------ run-length decode
@jk.jit
def rld_kernel(values, lengths, out, totals, runs: jk.constexpr, m: jk.constexpr):
    v = jk.local.array(runs, values.dtype)
    ln = jk.local.array(runs, lengths.dtype)
    o = jk.local.array(m, values.dtype)
    base = jk.blockIdx.x * jk.blockDim.x * runs
    jk.block.load(values, base, v)
    jk.block.load(lengths, base, ln)
    window = jk.blockDim.x * m
    start = 0
    total = jk.block.run_length_decode(v, ln, o, 0, default=-1)
    while start < total:                       # window after window until the tile's runs are out
        jk.block.store(out, jk.blockIdx.x * out.shape[0] // jk.gridDim.x + start, o)
        start += window
        jk.block.run_length_decode(v, ln, o, start, default=-1)
    if jk.threadIdx.x == 0:
        totals[jk.blockIdx.x] = total


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("nt,runs,m", [(32, 2, 3), (96, 1, 4), (256, 3, 2), (1024, 1, 1)])
@pytest.mark.parametrize("dtype", ("int16", "float32"))
def test_run_length_decode(target, nt, runs, m, dtype, rng):
    nb = 2
    dt = np.dtype(dtype)
    values = rng.integers(-100, 100, nb * nt * runs).astype(dt)
    lengths = rng.integers(0, 5, nb * nt * runs).astype(np.int32)        # empty runs included
    cap = int(max(lengths.reshape(nb, -1).sum(axis=1)) // (nt * m) + 2) * nt * m
    out = np.full(nb * cap, 99, dt)
    totals = np.zeros(nb, np.int64)
    rld_kernel.with_target(target)[nb, nt](values, lengths, out, totals, runs, m)
    for b in range(nb):
        sl = slice(b * nt * runs, (b + 1) * nt * runs)
        want = np.repeat(values[sl], lengths[sl])
        assert totals[b] == want.size
        got = out[b * cap:(b + 1) * cap]
        np.testing.assert_array_equal(got[:want.size], want)
        padded = -(-want.size // (nt * m)) * nt * m                      # the last window's tail: default
        assert (got[want.size:padded] == -1).all() and (got[padded:] == 99).all()


# ------------------------------------------------------------------ interop: numba-cuda kernels
@jk.jit
def jk_tile_sum(v):
    """A block sum exported for numba.cuda kernels launched with 128 threads."""
    return jk.block.sum(v)


@jk.jit
def jk_tile_max_scan(v):
    return jk.block.inclusive_scan(v, max)


@gpu
def test_numba_kernel_calls_jitkit_block_primitives(tmp_path, rng):
    if not hasattr(np, "row_stack"):  # numba-cuda 0.30 still names np.row_stack, gone in NumPy 2.5
        np.row_stack = np.vstack
    cuda = pytest.importorskip("numba.cuda")
    paths = []
    for fn, name in ((jk_tile_sum, "jk_tile_sum"), (jk_tile_max_scan, "jk_tile_max_scan")):
        p = tmp_path / f"{name}.ltoir"
        p.write_bytes(fn.export((jk.float32,), kind="ltoir", name=name, block=128))
        paths.append(str(p))
    tile_sum = cuda.declare_device("jk_tile_sum", "float32(float32)", link=[paths[0]], abi="c")
    tile_max_scan = cuda.declare_device("jk_tile_max_scan", "float32(float32)", link=[paths[1]], abi="c")

    @cuda.jit(lto=True)
    def numba_kernel(x, sums, scans):
        i = cuda.grid(1)
        s = tile_sum(x[i])
        scans[i] = tile_max_scan(x[i])
        if cuda.threadIdx.x == 0:
            sums[cuda.blockIdx.x] = s

    x = rng.standard_normal(128 * 5).astype(np.float32)
    sums, scans = np.zeros(5, np.float32), np.zeros_like(x)
    numba_kernel[5, 128](x, sums, scans)
    np.testing.assert_allclose(sums, x.reshape(5, 128).sum(1), rtol=1e-5, atol=1e-4)
    np.testing.assert_array_equal(scans, np.maximum.accumulate(x.reshape(5, 128), axis=1).ravel())
