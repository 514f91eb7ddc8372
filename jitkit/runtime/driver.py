"""The CUDA driver through ``cuda.bindings.driver``: device, context, modules, memory, launch.

Contexts are the devices' primary contexts (shared with CuPy, PyTorch and
numba), made current per thread on first use.  Every failing call raises
:class:`~jitkit.lang.errors.CudaError` naming the call, the error and, where one is
involved, the kernel.  Asynchronous faults surface at the next synchronising
call; those errors name the last kernel launched from this process.
"""

from __future__ import annotations

import functools
import threading
import weakref

from ..lang.errors import CudaError, JitkitError


class NoGPUError(JitkitError, RuntimeError):
    """No CUDA driver or no CUDA device on this machine."""


_tls = threading.local()
thread_state = _tls      # public for hot paths: ``getattr(thread_state, "device", None)`` is thread_device()
_state_lock = threading.Lock()
_devices: dict = {}
last_kernel = [None]   # name of the most recently launched kernel, for asynchronous errors


@functools.lru_cache(maxsize=None)
def _drv():
    try:
        from cuda.bindings import driver
    except ImportError as exc:  # pragma: no cover - a dependency
        raise NoGPUError(f"cuda.bindings is not installed ({exc}): pip install cuda-bindings") from None
    try:
        (err,) = driver.cuInit(0)
    except RuntimeError as exc:  # cuda.pathfinder.DynamicLibNotFoundError: no driver library
        raise NoGPUError(f"no CUDA driver on this machine ({exc})") from None
    if int(err) != 0:
        raise NoGPUError(f"cuInit failed: {_err_name(driver, err)}")
    return driver


def api():
    """The ``cuda.bindings.driver`` module, initialised (NoGPUError where there is no driver)."""
    return _drv()


def _err_name(driver, err) -> str:
    try:
        _, name = driver.cuGetErrorName(err)
        return name.decode() if isinstance(name, bytes) else str(name)
    except Exception:  # noqa: BLE001
        return str(err)


def check(res, call: str, kernel: str | None = None):
    """Raise CudaError if a driver call's result tuple holds an error; return the payload."""
    err = res[0]
    if int(err) != 0:
        raise_error(err, call, kernel)
    if len(res) == 1:
        return None
    return res[1] if len(res) == 2 else res[1:]


def raise_error(err, call: str, kernel: str | None = None):
    driver = _drv()
    desc = ""
    try:
        e2, s = driver.cuGetErrorString(err)
        desc = s.decode() if isinstance(s, bytes) else str(s)
    except Exception:  # noqa: BLE001
        pass
    raise CudaError(call, int(err), _err_name(driver, err), desc, kernel)


@functools.lru_cache(maxsize=None)
def gpu_available() -> bool:
    """True when a CUDA driver and at least one device are present."""
    try:
        driver = _drv()
        err, n = driver.cuDeviceGetCount()
        return int(err) == 0 and n > 0
    except NoGPUError:
        return False


class Device:
    """One GPU: ordinal, name, compute capability and its retained primary context."""

    def __init__(self, ordinal: int):
        driver = _drv()
        self.ordinal = ordinal
        self.handle = check(driver.cuDeviceGet(ordinal), "cuDeviceGet")
        major = check(driver.cuDeviceGetAttribute(
            driver.CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, self.handle), "cuDeviceGetAttribute")
        minor = check(driver.cuDeviceGetAttribute(
            driver.CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, self.handle), "cuDeviceGetAttribute")
        self.compute_capability = (major, minor)
        self.arch = f"sm_{major}{minor}"
        name = check(driver.cuDeviceGetName(256, self.handle), "cuDeviceGetName")
        self.name = name.split(b"\0")[0].decode() if isinstance(name, bytes) else str(name)
        self.context = check(driver.cuDevicePrimaryCtxRetain(self.handle), "cuDevicePrimaryCtxRetain")
        self.context_id = int(self.context)
        attr = driver.CUdevice_attribute
        self.limits = {
            "max_threads_per_block": check(driver.cuDeviceGetAttribute(
                attr.CU_DEVICE_ATTRIBUTE_MAX_THREADS_PER_BLOCK, self.handle), "cuDeviceGetAttribute"),
            "max_block": tuple(check(driver.cuDeviceGetAttribute(a, self.handle), "cuDeviceGetAttribute") for a in (
                attr.CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_X, attr.CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Y,
                attr.CU_DEVICE_ATTRIBUTE_MAX_BLOCK_DIM_Z)),
            "max_grid": tuple(check(driver.cuDeviceGetAttribute(a, self.handle), "cuDeviceGetAttribute") for a in (
                attr.CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_X, attr.CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Y,
                attr.CU_DEVICE_ATTRIBUTE_MAX_GRID_DIM_Z)),
            "max_shared_optin": check(driver.cuDeviceGetAttribute(
                attr.CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, self.handle), "cuDeviceGetAttribute"),
            "multiprocessors": check(driver.cuDeviceGetAttribute(
                attr.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, self.handle), "cuDeviceGetAttribute"),
        }

    def __repr__(self):
        return f"<jitkit.Device {self.ordinal}: {self.name} ({self.arch})>"


def get_device(ordinal: int = 0) -> Device:
    dev = _devices.get(ordinal)
    if dev is None:
        with _state_lock:
            dev = _devices.get(ordinal)
            if dev is None:
                dev = _devices[ordinal] = Device(ordinal)
    return dev


def thread_device():
    """The device jitkit made current on this thread, or None before the first use (no driver call:
    for hot paths checking that a prepared launch is still on the right device)."""
    return getattr(_tls, "device", None)


def current_device() -> Device:
    """The device of this thread's current context (made current on first use).

    If another library (CuPy, PyTorch) already made a context current on this
    thread, jitkit uses that context's device; otherwise device 0.
    """
    dev = getattr(_tls, "device", None)
    if dev is not None:
        return dev
    driver = _drv()
    ctx = check(driver.cuCtxGetCurrent(), "cuCtxGetCurrent")
    ordinal = 0
    if ctx is not None and int(ctx) != 0:
        ordinal = int(check(driver.cuCtxGetDevice(), "cuCtxGetDevice"))
    dev = get_device(ordinal)
    if ctx is None or int(ctx) != dev.context_id:
        check(driver.cuCtxSetCurrent(dev.context), "cuCtxSetCurrent")
    _tls.device = dev
    return dev


class Module:
    """A loaded cubin; unloaded when garbage-collected."""

    def __init__(self, image: bytes, name: str):
        driver = _drv()
        current_device()
        self.name = name
        self.handle = check(driver.cuModuleLoadData(image), "cuModuleLoadData", name)
        weakref.finalize(self, _unload, self.handle)

    def function(self, symbol: str):
        return check(_drv().cuModuleGetFunction(self.handle, symbol.encode()), "cuModuleGetFunction", self.name)

    def global_ptr(self, symbol: str) -> tuple:
        """(device pointer, size in bytes) of a module-scope variable."""
        ptr, size = check(_drv().cuModuleGetGlobal(self.handle, symbol.encode()), "cuModuleGetGlobal", self.name)
        return int(ptr), int(size)


def _unload(handle):
    try:
        _drv().cuModuleUnload(handle)
    except Exception:  # noqa: BLE001 - interpreter shutdown
        pass


def function_attributes(func) -> dict:
    driver = _drv()
    a = driver.CUfunction_attribute
    out = {}
    for key, attr in (("registers", a.CU_FUNC_ATTRIBUTE_NUM_REGS),
                      ("shared_bytes", a.CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES),
                      ("local_bytes", a.CU_FUNC_ATTRIBUTE_LOCAL_SIZE_BYTES),
                      ("max_threads_per_block", a.CU_FUNC_ATTRIBUTE_MAX_THREADS_PER_BLOCK)):
        out[key] = check(driver.cuFuncGetAttribute(attr, func), "cuFuncGetAttribute")
    return out


def max_active_blocks(func, threads: int, shared: int, kernel: str) -> int:
    return int(check(_drv().cuOccupancyMaxActiveBlocksPerMultiprocessor(func, threads, shared),
                     "cuOccupancyMaxActiveBlocksPerMultiprocessor", kernel))


def set_max_dynamic_shared(func, nbytes: int, kernel: str) -> None:
    driver = _drv()
    check(driver.cuFuncSetAttribute(func, driver.CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES,
                                    nbytes), "cuFuncSetAttribute", kernel)


# ------------------------------------------------------------------ memory

def mem_alloc(nbytes: int) -> int:
    current_device()
    return int(check(_drv().cuMemAlloc(max(int(nbytes), 1)), "cuMemAlloc"))


def mem_free(ptr: int) -> None:
    check(_drv().cuMemFree(ptr), "cuMemFree", last_kernel[0])


def memcpy_htod(dst: int, src_host_ptr: int, nbytes: int, stream: int = 0) -> None:
    if nbytes:
        check(_drv().cuMemcpyHtoDAsync(dst, src_host_ptr, nbytes, stream), "cuMemcpyHtoDAsync", last_kernel[0])


def memcpy_dtoh(dst_host_ptr: int, src: int, nbytes: int, stream: int = 0) -> None:
    if nbytes:
        check(_drv().cuMemcpyDtoHAsync(dst_host_ptr, src, nbytes, stream), "cuMemcpyDtoHAsync", last_kernel[0])


def memset_d8(dst: int, value: int, nbytes: int, stream: int = 0) -> None:
    if nbytes:
        check(_drv().cuMemsetD8Async(dst, value, nbytes, stream), "cuMemsetD8Async", last_kernel[0])


def stream_synchronize(stream: int = 0) -> None:
    check(_drv().cuStreamSynchronize(stream), "cuStreamSynchronize", last_kernel[0])


def synchronize() -> None:
    """Wait for all work on the current device; raises CudaError naming the last kernel on a fault."""
    current_device()
    check(_drv().cuCtxSynchronize(), "cuCtxSynchronize", last_kernel[0])
