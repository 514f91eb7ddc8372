"""The port test: numba-cuda-style kernels (tests/port_numba_style.py) run unchanged but for the
import, on the simulator (CI) and the GPU (device), against NumPy references."""

import numpy as np
import pytest

import port_numba_style as P
from conftest import gpu

TARGETS = ["sim", pytest.param("gpu", marks=gpu)]


def launch(kernel, target, grid, block, *args):
    kernel.with_target(target)[grid, block](*args)


def blocks(n, tpb=P.BLOCK):
    return (n + tpb - 1) // tpb


def _vec_add(t, r):
    a, b = r.random(1001), r.random(1001)
    c = np.zeros_like(a)
    launch(P.vec_add, t, blocks(1001), P.BLOCK, a, b, c)
    np.testing.assert_allclose(c, a + b)


def _saxpy_stride(t, r):
    x, y = r.random(5000).astype(np.float32), r.random(5000).astype(np.float32)
    out = np.zeros_like(x)
    launch(P.saxpy_stride, t, 7, 64, np.float32(2.5), x, y, out)
    np.testing.assert_allclose(out, 2.5 * x + y, rtol=1e-6)


def _matmul_naive(t, r):
    A, B = r.random((37, 23)), r.random((23, 41))
    C = np.zeros((37, 41))
    launch(P.matmul_naive, t, (3, 3), (16, 16), A, B, C)
    np.testing.assert_allclose(C, A @ B, rtol=1e-12)


def _matmul_shared(t, r):
    A, B = r.random((50, 70)).astype(np.float32), r.random((70, 33)).astype(np.float32)
    C = np.zeros((50, 33), np.float32)
    launch(P.matmul_shared, t, (4, 3), (P.TPB, P.TPB), A, B, C)
    np.testing.assert_allclose(C, A.astype(np.float64) @ B, rtol=1e-5)


def _histogram_global(t, r):
    x = r.normal(size=20000)
    hist = np.zeros(32, np.int64)
    launch(P.histogram_global, t, 16, 128, x, -3.0, 3.0, hist)
    k = ((x + 3.0) / (6.0 / 32)).astype(np.int64)
    np.testing.assert_array_equal(hist, np.bincount(k[(k >= 0) & (k < 32)], minlength=32))


def _histogram_shared(t, r):
    keys = r.integers(0, 10 ** 6, 9999)
    hist = np.zeros(P.NBINS, np.int32)
    launch(P.histogram_shared, t, blocks(9999), P.BLOCK, keys, hist)
    np.testing.assert_array_equal(hist, np.bincount(keys % P.NBINS, minlength=P.NBINS))


def _stencil_1d(t, r):
    a = r.random(1000)
    out = np.zeros_like(a)
    launch(P.stencil_1d, t, blocks(1000), P.BLOCK, a, out)
    p = np.r_[0.0, a, 0.0]
    np.testing.assert_allclose(out, 0.25 * p[:-2] + 0.5 * p[1:-1] + 0.25 * p[2:], rtol=1e-12)


def _jacobi_step(t, r):
    u = r.random((45, 61))
    out = np.zeros_like(u)
    launch(P.jacobi_step, t, (3, 4), (16, 16), u, out)
    want = u.copy()
    want[1:-1, 1:-1] = 0.25 * (u[:-2, 1:-1] + u[2:, 1:-1] + u[1:-1, :-2] + u[1:-1, 2:])
    np.testing.assert_allclose(out, want, rtol=1e-12)


def _sum_reduce(t, r):
    a = r.random(3001)
    partial = np.zeros(blocks(3001))
    launch(P.sum_reduce, t, blocks(3001), P.BLOCK, a, partial)
    np.testing.assert_allclose(partial.sum(), a.sum(), rtol=1e-12)


def _warp_sum(t, r):
    a = r.random(4096).astype(np.float32)
    out = np.zeros(1, np.float32)
    launch(P.warp_sum, t, 32, 128, a, out)
    np.testing.assert_allclose(out[0], a.astype(np.float64).sum(), rtol=1e-5)


def _block_scan(t, r):
    a = r.integers(-5, 5, 1000).astype(np.int32)
    out = np.zeros_like(a)
    launch(P.block_scan, t, blocks(1000), P.BLOCK, a, out)
    pad = np.zeros(blocks(1000) * P.BLOCK, np.int32)
    pad[:1000] = a
    np.testing.assert_array_equal(out, np.cumsum(pad.reshape(-1, P.BLOCK), axis=1).ravel()[:1000])


def _transpose(t, r):
    a = r.random((35, 50)).astype(np.float32)
    out = np.zeros((50, 35), np.float32)
    launch(P.transpose, t, (4, 3), (P.TPB, P.TPB), a, out)
    np.testing.assert_array_equal(out, a.T)


def _mandelbrot(t, r):
    image = np.zeros((48, 64), np.uint8)
    launch(P.mandelbrot, t, (4, 3), (16, 16), -2.0, 1.0, -1.0, 1.0, image, 40)
    ys, xs = np.mgrid[0:48, 0:64]
    c = (-2.0 + xs * (3.0 / 64)) + 1j * (-1.0 + ys * (2.0 / 48))
    z = np.zeros_like(c)
    want = np.full(c.shape, 40)
    for i in range(40):
        z = np.where(want == 40, z * z + c, z)
        esc = (want == 40) & (z.real ** 2 + z.imag ** 2 >= 4)
        want[esc] = i
    assert (image == want).mean() > 0.995            # boundary points may round differently
    assert set(np.unique(image)) > {0, 1, 40}


def _monte_carlo_pi(t, r):
    seeds = r.integers(1, 2 ** 31 - 1, 512)
    hits = np.zeros(512, np.int64)
    launch(P.monte_carlo_pi, t, 4, 128, seeds, hits, 200)
    want = np.zeros(512, np.int64)
    s = seeds.copy()
    for _ in range(200):
        s = (s * 1103515245 + 12345) % 2147483648
        x = s / 2147483648.0
        s = (s * 1103515245 + 12345) % 2147483648
        y = s / 2147483648.0
        want += x * x + y * y <= 1.0
    np.testing.assert_array_equal(hits, want)
    assert abs(4 * hits.sum() / (512 * 200) - np.pi) < 0.05


def _dot_atomic(t, r):
    a, b = r.random(2000), r.random(2000)
    out = np.zeros(1)
    launch(P.dot_atomic, t, blocks(2000), P.BLOCK, a, b, out)
    np.testing.assert_allclose(out[0], a @ b, rtol=1e-12)


def _max_atomic(t, r):
    a = r.integers(-10 ** 6, 10 ** 6, 3000).astype(np.int32)
    out = np.array([np.iinfo(np.int32).min], np.int32)
    launch(P.max_atomic, t, blocks(3000), P.BLOCK, a, out)
    assert out[0] == a.max()


def _bitonic(t, r):
    a = r.integers(-1000, 1000, 4 * P.BLOCK).astype(np.int32)
    want = np.sort(a.reshape(4, P.BLOCK), axis=1).ravel()
    launch(P.bitonic_sort_block, t, 4, P.BLOCK, a)
    np.testing.assert_array_equal(a, want)


def _two_pass_scan(t, r):
    a = r.random(2000)
    out = np.zeros_like(a)
    nb = blocks(2000)
    sums = np.zeros(nb)
    launch(P.scan_blocks, t, nb, P.BLOCK, a, out, sums)
    offsets = np.cumsum(sums)
    launch(P.add_block_offsets, t, nb, P.BLOCK, out, offsets)
    np.testing.assert_allclose(out, np.cumsum(a), rtol=1e-10)


def _life(t, r):
    g = (r.random((40, 50)) < 0.3).astype(np.int8)
    out = np.zeros_like(g)
    launch(P.life_step, t, (3, 4), (16, 16), g, out)
    n = sum(np.roll(np.roll(g, di, 0), dj, 1) for di in (-1, 0, 1) for dj in (-1, 0, 1) if di or dj)
    np.testing.assert_array_equal(out, ((n == 3) | ((n == 2) & (g == 1))).astype(np.int8))


def _nbody(t, r):
    pos = r.random((300, 2)).astype(np.float32)
    mass = r.random(300).astype(np.float32)
    acc = np.zeros_like(pos)
    launch(P.nbody_forces, t, 3, 128, pos, mass, acc, np.float32(1e-3))
    d = pos[None, :, :].astype(np.float64) - pos[:, None, :]
    r2 = (d ** 2).sum(axis=2) + 1e-3
    want = (d * (mass[None, :] / (r2 * np.sqrt(r2)))[:, :, None]).sum(axis=1)
    np.testing.assert_allclose(acc, want, rtol=2e-4, atol=1e-3)


def _poly(t, r):
    x = r.uniform(-2, 2, 999)
    out = np.zeros_like(x)
    launch(P.poly_eval, t, blocks(999), P.BLOCK, x, out)
    np.testing.assert_allclose(out, sum(x ** k / (k + 1) for k in range(5)), rtol=1e-12)


def _clamp(t, r):
    a = r.normal(size=700).astype(np.float32)
    out = np.zeros_like(a)
    launch(P.clamp_kernel, t, blocks(700), P.BLOCK, a, np.float32(-0.5), np.float32(0.5), out)
    np.testing.assert_array_equal(out, np.clip(a, -0.5, 0.5))


def _gather(t, r):
    src = r.random(500)
    idx = r.integers(0, 500, 1234)
    out = np.zeros(1234)
    launch(P.gather, t, blocks(1234), P.BLOCK, src, idx, out)
    np.testing.assert_array_equal(out, src[idx])


def _compact(t, r):
    a = r.integers(-100, 100, 3000).astype(np.int32)
    out = np.zeros(3000, np.int32)
    count = np.zeros(1, np.int32)
    launch(P.compact_positive, t, blocks(3000), P.BLOCK, a, out, count)
    n = int((a > 0).sum())
    assert count[0] == n
    np.testing.assert_array_equal(np.sort(out[:n]), np.sort(a[a > 0]))


def _volume(t, r):
    vol = np.zeros((13, 17, 9), np.int64)
    launch(P.volume_fill, t, (2, 3, 2), (8, 8, 8), vol)
    x, y, z = np.indices(vol.shape)
    np.testing.assert_array_equal(vol, x * 10000 + y * 100 + z)


def _softmax(t, r):
    x = r.normal(size=(20, 300)).astype(np.float32)
    out = np.zeros_like(x)
    launch(P.softmax_rows, t, 20, P.BLOCK, x, out)
    e = np.exp(x - x.max(axis=1, keepdims=True))
    np.testing.assert_allclose(out, e / e.sum(axis=1, keepdims=True), rtol=1e-5, atol=1e-7)


def _bit_counts(t, r):
    a = r.integers(0, 2 ** 32, 1000, dtype=np.uint64).astype(np.uint32)
    out = np.zeros(1000, np.int64)
    launch(P.bit_counts, t, blocks(1000), P.BLOCK, a, out)
    np.testing.assert_array_equal(out, [bin(int(v)).count("1") for v in a])


PORTS = {f.__name__[1:]: f for f in (
    _vec_add, _saxpy_stride, _matmul_naive, _matmul_shared, _histogram_global, _histogram_shared, _stencil_1d,
    _jacobi_step, _sum_reduce, _warp_sum, _block_scan, _transpose, _mandelbrot, _monte_carlo_pi, _dot_atomic,
    _max_atomic, _bitonic, _two_pass_scan, _life, _nbody, _poly, _clamp, _gather, _compact, _volume, _softmax,
    _bit_counts)}


def test_at_least_25_ports():
    assert len(PORTS) >= 25


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("name", list(PORTS))
def test_numba_style_kernel(name, target, rng):
    PORTS[name](target, rng)


def test_port_file_imports_only_jitkit_and_math():
    """The port swaps numba's imports for jitkit's; the kernels use the numba names (``cuda.*``)."""
    import ast
    import inspect
    tree = ast.parse(inspect.getsource(P))
    mods = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    mods |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert mods == {"math", "jitkit"}
    assert any(isinstance(n, ast.Import) and n.names[0].asname == "cuda" for n in ast.walk(tree))
