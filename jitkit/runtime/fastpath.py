"""Generated per-signature argument packers: the launch hot path.

After a launch has gone through the general path (handlers per argument
type, signature lookup), jitkit generates one small Python function for that
exact combination of argument classes and types.  It checks each argument
with identity tests (``type(a) is cls``, ``a.dtype is dt``), reads the fields
it needs and packs the kernel parameters in one ``struct.pack_into`` call.
Any mismatch returns None and the caller falls back to the general path, so
the fast path can only be faster, never different.

Covered: CuPy arrays, PyTorch CUDA tensors, Python and NumPy scalars, constexpr values.  NumPy
host arrays, tuples and other array objects always take the general path.
"""

from __future__ import annotations

import numpy as np

from ..lang import types as T
from .interop import layout_of


def _layout_check(i, n, isz, layout) -> str:
    if n == 1 and layout == "C":  # contiguous 1-d, inline: stride is the itemsize unless 0 or 1 element
        return f"if len(sh{i}) != 1 or (st{i}[0] != {isz} and sh{i}[0] > 1): return None"
    return f"if len(sh{i}) != {n} or layout_of(sh{i}, st{i}, {isz}) != {layout!r}: return None"


def _cupy_array(i, a, ty, env, checks, values):
    env[f"K{i}"], env[f"D{i}"] = type(a), a.dtype
    checks.append(f"type(a{i}) is K{i} and a{i}.dtype is D{i}")
    n, isz = ty.ndim, ty.dtype.itemsize
    lines = [f"sh{i} = a{i}.shape", f"st{i} = a{i}.strides", _layout_check(i, n, isz, ty.layout)]
    values += [f"a{i}.data.ptr"] + [f"sh{i}[{d}]" for d in range(n)]
    if ty.layout == "A":
        values += [f"st{i}[{d}]" for d in range(n)]
    return lines


def _torch_tensor(i, a, ty, env, checks, values):
    env[f"K{i}"], env[f"D{i}"] = type(a), a.dtype
    checks.append(f"type(a{i}) is K{i} and a{i}.dtype is D{i} and a{i}.is_cuda")
    n, isz = ty.ndim, ty.dtype.itemsize
    lines = [f"sh{i} = tuple(a{i}.shape)", f"st{i} = tuple(s * {isz} for s in a{i}.stride())",
             _layout_check(i, n, isz, ty.layout)]
    values += [f"a{i}.data_ptr()"] + [f"sh{i}[{d}]" for d in range(n)]
    if ty.layout == "A":
        values += [f"st{i}[{d}]" for d in range(n)]
    return lines


def _device_buffer(i, a, ty, env, checks, values):
    """jitkit's own DeviceBuffer: always C-contiguous, typed as such (see args._devbuf)."""
    env[f"K{i}"], env[f"D{i}"] = type(a), a.dtype
    checks.append(f"type(a{i}) is K{i} and a{i}.dtype == D{i}")
    n = ty.ndim
    values += [f"a{i}.ptr"] + [f"sh{i}[{d}]" for d in range(n)]
    return [f"sh{i} = a{i}.shape", f"if len(sh{i}) != {n}: return None"]


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


def _kind(a):
    cls = type(a)
    mod = getattr(cls, "__module__", "") or ""
    if mod.startswith("cupy") and cls.__name__ == "ndarray":
        return _cupy_array
    if mod.startswith("torch") and cls.__name__ in ("Tensor", "Parameter") and a.is_cuda:
        return _torch_tensor
    if cls.__name__ == "DeviceBuffer" and mod == "jitkit.runtime.memory":
        return _device_buffer
    if cls in (bool, int, float) or (isinstance(a, np.generic) and not isinstance(a, (np.str_, np.bytes_, np.complexfloating))):
        return _scalar
    return None


def make(args: tuple, argtypes: tuple, pack):
    """A function ``fast(args) -> params address or None`` for these argument classes, or None."""
    env = {"layout_of": layout_of, "pack": pack}
    checks, body, values = [], [], []
    for i, (a, ty) in enumerate(zip(args, argtypes)):
        kind = _literal if isinstance(ty, T.Literal) else _kind(a)
        if kind is _scalar and ty.is_bf16:
            return None  # passes its bit pattern: the general path
        if kind is None or (kind not in (_scalar, _literal) and not isinstance(ty, T.Array)):
            return None
        if kind is _device_buffer and ty.layout != "C":
            return None
        body += kind(i, a, ty, env, checks, values)
    names = ", ".join(f"a{i}" for i in range(len(args)))
    src = [f"def fast(args):",
           f"    {names}{',' if len(args) == 1 else ''} = args" if args else "    pass",
           f"    if not ({' and '.join(checks) or 'True'}): return None"]
    src += [f"    {ln}" for ln in body]
    src.append(f"    return pack(({', '.join(values)}{',' if len(values) == 1 else ''}))")
    code = "\n".join(src)
    exec(compile(code, f"<jitkit fast launcher {argtypes}>", "exec"), env)
    fast = env["fast"]
    fast.source = code
    return fast
