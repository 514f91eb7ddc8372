"""The simulator's implementation of scalar primitives and of the ``Op`` table.

Values are NumPy vectors with one lane per simulated thread (or NumPy
scalars for values uniform across lanes).  Operands arrive already converted
by typing, so every operation here is a NumPy ufunc on equal dtypes and rounds
exactly like the GPU's IEEE operations in that precision (float32 stays
float32).  Names mirror :mod:`jitkit.backends.nvvm.ops`.
"""

from __future__ import annotations

import math

import numpy as np

from ...lang import types as T


def cast(v, src: T.Type, dst: T.Type):
    if src is dst:
        return v
    if isinstance(dst, T.Tuple):
        return tuple(cast(x, s, d) for x, s, d in zip(v, src.types, dst.types))
    if isinstance(dst, T.Array):
        return v
    if src.is_bf16:  # exact in float32
        return cast(np.asarray(v).astype(np.float32), T.float32, dst)
    if dst.is_bool:
        return truth(v, src)
    if dst.is_bf16:  # rounded once, as on the GPU (NumPy's ml_dtypes cast rounds twice from float64)
        return np.asarray(T.bf16_bits(v)).view(dst.dtype)
    return np.asarray(v).astype(dst.dtype)


def truth(v, ty: T.Scalar):
    if ty.is_bool:
        return v
    if ty.is_bf16:
        v = np.asarray(v).astype(np.float32)
    return np.not_equal(v, 0)  # NaN is true, as in Python


_CMP = {"lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal,
        "eq": np.equal, "ne": np.not_equal}


def compare(op, a, b, ty):
    return _CMP[op](a, b)


_ARITH = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "truediv": np.true_divide,
          "floordiv": np.floor_divide, "mod": np.remainder, "bitand": np.bitwise_and,
          "bitor": np.bitwise_or, "bitxor": np.bitwise_xor, "lshift": np.left_shift,
          "rshift": np.right_shift}


def arith(op, a, b, ty: T.Scalar):
    dt = ty.dtype
    if op == "pow":
        if ty.is_complex:   # 0 ** w = 0 and z ** 0 = 1 like the GPU lowering (NumPy gives nan for 0 ** w)
            a, b = np.asarray(a, dt), np.asarray(b, dt)
            with np.errstate(all="ignore"):
                r = np.exp(b * np.log(np.where(a == 0, np.ones((), dt), a))).astype(dt)
            return np.where(b == 0, np.ones((), dt), np.where(a == 0, np.zeros((), dt), r)).astype(dt)
        if ty.is_float:
            return np.power(np.asarray(a, dt), np.asarray(b).astype(dt)).astype(dt)
        return _ipow(np.asarray(a, dt), np.asarray(b, dt), ty)
    if op in ("floordiv", "mod") and not ty.is_float:
        b = np.where(np.asarray(b) == 0, np.ones((), dt), b)  # undefined on the GPU; avoid numpy's error path
    return np.asarray(_ARITH[op](a, b)).astype(dt, copy=False)


def _ipow(base, exp, ty):
    """Integer power with jitkit's rule: a negative exponent gives 0 unless |base| == 1."""
    dt = ty.dtype
    if ty.is_signed:
        neg = exp < 0
        safe = np.where(neg, 0, exp)
        r = np.power(base, safe).astype(dt)
        one = np.ones((), dt)
        special = np.where(base == 1, one, np.where(base == -1, np.where(exp % 2 == 1, -one, one), 0)).astype(dt)
        return np.where(neg, special, r).astype(dt)
    return np.power(base, exp).astype(dt)


def unary(op, v, ty):
    if op == "not":
        return np.logical_not(v)
    if op == "invert":
        return np.invert(v)
    return np.negative(v).astype(ty.dtype, copy=False)


def _vectorised(fn, out_dtype):
    def apply(*xs):
        arrs = np.broadcast_arrays(*[np.asarray(x, np.float64) for x in xs])
        res = np.array([_nan_safe(fn, vals) for vals in zip(*[a.ravel() for a in arrs])], np.float64)
        return res.reshape(arrs[0].shape).astype(out_dtype)
    return apply


def _nan_safe(fn, vals):
    try:
        return fn(*vals)
    except OverflowError:
        return math.inf
    except ValueError:
        return math.nan


# math functions without a NumPy ufunc are evaluated per lane in float64 and rounded
_NP_MATH = {
    "sqrt": np.sqrt, "exp": np.exp, "exp2": np.exp2, "expm1": np.expm1, "log": np.log, "log2": np.log2,
    "log10": np.log10, "log1p": np.log1p, "sin": np.sin, "cos": np.cos, "tan": np.tan, "asin": np.arcsin,
    "acos": np.arccos, "atan": np.arctan, "sinh": np.sinh, "cosh": np.cosh, "tanh": np.tanh,
    "asinh": np.arcsinh, "acosh": np.arccosh, "atanh": np.arctanh, "fabs": np.fabs, "cbrt": np.cbrt,
    "pow": np.power, "atan2": np.arctan2, "hypot": np.hypot, "copysign": np.copysign, "fmod": np.fmod,
    "degrees": np.degrees, "radians": np.radians,
}
_PY_MATH = {"erf": math.erf, "erfc": math.erfc, "gamma": math.gamma, "lgamma": math.lgamma}


def lower_op(ex, e, args):
    """Evaluate one ``tir.Op``; ``ex`` is the executor (lane indices, launch geometry)."""
    name = e.name
    if name.startswith("sreg."):
        return ex.sreg(name[5:])
    if name.startswith(("grid.", "gridsize.")):
        kind, d = name.split(".")
        ntid = ex.sreg(f"ntid.{d}").astype(np.int64)
        if kind == "grid":
            return ex.sreg(f"tid.{d}").astype(np.int64) + ex.sreg(f"ctaid.{d}").astype(np.int64) * ntid
        return ntid * ex.sreg(f"nctaid.{d}").astype(np.int64)
    if name == "syncthreads":
        ex.barrier(e)
        return None
    if name == "grid_sync":
        ex.grid_barrier(e)
        return None
    if name.startswith("warp."):
        return _warp(ex, name[5:], e, args)
    if name.startswith("bits."):
        return _bits(name[5:], e.args[0].type.dtype, args[0])
    if name == "bitcast":
        return np.ascontiguousarray(args[0], e.args[0].type.dtype).view(e.type.dtype)
    if name in ("threadfence", "threadfence_block"):
        return None  # the simulator executes memory operations in program order
    if name in ("min", "max"):
        x, y = args
        pick_y = np.less(y, x) if name == "min" else np.greater(y, x)
        return np.where(pick_y, y, x).astype(e.type.dtype)
    if name == "abs":
        return np.abs(args[0]).astype(e.type.dtype)
    if name == "round":
        return np.rint(args[0]).astype(np.int64)
    if name.startswith("math."):
        return _math(name[5:], e, args)
    if name.startswith(("complex.", "cmath.")):
        return _complex(name, e, args)
    raise NotImplementedError(f"the simulator has no implementation of {name!r}")


def _complex(name, e, args):
    out = e.type.dtype
    if name == "complex.make":
        return (np.asarray(args[0]) + 1j * np.asarray(args[1])).astype(out)
    if name == "cmath.rect":
        r, phi = (np.asarray(a) for a in args)
        return (r * np.cos(phi) + 1j * (r * np.sin(phi))).astype(out)
    z = np.asarray(args[0])
    fn = {"complex.real": np.real, "complex.imag": np.imag, "complex.conj": np.conj, "complex.abs": np.abs,
          "cmath.phase": np.angle, "cmath.exp": np.exp, "cmath.log": np.log, "cmath.sqrt": np.sqrt,
          "cmath.sin": np.sin, "cmath.cos": np.cos}.get(name)
    if fn is not None:
        return np.asarray(fn(z)).astype(out)
    re, im = np.real(z), np.imag(z)
    if name == "cmath.isnan":
        return np.isnan(re) | np.isnan(im)
    if name == "cmath.isinf":
        return np.isinf(re) | np.isinf(im)
    if name == "cmath.isfinite":
        return np.isfinite(re) & np.isfinite(im)
    raise NotImplementedError(f"the simulator has no implementation of {name!r}")


def _math(fname, e, args):
    dt = e.args[0].type.dtype
    x = args[0]
    if fname == "isnan":
        return np.isnan(x)
    if fname == "isinf":
        return np.isinf(x)
    if fname == "isfinite":
        return np.isfinite(x)
    if fname in ("floor", "ceil", "trunc"):
        return getattr(np, fname)(x).astype(np.int64)
    if fname in _NP_MATH:
        return np.asarray(_NP_MATH[fname](*[np.asarray(a, dt) for a in args])).astype(dt)
    return _vectorised(_PY_MATH[fname], dt)(*args)


_POPC8 = np.array([bin(i).count("1") for i in range(256)], np.int32)


def _bits(name, dt, x):
    """popc / clz / ffs / brev of an integer array of dtype ``dt``, on its unsigned bits."""
    nbytes = dt.itemsize
    u = np.ascontiguousarray(x, dt).view(f"u{nbytes}").astype(np.uint64)
    width = 8 * nbytes
    byte = [((u >> np.uint64(8 * k)) & np.uint64(0xFF)).astype(np.intp) for k in range(nbytes)]
    if name == "popc":
        return sum(_POPC8[v] for v in byte).astype(np.int32)
    if name == "brev":
        r = np.zeros_like(u)
        for k in range(width):
            r |= ((u >> np.uint64(k)) & np.uint64(1)) << np.uint64(width - 1 - k)
        return r.astype(f"u{nbytes}").view(dt)
    low = u & (~u + np.uint64(1))                        # the lowest set bit alone
    if name == "ffs":
        return np.where(u == 0, 0, _bits("popc", np.dtype(np.uint64), low - np.uint64(1)) + 1).astype(np.int32)
    n = np.zeros(u.shape, np.int32)                      # clz: halve the window while its top half is empty
    v = u.copy()
    step = width // 2
    while step:
        empty = (v >> np.uint64(width - step)) == 0
        n += np.where(empty, step, 0).astype(np.int32)
        v = np.where(empty, (v << np.uint64(step)) & np.uint64((1 << width) - 1), v)
        step //= 2
    return np.where(u == 0, width, n).astype(np.int32)


def _warp(ex, name, e, args):
    n = ex.n
    if name == "lanemask_lt":
        return ((np.uint64(1) << ex.wlane.astype(np.uint64)) - np.uint64(1)).astype(np.uint32)
    if name == "activemask":
        bits = ex.mask.astype(np.float64) * np.exp2(ex.wlane)
        return np.bincount(ex.warp, weights=bits, minlength=ex.nwarps).astype(np.uint64)[ex.warp].astype(np.uint32)
    mask = args[0]
    ex.warp_check(e, mask)
    active = ex.mask
    if name == "syncwarp":
        return None
    if name in ("ballot_sync", "any_sync", "all_sync"):
        named = ((np.asarray(mask).astype(np.uint64) >> ex.wlane.astype(np.uint64)) & 1).astype(bool)
        part = active & named
        pred = np.broadcast_to(args[1], (n,)) & part
        if name == "ballot_sync":
            bits = pred.astype(np.float64) * np.exp2(ex.wlane)          # exact: distinct powers of two
            word = np.bincount(ex.warp, weights=bits, minlength=ex.nwarps).astype(np.uint64)
            return word[ex.warp].astype(np.uint32)
        hits = np.bincount(ex.warp, weights=pred, minlength=ex.nwarps)
        if name == "any_sync":
            return hits[ex.warp] > 0
        count = np.bincount(ex.warp, weights=part, minlength=ex.nwarps)
        return hits[ex.warp] == count[ex.warp]
    if name in ("match_any_sync", "match_all_sync"):
        return _match(ex, name, np.asarray(mask), np.broadcast_to(args[1], (n,)), active)
    value = np.broadcast_to(args[1], (n,))
    k = np.broadcast_to(np.asarray(args[2]).astype(np.int64), (n,))
    w = ex.wlane
    if name == "shfl_sync":
        src = k & 31
    elif name == "shfl_up_sync":
        src = w - k
    elif name == "shfl_down_sync":
        src = w + k
    else:
        src = w ^ k
    ok = (src >= 0) & (src < ex.warp_size)      # outside the warp: the lane keeps its own value
    idx = np.where(ok, ex.lane - w + src, ex.lane)
    return value[idx]


def _match(ex, name, mask, value, active):
    """match.any / match.all over the participating lanes (named in mask and executing), bitwise equality."""
    n = ex.n
    bits = np.ascontiguousarray(value).view(f"u{value.dtype.itemsize}").astype(np.uint64)
    named = ((np.broadcast_to(mask, (n,)).astype(np.uint64) >> ex.wlane.astype(np.uint64)) & 1).astype(bool)
    part = active & named
    table = np.zeros((ex.nwarps, 32), np.uint64)
    present = np.zeros((ex.nwarps, 32), bool)
    table[ex.warp, ex.wlane] = bits
    present[ex.warp, ex.wlane] = part
    same = (table[ex.warp] == bits[:, None]) & present[ex.warp]          # lanes x 32
    weights = np.exp2(np.arange(32))
    any_mask = (same @ weights).astype(np.uint64).astype(np.uint32)
    if name == "match_any_sync":
        return any_mask
    all_same = (same.sum(axis=1) == present[ex.warp].sum(axis=1))
    word = (present[ex.warp] @ weights).astype(np.uint64).astype(np.uint32)
    return np.where(all_same, word, np.uint32(0)), all_same


def atomic_update(op, cur, *vals):
    """The new value an atomic ``op`` stores over ``cur`` (min/max follow Python, like the GPU lowering)."""
    if op == "load":
        return cur
    v = vals[-1]
    if op == "min":
        return np.where(v < cur, v, cur)
    if op == "max":
        return np.where(v > cur, v, cur)
    if op == "exch":
        return v
    if op == "and_":
        return np.bitwise_and(cur, v)
    if op == "or_":
        return np.bitwise_or(cur, v)
    if op == "xor":
        return np.bitwise_xor(cur, v)
    if op == "cas":
        return np.where(cur == vals[0], v, cur)
    if op == "inc":
        return np.where(cur >= v, np.zeros_like(cur), cur + np.ones_like(cur))
    if op == "dec":
        return np.where((cur == 0) | (cur > v), v, cur - np.ones_like(cur))
    raise NotImplementedError(f"the simulator has no atomic {op!r}")
