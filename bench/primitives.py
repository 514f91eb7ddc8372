"""Block primitives inside a kernel: jitkit's jk.block vs CUB's block primitives (CUDA C++ through
CuPy RawModule/NVRTC, the system toolkit's CCCL headers), the same kernel shape on both sides.

Each kernel streams a large array tile by tile: 256 threads x 4 items per thread, direct blocked
loads; block sum (one result per tile), block inclusive scan (in place, stored back) and block radix
sort of uint32 keys (stored back); for information also the scan with vectorized loads and a block
merge sort (comparator) of the same keys.  Target: jitkit within 10% of CUB (sum, scan, radix sort).

Run on a GPU machine: ``PYTHONPATH=. python bench/primitives.py``.
"""

from __future__ import annotations

import operator
import sys

import numpy as np

sys.path.insert(0, __import__("os").path.dirname(__file__))
from _common import cuda_event_ms, device_name  # noqa: E402

import jitkit as jk  # noqa: E402

THREADS, IPT = 256, 4
TILE = THREADS * IPT

CUB_SRC = r"""
#include <cub/block/block_load.cuh>
#include <cub/block/block_store.cuh>
#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>
#include <cub/block/block_radix_sort.cuh>
#include <cub/block/block_merge_sort.cuh>
constexpr int T = 256, I = 4;
struct Less { __device__ bool operator()(unsigned a, unsigned b) const { return a < b; } };
extern "C" __global__ void cub_sum(const float* x, float* out) {
    using Load = cub::BlockLoad<float, T, I, cub::BLOCK_LOAD_DIRECT>;
    using Red = cub::BlockReduce<float, T>;
    __shared__ typename Red::TempStorage tmp;
    float items[I];
    Load().Load(x + (size_t)blockIdx.x * T * I, items);
    float s = Red(tmp).Sum(items);
    if (threadIdx.x == 0) out[blockIdx.x] = s;
}
extern "C" __global__ void cub_scan(const float* x, float* out) {
    using Scan = cub::BlockScan<float, T>;
    __shared__ typename Scan::TempStorage tmp;
    float items[I];
    size_t base = (size_t)blockIdx.x * T * I;
    cub::LoadDirectBlocked(threadIdx.x, x + base, items);
    Scan(tmp).InclusiveSum(items, items);
    cub::StoreDirectBlocked(threadIdx.x, out + base, items);
}
extern "C" __global__ void cub_scanvec(const float* x, float* out) {
    using Load = cub::BlockLoad<float, T, I, cub::BLOCK_LOAD_VECTORIZE>;
    using Scan = cub::BlockScan<float, T>;
    __shared__ typename Scan::TempStorage tmp;
    float items[I];
    size_t base = (size_t)blockIdx.x * T * I;
    Load().Load(x + base, items);
    Scan(tmp).InclusiveSum(items, items);
    cub::StoreDirectBlocked(threadIdx.x, out + base, items);
}
extern "C" __global__ void cub_msort(const unsigned* x, unsigned* out) {
    using Sort = cub::BlockMergeSort<unsigned, T, I>;
    __shared__ typename Sort::TempStorage tmp;
    unsigned items[I];
    size_t base = (size_t)blockIdx.x * T * I;
    cub::LoadDirectBlocked(threadIdx.x, x + base, items);
    Sort(tmp).Sort(items, Less());
    cub::StoreDirectBlocked(threadIdx.x, out + base, items);
}
extern "C" __global__ void cub_sort(const unsigned* x, unsigned* out) {
    using Sort = cub::BlockRadixSort<unsigned, T, I>;
    __shared__ typename Sort::TempStorage tmp;
    unsigned items[I];
    size_t base = (size_t)blockIdx.x * T * I;
    cub::LoadDirectBlocked(threadIdx.x, x + base, items);
    Sort(tmp).Sort(items);
    cub::StoreDirectBlocked(threadIdx.x, out + base, items);
}
"""


@jk.jit
def jk_sum(x, out):
    items = jk.local.array(IPT, jk.float32)
    jk.block.load(x, jk.blockIdx.x * TILE, items)
    s = jk.block.sum(items)
    if jk.threadIdx.x == 0:
        out[jk.blockIdx.x] = s


@jk.jit
def jk_scan(x, out):
    items = jk.local.array(IPT, jk.float32)
    base = jk.blockIdx.x * TILE
    jk.block.load(x, base, items)
    jk.block.inclusive_scan(items, operator.add)
    jk.block.store(out, base, items)


@jk.jit
def jk_sort(x, out):
    items = jk.local.array(IPT, jk.uint32)
    base = jk.blockIdx.x * TILE
    jk.block.load(x, base, items)
    jk.block.radix_sort(items)
    jk.block.store(out, base, items)


@jk.jit
def jk_scanvec(x, out):
    items = jk.local.array(IPT, jk.float32)
    base = jk.blockIdx.x * TILE
    jk.block.load(x, base, items, method="vectorized")
    jk.block.inclusive_scan(items, operator.add)
    jk.block.store(out, base, items)


@jk.jit
def jk_msort(x, out):
    items = jk.local.array(IPT, jk.uint32)
    base = jk.blockIdx.x * TILE
    jk.block.load(x, base, items)
    jk.block.merge_sort(items, operator.lt)
    jk.block.store(out, base, items)


def main():
    import cupy
    n = 1 << 26
    nb = n // TILE
    rng = np.random.default_rng(0)
    xf = cupy.asarray(rng.standard_normal(n).astype(np.float32))
    xu = cupy.asarray(rng.integers(0, 2 ** 32, n, dtype=np.uint32))
    outs = cupy.zeros(nb, np.float32)
    outf = cupy.zeros(n, np.float32)
    outu = cupy.zeros(n, np.uint32)
    mod = cupy.RawModule(code=CUB_SRC, options=("-std=c++17", "-I/usr/local/cuda/include",
                                                  "-I/usr/local/cuda/include/cccl"))
    cub = {k: mod.get_function(f"cub_{k}") for k in ("sum", "scan", "sort", "scanvec", "msort")}

    # correctness first: jitkit == CUB == numpy on the same data
    jk_sum[nb, THREADS](xf, outs)
    ref_s = cupy.zeros_like(outs)
    cub["sum"]((nb,), (THREADS,), (xf, ref_s))
    np.testing.assert_allclose(outs.get(), ref_s.get(), rtol=1e-4, atol=1e-3)
    jk_scan[nb, THREADS](xf, outf)
    ref_f = cupy.zeros_like(outf)
    cub["scan"]((nb,), (THREADS,), (xf, ref_f))
    np.testing.assert_allclose(outf.get()[:TILE * 64], ref_f.get()[:TILE * 64], rtol=1e-4, atol=1e-3)
    jk_sort[nb, THREADS](xu, outu)
    ref_u = cupy.zeros_like(outu)
    cub["sort"]((nb,), (THREADS,), (xu, ref_u))
    assert (outu == ref_u).all(), "radix sort differs from CUB"
    assert (cupy.sort(xu[:TILE]) == outu[:TILE]).all()
    jk_scanvec[nb, THREADS](xf, outf)
    np.testing.assert_allclose(outf.get()[:TILE * 64], ref_f.get()[:TILE * 64], rtol=1e-4, atol=1e-3)
    jk_msort[nb, THREADS](xu, outu)
    assert (outu == ref_u).all(), "merge sort differs from CUB's radix sort"

    rows = []
    for name, jfn, cfn, nbytes in (
            ("block sum f32", lambda: jk_sum[nb, THREADS](xf, outs),
             lambda: cub["sum"]((nb,), (THREADS,), (xf, outs)), 4 * n),
            ("block inclusive scan f32", lambda: jk_scan[nb, THREADS](xf, outf),
             lambda: cub["scan"]((nb,), (THREADS,), (xf, outf)), 8 * n),
            ("block radix sort u32 (32 bits)", lambda: jk_sort[nb, THREADS](xu, outu),
             lambda: cub["sort"]((nb,), (THREADS,), (xu, outu)), 8 * n),
            ("block scan f32, vectorized loads", lambda: jk_scanvec[nb, THREADS](xf, outf),
             lambda: cub["scanvec"]((nb,), (THREADS,), (xf, outf)), 8 * n),
            ("block merge sort u32 (operator.lt)", lambda: jk_msort[nb, THREADS](xu, outu),
             lambda: cub["msort"]((nb,), (THREADS,), (xu, outu)), 8 * n)):
        tj, tc = cuda_event_ms(jfn), cuda_event_ms(cfn)
        rows.append((name, tj, tc, nbytes / tj / 1e6, nbytes / tc / 1e6, tc / tj))
    print(f"device: {device_name()}; n = 2^26, {THREADS} threads x {IPT} items per thread, median of 30")
    print("| kernel | jitkit ms | CUB ms | jitkit GB/s | CUB GB/s | jitkit speed / CUB |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]:.3f} | {r[2]:.3f} | {r[3]:.0f} | {r[4]:.0f} | {r[5]:.2f}x |")
    print("registers / static shared bytes per kernel (jitkit vs CUB):")
    for name, kern, argt in (("sum", jk_sum, jk.float32), ("scan", jk_scan, jk.float32), ("sort", jk_sort, jk.uint32),
                             ("scanvec", jk_scanvec, jk.float32), ("msort", jk_msort, jk.uint32)):
        a = jk.Array(argt, 1, "C")
        res = kern.inspect_resources((a, a), block=(THREADS, 1, 1))
        f = cub[name]
        print(f"  {name}: jitkit {res['registers']} regs {res['shared_bytes']} B; "
              f"CUB {f.num_regs} regs {f.shared_size_bytes} B")


if __name__ == "__main__":
    main()
