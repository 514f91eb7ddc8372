"""Where a jitkit launch spends its host time (device machine): argument handling, packing, the driver call."""

import sys
import time

import numpy as np

import jitkit as jk
from jitkit.runtime import interop as A
from jitkit.runtime import driver


@jk.jit
def empty3(a, b, c):
    pass


def us(fn, n=20000):
    fn()
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) / n * 1e6


def main():
    import cupy
    x = cupy.zeros(1 << 20, np.float32)
    L = empty3[4096, 256]
    L(x, x, x)
    cupy.cuda.runtime.deviceSynchronize()
    loaded = next(iter(empty3._loaded.values()))
    vals = []

    def handlers():
        vals.clear()
        for i, a in enumerate((x, x, x)):
            A._HANDLERS.get(type(a)) or A.handler_for(a, i)
            A._cupy(a, vals, None, 0, i)
    print(f"handlers x3        {us(handlers):6.2f} us")
    print(f"a.data.ptr         {us(lambda: x.data.ptr):6.2f} us")
    print(f"a.shape/strides    {us(lambda: (x.shape, x.strides)):6.2f} us")
    print(f"pack               {us(lambda: loaded.packer.pack(vals)):6.2f} us")
    print(f"current_device     {us(driver.current_device):6.2f} us")
    drv = driver._drv()
    addr = loaded.packer.pack(vals)
    f = loaded.function
    print(f"cuLaunchKernel     {us(lambda: drv.cuLaunchKernel(f, 4096, 1, 1, 256, 1, 1, 0, 0, addr, 0)):6.2f} us")
    cupy.cuda.runtime.deviceSynchronize()
    hot = empty3._hot
    real = hot.launch_fn
    ok = real(f, 4096, 1, 1, 256, 1, 1, 0, 0, addr, 0)
    hot.launch_fn = lambda *a: ok
    try:
        print(f"launch, no driver  {us(lambda: L(x, x, x)):6.2f} us  (jitkit's own host time)")
    finally:
        hot.launch_fn = real
    cupy.cuda.runtime.deviceSynchronize()
    print(f"launch, real       {us(lambda: L(x, x, x)):6.2f} us")
    cupy.cuda.runtime.deviceSynchronize()


if __name__ == "__main__" and "reduce" not in sys.argv:
    sys.exit(main())


def reduce_plan():
    """The same for a plan's hot path (2^20 f32 sum of a CuPy array)."""
    import cupy
    x = cupy.asarray(np.random.default_rng(0).standard_normal(1 << 20, dtype=np.float32))
    plan = jk.plan_reduce(x)
    plan(x)
    cupy.cuda.runtime.deviceSynchronize()
    slots = cupy.empty(256, np.float32)
    print(f"plan(x)            {us(lambda: plan(x)):6.2f} us")
    cupy.cuda.runtime.deviceSynchronize()
    hot = plan._hot
    d = hot.dispatcher
    args = (x, slots, plan.partials, *plan._head, 3)
    print(f"launcher(args)     {us(lambda: hot(*args)):6.2f} us")
    cupy.cuda.runtime.deviceSynchronize()
    print(f"fast(args)         {us(lambda: d._hot.fast(args)):6.2f} us")
    pl = plan._prepared
    if pl:
        print(f"prepared()         {us(pl):6.2f} us")
        cupy.cuda.runtime.deviceSynchronize()
        print(f"prepared.set(x)    {us(lambda: pl.set(0, x.data.ptr)):6.2f} us")
    print(f"slots[i]           {us(lambda: slots[3]):6.2f} us")
    print(f"cupy.empty(1)      {us(lambda: cupy.empty(1, np.float32)):6.2f} us")
    print(f"plan checks        {us(lambda: type(x) is plan._cls and x.dtype is plan._dtype_obj and x.shape == plan._shape and plan._contiguous(x)):6.2f} us")
    real = d._hot.launch_fn
    ok = real(d._hot.function, 1, 1, 1, 256, 1, 1, 0, 0, d._hot.fast(args), 0)
    d._hot.launch_fn = lambda *a: ok
    try:
        print(f"plan(x), no driver {us(lambda: plan(x)):6.2f} us")
    finally:
        d._hot.launch_fn = real
    cupy.cuda.runtime.deviceSynchronize()


if __name__ == "__main__" and "reduce" in sys.argv:
    reduce_plan()
