"""The one launch path: launch configuration, argument binding, parameter buffers, the launch site.

Every GPU launch, whatever its caller (``kernel[grid, block](*args)``, a host algorithm's prepared
launch, a plan replaying its launches), goes through the pieces here:

- :func:`dim3` / :func:`shared_bytes` check a launch configuration against CUDA's limits.
- :func:`bind` is the one argument binder of the general path: each argument through its handler
  (:mod:`jitkit.runtime.interop`), constexpr arguments as literals, NumPy arrays staged on the device.
- :class:`ParamBuffer` is the one parameter buffer (a ``void*[]`` over 8-byte slots, packed by a
  per-signature ``struct``).
- :meth:`LoadedKernel.launch` is the one launch site: the cooperative-residency check, the driver
  call, and the fault attribution (a failing launch raises naming the kernel).
- :func:`fast_binder` generates, per signature and argument classes, a binder that recognises the
  same classes again by identity tests and packs them straight into a thread's buffer; a kernel
  tries its most recently used ones first, so alternating signatures stay on the fast path.
- :class:`Prepared` is one launch with its parameters packed once: a plan rewrites the slots that
  vary (pointers, indices) and launches.

The runtime knows nothing of the compiler: a :class:`LoadedKernel` is made from a cubin, the
kernel's symbol and its argument types (the ABI in :mod:`jitkit.lang.abi`).
"""

from __future__ import annotations

import ctypes
import operator
import struct
import threading

import numpy as np

from ..lang import abi
from ..lang import types as T
from ..lang.errors import LaunchError
from . import driver, interop

__all__ = ["dim3", "shared_bytes", "arg_types", "bind", "Bound", "ParamBuffer", "Params", "LoadedKernel", "Prepared",
           "read_only_error", "binder_for", "fast_binder", "GRID_LIMITS", "BLOCK_LIMITS", "MAX_BLOCK_THREADS",
           "MAX_DYNAMIC_SHARED"]

# CUDA's launch limits (every architecture jitkit targets, sm_70 up); the simulator keeps them too, so
# a launch that runs there runs on the GPU
GRID_LIMITS = (2**31 - 1, 65535, 65535)
BLOCK_LIMITS = (1024, 1024, 64)
MAX_BLOCK_THREADS = 1024
MAX_DYNAMIC_SHARED = 227 * 1024      # the opt-in maximum per block on the H100 (sm_90): the simulator's limit


def dim3(value, what: str) -> tuple:
    """``value`` (an int or 1 to 3 ints) as a checked 3-tuple; ``what`` is "grid" or "block"."""
    if isinstance(value, int) and not isinstance(value, bool):
        dims = (value, 1, 1)
    elif isinstance(value, tuple) and 1 <= len(value) <= 3 and all(isinstance(v, int) for v in value):
        dims = tuple(value) + (1,) * (3 - len(value))
    elif isinstance(value, np.integer):
        return dim3(int(value), what)
    else:
        raise LaunchError(f"{what} must be an int or a tuple of 1 to 3 ints, got {value!r}")
    if min(dims) < 1:
        raise LaunchError(f"{what} dimensions must all be >= 1, got {value!r}")
    limits = GRID_LIMITS if what == "grid" else BLOCK_LIMITS
    for axis, n, top in zip("xyz", dims, limits):
        if n > top:
            raise LaunchError(f"{what} {value!r}: {what}Dim.{axis} is at most {top} on CUDA GPUs, got {n}")
    if what == "block" and dims[0] * dims[1] * dims[2] > MAX_BLOCK_THREADS:
        raise LaunchError(f"block {value!r} has {dims[0] * dims[1] * dims[2]} threads; a CUDA block has at most "
                          f"{MAX_BLOCK_THREADS}")
    return dims


def shared_bytes(value) -> int:
    """Dynamic shared memory bytes of a launch (an int >= 0; the upper limit is the device's)."""
    try:
        if isinstance(value, bool):
            raise TypeError
        n = operator.index(value)           # ints and NumPy ints
    except TypeError:
        raise LaunchError(f"shared_bytes must be an int, got {value!r}") from None
    if n < 0:
        raise LaunchError(f"shared_bytes must be >= 0, got {n}")
    return n


# ---------------------------------------------------------------- parameters

# one 8-byte slot per flat parameter; the driver reads sizeof(param) bytes from each
_SLOT_FORMAT = {"ptr": "Q", "b": "?7x", "i8": "b7x", "i16": "h6x", "i32": "i4x", "i64": "q",
                "u8": "B7x", "u16": "H6x", "u32": "I4x", "u64": "Q", "f16": "e6x", "f32": "f4x",
                "f64": "d", "bf16": "H6x"}  # bfloat16 travels as its bit pattern


def _slot_code(slot) -> str:
    if slot == abi.PTR:
        return _SLOT_FORMAT["ptr"]
    if slot.is_bool:
        return _SLOT_FORMAT["b"]
    return _SLOT_FORMAT["bf16" if slot.is_bf16 else f"{slot.kind}{slot.bits}"]


class ParamBuffer:
    """``n`` 8-byte parameter slots and the ``void*[]`` pointing at them (``addr``: its address, what
    cuLaunchKernel takes)."""

    __slots__ = ("buf", "ptrs", "addr")

    def __init__(self, n: int):
        n = max(n, 1)
        self.buf = ctypes.create_string_buffer(8 * n)
        base = ctypes.addressof(self.buf)
        self.ptrs = (ctypes.c_void_p * n)(*[base + 8 * k for k in range(n)])
        self.addr = ctypes.addressof(self.ptrs)


class Params:
    """The flat parameter layout of one signature: the packing struct, one code per slot, the first
    slot of each argument, and a parameter buffer per thread for the general and fast paths."""

    __slots__ = ("count", "struct", "codes", "firsts", "tls")

    def __init__(self, argtypes: tuple):
        slots = [abi.param_slots(t) for t in argtypes]
        flat = [s for per in slots for s in per]
        self.count = len(flat)
        self.struct = struct.Struct("<" + "".join(_slot_code(s) for s in flat))
        self.codes = [struct.Struct("<" + _slot_code(s)) for s in flat]
        self.firsts = [sum(len(s) for s in slots[:i]) for i in range(len(slots))]
        self.tls = threading.local()      # .pb: this thread's ParamBuffer

    def thread_buffer(self) -> ParamBuffer:
        pb = getattr(self.tls, "pb", None)
        if pb is None:
            pb = self.tls.pb = ParamBuffer(self.count)
        return pb

    def pack(self, values) -> int:
        """``values`` packed into this thread's buffer; returns the ``void*[]`` address."""
        pb = self.thread_buffer()
        self.struct.pack_into(pb.buf, 0, *values)
        return pb.addr


# ---------------------------------------------------------------- binding

class Bound:
    """A call's arguments bound: their jitkit types, flat parameter values and NumPy arrays staged
    on the device for this launch (freed by :meth:`free`)."""

    __slots__ = ("types", "values", "staged")

    def __init__(self, types, values, staged):
        self.types, self.values, self.staged = types, values, staged

    def free(self) -> None:
        for s in self.staged:
            driver.mem_free(s.dptr)
        self.staged = []


def arg_types(args: tuple, constexpr, literal, type_one) -> tuple:
    """The argument loop every target shares: ``literal(a, i)`` types constexpr argument ``i``,
    ``type_one(a, i)`` every other one."""
    return tuple(literal(a, i) if constexpr and i in constexpr else type_one(a, i) for i, a in enumerate(args))


def bind(args: tuple, constexpr, literal, stream: int) -> Bound:
    """The GPU binder of the general path: every non-constexpr argument goes through its interop
    handler, which appends its flat parameter values and stages NumPy arrays on the device.  On an
    error, memory staged so far is freed."""
    vals: list = []
    staged: list = []
    handlers = interop.HANDLERS

    def one(a, i):
        return (handlers.get(type(a)) or interop.handler_for(a, i))(a, vals, staged, stream, i)
    try:
        tys = arg_types(args, constexpr, literal, one)
    except BaseException:
        Bound(None, None, staged).free()
        raise
    return Bound(tys, vals, staged)


# ---------------------------------------------------------------- loaded kernels

class LoadedKernel:
    """A cubin loaded on one device with its kernel function, ready to launch.

    ``written`` are the indices of arguments the kernel may write (staged NumPy arrays copied
    back); ``cooperative`` kernels (grid-wide sync) launch with a residency check; ``block`` is the
    block shape the kernel was specialised for (or None); ``error_symbol``/``sites`` are the debug
    mode's error record and its check sites."""

    __slots__ = ("name", "device", "module", "function", "params", "argtypes", "written", "cooperative", "block",
                 "sites", "error_ptr", "dyn_ok", "binders", "launch", "_attrs", "_coop_limits", "_drv")

    def __init__(self, cubin: bytes, symbol: str, name: str, argtypes: tuple, *, written=frozenset(),
                 cooperative=False, block=None, sites=(), error_symbol=None):
        self.device = driver.current_device()
        self.name = name
        self.module = driver.Module(cubin, name)
        self.function = self.module.function(symbol)
        self.argtypes = argtypes
        self.params = Params(argtypes)
        self.written = written
        self.cooperative = cooperative
        self.block = block
        self.sites = sites
        self._attrs = None
        self._coop_limits: dict = {}                   # (block, shared bytes) -> max resident blocks
        self._drv = driver.api()
        self.dyn_ok = 48 * 1024 - self.attributes["shared_bytes"]   # dynamic shared bytes allowed without opt-in
        self.error_ptr = self.module.global_ptr(error_symbol) if sites else None
        self.binders: dict = {}                        # argument classes -> generated fast binder (or None)
        self.launch = self._cooperative_launch if cooperative else self._site()

    @property
    def general_only(self) -> bool:
        """Cooperative kernels (residency check) and debug kernels (error record read after each
        launch) always take the general path: no fast binder, no prepared launch."""
        return self.cooperative or self.error_ptr is not None

    @property
    def attributes(self) -> dict:
        if self._attrs is None:
            self._attrs = driver.function_attributes(self.function)
        return self._attrs

    # the launch site ------------------------------------------------
    #
    # ``launch(dims, addr)`` launches with the parameters at ``addr`` (a ``void*[]``); ``dims`` is a
    # launch configuration's ``(grid x, y, z, block x, y, z, shared bytes, stream)`` (``cfg.dims``).
    # A launch the driver refuses raises naming the kernel (and the limit it broke, where one did).
    # For ordinary kernels it is the closure ``_site`` makes (every name it needs bound once: this is
    # the hot path); cooperative kernels first check that the grid can be resident.
    def _site(self):
        call, function, name, device, last = self._drv.cuLaunchKernel, self.function, self.name, self.device, \
            driver.last_kernel

        def launch(dims, addr):
            res = call(function, *dims, addr, 0)
            last[0] = name
            if res[0]:
                _launch_failed(res[0], dims, device, name)
        return launch

    def _cooperative_launch(self, dims, addr):
        grid, block = dims[0:3], dims[3:6]
        limit = self.max_cooperative_blocks(block, dims[6])
        if grid[0] * grid[1] * grid[2] > limit:
            raise LaunchError(f"kernel {self.name} uses jk.grid_sync(), so all its blocks must be resident at "
                              f"once: grid {grid} has {grid[0] * grid[1] * grid[2]} blocks, at most {limit} fit "
                              f"with block {block} on this device")
        res = self._drv.cuLaunchCooperativeKernel(self.function, *dims, addr)
        driver.last_kernel[0] = self.name
        if res[0]:
            _launch_failed(res[0], dims, self.device, self.name)

    def run(self, cfg, bound: Bound) -> None:
        """The general path's launch of ``bound`` arguments with launch configuration ``cfg`` (grid,
        block, shared, stream and their ``dims``): writable check of staged arrays, shared-memory opt-in, packing, the
        launch, the debug error record, copies back to NumPy arrays."""
        staged = bound.staged
        if staged:
            for s in staged:
                if s.index in self.written and not s.target.flags.writeable:
                    raise read_only_error(s.index, self.name)
        if cfg.shared > self.dyn_ok:
            self.allow_shared(cfg.shared)
        self.launch(cfg.dims, self.params.pack(bound.values))
        if self.error_ptr is not None:
            self.check_errors(cfg.stream)
        if staged:
            for s in staged:
                if s.index in self.written:
                    driver.memcpy_dtoh(s.host.ctypes.data, s.dptr, s.nbytes, cfg.stream)
            driver.stream_synchronize(cfg.stream)
            for s in staged:
                if s.index in self.written and s.host is not s.target:
                    s.target[...] = s.host

    # limits -------------------------------------------------------
    def max_cooperative_blocks(self, block: tuple, shared: int) -> int:
        """How many blocks of this shape can be resident at once (the limit of a cooperative grid)."""
        key = (block, shared)
        limit = self._coop_limits.get(key)
        if limit is None:
            per_sm = driver.max_active_blocks(self.function, block[0] * block[1] * block[2], shared, self.name)
            limit = self._coop_limits[key] = per_sm * self.device.limits["multiprocessors"]
        return limit

    def allow_shared(self, nbytes: int) -> None:
        """Opt in to ``nbytes`` of dynamic shared memory (beyond 48 KiB), or a LaunchError."""
        static = self.attributes["shared_bytes"]
        limit = self.device.limits["max_shared_optin"]
        if nbytes + static > limit:
            raise LaunchError(f"shared_bytes={nbytes} plus {static} bytes of static shared memory exceed the "
                              f"device's {limit} bytes per block for kernel {self.name}")
        driver.set_max_dynamic_shared(self.function, nbytes, self.name)
        self.dyn_ok = nbytes

    def check_errors(self, stream: int) -> None:
        """After a debug launch: raise the first failed bounds check or assert, naming thread and line."""
        ptr, size = self.error_ptr
        rec = np.zeros(size // 8, np.int64)
        driver.memcpy_dtoh(rec.ctypes.data, ptr, size, stream)
        driver.stream_synchronize(stream)
        if not rec[0]:
            return
        driver.memset_d8(ptr, 0, size, stream)
        driver.stream_synchronize(stream)
        kind, loc, message = self.sites[int(rec[1]) - 1]
        where = (f"in kernel {self.name}, block ({rec[8]}, {rec[9]}, {rec[10]}), thread ({rec[5]}, {rec[6]}, "
                 f"{rec[7]})\n{loc.format()}")
        if kind == "index":
            raise IndexError(f"index {rec[2]} is out of bounds for axis {rec[4]} with size {rec[3]} {where}")
        raise AssertionError(f"{message or 'assertion failed'} {where}")


def _launch_failed(err, dims, device, kernel: str):
    """A refused launch as an error naming the kernel, and the limit it broke where one did."""
    grid, block = dims[0:3], dims[3:6]
    limits = device.limits
    nthreads = block[0] * block[1] * block[2]
    if nthreads > limits["max_threads_per_block"] or any(b > m for b, m in zip(block, limits["max_block"])):
        raise LaunchError(f"block {block} exceeds the device limit ({limits['max_block']}, at most "
                          f"{limits['max_threads_per_block']} threads) for kernel {kernel}")
    if any(g > m for g, m in zip(grid, limits["max_grid"])):
        raise LaunchError(f"grid {grid} exceeds the device limit {limits['max_grid']} for kernel {kernel}")
    driver.raise_error(err, "cuLaunchKernel", kernel)


def read_only_error(index: int, kernel: str) -> LaunchError:
    return LaunchError(f"argument {index} of {kernel} is a read-only array, but the kernel writes to it")


class Prepared:
    """One kernel launch (configuration, device arguments) with its parameters packed once: a plan's
    hot path.  ``set(k, value)`` rewrites flat parameter slot ``k`` (see :meth:`slot`); calling it
    launches.  Not thread-safe: the caller holds its own lock (the buffer is its own)."""

    __slots__ = ("loaded", "cfg", "device", "_pb", "_codes", "_firsts")

    def __init__(self, loaded: LoadedKernel, cfg, values):
        self.loaded, self.cfg, self.device = loaded, cfg, loaded.device
        self._pb = ParamBuffer(loaded.params.count)
        loaded.params.struct.pack_into(self._pb.buf, 0, *values)
        self._codes, self._firsts = loaded.params.codes, loaded.params.firsts

    def slot(self, arg: int) -> int:
        """The first flat parameter slot of argument ``arg`` (an array's data pointer)."""
        return self._firsts[arg]

    def set(self, k: int, value) -> None:
        self._codes[k].pack_into(self._pb.buf, 8 * k, value)

    def __call__(self) -> None:
        self.loaded.launch(self.cfg.dims, self._pb.addr)


# ---------------------------------------------------------------- per-signature fast binders
#
# After a launch has gone through the general path, jitkit generates one small function for that
# exact combination of argument classes and types.  It checks each argument with identity tests
# (``type(a) is cls``, ``a.dtype is dt``), reads the fields it needs, packs the parameters in one
# ``struct.pack_into`` and calls the launch site.  Any mismatch returns False and the caller tries
# the next signature's binder, then the general path: the fast path can only be faster, never
# different.  Covered: CuPy arrays, PyTorch CUDA tensors, jitkit DeviceBuffers, Python and NumPy
# scalars, constexpr values; NumPy host arrays, tuples and other array objects take the general path.

def _layout_check(i, n, isz, layout) -> str:
    return f"if len(sh{i}) != {n} or layout_of(sh{i}, st{i}, {isz}) != {layout!r}: return False"


# how each kind of device array's fields are read: the class/dtype test, the data pointer, shape
# and byte strides, and for the common 1-d contiguous case the rank, item count and the one stride
# (in ``unit``s: bytes for CuPy, items for PyTorch)
_READS = {
    "cupy": {"check": "", "ptr": "a{i}.data.ptr", "shape": "a{i}.shape", "strides": "a{i}.strides",
             "ndim": "a{i}.ndim", "size": "a{i}.size", "stride0": "a{i}.strides[0]", "unit": "{isz}"},
    "torch": {"check": " and a{i}.is_cuda", "ptr": "a{i}.data_ptr()", "shape": "tuple(a{i}.shape)",
              "strides": "tuple(s * {isz} for s in a{i}.stride())", "ndim": "a{i}.dim()", "size": "a{i}.numel()",
              "stride0": "a{i}.stride(0)", "unit": "1"},
}


def _device_array(kind):
    reads = _READS[kind]

    def bind(i, a, ty, env, checks, values):
        n, isz = ty.ndim, ty.dtype.itemsize
        r = {k: v.format(i=i, isz=isz) for k, v in reads.items()}
        env[f"K{i}"], env[f"D{i}"] = type(a), a.dtype
        checks.append(f"type(a{i}) is K{i} and a{i}.dtype is D{i}{r['check']}")
        if n == 1 and ty.layout == "C":   # the common case on the fewest reads: rank, item count, stride
            values += [r["ptr"], f"n{i}"]
            return [f"n{i} = {r['size']}",
                    f"if {r['ndim']} != 1 or ({r['stride0']} != {r['unit']} and n{i} > 1): return False"]
        values += [r["ptr"]] + [f"sh{i}[{d}]" for d in range(n)]
        if ty.layout == "A":
            values += [f"st{i}[{d}]" for d in range(n)]
        return [f"sh{i} = {r['shape']}", f"st{i} = {r['strides']}", _layout_check(i, n, isz, ty.layout)]
    return bind


_cupy_array, _torch_tensor = _device_array("cupy"), _device_array("torch")


def _device_buffer(i, a, ty, env, checks, values):
    """jitkit's own DeviceBuffer: always C-contiguous, typed as such."""
    env[f"K{i}"], env[f"D{i}"] = type(a), a.dtype
    checks.append(f"type(a{i}) is K{i} and a{i}.dtype == D{i}")
    n = ty.ndim
    values += [f"a{i}.ptr"] + [f"sh{i}[{d}]" for d in range(n)]
    return [f"sh{i} = a{i}.shape", f"if len(sh{i}) != {n}: return False"]


def _scalar(i, a, ty, env, checks, values):
    env[f"K{i}"] = type(a)
    checks.append(f"type(a{i}) is K{i}")
    if type(a) is int:
        checks.append(f"-9223372036854775808 <= a{i} <= 9223372036854775807")
    values.append(f"a{i}")
    return []


def _literal(i, a, ty, env, checks, values):
    """A constexpr argument: the same value again (numbers by type and value, anything else by identity)."""
    env[f"K{i}"], env[f"V{i}"] = type(a), a
    if type(a) in (bool, int, float):
        checks.append(f"type(a{i}) is K{i} and a{i} == V{i}")
    else:
        checks.append(f"a{i} is V{i}")
    return []


_FAST_KINDS = {"cupy": _cupy_array, "torch": _torch_tensor, "jitkit": _device_buffer}


def _fast_kind(a):
    kind = interop.fast_kind(a)
    if kind is not None:
        return _FAST_KINDS[kind]
    if type(a) in (bool, int, float) or (isinstance(a, np.generic)
                                         and not isinstance(a, (np.str_, np.bytes_, np.complexfloating))):
        return _scalar
    return None


MAX_BINDERS = 16      # per loaded signature: argument-class combinations remembered


def binder_for(args: tuple, loaded: LoadedKernel):
    """The fast binder for these arguments' classes on ``loaded`` (made on first need, remembered;
    None where they cannot take a fast path): called after a general-path launch of ``args``."""
    classes = tuple(map(type, args))
    binders = loaded.binders
    if classes in binders:
        return binders[classes]
    if len(binders) >= MAX_BINDERS:
        binders.clear()
    fast = binders[classes] = None if loaded.general_only else fast_binder(args, loaded)
    return fast


def fast_binder(args: tuple, loaded: LoadedKernel):
    """A function ``fast(cfg, args) -> bool`` that launches ``loaded`` with ``args`` when they have the
    classes and types of these ``args`` (and ``cfg`` the device, block shape and shared bytes it
    can take), else returns False; None where these arguments cannot take a fast path."""
    argtypes = loaded.argtypes
    env = {"layout_of": interop.layout_of, "pack": loaded.params.struct.pack_into, "new_buffer": loaded.params.thread_buffer,
           "TLS": loaded.params.tls, "L": loaded, "site": loaded.launch, "DEV": loaded.device,
           "THREAD": driver.thread_state, "BLOCK": loaded.block}
    checks, body, values = [], [], []
    for i, (a, ty) in enumerate(zip(args, argtypes)):
        kind = _literal if isinstance(ty, T.Literal) else _fast_kind(a)
        if kind is _scalar and ty.is_bf16:
            return None  # passes its bit pattern: the general path
        if kind is None or (kind not in (_scalar, _literal) and not isinstance(ty, T.Array)):
            return None
        if kind is _device_buffer and ty.layout != "C":
            return None
        body += kind(i, a, ty, env, checks, values)
    n = len(args)
    names = ", ".join(f"a{i}" for i in range(n))
    config = ["cfg.shared > L.dyn_ok", "getattr(THREAD, 'device', None) is not DEV"]
    if loaded.block is not None:      # compiled for one block shape (block primitives)
        config.append("cfg.block != BLOCK")
    src = ["def fast(cfg, args):",
           f"    if len(args) != {n} or {' or '.join(config)}: return False"]
    if n:
        src.append(f"    {names}{',' if n == 1 else ''} = args")
    if checks:
        src.append(f"    if not ({' and '.join(checks)}): return False")
    src += [f"    {ln}" for ln in body]
    src += ["    pb = getattr(TLS, 'pb', None) or new_buffer()",
            f"    pack(pb.buf, 0{''.join(', ' + v for v in values)})",
            "    site(cfg.dims, pb.addr)",
            "    return True"]
    code = "\n".join(src)
    exec(compile(code, f"<jitkit fast binder {loaded.name}{argtypes}>", "exec"), env)
    fast = env["fast"]
    fast.source = code
    return fast
