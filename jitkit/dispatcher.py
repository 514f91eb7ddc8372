"""``@jit``: the kernel object, its per-signature cache and the launch path.

A ``@jit`` function is both a kernel (``f[grid, block](*args)``) and a device
function (called from another ``@jit`` function).  Compiled specialisations
are kept per (argument types, arch); the launch path caches, per signature,
the loaded function and a parameter packer, so a launch costs one dict
lookup per argument type plus ``cuLaunchKernel``.
"""

from __future__ import annotations

import ctypes
import functools
import operator
import struct
import threading

from .lang import types as T
from .lang import abi
from . import config
from .lang.errors import CompileError, LaunchError, NeedsBlockShape
from .lang.intrinsics import constexpr_params
from .runtime import interop as A
from .runtime import driver, fastpath
from .build import toolchain

__all__ = ["jit", "Dispatcher"]

_OPTIONS = {"fastmath", "opt", "target", "lineinfo", "debug", "max_registers", "link", "device", "cache"}


def _check_options(options: dict) -> dict:
    """Validated jit options (TypeError/ValueError naming the bad one)."""
    unknown = set(options) - _OPTIONS
    if unknown:
        raise TypeError(f"unknown jit option(s): {', '.join(sorted(unknown))}; known: {', '.join(sorted(_OPTIONS))}")
    options.pop("device", None)   # numba-cuda's device=True: every @jit function is already both
    options.pop("cache", None)    # numba-cuda's cache=True: jitkit always caches (JITKIT_CACHE=0 turns it off)
    for flag in ("fastmath", "lineinfo", "debug"):
        if flag in options and not isinstance(options[flag], bool):
            raise TypeError(f"jit option {flag} must be True or False, got {options[flag]!r}")
    if "opt" in options and options["opt"] not in (0, 1, 2, 3):
        raise ValueError(f"jit option opt must be 0, 1, 2 or 3, got {options['opt']!r}")
    if "link" in options:
        from .build.linking import check_link_option
        options["link"] = check_link_option(options["link"])
    regs = options.get("max_registers")
    if regs is not None and (not isinstance(regs, int) or isinstance(regs, bool) or not 16 <= regs <= 255):
        raise ValueError(f"jit option max_registers must be an int from 16 to 255, got {regs!r}")
    return options

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


class _Packer:
    """Packs flat parameter values into a per-thread ``void*[]`` for cuLaunchKernel."""

    def __init__(self, argtypes: tuple):
        slots = [s for t in argtypes for s in abi.param_slots(t)]
        self.count = len(slots)
        self.struct = struct.Struct("<" + "".join(_slot_code(s) for s in slots))
        self._tls = threading.local()

    def pack(self, values) -> int:
        bufs = getattr(self._tls, "bufs", None)
        if bufs is None:
            n = max(self.count, 1)
            buf = ctypes.create_string_buffer(8 * n)
            base = ctypes.addressof(buf)
            ptrs = (ctypes.c_void_p * n)(*[base + 8 * k for k in range(n)])
            bufs = self._tls.bufs = (buf, ptrs, ctypes.addressof(ptrs))
        self.struct.pack_into(bufs[0], 0, *values)
        return bufs[2]


class Prepared:
    """One kernel launch (grid, block, stream, device arguments) with its parameters packed once: a
    plan's hot path.  ``set(k, value)`` rewrites flat parameter slot ``k`` (see :meth:`slot`);
    calling it launches.  Not thread-safe: the caller holds its own lock (the buffer is shared)."""

    __slots__ = ("dispatcher", "cfg", "loaded", "_buf", "_ptrs", "addr", "_codes", "_firsts")

    def __init__(self, dispatcher, cfg, loaded, vals):
        self.dispatcher, self.cfg, self.loaded = dispatcher, cfg, loaded
        n = max(loaded.packer.count, 1)
        self._buf = ctypes.create_string_buffer(8 * n)
        base = ctypes.addressof(self._buf)
        self._ptrs = (ctypes.c_void_p * n)(*[base + 8 * k for k in range(n)])
        self.addr = ctypes.addressof(self._ptrs)
        loaded.packer.struct.pack_into(self._buf, 0, *vals)
        slots = [abi.param_slots(t) for t in loaded.result.argtypes]
        self._codes = [struct.Struct("<" + _slot_code(x)) for s in slots for x in s]
        self._firsts = [sum(len(s) for s in slots[:i]) for i in range(len(slots))]

    def slot(self, arg: int) -> int:
        """The first flat parameter slot of argument ``arg`` (an array's data pointer)."""
        return self._firsts[arg]

    def set(self, k: int, value) -> None:
        self._codes[k].pack_into(self._buf, 8 * k, value)

    def __call__(self):
        cfg, ld = self.cfg, self.loaded
        g, b = cfg.grid, cfg.block
        res = ld.launch_fn(ld.function, g[0], g[1], g[2], b[0], b[1], b[2], cfg.shared, cfg.stream, self.addr, 0)
        driver.last_kernel[0] = ld.name
        if res[0]:
            self.dispatcher._launch_failed(res[0], ld, cfg)


class _Loaded:
    """A compile result loaded on one device, ready to launch."""

    __slots__ = ("result", "device", "module", "function", "packer", "written", "name", "_attrs",
                 "fast", "fast_tried", "launch_fn", "dyn_ok", "error_ptr", "cooperative", "_coop_limits", "block")

    def __init__(self, result, device):
        self.result = result
        self.device = device
        self.module = driver.Module(result.cubin, result.qualname)
        self.function = self.module.function(result.name)
        self.packer = _Packer(result.argtypes)
        self.written = result.written
        self.name = result.qualname
        self._attrs = None
        self.fast = None          # generated packer for the argument classes first seen
        self.fast_tried = False
        self.launch_fn = driver._drv().cuLaunchKernel
        self.dyn_ok = 48 * 1024 - self.attributes["shared_bytes"]   # dynamic shared bytes allowed without opt-in
        self.error_ptr = None
        self.cooperative = result.cooperative
        self.block = result.block     # compiled for this block shape only (jk.block_dims()), or None
        self._coop_limits: dict = {}  # (block, shared bytes) -> max resident blocks
        if self.cooperative:          # cuLaunchCooperativeKernel, after a residency check: general path
            self.fast_tried = True
        if result.sites:  # debug=True: the error record the checks write (see compiler.lower)
            from .backends.nvvm.lower import ERROR_SYMBOL
            self.error_ptr = self.module.global_ptr(ERROR_SYMBOL)
            self.fast_tried = True    # every launch takes the general path, which reads the record

    def max_cooperative_blocks(self, block: tuple, shared: int) -> int:
        """How many blocks of this shape can be resident at once (the limit of a cooperative grid)."""
        key = (block, shared)
        limit = self._coop_limits.get(key)
        if limit is None:
            per_sm = driver.max_active_blocks(self.function, block[0] * block[1] * block[2], shared, self.name)
            limit = self._coop_limits[key] = per_sm * self.device.limits["multiprocessors"]
        return limit

    def check_errors(self, stream: int, kernel: str) -> None:
        """After a debug launch: raise the first failed bounds check or assert, naming thread and line."""
        import numpy as np
        ptr, size = self.error_ptr
        rec = np.zeros(size // 8, np.int64)
        driver.memcpy_dtoh(rec.ctypes.data, ptr, size, stream)
        driver.stream_synchronize(stream)
        if not rec[0]:
            return
        driver.memset_d8(ptr, 0, size, stream)
        driver.stream_synchronize(stream)
        kind, loc, message = self.result.sites[int(rec[1]) - 1]
        where = (f"in kernel {kernel}, block ({rec[8]}, {rec[9]}, {rec[10]}), thread ({rec[5]}, {rec[6]}, {rec[7]})"
                 f"\n{loc.format()}")
        if kind == "index":
            raise IndexError(f"index {rec[2]} is out of bounds for axis {rec[4]} with size {rec[3]} {where}")
        raise AssertionError(f"{message or 'assertion failed'} {where}")

    def allow_shared(self, nbytes: int, kernel: str) -> None:
        """Opt in to ``nbytes`` of dynamic shared memory (beyond 48 KiB), or a LaunchError."""
        static = self.attributes["shared_bytes"]
        limit = self.device.limits["max_shared_optin"]
        if nbytes + static > limit:
            raise LaunchError(f"shared_bytes={nbytes} plus {static} bytes of static shared memory exceed the "
                              f"device's {limit} bytes per block for kernel {kernel}")
        driver.set_max_dynamic_shared(self.function, nbytes, kernel)
        self.dyn_ok = nbytes

    @property
    def attributes(self) -> dict:
        if self._attrs is None:
            self._attrs = driver.function_attributes(self.function)
        return self._attrs


def _dim3(value, what: str) -> tuple:
    if isinstance(value, int) and not isinstance(value, bool):
        dims = (value, 1, 1)
    elif isinstance(value, tuple) and 1 <= len(value) <= 3 and all(isinstance(v, int) for v in value):
        dims = tuple(value) + (1,) * (3 - len(value))
    else:
        try:
            import numpy as np
            if isinstance(value, np.integer):
                return _dim3(int(value), what)
        except ImportError:  # pragma: no cover
            pass
        raise LaunchError(f"{what} must be an int or a tuple of 1 to 3 ints, got {value!r}")
    if min(dims) < 1:
        raise LaunchError(f"{what} dimensions must all be >= 1, got {value!r}")
    limits = _GRID_LIMITS if what == "grid" else _BLOCK_LIMITS
    for axis, n, top in zip("xyz", dims, limits):
        if n > top:
            raise LaunchError(f"{what} {value!r}: {what}Dim.{axis} is at most {top} on CUDA GPUs, got {n}")
    if what == "block" and dims[0] * dims[1] * dims[2] > MAX_BLOCK_THREADS:
        raise LaunchError(f"block {value!r} has {dims[0] * dims[1] * dims[2]} threads; a CUDA block has at most "
                          f"{MAX_BLOCK_THREADS}")
    return dims


# CUDA's launch limits (every architecture jitkit targets, sm_70 up); the simulator keeps them too, so
# a launch that runs there runs on the GPU
_GRID_LIMITS = (2**31 - 1, 65535, 65535)
_BLOCK_LIMITS = (1024, 1024, 64)
MAX_BLOCK_THREADS = 1024
MAX_DYNAMIC_SHARED = 227 * 1024      # the opt-in maximum per block on the H100 (sm_90): the simulator's limit


class Launcher:
    """``kernel[grid, block, stream, shared_bytes]``: call it with the kernel's arguments."""

    __slots__ = ("dispatcher", "grid", "block", "stream", "shared")

    def __init__(self, dispatcher, grid, block, stream, shared):
        self.dispatcher = dispatcher
        self.grid = grid
        self.block = block
        self.stream = stream
        self.shared = shared

    def __call__(self, *args):
        d = self.dispatcher
        hot = d._hot
        if hot is not None and config._target[0] != "sim":  # generated fast path (see runtime.fastpath)
            addr = hot.fast(args) if len(args) == d._nparams else None
            if addr is not None and self.shared <= hot.dyn_ok and getattr(driver._tls, "device", None) is hot.device \
                    and (hot.block is None or hot.block == self.block):
                g, b = self.grid, self.block
                res = hot.launch_fn(hot.function, g[0], g[1], g[2], b[0], b[1], b[2], self.shared, self.stream,
                                    addr, 0)
                driver.last_kernel[0] = hot.name
                if res[0]:
                    d._launch_failed(res[0], hot, self)
                return None
        return d._launch(self, args)


class Dispatcher:
    """A ``@jit`` function.  Launch with ``f[grid, block](*args)``; call from other ``@jit`` functions.

    Example::

        @jk.jit
        def saxpy(a, x, y, out):
            i = jk.grid(1)
            if i < x.size:
                out[i] = a * x[i] + y[i]

        saxpy[(n + 255) // 256, 256](np.float32(2), x, y, out)
        print(saxpy.inspect_ptx(saxpy.signatures[0]))
    """

    _jitkit_dispatcher = True

    def __init__(self, pyfunc, options: dict):
        options = _check_options(dict(options))
        self.target = config._check_target(options.pop("target", "auto"))
        self.py_func = pyfunc
        self.options = options
        self.__name__ = pyfunc.__name__
        self.__qualname__ = pyfunc.__qualname__
        self.__doc__ = pyfunc.__doc__
        self.__module__ = pyfunc.__module__
        self.__wrapped__ = pyfunc
        self._nparams = pyfunc.__code__.co_argcount
        names = pyfunc.__code__.co_varnames[:self._nparams]
        self._constexpr = frozenset(names.index(n) for n in constexpr_params(pyfunc))
        self._results: dict = {}    # (argtypes, arch) -> CompileResult
        self._loaded: dict = {}     # argtypes -> _Loaded for the current device
        self._configs: dict = {}
        self._hot = None            # the _Loaded whose fast path is tried first
        self._sim_funcs: dict = {}  # argtypes (+ block) -> typed function, for the simulator
        self._per_block = False     # uses jk.block_dims(): compiled once per launch block shape
        self._variants: dict = {}
        self._lock = threading.RLock()

    def __repr__(self):
        return f"<jitkit kernel {self.__qualname__}>"

    def _repr_html_(self) -> str:
        """In Jupyter: signatures, registers and shared memory per signature, expandable IR/PTX/SASS."""
        from .notebook import kernel_html
        return kernel_html(self)

    # ---------------------------------------------------------------- launch
    def __getitem__(self, config) -> Launcher:
        try:
            found = self._configs.get(config)
        except TypeError:  # unhashable stream object
            found = None
        if found is not None:
            return found
        if not isinstance(config, tuple) or not 2 <= len(config) <= 4:
            raise LaunchError("launch with kernel[grid, block] or kernel[grid, block, stream, shared_bytes]")
        grid, block = _dim3(config[0], "grid"), _dim3(config[1], "block")
        stream = A.stream_handle(config[2]) if len(config) > 2 else 0
        shared = config[3] if len(config) > 3 else 0
        try:
            if isinstance(shared, bool):
                raise TypeError
            shared = operator.index(shared)           # ints and NumPy ints
        except TypeError:
            raise LaunchError(f"shared_bytes must be an int, got {shared!r}") from None
        if shared < 0:                                # the upper limit is the device's: checked at launch
            raise LaunchError(f"shared_bytes must be >= 0, got {shared}")
        launcher = Launcher(self, grid, block, stream, shared)
        try:
            if len(self._configs) > 256:
                self._configs.clear()
            self._configs[config] = launcher
        except TypeError:
            pass
        return launcher

    def __call__(self, *args, **kwargs):
        raise TypeError(f"{self.__qualname__} is a jit kernel: launch it with {self.__name__}[grid, block](...), "
                        "or call it from another @jit function")

    def _resolve_target(self) -> str:
        t = self.target if self.target != "auto" else config.target()
        if t == "auto":
            t = "gpu" if driver.gpu_available() else "sim"
        return t

    def with_target(self, target: str) -> "Dispatcher":
        """This kernel pinned to ``target`` ('gpu', 'sim' or 'auto'), sharing nothing mutable.

        Example::

            saxpy.with_target("sim")[blocks, threads](a, x, y, out)   # on the CPU simulator
        """
        t = config._check_target(target)
        found = self._variants.get(t)
        if found is None:
            found = self._variants[t] = Dispatcher(self.py_func, {**self.options, "target": t})
        return found

    def _launch(self, cfg: Launcher, args: tuple):
        if len(args) != self._nparams:
            raise TypeError(f"{self.__qualname__}() takes {self._nparams} argument"
                            f"{'s' * (self._nparams != 1)}, got {len(args)}")
        if self._resolve_target() == "sim":
            return self._launch_sim(cfg, args)
        vals: list = []
        staged: list = []
        stream = cfg.stream
        handlers = A._HANDLERS
        try:
            tys = []
            cx = self._constexpr
            for i, a in enumerate(args):
                if cx and i in cx:
                    tys.append(self._literal(a, i))
                    continue
                h = handlers.get(type(a)) or A.handler_for(a, i)
                tys.append(h(a, vals, staged, stream, i))
            tys = tuple(tys)
            loaded = self._loaded.get(self._key(tys, cfg.block))
            if loaded is None or loaded.device is not driver.current_device():
                loaded = self._load(tys, cfg.block)
            if staged:
                self._check_writable(staged, loaded)
            if cfg.shared > loaded.dyn_ok:
                loaded.allow_shared(cfg.shared, self.__qualname__)
            addr = loaded.packer.pack(vals)
            g, b = cfg.grid, cfg.block
            if loaded.cooperative:
                limit = loaded.max_cooperative_blocks(b, cfg.shared)
                if g[0] * g[1] * g[2] > limit:
                    raise LaunchError(f"kernel {self.__qualname__} uses jk.grid_sync(), so all its blocks must be "
                                      f"resident at once: grid {g} has {g[0] * g[1] * g[2]} blocks, at most {limit} "
                                      f"fit with block {b} on this device")
                res = driver._drv().cuLaunchCooperativeKernel(loaded.function, g[0], g[1], g[2], b[0], b[1], b[2],
                                                              cfg.shared, stream, addr)
            else:
                res = driver._drv().cuLaunchKernel(loaded.function, g[0], g[1], g[2], b[0], b[1], b[2],
                                                   cfg.shared, stream, addr, 0)
            driver.last_kernel[0] = loaded.name
            if res[0]:
                self._launch_failed(res[0], loaded, cfg)
            if loaded.error_ptr is not None:
                loaded.check_errors(stream, self.__qualname__)
            if staged:
                self._copy_back(staged, loaded, stream)
            elif not loaded.fast_tried:
                loaded.fast_tried = True
                loaded.fast = fastpath.make(args, tys, loaded.packer.pack)
            if loaded.fast is not None:
                self._hot = loaded
        finally:
            for s in staged:
                driver.mem_free(s.dptr)

    def _prepare(self, cfg: Launcher, args: tuple) -> Prepared | None:
        """A :class:`Prepared` launch of ``args`` (device arrays and scalars) on the current device, or
        None where the launch needs the general path (host arrays to copy, debug checks, cooperative)."""
        if len(args) != self._nparams or self._resolve_target() == "sim":
            return None
        vals: list = []
        staged: list = []
        tys = []
        for i, a in enumerate(args):
            if i in self._constexpr:
                tys.append(self._literal(a, i))
                continue
            h = A._HANDLERS.get(type(a)) or A.handler_for(a, i)
            tys.append(h(a, vals, staged, cfg.stream, i))
        if staged:
            for s in staged:
                driver.mem_free(s.dptr)
            return None
        tys = tuple(tys)
        loaded = self._loaded.get(self._key(tys, cfg.block))
        if loaded is None or loaded.device is not driver.current_device():
            loaded = self._load(tys, cfg.block)
        if loaded.cooperative or loaded.error_ptr is not None or cfg.shared > loaded.dyn_ok:
            return None
        return Prepared(self, cfg, loaded, vals)

    def _literal(self, a, i: int) -> T.Literal:
        try:
            return T.Literal.of(a)
        except TypeError as exc:
            name = self.py_func.__code__.co_varnames[i]
            raise TypeError(f"argument {i} ({name!r}) of {self.__qualname__} is jk.constexpr: {exc}") from None

    def _launch_sim(self, cfg: Launcher, args: tuple):
        import numpy as np

        from .build.pipeline import type_kernel
        from .backends.sim import run_kernel
        if cfg.shared > MAX_DYNAMIC_SHARED:           # what the GPU would refuse, refused here too
            raise LaunchError(f"shared_bytes={cfg.shared} exceeds the {MAX_DYNAMIC_SHARED} bytes of dynamic shared "
                              f"memory a CUDA block can have (sm_90) for kernel {self.__qualname__}")
        tys = []
        for i, a in enumerate(args):
            if i in self._constexpr:
                tys.append(self._literal(a, i))
                continue
            if not isinstance(a, (np.ndarray, np.generic, bool, int, float, complex, tuple)):
                raise TypeError(f"argument {i}: jitkit cannot pass {type(a).__qualname__} to {self.__qualname__} on "
                                "the CPU simulator, which runs on NumPy arrays and numbers (use the GPU target "
                                "for device arrays)")
            tys.append(A.type_of(a, i))
        tys = tuple(tys)
        func = self._sim_funcs.get(self._key(tys, cfg.block))
        if func is None:
            try:
                func = self._per_block_retry(lambda b: type_kernel(self.py_func, tys, block=b)[0], cfg.block)
            except CompileError as exc:
                if config.keep_compiler_frames():
                    raise
                raise exc.with_traceback(None) from None
            self._sim_funcs[self._key(tys, cfg.block)] = func
        for i, (name, _) in enumerate(func.params):
            if name in func.written_params and isinstance(args[i], np.ndarray) and not args[i].flags.writeable:
                raise self._read_only_error(i)
        vals = [_sim_value(a, t) for a, t in zip(args, tys) if not isinstance(t, T.Literal)]
        run_kernel(func, self.__qualname__, cfg.grid, cfg.block, vals, cfg.shared)

    def max_cooperative_blocks(self, args, block, shared_bytes: int = 0) -> int:
        """The most blocks a cooperative (``jk.grid_sync``) launch of this kernel may have with ``block``
        threads and ``shared_bytes`` of dynamic shared memory, on the current GPU.  ``args`` are example
        arguments (or types) selecting the specialisation."""
        tys = self._signature(args)
        block = _dim3(block, "block")
        loaded = self._loaded.get(self._key(tys, block))
        if loaded is None or loaded.device is not driver.current_device():
            loaded = self._load(tys, block)
        return loaded.max_cooperative_blocks(block, shared_bytes)

    def _key(self, tys: tuple, block: tuple):
        """The key of a loaded/typed specialisation: the argument types, and the block shape when
        the kernel uses jk.block_dims()."""
        return (tys, block) if self._per_block else tys

    def _per_block_retry(self, make, block: tuple):
        """``make(block or None)``; the first time typing meets jk.block_dims(), remember that this
        kernel compiles per block shape and make it again with the launch's block."""
        try:
            return make(block if self._per_block else None)
        except NeedsBlockShape:
            self._per_block = True
            return make(block)

    def _load(self, tys: tuple, block: tuple) -> _Loaded:
        dev = driver.current_device()
        with self._lock:
            arch = toolchain.check_arch(dev.arch)[0]
            loaded = _Loaded(self._per_block_retry(lambda b: self._compile(tys, arch, b), block), dev)
            self._loaded[self._key(tys, block)] = loaded
        return loaded

    def _read_only_error(self, index: int) -> LaunchError:
        return LaunchError(f"argument {index} of {self.__qualname__} is a read-only array, "
                           "but the kernel writes to it")

    def _check_writable(self, staged, loaded):
        for s in staged:
            if s.index in loaded.written and not s.target.flags.writeable:
                raise self._read_only_error(s.index)

    def _copy_back(self, staged, loaded, stream):
        for s in staged:
            if s.index in loaded.written:
                driver.memcpy_dtoh(s.host.ctypes.data, s.dptr, s.nbytes, stream)
        driver.stream_synchronize(stream)
        for s in staged:
            if s.index in loaded.written and s.host is not s.target:
                s.target[...] = s.host

    def _launch_failed(self, err, loaded, cfg):
        limits = loaded.device.limits
        nthreads = cfg.block[0] * cfg.block[1] * cfg.block[2]
        if nthreads > limits["max_threads_per_block"] or any(b > m for b, m in zip(cfg.block, limits["max_block"])):
            raise LaunchError(f"block {cfg.block} exceeds the device limit ({limits['max_block']}, at most "
                              f"{limits['max_threads_per_block']} threads) for kernel {self.__qualname__}")
        if any(g > m for g, m in zip(cfg.grid, limits["max_grid"])):
            raise LaunchError(f"grid {cfg.grid} exceeds the device limit {limits['max_grid']} "
                              f"for kernel {self.__qualname__}")
        driver.raise_error(err, "cuLaunchKernel", self.__qualname__)

    # ---------------------------------------------------------------- compile
    def _compile(self, argtypes: tuple, arch: str, block: tuple | None = None):
        key = (argtypes, arch, block)
        found = self._results.get(key)
        if found is None:
            from .build.pipeline import compile_kernel, signature_str  # the compiler loads on first use
            from .notebook import progress
            with self._lock:
                found = self._results.get(key)
                if found is None:
                    try:
                        with progress(f"compiling {self.__qualname__}{signature_str(argtypes)} for {arch}"):
                            found = compile_kernel(self.py_func, argtypes, arch, self.options, block)
                    except CompileError as exc:
                        if config.keep_compiler_frames():
                            raise
                        # the located message is the whole story: drop jitkit's own frames
                        raise exc.with_traceback(None) from None
                    self._results[key] = found
        return found

    def _signature(self, signature) -> tuple:
        if hasattr(signature, "argtypes") and hasattr(signature, "cubin"):  # a CompileResult
            return signature.argtypes
        if not isinstance(signature, (tuple, list)):
            raise TypeError("a signature is a tuple of jitkit types (jk.float32, jk.Array(jk.float32, 1, 'C'), ...) "
                            "or of example arguments")
        if len(signature) != self._nparams:
            raise TypeError(f"{self.__qualname__}() takes {self._nparams} arguments, the signature has "
                            f"{len(signature)}")
        return tuple(t if isinstance(t, T.Type) else self._literal(t, i) if i in self._constexpr else A.type_of(t, i)
                     for i, t in enumerate(signature))

    @staticmethod
    def _arch(arch) -> str:
        if arch is None:
            arch = config.arch_override()
        if arch is None:
            if not driver.gpu_available():
                raise LaunchError("no GPU found: pass arch='sm_90' (or set JITKIT_ARCH) to compile ahead of time")
            arch = driver.current_device().arch
        return toolchain.check_arch(arch)[0]

    def compile(self, signature, arch: str | None = None, block=None):
        """Compile for ``signature`` (types or example arguments) and ``arch`` (default: current GPU).

        Works without a GPU when ``arch`` is given, e.g. ``arch="sm_90"``.  ``block`` is the launch
        block shape, needed by kernels that use block primitives (``jk.block_dims()``).
        """
        tys, arch = self._signature(signature), self._arch(arch)
        if block is not None:
            return self._compile(tys, arch, _dim3(block, "block"))
        try:
            return self._compile(tys, arch)
        except NeedsBlockShape:
            raise TypeError(self._needs_block_message()) from None

    def _needs_block_message(self) -> str:
        return (f"{self.__qualname__} uses jk.block_dims() (block primitives do), so it compiles once per block "
                "shape: pass block=(threads,) or block=(x, y, z)")

    @property
    def signatures(self) -> list:
        """Argument-type tuples compiled so far."""
        return list(dict.fromkeys(k[0] for k in self._results))

    def inspect_ir(self, signature=None, arch: str | None = None, block=None) -> str:
        """The NVVM IR (LLVM text) for ``signature``."""
        return self._stage("nvvm", signature, arch, block)

    def inspect_ptx(self, signature=None, arch: str | None = None, block=None) -> str:
        """The PTX libNVVM produces for ``signature``."""
        return self._stage("ptx", signature, arch, block)

    def inspect_sass(self, signature=None, arch: str | None = None, block=None) -> str:
        """The SASS of the cubin (needs nvdisasm/cuobjdump: ``pip install jitkit[sass]``)."""
        return toolchain.disassemble(self._stage("cubin", signature, arch, block))

    def export(self, signature, arch: str | None = None, kind: str = "ltoir", name: str | None = None,
               block=None) -> bytes:
        """This function compiled as an ``extern "C"`` device function for other code to link:
        LTO-IR (``kind="ltoir"``, for nvJitLink -lto, numba-cuda or CUDA C++ with -dlto) or PTX text.

        ``signature`` gives scalar types (or example values); the symbol is ``name`` (default: the
        Python name).  Declare it on the other side as e.g. ``extern "C" __device__ float f(float);``.
        ``block`` is the caller's block shape, for functions that use block primitives.
        """
        if kind not in ("ltoir", "ptx"):
            raise ValueError(f"kind must be 'ltoir' or 'ptx', got {kind!r}")
        from .build.pipeline import export_device
        sym = name or self.__name__
        try:
            return export_device(self.py_func, self._signature(signature), self._arch(arch), self.options, sym, kind,
                                 None if block is None else _dim3(block, "block"))
        except NeedsBlockShape:
            raise TypeError(self._needs_block_message()) from None
        except CompileError as exc:
            if config.keep_compiler_frames():
                raise
            raise exc.with_traceback(None) from None

    def inspect_resources(self, signature=None, arch: str | None = None, block=None) -> dict:
        """Registers and shared/local/stack bytes per thread or block of the compiled kernel
        (from the cubin, so no GPU is needed; uses cuobjdump from the cuda-toolkit wheels)."""
        res = self._compile_stage_result(signature, arch, block)
        return toolchain.resource_usage(res.cubin)[res.name]

    def inspect_types(self, signature=None, arch: str | None = None, block=None):
        """The typed tree (``jitkit.compiler.tir.Function``) for ``signature``.

        Only types the function (no arch needed), so it also works for device functions.
        """
        if signature is None:
            return self._stage("typed", None, arch, block)
        from .build.pipeline import type_kernel
        try:
            return type_kernel(self.py_func, self._signature(signature), kernel=False,
                               block=None if block is None else _dim3(block, "block"))[0]
        except NeedsBlockShape:
            raise TypeError(self._needs_block_message()) from None

    def _stage(self, stage: str, signature, arch, block=None):
        return self._compile_stage_result(signature, arch, block).stage(stage)

    def _compile_stage_result(self, signature, arch, block=None):
        from .build.pipeline import signature_str
        if signature is None:
            sigs = self.signatures
            if len(sigs) != 1:
                raise TypeError(f"{self.__qualname__} has {len(sigs)} compiled signatures; pass one of: "
                                + "; ".join(signature_str(s) for s in sigs))
            signature = sigs[0]
            if block is None:
                blocks = [k[2] for k in self._results if k[0] == signature and k[2] is not None]
                block = blocks[-1] if blocks else None
        return self.compile(signature, arch, block)


def _sim_value(a, ty):
    from .backends.sim import SimArray
    if isinstance(ty, T.Array):
        return SimArray(a)            # the user's array itself: writes land in place
    if isinstance(ty, T.Tuple):
        return tuple(_sim_value(x, t) for x, t in zip(a, ty.types))
    return ty.dtype.type(a)


def jit(fn=None, **options):
    """Compile a Python function for the GPU.

    Use as ``@jit`` or ``@jit(fastmath=True)``; ``target="sim"`` pins a kernel to
    the CPU simulator (``"gpu"`` to the GPU; default ``"auto"``: the process
    default, see :func:`jitkit.set_target`).  The result launches as a kernel
    with ``f[grid, block](*args)`` and can be called from other ``@jit``
    functions as a device function.

    Example::

        import numpy as np, jitkit as jk

        @jk.jit
        def add_one(x):
            i = jk.grid(1)
            if i < x.size:
                x[i] += 1

        x = np.arange(10, dtype=np.float32)
        add_one[1, 32](x)      # x is copied to the GPU and back
    """
    if fn is None:
        _check_options(dict(options))         # a bad option fails here, not when the decorator is applied
        return functools.partial(jit, **options)
    if isinstance(fn, Dispatcher):
        return fn
    if not callable(fn):
        raise TypeError(f"@jit decorates a function, got {type(fn).__name__}")
    return Dispatcher(fn, options)
