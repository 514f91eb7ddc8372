"""Kernels written the way numba-cuda's documentation, examples and test-suite write them.

Only the imports differ from a numba-cuda program: ``import jitkit as cuda`` instead of
``from numba import cuda``, and scalar types from ``jitkit`` instead of ``numba``.  Everything
below the imports is plain numba-cuda style (``cuda.jit``, ``device=True``, ``cuda.grid``,
``cuda.shared.array(shape=..., dtype=...)``, ``cuda.atomic.add``, ``cuda.shfl_down_sync``...).
These kernels were written for jitkit's tests; none is copied from numba.
"""

import math

import jitkit as cuda                                  # was: from numba import cuda
from jitkit import float32, float64, int32, uint32     # was: from numba import float32, float64, int32, uint32

TPB = 16          # tile width for the 2-D kernels
BLOCK = 128       # threads per block for the 1-D kernels
NBINS = 64


@cuda.jit
def vec_add(a, b, c):
    i = cuda.grid(1)
    if i < c.size:
        c[i] = a[i] + b[i]


@cuda.jit
def saxpy_stride(a, x, y, out):
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for i in range(start, x.shape[0], stride):
        out[i] = a * x[i] + y[i]


@cuda.jit
def matmul_naive(A, B, C):
    i, j = cuda.grid(2)
    if i < C.shape[0] and j < C.shape[1]:
        tmp = 0.
        for k in range(A.shape[1]):
            tmp += A[i, k] * B[k, j]
        C[i, j] = tmp


@cuda.jit
def matmul_shared(A, B, C):
    sA = cuda.shared.array(shape=(TPB, TPB), dtype=float32)
    sB = cuda.shared.array(shape=(TPB, TPB), dtype=float32)
    x, y = cuda.grid(2)
    tx = cuda.threadIdx.x
    ty = cuda.threadIdx.y
    bpg = cuda.gridDim.x
    tmp = float32(0.)
    for i in range((A.shape[1] + TPB - 1) // TPB):
        sA[tx, ty] = 0
        sB[tx, ty] = 0
        if x < A.shape[0] and ty + i * TPB < A.shape[1]:
            sA[tx, ty] = A[x, ty + i * TPB]
        if y < B.shape[1] and tx + i * TPB < B.shape[0]:
            sB[tx, ty] = B[tx + i * TPB, y]
        cuda.syncthreads()
        for j in range(TPB):
            tmp += sA[tx, j] * sB[j, ty]
        cuda.syncthreads()
    if x < C.shape[0] and y < C.shape[1]:
        C[x, y] = tmp


@cuda.jit
def histogram_global(x, xmin, xmax, hist):
    nbins = hist.shape[0]
    bin_width = (xmax - xmin) / nbins
    start = cuda.grid(1)
    stride = cuda.gridsize(1)
    for i in range(start, x.shape[0], stride):
        b = int((x[i] - xmin) / bin_width)
        if b >= 0 and b < nbins:
            cuda.atomic.add(hist, b, 1)


@cuda.jit
def histogram_shared(keys, hist):
    local_hist = cuda.shared.array(NBINS, int32)
    t = cuda.threadIdx.x
    for k in range(t, NBINS, cuda.blockDim.x):
        local_hist[k] = 0
    cuda.syncthreads()
    i = cuda.grid(1)
    if i < keys.size:
        cuda.atomic.add(local_hist, keys[i] % NBINS, 1)
    cuda.syncthreads()
    for k in range(t, NBINS, cuda.blockDim.x):
        cuda.atomic.add(hist, k, local_hist[k])


@cuda.jit
def stencil_1d(a, out):
    tile = cuda.shared.array(BLOCK + 2, float64)
    i = cuda.grid(1)
    t = cuda.threadIdx.x + 1
    n = a.size
    tile[t] = a[i] if i < n else 0.0
    if cuda.threadIdx.x == 0:
        tile[0] = a[i - 1] if i > 0 and i - 1 < n else 0.0
    if cuda.threadIdx.x == cuda.blockDim.x - 1:
        tile[t + 1] = a[i + 1] if i + 1 < n else 0.0
    cuda.syncthreads()
    if i < n:
        out[i] = 0.25 * tile[t - 1] + 0.5 * tile[t] + 0.25 * tile[t + 1]


@cuda.jit
def jacobi_step(u, out):
    i, j = cuda.grid(2)
    n, m = u.shape
    if 0 < i < n - 1 and 0 < j < m - 1:
        out[i, j] = 0.25 * (u[i - 1, j] + u[i + 1, j] + u[i, j - 1] + u[i, j + 1])
    elif i < n and j < m:
        out[i, j] = u[i, j]


@cuda.jit
def sum_reduce(a, partial):
    sm = cuda.shared.array(BLOCK, float64)
    t = cuda.threadIdx.x
    i = cuda.grid(1)
    sm[t] = a[i] if i < a.size else 0.0
    cuda.syncthreads()
    s = BLOCK // 2
    while s > 0:
        if t < s:
            sm[t] += sm[t + s]
        cuda.syncthreads()
        s //= 2
    if t == 0:
        partial[cuda.blockIdx.x] = sm[0]


@cuda.jit
def warp_sum(a, out):
    i = cuda.grid(1)
    v = a[i] if i < a.size else float32(0)
    offset = 16
    while offset > 0:
        v += cuda.shfl_down_sync(0xffffffff, v, offset)
        offset //= 2
    if cuda.laneid == 0:
        cuda.atomic.add(out, 0, v)


@cuda.jit
def block_scan(a, out):
    temp = cuda.shared.array(BLOCK, int32)
    t = cuda.threadIdx.x
    i = cuda.grid(1)
    temp[t] = a[i] if i < a.size else 0
    cuda.syncthreads()
    offset = 1
    while offset < BLOCK:
        v = temp[t - offset] if t >= offset else 0
        cuda.syncthreads()
        temp[t] += v
        cuda.syncthreads()
        offset *= 2
    if i < a.size:
        out[i] = temp[t]


@cuda.jit
def transpose(a, out):
    tile = cuda.shared.array((TPB, TPB + 1), float32)
    x = cuda.blockIdx.x * TPB + cuda.threadIdx.x
    y = cuda.blockIdx.y * TPB + cuda.threadIdx.y
    if y < a.shape[0] and x < a.shape[1]:
        tile[cuda.threadIdx.y, cuda.threadIdx.x] = a[y, x]
    cuda.syncthreads()
    x = cuda.blockIdx.y * TPB + cuda.threadIdx.x
    y = cuda.blockIdx.x * TPB + cuda.threadIdx.y
    if y < out.shape[0] and x < out.shape[1]:
        out[y, x] = tile[cuda.threadIdx.x, cuda.threadIdx.y]


@cuda.jit(device=True)
def mandel_iters(x, y, max_iters):
    c = complex(x, y)
    z = 0.0j
    for i in range(max_iters):
        z = z * z + c
        if (z.real * z.real + z.imag * z.imag) >= 4:
            return i
    return max_iters


@cuda.jit
def mandelbrot(min_x, max_x, min_y, max_y, image, iters):
    height = image.shape[0]
    width = image.shape[1]
    pixel_size_x = (max_x - min_x) / width
    pixel_size_y = (max_y - min_y) / height
    x, y = cuda.grid(2)
    if x < width and y < height:
        image[y, x] = mandel_iters(min_x + x * pixel_size_x, min_y + y * pixel_size_y, iters)


@cuda.jit(device=True)
def lcg(state):
    return (state * 1103515245 + 12345) % 2147483648


@cuda.jit
def monte_carlo_pi(seeds, hits, samples):
    i = cuda.grid(1)
    if i < seeds.size:
        s = seeds[i]
        count = 0
        for k in range(samples):
            s = lcg(s)
            x = s / 2147483648.0
            s = lcg(s)
            y = s / 2147483648.0
            if x * x + y * y <= 1.0:
                count += 1
        hits[i] = count


@cuda.jit
def dot_atomic(a, b, out):
    i = cuda.grid(1)
    if i < a.size:
        cuda.atomic.add(out, 0, a[i] * b[i])


@cuda.jit
def max_atomic(a, out):
    i = cuda.grid(1)
    if i < a.size:
        cuda.atomic.max(out, 0, a[i])


@cuda.jit
def bitonic_sort_block(a):
    sm = cuda.shared.array(BLOCK, int32)
    t = cuda.threadIdx.x
    base = cuda.blockIdx.x * BLOCK
    sm[t] = a[base + t]
    cuda.syncthreads()
    k = 2
    while k <= BLOCK:
        j = k // 2
        while j > 0:
            ixj = t ^ j
            if ixj > t:
                up = (t & k) == 0
                if (sm[t] > sm[ixj]) == up:
                    tmp = sm[t]
                    sm[t] = sm[ixj]
                    sm[ixj] = tmp
            cuda.syncthreads()
            j //= 2
        k *= 2
    a[base + t] = sm[t]


@cuda.jit
def scan_blocks(a, out, sums):
    temp = cuda.shared.array(BLOCK, float64)
    t = cuda.threadIdx.x
    i = cuda.grid(1)
    temp[t] = a[i] if i < a.size else 0.0
    cuda.syncthreads()
    d = 1
    while d < BLOCK:
        v = temp[t - d] if t >= d else 0.0
        cuda.syncthreads()
        temp[t] += v
        cuda.syncthreads()
        d *= 2
    if i < a.size:
        out[i] = temp[t]
    if t == BLOCK - 1:
        sums[cuda.blockIdx.x] = temp[t]


@cuda.jit
def add_block_offsets(out, offsets):
    i = cuda.grid(1)
    b = cuda.blockIdx.x
    if i < out.size and b > 0:
        out[i] += offsets[b - 1]


@cuda.jit
def life_step(grid, out):
    i, j = cuda.grid(2)
    n, m = grid.shape
    if i < n and j < m:
        alive = 0
        for di in range(-1, 2):
            for dj in range(-1, 2):
                if di != 0 or dj != 0:
                    alive += grid[(i + di) % n, (j + dj) % m]
        out[i, j] = 1 if alive == 3 or (alive == 2 and grid[i, j] == 1) else 0


@cuda.jit
def nbody_forces(pos, mass, acc, eps):
    i = cuda.grid(1)
    if i < pos.shape[0]:
        ax = float32(0.)
        ay = float32(0.)
        for j in range(pos.shape[0]):
            dx = pos[j, 0] - pos[i, 0]
            dy = pos[j, 1] - pos[i, 1]
            r2 = dx * dx + dy * dy + eps
            inv = mass[j] / (r2 * math.sqrt(r2))
            ax += dx * inv
            ay += dy * inv
        acc[i, 0] = ax
        acc[i, 1] = ay


@cuda.jit
def poly_eval(x, out):
    coeffs = cuda.local.array(5, float64)
    for k in range(5):
        coeffs[k] = 1.0 / (k + 1)
    i = cuda.grid(1)
    if i < x.size:
        acc = 0.0
        for k in range(4, -1, -1):
            acc = acc * x[i] + coeffs[k]
        out[i] = acc


@cuda.jit(device=True)
def clamp(v, lo, hi):
    return min(max(v, lo), hi)


@cuda.jit
def clamp_kernel(a, lo, hi, out):
    i = cuda.grid(1)
    if i < a.size:
        out[i] = clamp(a[i], lo, hi)


@cuda.jit
def gather(src, idx, out):
    i = cuda.grid(1)
    if i < idx.size:
        out[i] = src[idx[i]]


@cuda.jit
def compact_positive(a, out, count):
    i = cuda.grid(1)
    if i < a.size and a[i] > 0:
        slot = cuda.atomic.add(count, 0, 1)
        out[slot] = a[i]


@cuda.jit
def volume_fill(vol):
    x, y, z = cuda.grid(3)
    if x < vol.shape[0] and y < vol.shape[1] and z < vol.shape[2]:
        vol[x, y, z] = x * 10000 + y * 100 + z


@cuda.jit
def softmax_rows(x, out):
    row = cuda.blockIdx.x
    t = cuda.threadIdx.x
    sm = cuda.shared.array(BLOCK, float32)
    m = float32(-math.inf)
    for j in range(t, x.shape[1], BLOCK):
        m = max(m, x[row, j])
    sm[t] = m
    cuda.syncthreads()
    s = BLOCK // 2
    while s > 0:
        if t < s:
            sm[t] = max(sm[t], sm[t + s])
        cuda.syncthreads()
        s //= 2
    rowmax = sm[0]
    cuda.syncthreads()
    total = float32(0.)
    for j in range(t, x.shape[1], BLOCK):
        total += math.exp(x[row, j] - rowmax)
    sm[t] = total
    cuda.syncthreads()
    s = BLOCK // 2
    while s > 0:
        if t < s:
            sm[t] += sm[t + s]
        cuda.syncthreads()
        s //= 2
    denom = sm[0]
    for j in range(t, x.shape[1], BLOCK):
        out[row, j] = math.exp(x[row, j] - rowmax) / denom


@cuda.jit
def bit_counts(a, out):
    i = cuda.grid(1)
    if i < a.size:
        v = uint32(a[i])
        c = 0
        while v:
            v &= v - uint32(1)
            c += 1
        out[i] = c
