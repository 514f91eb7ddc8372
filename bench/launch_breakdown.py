"""Where a jitkit launch spends its host time (device machine): binding, packing, the driver call.

``PYTHONPATH=. python bench/launch_breakdown.py``: tight loops of 20000 calls, no sync inside.
"""

import time

import numpy as np

import jitkit as jk
from jitkit.runtime import driver, interop, launch


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
    L(x, x, x)
    cupy.cuda.runtime.deviceSynchronize()
    loaded = next(iter(empty3._loaded.values()))
    vals = []

    def handlers():
        vals.clear()
        for i, a in enumerate((x, x, x)):
            (interop.HANDLERS.get(type(a)) or interop.handler_for(a, i))(a, vals, None, 0, i)
    print(f"handlers x3        {us(handlers):6.2f} us  (the general binder's per-argument work)")
    print(f"a.data.ptr         {us(lambda: x.data.ptr):6.2f} us")
    print(f"a.shape/strides    {us(lambda: (x.shape, x.strides)):6.2f} us")
    print(f"pack               {us(lambda: loaded.params.pack(vals)):6.2f} us")
    print(f"thread_device      {us(driver.thread_device):6.2f} us")
    drv = driver.api()
    addr = loaded.params.pack(vals)
    f = loaded.function
    print(f"cuLaunchKernel     {us(lambda: drv.cuLaunchKernel(f, 4096, 1, 1, 256, 1, 1, 0, 0, addr, 0)):6.2f} us")
    cupy.cuda.runtime.deviceSynchronize()
    real = loaded.launch
    ok = real
    try:
        loaded.launch = lambda *a: None                 # the driver call stubbed out: jitkit's own host time
        stub = launch.fast_binder((x, x, x), loaded)
        print(f"binder, no driver  {us(lambda: stub(L, (x, x, x))):6.2f} us  (jitkit's own host time per launch)")
    finally:
        loaded.launch = ok
    cupy.cuda.runtime.deviceSynchronize()
    print(f"launch, real       {us(lambda: L(x, x, x)):6.2f} us")
    cupy.cuda.runtime.deviceSynchronize()


if __name__ == "__main__":
    main()
