"""``@jit``: the kernel object, its per-signature caches and where launches enter the runtime.

A ``@jit`` function is both a kernel (``f[grid, block](*args)``) and a device function (called
from another ``@jit`` function).  The dispatcher owns what ties the layers together: compiled
specialisations per (argument types, arch, block) from :mod:`jitkit.build.pipeline`, each loaded
as a :class:`jitkit.runtime.launch.LoadedKernel`, and the launch configurations.  Launching is the
runtime's one path (:mod:`jitkit.runtime.launch`): the per-signature fast binders first, else the
general binder, then the one launch site; the simulator target runs the typed tree instead.
"""

from __future__ import annotations

import functools
import threading

from . import config
from .lang import abi
from .lang import types as T
from .lang.errors import CompileError, LaunchError, NeedsBlockShape
from .lang.intrinsics import constexpr_params
from .runtime import driver, interop, launch
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

MAX_FAST_BINDERS = 8      # per kernel: binders (signature x argument classes) tried first, most recent first


class Launcher:
    """``kernel[grid, block, stream, shared_bytes]``: call it with the kernel's arguments."""

    __slots__ = ("dispatcher", "grid", "block", "stream", "shared", "dims")

    def __init__(self, dispatcher, grid, block, stream, shared):
        self.dispatcher = dispatcher
        self.grid = grid
        self.block = block
        self.stream = stream
        self.shared = shared
        self.dims = (*grid, *block, shared, stream)    # what the launch site passes to the driver

    def __call__(self, *args):
        d = self.dispatcher
        if d._fast and config.target() != "sim":    # a signature seen before: its binder launches
            for fast in d._fast:
                if fast(self, args):
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

    jitkit_kernel = True      # the mark lang.intrinsics.is_kernel reads

    def __init__(self, pyfunc, options: dict):
        options = _check_options(dict(options))
        self.target = config.check_target(options.pop("target", "auto"))
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
        self._results: dict = {}    # (argtypes, arch, block) -> CompileResult
        self._loaded: dict = {}     # argtypes (+ block) -> runtime.launch.LoadedKernel, on the device last loaded on
        self._configs: dict = {}
        self._fast: tuple = ()      # fast binders of the signatures seen, most recent first (runtime.launch)
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
        grid, block = launch.dim3(config[0], "grid"), launch.dim3(config[1], "block")
        stream = interop.stream_handle(config[2]) if len(config) > 2 else 0
        shared = launch.shared_bytes(config[3]) if len(config) > 3 else 0
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
        t = config.check_target(target)
        found = self._variants.get(t)
        if found is None:
            found = self._variants[t] = Dispatcher(self.py_func, {**self.options, "target": t})
        return found

    def _check_count(self, args: tuple) -> None:
        if len(args) != self._nparams:
            raise TypeError(f"{self.__qualname__}() takes {self._nparams} argument"
                            f"{'s' * (self._nparams != 1)}, got {len(args)}")

    def _launch(self, cfg: Launcher, args: tuple):
        """The general path: bind, find (or compile and load) the signature, launch; then make the
        signature's fast binder for the next launch."""
        self._check_count(args)
        if self._resolve_target() == "sim":
            return self._launch_sim(cfg, args)
        bound = launch.bind(args, self._constexpr, self._literal, cfg.stream)
        staged = bool(bound.staged)
        try:
            loaded = self._loaded_for(bound.types, cfg.block)
            loaded.run(cfg, bound)
        finally:
            bound.free()
        if not staged:      # this signature and these argument classes: their binder first next time
            fast = launch.binder_for(args, loaded)
            if fast is not None:
                with self._lock:
                    self._fast = (fast,) + tuple(f for f in self._fast if f is not fast)[:MAX_FAST_BINDERS - 1]

    def prepare(self, cfg: Launcher, args: tuple):
        """A :class:`jitkit.runtime.launch.Prepared` launch of ``args`` (device arrays and scalars) with
        configuration ``cfg`` (``kernel[grid, block, stream, shared]``) on the current device, or None
        where the launch needs the general path (host arrays to copy, debug checks, cooperative
        launches, the simulator)."""
        if len(args) != self._nparams or self._resolve_target() == "sim":
            return None
        bound = launch.bind(args, self._constexpr, self._literal, cfg.stream)
        if bound.staged:
            bound.free()
            return None
        loaded = self._loaded_for(bound.types, cfg.block)
        if loaded.general_only:
            return None
        if cfg.shared > loaded.dyn_ok:      # opt in now, as the general path would at its first launch
            loaded.allow_shared(cfg.shared)
        return launch.Prepared(loaded, cfg, bound.values)

    def _loaded_for(self, tys: tuple, block: tuple) -> launch.LoadedKernel:
        loaded = self._loaded.get(self._key(tys, block))
        if loaded is None or loaded.device is not driver.current_device():
            loaded = self._load(tys, block)
        return loaded

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
        if cfg.shared > launch.MAX_DYNAMIC_SHARED:    # what the GPU would refuse, refused here too
            raise LaunchError(f"shared_bytes={cfg.shared} exceeds the {launch.MAX_DYNAMIC_SHARED} bytes of dynamic "
                              f"shared memory a CUDA block can have (sm_90) for kernel {self.__qualname__}")
        def host_value(a, i):
            if not isinstance(a, (np.ndarray, np.generic, bool, int, float, complex, tuple)):
                raise TypeError(f"argument {i}: jitkit cannot pass {type(a).__qualname__} to {self.__qualname__} on "
                                "the CPU simulator, which runs on NumPy arrays and numbers (use the GPU target "
                                "for device arrays)")
            return interop.type_of(a, i)
        tys = launch.arg_types(args, self._constexpr, self._literal, host_value)
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
                raise launch.read_only_error(i, self.__qualname__)
        vals = [_sim_value(a, t) for a, t in zip(args, tys) if not isinstance(t, T.Literal)]
        run_kernel(func, self.__qualname__, cfg.grid, cfg.block, vals, cfg.shared)

    def max_cooperative_blocks(self, args, block, shared_bytes: int = 0) -> int:
        """The most blocks a cooperative (``jk.grid_sync``) launch of this kernel may have with ``block``
        threads and ``shared_bytes`` of dynamic shared memory, on the current GPU.  ``args`` are example
        arguments (or types) selecting the specialisation."""
        tys = self._signature(args)
        block = launch.dim3(block, "block")
        return self._loaded_for(tys, block).max_cooperative_blocks(block, shared_bytes)

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

    def _load(self, tys: tuple, block: tuple) -> launch.LoadedKernel:
        dev = driver.current_device()
        with self._lock:
            arch = toolchain.check_arch(dev.arch)[0]
            res = self._per_block_retry(lambda b: self._compile(tys, arch, b), block)
            loaded = launch.LoadedKernel(res.cubin, res.name, res.qualname, res.argtypes, written=res.written,
                                         cooperative=res.cooperative, block=res.block, sites=res.sites,
                                         error_symbol=abi.ERROR_SYMBOL)
            self._loaded[self._key(tys, block)] = loaded
        return loaded

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
        return tuple(t if isinstance(t, T.Type) else self._literal(t, i) if i in self._constexpr else interop.type_of(t, i)
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
            return self._compile(tys, arch, launch.dim3(block, "block"))
        try:
            return self._compile(tys, arch)
        except NeedsBlockShape:
            raise TypeError(self._needs_block_message()) from None

    def _needs_block_message(self) -> str:
        return (f"{self.__qualname__} uses jk.block_dims() (block primitives do), so it compiles once per block "
                "shape: pass block=(threads,) or block=(x, y, z)")

    @property
    def param_names(self) -> tuple:
        """The kernel's parameter names."""
        return self.py_func.__code__.co_varnames[:self._nparams]

    @property
    def specializations(self) -> dict:
        """``{(argtypes, arch, block): CompileResult}`` of every GPU compile so far (a copy; ``block``
        is None unless the kernel compiles per block shape)."""
        return dict(self._results)

    @property
    def simulated(self) -> list:
        """``[(argtypes, block)]`` typed for the CPU simulator so far (``block`` None unless the kernel
        compiles per block shape)."""
        return [k if self._per_block else (k, None) for k in self._sim_funcs]

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
                                 None if block is None else launch.dim3(block, "block"))
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
                               block=None if block is None else launch.dim3(block, "block"))[0]
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
