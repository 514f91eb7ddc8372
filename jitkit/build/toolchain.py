"""libNVVM, libdevice and nvJitLink through ``cuda.bindings``, found by ``cuda.pathfinder``.

Named stages: NVVM IR -> (libNVVM) -> PTX or LTO-IR -> (nvJitLink) -> cubin.
No GPU is needed for any of this.  Every failure is a :class:`ToolchainError`
carrying the tool's log.
"""

from __future__ import annotations

import functools
import json
import os
import re

from ..lang.errors import ToolchainError


_INSTALL_HINT = "install it with: pip install 'cuda-toolkit[nvvm,nvjitlink]==13.*'"


@functools.lru_cache(maxsize=None)
def _nvvm():
    try:
        from cuda.bindings import nvvm
        nvvm.version()  # loads libnvvm through cuda.pathfinder
    except Exception as exc:  # noqa: BLE001 - report any loader failure the same way
        raise ToolchainError(f"libNVVM was not found ({exc}); it ships in the nvidia-nvvm wheel: "
                             + _INSTALL_HINT) from None
    return nvvm


@functools.lru_cache(maxsize=None)
def _nvjitlink():
    try:
        from cuda.bindings import nvjitlink
        nvjitlink.version()
    except Exception as exc:  # noqa: BLE001
        raise ToolchainError(f"nvJitLink was not found ({exc}); it ships in the nvidia-nvjitlink wheel: "
                             + _INSTALL_HINT) from None
    return nvjitlink


@functools.lru_cache(maxsize=None)
def libdevice_path() -> str:
    import cuda.pathfinder as pf
    problem = "cuda.pathfinder cannot locate bitcode libraries"
    finder = getattr(pf, "find_bitcode_lib", None)  # cuda-pathfinder >= 1.9
    if finder is not None:
        try:
            return finder("device")
        except Exception as exc:  # noqa: BLE001
            problem = str(exc)
    # older pathfinder: libdevice sits beside libNVVM (<root>/nvvm/lib64 -> <root>/nvvm/libdevice)
    candidates = []
    nvvm_lib = _lib_path("nvvm")
    if nvvm_lib != "?":
        root = os.path.dirname(os.path.dirname(nvvm_lib))
        candidates += [os.path.join(root, "libdevice", "libdevice.10.bc"),
                       os.path.join(root, "nvvm", "libdevice", "libdevice.10.bc")]
    home = getattr(pf, "get_cuda_path_or_home", lambda: None)() or os.environ.get("CUDA_HOME")
    if home:
        candidates.append(os.path.join(home, "nvvm", "libdevice", "libdevice.10.bc"))
    for c in candidates:
        if os.path.isfile(c):
            return c
    raise ToolchainError(f"libdevice was not found ({problem}); it ships in the nvidia-nvvm wheel: "
                         + _INSTALL_HINT)


@functools.lru_cache(maxsize=None)
def _libdevice() -> bytes:
    with open(libdevice_path(), "rb") as f:
        return f.read()


def _lib_path(name: str) -> str:
    import cuda.pathfinder as pf
    try:
        return pf.load_nvidia_dynamic_lib(name).abs_path or "?"
    except Exception:  # noqa: BLE001
        return "?"


def _file_id(path: str) -> str:
    try:
        st = os.stat(path)
        return f"{path}:{st.st_size}:{int(st.st_mtime)}"
    except OSError:
        return path


@functools.lru_cache(maxsize=None)
def versions() -> dict:
    """Versions and locations of the tools, for the self-check and cache keys."""
    nvvm, nvj = _nvvm(), _nvjitlink()
    return {
        "libnvvm": _lib_path("nvvm"),
        "libnvvm_version": ".".join(map(str, nvvm.version())),
        "nvvm_ir_version": ".".join(map(str, nvvm.ir_version())),
        "libdevice": libdevice_path(),
        "nvjitlink": _lib_path("nvJitLink"),
        "nvjitlink_version": ".".join(map(str, nvj.version())),
    }


_ENV_KEYS = ("CUDA_HOME", "CUDA_PATH", "LD_LIBRARY_PATH", "PATH")


@functools.lru_cache(maxsize=None)
def fingerprint() -> str:
    """Identifies the exact toolchain: API versions plus the library files themselves.

    Loading libNVVM and nvJitLink to read their versions costs tens of ms, so the
    result is memoised in the cache dir next to the files it describes; it is
    reused only while those files (size, mtime) and the environment variables
    that steer library discovery are unchanged.  A cache hit thus never loads
    the compiler libraries.
    """
    from .. import config
    memo = os.path.join(config.cache_dir(), "toolchain.json")
    env = {k: os.environ.get(k, "") for k in _ENV_KEYS}
    try:
        with open(memo) as f:
            m = json.load(f)
        if m["env"] == env and all(_file_id(p) == fid for p, fid in m["files"].items()):
            return m["fingerprint"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    v = versions()
    files = {p: _file_id(p) for p in (v["libnvvm"], v["nvjitlink"], v["libdevice"])}
    fp = "|".join([v["libnvvm_version"], v["nvvm_ir_version"], v["nvjitlink_version"], *files.values()])
    if config.cache_enabled():
        try:
            os.makedirs(os.path.dirname(memo), exist_ok=True)
            tmp = f"{memo}.{os.getpid()}.tmp"
            with open(tmp, "w") as f:
                json.dump({"env": env, "files": files, "fingerprint": fp}, f)
            os.replace(tmp, memo)
        except OSError:
            pass
    return fp


def check_arch(arch: str) -> tuple:
    """``'sm_90'`` -> ``('sm_90', 'compute_90')``; ValueError for anything else."""
    m = re.fullmatch(r"(?:sm_|compute_)?(\d{2,3})([af]?)", str(arch))
    if not m:
        raise ValueError(f"bad GPU architecture {arch!r}; expected e.g. 'sm_90' or 'sm_80'")
    return f"sm_{m[1]}{m[2]}", f"compute_{m[1]}{m[2]}"


_FASTMATH = ["-ftz=1", "-prec-sqrt=0", "-prec-div=0", "-fma=1"]


def _nvvm_options(arch: str, lto: bool, options: dict) -> list:
    _, compute = check_arch(arch)
    opts = [f"-arch={compute}", f"-opt={options.get('opt', 3)}"]
    if options.get("fastmath"):
        opts += _FASTMATH
    if options.get("lineinfo") or options.get("debug"):
        opts.append("-generate-line-info")
    if lto:
        opts.append("-gen-lto")
    return opts


def link_options(options: dict) -> list:
    """nvJitLink options for jit ``options``.  With -lto, code generation happens in nvJitLink, so the
    floating-point mode must be given here too (libNVVM's -prec-div=0 alone leaves IEEE division)."""
    opts = []
    if options.get("fastmath"):
        opts += _FASTMATH
    if options.get("max_registers"):
        opts.append(f"-maxrregcount={int(options['max_registers'])}")
    if options.get("lineinfo") or options.get("debug"):
        opts.append("-lineinfo")
    if "opt" in options:
        opts.append(f"-O{min(int(options['opt']), 3)}")
    return opts


def nvvm_compile(ir_text: str, arch: str, *, lto: bool, name: str = "jitkit", options: dict | None = None) -> bytes:
    """NVVM IR text -> LTO-IR (``lto=True``) or PTX, with libdevice linked lazily."""
    nvvm = _nvvm()
    opts = _nvvm_options(arch, lto, options or {})
    data = ir_text.encode()
    prog = nvvm.create_program()
    try:
        nvvm.add_module_to_program(prog, data, len(data), name)
        lib = _libdevice()
        nvvm.lazy_add_module_to_program(prog, lib, len(lib), "libdevice")
        try:
            nvvm.compile_program(prog, len(opts), opts)
        except nvvm.nvvmError as exc:
            raise ToolchainError(f"libNVVM rejected the IR of {name} ({exc}); this is a jitkit bug, "
                                 "please report it with the kernel", _nvvm_log(nvvm, prog)) from None
        out = bytearray(nvvm.get_compiled_result_size(prog))
        nvvm.get_compiled_result(prog, out)
    finally:
        nvvm.destroy_program(prog)
    if not lto:
        return bytes(out).rstrip(b"\x00")
    return bytes(out)


def _read_log(size_fn, get_fn, handle) -> str:
    """A libNVVM / nvJitLink log as text ('' if it cannot be read)."""
    try:
        buf = bytearray(size_fn(handle))
        get_fn(handle, buf)
        return buf.decode(errors="replace").rstrip("\x00")
    except Exception:  # noqa: BLE001 - a log is best effort; the error itself is already raised
        return ""


def _nvvm_log(nvvm, prog) -> str:
    return _read_log(nvvm.get_program_log_size, nvvm.get_program_log, prog)


def link(objects: list, arch: str, *, output: str = "cubin", name: str = "jitkit", options: list = ()) -> bytes:
    """Link ``[(kind, bytes, name)]`` (kind: 'ltoir', 'ptx', 'cubin', 'fatbin') into a cubin (or PTX)."""
    nvj = _nvjitlink()
    sm, _ = check_arch(arch)
    kinds = {"ltoir": nvj.InputType.LTOIR, "ptx": nvj.InputType.PTX, "cubin": nvj.InputType.CUBIN,
             "fatbin": nvj.InputType.FATBIN, "object": nvj.InputType.OBJECT, "library": nvj.InputType.LIBRARY}
    opts = [f"-arch={sm}", *options]
    if any(k == "ltoir" for k, _, _ in objects):
        opts.append("-lto")
    if output == "ptx":
        opts.append("-ptx")
    handle = nvj.create(len(opts), opts)
    try:
        try:
            for kind, data, objname in objects:
                nvj.add_data(handle, kinds[kind], data, len(data), objname)
            nvj.complete(handle)
        except nvj.nvJitLinkError as exc:
            raise ToolchainError(f"nvJitLink failed to link {name} for {sm} ({exc})", _link_log(nvj, handle)) from None
        if output == "ptx":
            out = bytearray(nvj.get_linked_ptx_size(handle))
            nvj.get_linked_ptx(handle, out)
            return bytes(out).rstrip(b"\x00")
        out = bytearray(nvj.get_linked_cubin_size(handle))
        nvj.get_linked_cubin(handle, out)
        return bytes(out)
    finally:
        nvj.destroy(handle)


def _link_log(nvj, handle) -> str:
    return _read_log(nvj.get_error_log_size, nvj.get_error_log, handle)


def verify(ir_text: str, arch: str = "sm_90") -> None:
    """Run ``nvvm.verify_program`` on IR text; ToolchainError with the log if it fails."""
    nvvm = _nvvm()
    _, compute = check_arch(arch)
    data = ir_text.encode()
    prog = nvvm.create_program()
    try:
        nvvm.add_module_to_program(prog, data, len(data), "verify")
        try:
            nvvm.verify_program(prog, 1, [f"-arch={compute}"])
        except nvvm.nvvmError as exc:
            raise ToolchainError(f"NVVM IR verification failed ({exc})", _nvvm_log(nvvm, prog)) from None
    finally:
        nvvm.destroy_program(prog)


def resource_usage(cubin: bytes) -> dict:
    """Per kernel: registers, shared/local/stack bytes, from ``cuobjdump -res-usage`` (cuda-toolkit wheel)."""
    out = _run_binary_utility("cuobjdump", ["-res-usage"], cubin)
    usage, current = {}, None
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("Function "):
            current = usage.setdefault(line[len("Function "):].rstrip(":"), {})
        elif current is not None and line.startswith("REG:"):
            fields = dict(f.split(":", 1) for f in line.split() if ":" in f)
            current.update(registers=int(fields["REG"]), shared_bytes=int(fields["SHARED"]),
                           local_bytes=int(fields["LOCAL"]), stack_bytes=int(fields["STACK"]))
    return usage


def _run_binary_utility(name: str, args: list, cubin: bytes) -> str:
    import shutil
    import subprocess
    import tempfile

    import cuda.pathfinder as pf
    tool = pf.find_nvidia_binary_utility(name) or shutil.which(name)
    if tool is None:
        raise ToolchainError(f"{name} not found: pip install 'cuda-toolkit[{name}]==13.*' (or put it on PATH)")
    with tempfile.NamedTemporaryFile(suffix=".cubin", delete=False) as f:
        f.write(cubin)
        path = f.name
    try:
        res = subprocess.run([tool, *args, path], capture_output=True, text=True, timeout=60)
    finally:
        os.unlink(path)
    if res.returncode != 0:
        raise ToolchainError(f"{name} failed ({res.returncode})", res.stderr)
    return res.stdout


def disassemble(cubin: bytes) -> str:
    """SASS of a cubin via nvdisasm (or cuobjdump) from the cuda-toolkit wheels or PATH."""
    import shutil

    import cuda.pathfinder as pf
    if pf.find_nvidia_binary_utility("nvdisasm") or shutil.which("nvdisasm"):
        return _run_binary_utility("nvdisasm", ["-c", "-g"], cubin)
    if pf.find_nvidia_binary_utility("cuobjdump") or shutil.which("cuobjdump"):
        return _run_binary_utility("cuobjdump", ["-sass"], cubin)
    raise ToolchainError("no SASS disassembler found: pip install 'cuda-toolkit[nvdisasm]==13.*' "
                         "(or put nvdisasm/cuobjdump on PATH)")
