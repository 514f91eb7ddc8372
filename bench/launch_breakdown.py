"""Where a jitkit launch spends its host time (device machine): argument handling, packing, the driver call."""

import sys
import time

import numpy as np

import jitkit as jk
from jitkit.runtime import args as A
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


if __name__ == "__main__":
    sys.exit(main())
