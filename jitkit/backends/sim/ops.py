"""The simulator's intrinsic ops: one rule per op of :mod:`jitkit.lang.ops`, in :data:`RULES`.

Each rule takes the executor (``ex``: lane indices, launch geometry, the active mask ``ex.mask``),
the :class:`~jitkit.compiler.tir.Op` node and its evaluated operands, and returns the result: a
NumPy vector with one lane per simulated thread, a NumPy scalar, a tuple, or None.  Barriers and
warp operations check that every lane that must take part does (a hang on the GPU is an error
here); ``math`` functions without a NumPy ufunc run per lane in float64 and round once.  Rule names
mirror :mod:`jitkit.backends.nvvm.ops`.
"""

from __future__ import annotations

import math

import numpy as np

from ...lang.ops import SREGS, WARP_SHUFFLES, WARP_VOTES, Rules
from . import scalars

__all__ = ["RULES", "lower_op"]

RULES = Rules("sim")


def lower_op(ex, e, args):
    """Evaluate one ``tir.Op`` on its evaluated operands ``args``."""
    return RULES.lookup(e.name, e.loc).fn(ex, e, args)


# ------------------------------------------------------------------ thread indices and barriers

@RULES.register(*(f"sreg.{reg}" for reg in SREGS))
def _sreg(ex, e, args):
    return ex.sreg(e.name[5:])


@RULES.register("grid.x", "grid.y", "grid.z", "gridsize.x", "gridsize.y", "gridsize.z")
def _grid(ex, e, args):
    kind, d = e.name.split(".")
    ntid = ex.sreg(f"ntid.{d}").astype(np.int64)
    if kind == "grid":
        return ex.sreg(f"tid.{d}").astype(np.int64) + ex.sreg(f"ctaid.{d}").astype(np.int64) * ntid
    return ntid * ex.sreg(f"nctaid.{d}").astype(np.int64)


@RULES.register("syncthreads")
def _syncthreads(ex, e, args):
    ex.barrier(e)


@RULES.register("grid_sync")
def _grid_sync(ex, e, args):
    ex.grid_barrier(e)


@RULES.register("threadfence", "threadfence_block")
def _threadfence(ex, e, args):
    return None  # the simulator executes memory operations in program order


# ------------------------------------------------------------------ warp operations

@RULES.register("warp.lanemask_lt")
def _lanemask_lt(ex, e, args):
    return ((np.uint64(1) << ex.wlane.astype(np.uint64)) - np.uint64(1)).astype(np.uint32)


@RULES.register("warp.activemask")
def _activemask(ex, e, args):
    bits = ex.mask.astype(np.float64) * np.exp2(ex.wlane)
    return np.bincount(ex.warp, weights=bits, minlength=ex.nwarps).astype(np.uint64)[ex.warp].astype(np.uint32)


@RULES.register("warp.syncwarp")
def _syncwarp(ex, e, args):
    ex.warp_check(e, args[0])


def _named(ex, mask):
    """Per lane: is this lane named in the (uniform) mask?"""
    return ((np.asarray(mask).astype(np.uint64) >> ex.wlane.astype(np.uint64)) & 1).astype(bool)


@RULES.register(*(f"warp.{n}" for n in WARP_VOTES))
def _vote(ex, e, args):
    n = ex.n
    mask = args[0]
    ex.warp_check(e, mask)
    part = ex.mask & _named(ex, mask)
    pred = np.broadcast_to(args[1], (n,)) & part
    if e.name == "warp.ballot_sync":
        bits = pred.astype(np.float64) * np.exp2(ex.wlane)          # exact: distinct powers of two
        word = np.bincount(ex.warp, weights=bits, minlength=ex.nwarps).astype(np.uint64)
        return word[ex.warp].astype(np.uint32)
    hits = np.bincount(ex.warp, weights=pred, minlength=ex.nwarps)
    if e.name == "warp.any_sync":
        return hits[ex.warp] > 0
    count = np.bincount(ex.warp, weights=part, minlength=ex.nwarps)
    return hits[ex.warp] == count[ex.warp]


@RULES.register("warp.match_any_sync", "warp.match_all_sync")
def _match(ex, e, args):
    """match.any / match.all over the participating lanes (named in mask and executing), bitwise equality."""
    n = ex.n
    mask = np.asarray(args[0])
    ex.warp_check(e, mask)
    value = np.broadcast_to(args[1], (n,))
    bits = np.ascontiguousarray(value).view(f"u{value.dtype.itemsize}").astype(np.uint64)
    part = ex.mask & _named(ex, np.broadcast_to(mask, (n,)))
    table = np.zeros((ex.nwarps, 32), np.uint64)
    present = np.zeros((ex.nwarps, 32), bool)
    table[ex.warp, ex.wlane] = bits
    present[ex.warp, ex.wlane] = part
    same = (table[ex.warp] == bits[:, None]) & present[ex.warp]          # lanes x 32
    weights = np.exp2(np.arange(32))
    any_mask = (same @ weights).astype(np.uint64).astype(np.uint32)
    if e.name == "warp.match_any_sync":
        return any_mask
    all_same = (same.sum(axis=1) == present[ex.warp].sum(axis=1))
    word = (present[ex.warp] @ weights).astype(np.uint64).astype(np.uint32)
    return np.where(all_same, word, np.uint32(0)), all_same


@RULES.register(*(f"warp.{n}" for n in WARP_SHUFFLES))
def _shfl(ex, e, args):
    n = ex.n
    ex.warp_check(e, args[0])
    value = np.broadcast_to(args[1], (n,))
    k = np.broadcast_to(np.asarray(args[2]).astype(np.int64), (n,))
    w = ex.wlane
    name = e.name[5:]
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


# ------------------------------------------------------------------ bits and scalar builtins

_POPC8 = np.array([bin(i).count("1") for i in range(256)], np.int32)


def _unsigned_bits(dt, x):
    """The bits of integers ``x`` of dtype ``dt`` as uint64, with their width."""
    nbytes = dt.itemsize
    return np.ascontiguousarray(x, dt).view(f"u{nbytes}").astype(np.uint64), 8 * nbytes


def _popcount(u, nbytes):
    return sum(_POPC8[((u >> np.uint64(8 * k)) & np.uint64(0xFF)).astype(np.intp)] for k in range(nbytes))


@RULES.register("bits.popc")
def _popc(ex, e, args):
    dt = e.args[0].type.dtype
    u, width = _unsigned_bits(dt, args[0])
    return _popcount(u, dt.itemsize).astype(np.int32)


@RULES.register("bits.brev")
def _brev(ex, e, args):
    dt = e.args[0].type.dtype
    u, width = _unsigned_bits(dt, args[0])
    r = np.zeros_like(u)
    for k in range(width):
        r |= ((u >> np.uint64(k)) & np.uint64(1)) << np.uint64(width - 1 - k)
    return r.astype(f"u{dt.itemsize}").view(dt)


@RULES.register("bits.ffs")
def _ffs(ex, e, args):
    u, width = _unsigned_bits(e.args[0].type.dtype, args[0])
    low = u & (~u + np.uint64(1))                        # the lowest set bit alone
    return np.where(u == 0, 0, _popcount(low - np.uint64(1), 8) + 1).astype(np.int32)


@RULES.register("bits.clz")
def _clz(ex, e, args):
    u, width = _unsigned_bits(e.args[0].type.dtype, args[0])
    n = np.zeros(u.shape, np.int32)                      # halve the window while its top half is empty
    v = u.copy()
    step = width // 2
    while step:
        empty = (v >> np.uint64(width - step)) == 0
        n += np.where(empty, step, 0).astype(np.int32)
        v = np.where(empty, (v << np.uint64(step)) & np.uint64((1 << width) - 1), v)
        step //= 2
    return np.where(u == 0, width, n).astype(np.int32)


@RULES.register("bitcast")
def _bitcast(ex, e, args):
    return np.ascontiguousarray(args[0], e.args[0].type.dtype).view(e.type.dtype)


@RULES.register("min", "max")
def _minmax(ex, e, args):
    x, y = args
    pick_y = np.less(y, x) if e.name == "min" else np.greater(y, x)
    return np.where(pick_y, y, x).astype(e.type.dtype)


@RULES.register("abs")
def _abs(ex, e, args):
    return np.abs(args[0]).astype(e.type.dtype)


@RULES.register("round")
def _round(ex, e, args):
    return np.rint(args[0]).astype(np.int64)


# ------------------------------------------------------------------ math

@RULES.register("math.isnan", "math.isinf", "math.isfinite")
def _math_pred(ex, e, args):
    return getattr(np, e.name[5:])(args[0])


@RULES.register("math.floor", "math.ceil", "math.trunc")
def _math_to_int(ex, e, args):
    return getattr(np, e.name[5:])(args[0]).astype(np.int64)


_NP_MATH = {
    "sqrt": np.sqrt, "exp": np.exp, "exp2": np.exp2, "expm1": np.expm1, "log": np.log, "log2": np.log2,
    "log10": np.log10, "log1p": np.log1p, "sin": np.sin, "cos": np.cos, "tan": np.tan, "asin": np.arcsin,
    "acos": np.arccos, "atan": np.arctan, "sinh": np.sinh, "cosh": np.cosh, "tanh": np.tanh,
    "asinh": np.arcsinh, "acosh": np.arccosh, "atanh": np.arctanh, "fabs": np.fabs, "cbrt": np.cbrt,
    "pow": np.power, "atan2": np.arctan2, "hypot": np.hypot, "copysign": np.copysign, "fmod": np.fmod,
    "degrees": np.degrees, "radians": np.radians,
}
# math functions without a NumPy ufunc are evaluated per lane in float64 and rounded
_PY_MATH = {"erf": math.erf, "erfc": math.erfc, "gamma": math.gamma, "lgamma": math.lgamma}


@RULES.register(*(f"math.{n}" for n in _NP_MATH))
def _math_numpy(ex, e, args):
    dt = e.args[0].type.dtype
    return np.asarray(_NP_MATH[e.name[5:]](*[np.asarray(a, dt) for a in args])).astype(dt)


def _nan_safe(fn, vals):
    try:
        return fn(*vals)
    except OverflowError:
        return math.inf
    except ValueError:
        return math.nan


@RULES.register(*(f"math.{n}" for n in _PY_MATH))
def _math_python(ex, e, args):
    fn, dt = _PY_MATH[e.name[5:]], e.args[0].type.dtype
    arrs = np.broadcast_arrays(*[np.asarray(x, np.float64) for x in args])
    res = np.array([_nan_safe(fn, vals) for vals in zip(*[a.ravel() for a in arrs])], np.float64)
    return res.reshape(arrs[0].shape).astype(dt)


# ------------------------------------------------------------------ complex and cmath

@RULES.register("complex.make")
def _complex_make(ex, e, args):
    return (np.asarray(args[0]) + 1j * np.asarray(args[1])).astype(e.type.dtype)


@RULES.register("cmath.rect")
def _cmath_rect(ex, e, args):
    r, phi = (np.asarray(a) for a in args)
    return (r * np.cos(phi) + 1j * (r * np.sin(phi))).astype(e.type.dtype)


_NP_COMPLEX = {"complex.real": np.real, "complex.imag": np.imag, "complex.conj": np.conj, "complex.abs": np.abs,
               "cmath.phase": np.angle, "cmath.exp": np.exp, "cmath.log": np.log, "cmath.sqrt": np.sqrt,
               "cmath.sin": np.sin, "cmath.cos": np.cos}


@RULES.register(*_NP_COMPLEX)
def _complex_numpy(ex, e, args):
    return np.asarray(_NP_COMPLEX[e.name](np.asarray(args[0]))).astype(e.type.dtype)


@RULES.register("cmath.isnan", "cmath.isinf", "cmath.isfinite")
def _cmath_pred(ex, e, args):
    z = np.asarray(args[0])
    re, im = np.real(z), np.imag(z)
    if e.name == "cmath.isnan":
        return np.isnan(re) | np.isnan(im)
    if e.name == "cmath.isinf":
        return np.isinf(re) | np.isinf(im)
    return np.isfinite(re) & np.isfinite(im)


# ------------------------------------------------------------------ vector access

@RULES.register("array.is_aligned")
def _is_aligned(ex, e, args):
    arr, i = args[0], np.asarray(args[1], np.int64)
    base = arr.base
    addr = base.ctypes.data + i * base.strides[-1]
    for d, p in enumerate(arr.prefix):
        addr = addr + np.asarray(p, np.int64) * base.strides[d]
    return ((addr % e.args[2].value) == 0) & (base.strides[-1] == base.itemsize)


def _vector_bounds(ex, e, arr, i, n):
    """IndexError (with the location) when an active lane's n items at i leave the array."""
    m = ex.mask
    last = arr.base.shape[-1]
    bad = m & ((i < 0) | (i + n > last))
    if np.any(bad):
        lane = int(np.flatnonzero(bad)[0])
        raise IndexError(f"jitkit.{e.name[6:]}() of {n} items at index {int(np.broadcast_to(i, m.shape)[lane])} "
                         f"is out of bounds for size {last}\n{e.loc.format()}")


@RULES.register("array.vector_load")
def _vector_load(ex, e, args):
    arr, i = args[0], np.asarray(args[1], np.int64)
    n = len(e.type.types)
    _vector_bounds(ex, e, arr, i, n)
    return tuple(arr.base[tuple(arr.prefix) + (np.where(ex.mask, i + k, 0),)] for k in range(n))


@RULES.register("array.vector_store")
def _vector_store(ex, e, args):
    arr, i = args[0], np.asarray(args[1], np.int64)
    m = ex.mask
    base = arr.base
    n = len(e.args[2].type.types)
    _vector_bounds(ex, e, arr, i, n)
    ib = np.broadcast_to(i, m.shape)
    dt = e.args[0].type.dtype
    for k, t in enumerate(e.args[2].type.types):
        v = np.broadcast_to(np.asarray(scalars.cast(args[2][k], t, dt), base.dtype), m.shape)
        base[tuple(np.broadcast_to(p, m.shape)[m] for p in arr.prefix) + (ib[m] + k,)] = v[m]
