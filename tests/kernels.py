"""The kernel catalogue: every construct of the kernel language, with a numpy reference.

Each :class:`Case` has a kernel, a maker of fresh random arguments, the indices
of its output arguments, and a reference that computes the expected outputs
from the inputs with numpy (float64 where that is the truth).  The test tiers
(compile, GPU; the simulator later) all run this one list.
"""

from __future__ import annotations

import cmath
import math
import operator
from dataclasses import dataclass, field

import numpy as np

import jitkit as jk

SIZES = (1, 31, 33, 1000)
INT_TYPES = (np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64)
FLOAT_TYPES = (np.float32, np.float64)
ALL_TYPES = INT_TYPES + FLOAT_TYPES + (np.bool_,)

try:
    import ml_dtypes
    BF16 = np.dtype(ml_dtypes.bfloat16)   # NumPy storage for bfloat16
except ImportError:
    BF16 = None

SCALE = 3.0          # module-level constants captured at compile time
OFFSET = 7
PAIR = (2, 5)


@dataclass
class Case:
    name: str
    kernel: object
    make: object           # rng -> list of arguments
    outputs: tuple         # argument indices written by the kernel
    ref: object            # list of args (inputs) -> list of expected outputs
    launch: object = None  # args -> (grid, block[, stream, shared_bytes]); default covers args[outputs[0]].size
    rtol: float = 0.0
    atol: float = 0.0
    tags: tuple = field(default_factory=tuple)


def blocks_for(n, tpb=64):
    return max((n + tpb - 1) // tpb, 1), tpb


def rand(rng, dtype, n, lo=-50, hi=50, nonzero=False):
    dt = np.dtype(dtype)
    if dt == np.bool_:
        return rng.random(n) < 0.5
    if dt.kind == "f":
        a = rng.uniform(lo, hi, n).astype(dt)
    else:
        info = np.iinfo(dt)
        a = rng.integers(max(lo, info.min), min(hi, info.max) + 1, n, dtype=dt)
    if nonzero:
        a[a == 0] = 1
    return a


def dtype_named(name):
    """The NumPy dtype of a type name, bfloat16 included (ml_dtypes')."""
    return BF16 if name == "bfloat16" else np.dtype(name)


@jk.jit
def last(a, b):
    """Associative, not commutative: the reduction of a sequence is its last element."""
    return b


def poison(shape, dtype):
    dt = np.dtype(dtype)
    if dt.kind in "fc" or (BF16 is not None and dt == BF16):
        return np.full(shape, np.nan, dt)
    if dt == np.bool_:
        return np.zeros(shape, dt)
    return np.full(shape, np.iinfo(dt).max // 3 + 1, dt)


CASES: list = []


def case(*a, **k):
    CASES.append(Case(*a, **k))


# ------------------------------------------------------------------ saxpy, every float type
@jk.jit
def saxpy(a, x, y, out):
    i = jk.grid(1)
    if i < x.size:
        out[i] = a * x[i] + y[i]


for _t in FLOAT_TYPES:
    for _n in SIZES:
        case(f"saxpy-{np.dtype(_t).name}-{_n}", saxpy,
             lambda r, t=_t, n=_n: [t(2.5), rand(r, t, n), rand(r, t, n), poison(n, t)],
             (3,), lambda a: [np.float64(a[0]) * a[1] + a[2]],  # the GPU fuses to an FMA: compare to f64
             rtol=1e-6 if _t == np.float32 else 1e-14, atol=2e-5 if _t == np.float32 else 1e-12)


# ------------------------------------------------------------------ binary arithmetic on every type
def _binop_kernel(op):
    src = {
        "add": "x[i] + y[i]", "sub": "x[i] - y[i]", "mul": "x[i] * y[i]", "truediv": "x[i] / y[i]",
        "floordiv": "x[i] // y[i]", "mod": "x[i] % y[i]", "pow": "x[i] ** y[i]",
        "and": "x[i] & y[i]", "or": "x[i] | y[i]", "xor": "x[i] ^ y[i]",
        "lshift": "x[i] << y[i]", "rshift": "x[i] >> y[i]",
    }[op]
    ns = {"jk": jk}
    exec(compile(f"def k_{op}(x, y, out):\n    i = jk.grid(1)\n    if i < out.size:\n        out[i] = {src}\n",
                 _fake_file(f"k_{op}", src), "exec"), ns)
    return jk.jit(ns[f"k_{op}"])


def _fake_file(name, src):
    """Register generated source with linecache so jitkit can read it back."""
    import linecache
    fname = f"<jitkit-test {name}>"
    text = f"def {name}(x, y, out):\n    i = jk.grid(1)\n    if i < out.size:\n        out[i] = {src}\n"
    linecache.cache[fname] = (len(text), None, text.splitlines(True), fname)
    return fname


_NP = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "truediv": np.true_divide,
       "floordiv": np.floor_divide, "mod": np.remainder, "pow": np.power, "and": np.bitwise_and,
       "or": np.bitwise_or, "xor": np.bitwise_xor, "lshift": np.left_shift, "rshift": np.right_shift}
BINOP_KERNELS = {op: _binop_kernel(op) for op in _NP}


def _binop_case(op, t, n):
    dt = np.dtype(t)
    out_t = np.float64 if op == "truediv" and dt.kind in "iu" else t
    if op == "pow":
        make = lambda r: [rand(r, t, n, -3, 3) if dt.kind != "f" else rand(r, t, n, 0.5, 3),  # noqa: E731
                          rand(r, t, n, 0, 4), poison(n, out_t)]
    elif op in ("lshift", "rshift"):
        make = lambda r: [rand(r, t, n), rand(r, t, n, 0, dt.itemsize * 8 - 2), poison(n, out_t)]  # noqa: E731
    else:
        nz = op in ("truediv", "floordiv", "mod")
        make = lambda r: [rand(r, t, n), rand(r, t, n, nonzero=nz), poison(n, out_t)]  # noqa: E731
    ref = lambda a: [_NP[op](a[0], a[1]).astype(out_t)]  # noqa: E731
    tol = {np.dtype(np.float32): 2e-6, np.dtype(np.float64): 1e-13}.get(np.dtype(out_t), 0)
    case(f"binop-{op}-{dt.name}-{n}", BINOP_KERNELS[op], make, (2,), ref, rtol=tol, atol=tol)


for _op in _NP:
    for _t in INT_TYPES + FLOAT_TYPES:
        if _op in ("and", "or", "xor", "lshift", "rshift") and np.dtype(_t).kind == "f":
            continue
        if _op == "pow" and np.dtype(_t).kind == "u":
            continue
        _binop_case(_op, _t, 1000 if _t in (np.int32, np.float32) else 33)


# ------------------------------------------------------------------ unary, comparisons, logic, ternary
@jk.jit
def unary_ops(x, neg, inv, notx, ab):
    i = jk.grid(1)
    if i < x.size:
        neg[i] = -x[i]
        inv[i] = ~x[i]
        notx[i] = not x[i]
        ab[i] = abs(x[i])


case("unary-int32", unary_ops, lambda r: [rand(r, np.int32, 1000)] + [poison(1000, np.int32) for _ in range(2)]
     + [poison(1000, np.bool_), poison(1000, np.int32)], (1, 2, 3, 4),
     lambda a: [-a[0], ~a[0], a[0] == 0, np.abs(a[0])])


@jk.jit
def compare_ops(x, y, out):
    i = jk.grid(1)
    if i < x.size:
        a = x[i]
        b = y[i]
        code = 0
        if a < b:
            code += 1
        if a <= b:
            code += 2
        if a > b:
            code += 4
        if a >= b:
            code += 8
        if a == b:
            code += 16
        if a != b:
            code += 32
        if -10 < a < b <= 20:
            code += 64
        if (a > 0 and b > 0) or not (a < -20):
            code += 128
        code += 256 if a > b else 512
        out[i] = code


def _compare_ref(a):
    x, y = a[0].astype(np.float64), a[1].astype(np.float64)
    code = ((x < y) * 1 + (x <= y) * 2 + (x > y) * 4 + (x >= y) * 8 + (x == y) * 16 + (x != y) * 32
            + ((-10 < x) & (x < y) & (y <= 20)) * 64 + (((x > 0) & (y > 0)) | ~(x < -20)) * 128
            + np.where(x > y, 256, 512))
    return [code.astype(np.int64)]


for _t in (np.int32, np.float32, np.uint8, np.float64):
    case(f"compare-{np.dtype(_t).name}", compare_ops,
         lambda r, t=_t: [rand(r, t, 1000, 0 if np.dtype(t).kind == "u" else -30, 30),
                          rand(r, t, 1000, 0 if np.dtype(t).kind == "u" else -30, 30), poison(1000, np.int64)],
         (2,), _compare_ref)


@jk.jit
def boolop_values(x, y, out_and, out_or):
    i = jk.grid(1)
    if i < x.size:
        out_and[i] = x[i] and y[i]     # Python: returns an operand
        out_or[i] = x[i] or y[i]


case("boolop-values", boolop_values,
     lambda r: [rand(r, np.int64, 1000, -2, 2), rand(r, np.int64, 1000, -2, 2), poison(1000, np.int64),
                poison(1000, np.int64)], (2, 3),
     lambda a: [np.where(a[0] != 0, a[1], a[0]), np.where(a[0] != 0, a[0], a[1])])


# ------------------------------------------------------------------ control flow
@jk.jit
def control_flow(n, out):
    i = jk.grid(1)
    if i < out.shape[0]:
        k = i % 7
        if k == 0:
            v = 10
        elif k == 1:
            v = 20
        elif k < 4:
            v = 30
        else:
            v = 40
        s = 0
        for j in range(n):            # 1-arg range
            s += j
        for j in range(3, n):         # 2-arg range
            s += 2 * j
        for j in range(n, 0, -2):     # negative step
            s -= j
        for j in range(1, n, 3):      # 3-arg range
            if j == 7:
                continue
            if j > 20:
                break
            s += j
        else:
            s += 1000                 # runs only without break
        w = 0
        while w < k:
            w += 1
            if w == 5:
                break
        out[i, 0] = v
        out[i, 1] = s
        out[i, 2] = w


def _control_ref(a):
    n, out = a[0], a[1]
    res = np.zeros_like(out)
    for i in range(out.shape[0]):
        k = i % 7
        v = 10 if k == 0 else 20 if k == 1 else 30 if k < 4 else 40
        s = sum(range(n)) + sum(2 * j for j in range(3, n)) - sum(range(n, 0, -2))
        for j in range(1, n, 3):
            if j == 7:
                continue
            if j > 20:
                break
            s += j
        else:
            s += 1000
        w = 0
        while w < k:
            w += 1
            if w == 5:
                break
        res[i] = (v, s, w)
    return [res]


for _n in (0, 5, 30):
    case(f"control-flow-n{_n}", control_flow, lambda r, n=_n: [n, poison((100, 3), np.int64)], (1,), _control_ref,
         launch=lambda a: blocks_for(a[1].shape[0]))


@jk.jit
def dynamic_step(start, stop, step, out):
    if jk.grid(1) == 0:
        c = 0
        for j in range(start, stop, step):   # sign of step known only at run time
            out[c] = j
            c += 1
        out[out.size - 1] = c


for _s in ((0, 10, 3), (10, -5, -4), (5, 5, 1), (-3, 4, -1)):
    case(f"range-dynamic-step{_s}", dynamic_step, lambda r, s=_s: [*s, poison(20, np.int64)], (3,),
         lambda a, s=_s: [_dyn_ref(*s)], launch=lambda a: (1, 32))


def _dyn_ref(start, stop, step):
    out = poison(20, np.int64)
    vals = list(range(start, stop, step))
    out[:len(vals)] = vals
    out[19] = len(vals)
    return out


# ------------------------------------------------------------------ typing: unification, weak literals, casts
@jk.jit
def accumulate(x, out):
    i = jk.grid(1)
    if i < out.size:
        s = 0                 # int literal, unified with float32 -> float32
        for j in range(x.shape[1]):
            s += x[i, j]
        out[i] = s * 0.5      # float literal stays float32


case("unify-accumulate-f32", accumulate, lambda r: [rand(r, np.float32, 50 * 17).reshape(50, 17),
                                                    poison(50, np.float32)], (1,),
     lambda a: [a[0].astype(np.float64).sum(axis=1) * 0.5], rtol=1e-5, atol=1e-4)


@jk.jit
def casts(x, i32, u8, f32, i64, f64, b):
    i = jk.grid(1)
    if i < x.size:
        v = x[i]
        i32[i] = jk.int32(v)
        u8[i] = np.uint8(jk.int32(v) & 0xFF)
        f32[i] = jk.float32(v)
        i64[i] = int(v)
        f64[i] = float(jk.int16(v))
        b[i] = bool(v)


case("casts", casts, lambda r: [rand(r, np.float64, 1000, -300, 300), poison(1000, np.int32), poison(1000, np.uint8),
                               poison(1000, np.float32), poison(1000, np.int64), poison(1000, np.float64),
                               poison(1000, np.bool_)],
     (1, 2, 3, 4, 5, 6),
     lambda a: [np.trunc(a[0]).astype(np.int32), (np.trunc(a[0]).astype(np.int32) & 0xFF).astype(np.uint8),
                a[0].astype(np.float32), np.trunc(a[0]).astype(np.int64),
                np.trunc(a[0]).astype(np.int16).astype(np.float64), a[0] != 0])


@jk.jit
def constants(x, out):
    i = jk.grid(1)
    if i < x.size:
        out[i] = x[i] * SCALE + OFFSET + PAIR[1] - math.pi


case("module-constants", constants, lambda r: [rand(r, np.float64, 33), poison(33, np.float64)], (1,),
     lambda a: [a[0] * SCALE + OFFSET + PAIR[1] - math.pi], rtol=1e-15)


# ------------------------------------------------------------------ math via libdevice
_MATH1 = {
    "sqrt": (math.sqrt, np.sqrt, 0.1, 100), "exp": (math.exp, np.exp, -5, 5), "log": (math.log, np.log, 0.1, 100),
    "sin": (math.sin, np.sin, -6, 6), "cos": (math.cos, np.cos, -6, 6), "tan": (math.tan, np.tan, -1.2, 1.2),
    "tanh": (math.tanh, np.tanh, -4, 4), "fabs": (math.fabs, np.fabs, -9, 9), "erf": (math.erf, None, -3, 3),
    "log2": (math.log2, np.log2, 0.1, 100), "log10": (math.log10, np.log10, 0.1, 100),
    "exp2": (math.exp2, np.exp2, -5, 5), "expm1": (math.expm1, np.expm1, -2, 2),
    "log1p": (math.log1p, np.log1p, -0.5, 5), "asin": (math.asin, np.arcsin, -1, 1),
    "acos": (math.acos, np.arccos, -1, 1), "atan": (math.atan, np.arctan, -5, 5),
    "sinh": (math.sinh, np.sinh, -3, 3), "cosh": (math.cosh, np.cosh, -3, 3), "cbrt": (math.cbrt, np.cbrt, -8, 8),
    "erfc": (math.erfc, None, -2, 2), "lgamma": (math.lgamma, None, 0.5, 8), "gamma": (math.gamma, None, 0.5, 6),
}


def _math1_kernel(name):
    fn = getattr(math, name)

    @jk.jit
    def k(x, out):
        i = jk.grid(1)
        if i < x.size:
            out[i] = fn(x[i])      # a closure variable holding math.<name>
    return k


for _name, (_py, _np_fn, _lo, _hi) in _MATH1.items():
    _k = _math1_kernel(_name)
    for _t in FLOAT_TYPES:
        _ref = (lambda a, f=_np_fn: [f(a[0].astype(np.float64))]) if _np_fn is not None else \
            (lambda a, f=_py: [np.array([f(v) for v in a[0].astype(np.float64)])])
        case(f"math-{_name}-{np.dtype(_t).name}", _k,
             lambda r, t=_t, lo=_lo, hi=_hi: [rand(r, t, 1000, lo, hi), poison(1000, t)], (1,), _ref,
             rtol=1e-5 if _t == np.float32 else 1e-13, atol=1e-6 if _t == np.float32 else 1e-14)


@jk.jit
def math_misc(x, y, f, i):
    k = jk.grid(1)
    if k < x.size:
        a = x[k]
        b = y[k]
        f[k, 0] = math.pow(a, 2.5)
        f[k, 1] = math.atan2(a, b)
        f[k, 2] = math.hypot(a, b)
        f[k, 3] = math.copysign(a, b)
        f[k, 4] = math.fmod(a, b)
        f[k, 5] = min(a, b, 1.5)
        f[k, 6] = max(a, b)
        f[k, 7] = a ** 2
        i[k, 0] = math.floor(a)
        i[k, 1] = math.ceil(a)
        i[k, 2] = math.trunc(a)
        i[k, 3] = round(a)
        i[k, 4] = math.isnan(a / b) + 2 * math.isinf(a / (b - b)) + 4 * math.isfinite(a)


def _math_misc_ref(a):
    x, y = a[0].astype(np.float64), a[1].astype(np.float64)
    f = np.stack([np.abs(x) ** 2.5, np.arctan2(x, y), np.hypot(x, y), np.copysign(x, y), np.fmod(x, y),
                  np.minimum(np.minimum(x, y), 1.5), np.maximum(x, y), x * x], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        flags = np.isnan(x / y) + 2 * np.isinf(x / (y - y)) + 4 * np.isfinite(x)
    i = np.stack([np.floor(x), np.ceil(x), np.trunc(x), np.round(x), flags], axis=1).astype(np.int64)
    return [f, i]


for _t in FLOAT_TYPES:
    case(f"math-misc-{np.dtype(_t).name}", math_misc,
         lambda r, t=_t: [np.abs(rand(r, t, 1000, 0.25, 9)), rand(r, t, 1000, -9, 9, nonzero=True),
                          poison((1000, 8), t), poison((1000, 5), np.int64)],
         (2, 3), _math_misc_ref, rtol=2e-6 if _t == np.float32 else 1e-13, atol=1e-6)


# ------------------------------------------------------------------ arrays: ndim, layouts, views, negative indices
@jk.jit
def copy3d(src, dst):
    i, j, k = jk.grid(3)
    if i < src.shape[0] and j < src.shape[1] and k < src.shape[2]:
        dst[i, j, k] = src[i, j, k] * 2 + src.ndim


def _launch3(a):
    s = a[0].shape
    return ((s[0] + 3) // 4, (s[1] + 3) // 4, (s[2] + 3) // 4), (4, 4, 4)


for _layout in ("C", "F", "view"):
    def _make3(r, lay=_layout):
        base = rand(r, np.float32, 9 * 14 * 11).reshape(9, 14, 11)
        src = base if lay == "C" else np.asfortranarray(base) if lay == "F" else base[::2, 1:, ::-3]
        return [src, poison(src.shape, np.float32)]
    case(f"array3d-{_layout}", copy3d, _make3, (1,), lambda a: [a[0] * 2 + 3], launch=_launch3)


@jk.jit
def indexing(x, out):
    i = jk.grid(1)
    if i < x.shape[0]:
        row = x[i]                    # a 1-d view of a 2-d array
        n = row.size
        out[i, 0] = row[-1]           # negative index counts from the end
        out[i, 1] = x[i, -2]
        idx = (i, n - 3)
        out[i, 2] = x[idx]            # tuple index from a variable
        rows, cols = x.shape
        out[i, 3] = rows * 100 + cols + len(x)
        out[-1 - i, 4] = x[-1 - i, 0]


case("indexing-2d", indexing, lambda r: [rand(r, np.int32, 37 * 5).reshape(37, 5), poison((37, 5), np.int64)], (1,),
     lambda a: [np.stack([a[0][:, -1], a[0][:, -2], a[0][:, 2], np.full(37, 37 * 100 + 5 + 37), a[0][:, 0]],
                         axis=1)], launch=lambda a: blocks_for(37, 32))
case("indexing-2d-F", indexing,
     lambda r: [np.asfortranarray(rand(r, np.int32, 37 * 5).reshape(37, 5)), poison((37, 5), np.int64)], (1,),
     lambda a: [np.stack([a[0][:, -1], a[0][:, -2], a[0][:, 2], np.full(37, 37 * 100 + 5 + 37), a[0][:, 0]],
                         axis=1)], launch=lambda a: blocks_for(37, 32))


@jk.jit
def bool_arrays(x, out):
    i = jk.grid(1)
    if i < x.size:
        out[i] = x[i] ^ (i % 2 == 0)


case("bool-arrays", bool_arrays, lambda r: [rand(r, np.bool_, 1000), poison(1000, np.bool_)], (1,),
     lambda a: [a[0] ^ (np.arange(1000) % 2 == 0)])


# ------------------------------------------------------------------ device functions
@jk.jit
def clamp(v, lo=0.0, hi=1.0):
    if v < lo:
        return lo
    if v > hi:
        return hi
    return v


@jk.jit
def divmod_pair(a, b):
    return a // b, a % b


@jk.jit
def row_sum(row):
    s = 0.0
    for j in range(row.size):
        s += row[j]
    return s


@jk.jit
def device_calls(x, m, clamped, q, r, sums):
    i = jk.grid(1)
    if i < x.size:
        clamped[i] = clamp(x[i], hi=0.5)
        q[i], r[i] = divmod_pair(jk.int32(i) - 500, 7)
    if i < m.shape[0]:
        sums[i] = row_sum(m[i])


case("device-functions", device_calls,
     lambda r: [rand(r, np.float64, 1000, -1, 2), rand(r, np.float64, 40 * 9).reshape(40, 9),
                poison(1000, np.float64), poison(1000, np.int32), poison(1000, np.int32), poison(40, np.float64)],
     (2, 3, 4, 5),
     lambda a: [np.clip(a[0], 0.0, 0.5), (np.arange(1000) - 500) // 7, (np.arange(1000) - 500) % 7,
                a[1].sum(axis=1)], rtol=1e-13, atol=1e-12)  # row sums of 9 terms of |x| <= 50 may cancel


# ------------------------------------------------------------------ thread intrinsics
@jk.jit
def intrinsics(out):
    x, y = jk.grid(2)
    w, h = jk.gridsize(2)
    if x < out.shape[0] and y < out.shape[1]:
        out[x, y, 0] = jk.threadIdx.x + 10 * jk.threadIdx.y + 100 * jk.threadIdx.z
        out[x, y, 1] = jk.blockIdx.x + 10 * jk.blockIdx.y + 100 * jk.blockIdx.z
        out[x, y, 2] = jk.blockDim.x + 100 * jk.blockDim.y + 10000 * jk.blockDim.z
        out[x, y, 3] = jk.gridDim.x + 100 * jk.gridDim.y + 10000 * jk.gridDim.z
        out[x, y, 4] = w * 1000 + h
        out[x, y, 5] = jk.laneid + 100 * jk.warpsize
    jk.syncthreads()


def _intrinsics_ref(a):
    out = a[0]
    gx, gy = 3, 5
    bx, by = 16, 8
    res = np.zeros(out.shape, np.int64)
    X, Y = np.meshgrid(np.arange(out.shape[0]), np.arange(out.shape[1]), indexing="ij")
    tx, ty = X % bx, Y % by
    res[..., 0] = tx + 10 * ty
    res[..., 1] = X // bx + 10 * (Y // by)
    res[..., 2] = bx + 100 * by + 10000
    res[..., 3] = gx + 100 * gy + 10000
    res[..., 4] = gx * bx * 1000 + gy * by
    res[..., 5] = (tx + bx * ty) % 32 + 3200
    return [res]


case("thread-intrinsics", intrinsics, lambda r: [poison((45, 37, 6), np.int64)], (0,), _intrinsics_ref,
     launch=lambda a: ((3, 5), (16, 8)))

# ------------------------------------------------------------------ shared memory, local arrays, warps
TPB_MAX = 256


@jk.jit
def block_sum(x, out):
    """Tree reduction in shared memory; works for any block size up to TPB_MAX."""
    sm = jk.shared.array(TPB_MAX, jk.float64)
    t = jk.threadIdx.x
    i = jk.grid(1)
    sm[t] = x[i] if i < x.size else 0
    jk.syncthreads()
    n = jk.blockDim.x
    s = 1
    while s < n:
        s *= 2
    s //= 2
    while s > 0:
        if t < s and t + s < n:
            sm[t] += sm[t + s]
        jk.syncthreads()
        s //= 2
    if t == 0:
        out[jk.blockIdx.x] = sm[0]


def _block_sum_ref(tpb):
    def ref(a):
        x = a[0].astype(np.float64)
        nb = a[1].size
        pad = np.zeros(nb * tpb)
        pad[:x.size] = x
        return [pad.reshape(nb, tpb).sum(axis=1)]
    return ref


for _tpb in (32, 64, 96, 256):
    for _t in (np.float32, np.int32):
        _n = 1000
        case(f"shared-block-sum-{np.dtype(_t).name}-tpb{_tpb}", block_sum,
             lambda r, t=_t, n=_n, tpb=_tpb: [rand(r, t, n), poison((n + tpb - 1) // tpb, np.float64)], (1,),
             _block_sum_ref(_tpb), launch=lambda a, tpb=_tpb: (a[1].size, tpb), rtol=1e-12, atol=1e-9)


@jk.jit
def tile_transpose(a, out):
    tile = jk.shared.array((16, 17), jk.float32)      # padded: no bank conflicts on the GPU
    bx, by = jk.blockIdx.x * 16, jk.blockIdx.y * 16
    tx, ty = jk.threadIdx.x, jk.threadIdx.y
    if by + ty < a.shape[0] and bx + tx < a.shape[1]:
        tile[ty, tx] = a[by + ty, bx + tx]
    jk.syncthreads()
    if bx + ty < out.shape[0] and by + tx < out.shape[1]:
        out[bx + ty, by + tx] = tile[tx, ty]


case("shared-2d-transpose", tile_transpose,
     lambda r: [rand(r, np.float32, 45 * 70).reshape(45, 70), poison((70, 45), np.float32)], (1,),
     lambda a: [a[0].T], launch=lambda a: (((70 + 15) // 16, (45 + 15) // 16), (16, 16)))


@jk.jit
def local_sort4(x, out):
    i = jk.grid(1)
    if i < out.shape[0]:
        v = jk.local.array(4, x.dtype)      # the argument's dtype, known at compile time
        for k in range(4):
            v[k] = x[i, k]
        for a in range(4):                 # insertion sort in a per-thread array
            for b in range(a + 1, 4):
                if v[b] < v[a]:
                    tmp = v[a]
                    v[a] = v[b]
                    v[b] = tmp
        for k in range(4):
            out[i, k] = v[k]


case("local-array-sort", local_sort4, lambda r: [rand(r, np.int64, 333 * 4).reshape(333, 4),
                                                 poison((333, 4), np.int64)], (1,),
     lambda a: [np.sort(a[0], axis=1)], launch=lambda a: blocks_for(333))


@jk.jit
def warp_ops(x, sums, bfly, bcast, scan, votes):
    i = jk.grid(1)
    v = x[i] if i < x.size else x[0] * 0
    lane = jk.laneid
    s = v
    off = 16
    while off > 0:
        s += jk.shfl_down_sync(0xFFFFFFFF, s, off)
        off //= 2
    b = v
    for k in range(5):
        b += jk.shfl_xor_sync(0xFFFFFFFF, b, 1 << k)
    c = v
    for k in range(5):                     # inclusive scan with shfl_up
        up = jk.shfl_up_sync(0xFFFFFFFF, c, 1 << k)
        if lane >= (1 << k):
            c += up
    first = jk.shfl_sync(0xFFFFFFFF, v, 3)
    ballot = jk.ballot_sync(0xFFFFFFFF, v > 0)
    anyneg = jk.any_sync(0xFFFFFFFF, v < -45)
    allbig = jk.all_sync(0xFFFFFFFF, v > -1000)
    jk.syncwarp()
    if i < x.size:
        if lane == 0:
            sums[i // 32] = s
        bfly[i] = b
        bcast[i] = first
        scan[i] = c
        votes[i, 0] = ballot
        votes[i, 1] = anyneg
        votes[i, 2] = allbig


def _warp_ref(a):
    x = a[0]
    n = x.size
    w = x.reshape(-1, 32)
    tot = w.sum(axis=1, dtype=x.dtype)
    bits = (w > 0).astype(np.uint64) << np.arange(32, dtype=np.uint64)
    ballot = np.repeat(bits.sum(axis=1), 32)
    votes = np.stack([ballot, np.repeat((w < -45).any(axis=1), 32), np.repeat((w > -1000).all(axis=1), 32)],
                     axis=1).astype(np.uint32)
    return [tot, np.repeat(tot, 32), np.repeat(w[:, 3], 32), np.cumsum(w, axis=1, dtype=x.dtype).ravel(), votes]


for _t in (np.int32, np.int64, np.float32, np.float64, np.uint32):
    _n = 32 * 37
    case(f"warp-intrinsics-{np.dtype(_t).name}", warp_ops,
         lambda r, t=_t, n=_n: [rand(r, t, n, 0 if np.dtype(t).kind == "u" else -50, 50), poison(n // 32, t),
                                poison(n, t), poison(n, t), poison(n, t), poison((n, 3), np.uint32)],
         (1, 2, 3, 4, 5), _warp_ref, launch=lambda a: (a[0].size // 128 + 1, 128),
         rtol=1e-5 if _t == np.float32 else 1e-12, atol=1e-4 if _t == np.float32 else 1e-9)

@jk.jit
def lane_masks(out):
    i = jk.grid(1)
    m = jk.activemask()          # converged code: every existing lane of the warp
    jk.threadfence_block()
    jk.threadfence()
    if i < out.shape[0]:
        out[i, 0] = m
        out[i, 1] = jk.lanemask_lt()


def _lane_masks_ref(a):
    n = a[0].shape[0]
    t = np.arange(n) % 48                      # lane within a block of 48 = one full warp + 16 lanes
    size = np.minimum(32, 48 - (t // 32) * 32)
    lane = t % 32
    return [np.stack([(1 << size) - 1, (1 << lane) - 1], axis=1).astype(np.uint32)]


case("warp-activemask-lanemask-fences", lane_masks, lambda r: [poison((3 * 48, 2), np.uint32)], (0,),
     _lane_masks_ref, launch=lambda a: (3, 48))


# ------------------------------------------------------------------ bit intrinsics
@jk.jit
def bit_ops(x, counts, rev):
    i = jk.grid(1)
    if i < x.size:
        counts[i, 0] = jk.popc(x[i])
        counts[i, 1] = jk.clz(x[i])
        counts[i, 2] = jk.ffs(x[i])
        rev[i] = jk.brev(x[i])


def _bits_ref(a):
    x = a[0]
    w = x.dtype.itemsize * 8
    u = [int(v) & ((1 << w) - 1) for v in x]
    popc = [bin(v).count("1") for v in u]
    clz = [w - v.bit_length() for v in u]
    ffs = [(v & -v).bit_length() for v in u]
    rev = np.array([int(format(v, f"0{w}b")[::-1], 2) for v in u], np.uint64).astype(f"u{w // 8}").view(x.dtype)
    return [np.stack([popc, clz, ffs], axis=1), rev]


def _bits_input(r, t, n):
    info = np.iinfo(t)
    x = r.integers(info.min, info.max, n, dtype=t, endpoint=True)
    x[:4] = [0, info.max, info.min, 1]
    return x


for _t in (np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64):
    case(f"bit-intrinsics-{np.dtype(_t).name}", bit_ops,
         lambda r, t=_t: [_bits_input(r, t, 301), poison((301, 3), np.int32), poison(301, t)], (1, 2), _bits_ref)


# ------------------------------------------------------------------ atomics
NBINS = 13


@jk.jit
def histogram(keys, weights, hist):
    i = jk.grid(1)
    if i < keys.size:
        jk.atomic.add(hist, keys[i] % NBINS, weights[i])


for _t in (np.int32, np.uint32, np.int64, np.uint64, np.float32, np.float64):
    case(f"atomic-histogram-{np.dtype(_t).name}", histogram,
         lambda r, t=_t: [rand(r, np.int64, 5000, 0, 1000), rand(r, t, 5000, 0, 9),
                          np.zeros(NBINS, t)], (2,),
         lambda a: [np.bincount(a[0] % NBINS, weights=a[1].astype(np.float64), minlength=NBINS)],
         launch=lambda a: blocks_for(5000, 128), rtol=1e-5, atol=1e-3)


@jk.jit
def shared_histogram(keys, hist):
    sh = jk.shared.array(NBINS, jk.int32)
    t = jk.threadIdx.x
    if t < NBINS:
        sh[t] = 0
    jk.syncthreads()
    i = jk.grid(1)
    if i < keys.size:
        jk.atomic.add(sh, keys[i] % NBINS, 1)
    jk.syncthreads()
    if t < NBINS:
        jk.atomic.add(hist, t, sh[t])


case("atomic-shared-histogram", shared_histogram,
     lambda r: [rand(r, np.int64, 7777, 0, 10000), np.zeros(NBINS, np.int32)], (1,),
     lambda a: [np.bincount(a[0] % NBINS, minlength=NBINS)], launch=lambda a: blocks_for(7777, 96))


@jk.jit
def minmax_bits(x, ext, bits):
    i = jk.grid(1)
    if i < x.size:
        jk.atomic.min(ext, 0, x[i])
        jk.atomic.max(ext, 1, x[i])
        jk.atomic.sub(ext, 2, x[i])
        if i == 0:
            ext[3] = jk.atomic.exch(ext, 4, x[i])   # one writer: the old value is the initial one


@jk.jit
def bit_ops(k, bits):
    i = jk.grid(1)
    if i < k.size:
        b = jk.uint32(k[i] % 32)
        jk.atomic.or_(bits, 0, jk.uint32(1) << b)
        jk.atomic.and_(bits, 1, ~(jk.uint32(1) << b))
        jk.atomic.xor(bits, 2, jk.uint32(k[i]))


for _t in (np.int32, np.int64, np.uint32, np.float32, np.float64):
    def _mm_make(r, t=_t):
        x = rand(r, t, 3000, 1, 10 ** 6)
        if np.dtype(t).kind == "f":  # integer values < 1000: every partial sum is exact, even in float32
            x = np.floor(x / 1000).astype(t) + 1
        ext = np.array([np.iinfo(t).max if np.dtype(t).kind != "f" else np.inf,
                        np.iinfo(t).min if np.dtype(t).kind != "f" else -np.inf, 0, 0, 17], t)
        if np.dtype(t).kind == "u":
            ext[2] = np.uint32(x.astype(np.uint64).sum() % 2 ** 32)  # sub back to zero
        else:
            ext[2] = x.sum()
        return [x, ext, np.zeros(1, np.uint32)]
    case(f"atomic-min-max-sub-exch-{np.dtype(_t).name}", minmax_bits, _mm_make, (1,),
         lambda a: [np.array([a[0].min(), a[0].max(), 0, 17, a[0][0]], a[1].dtype)],
         launch=lambda a: blocks_for(3000, 128), rtol=1e-5, atol=1e-2 if _t == np.float32 else 1e-6)

case("atomic-bitwise", bit_ops,
     lambda r: [rand(r, np.int64, 2000, 0, 10 ** 6), np.array([0, 0xFFFFFFFF, 0], np.uint32)], (1,),
     lambda a: [np.array([np.bitwise_or.reduce(np.uint32(1) << (a[0] % 32).astype(np.uint32)),
                          np.uint32(0xFFFFFFFF) & ~np.bitwise_or.reduce(np.uint32(1) << (a[0] % 32).astype(np.uint32)),
                          np.bitwise_xor.reduce(a[0].astype(np.uint32))], np.uint32)],
     launch=lambda a: blocks_for(2000, 128))


@jk.jit
def tickets(counter, seen):
    i = jk.grid(1)
    if i < seen.size:
        t = jk.atomic.add(counter, 0, 1)          # the old values must be 0..n-1, each once
        jk.atomic.add(seen, t, 1)


case("atomic-tickets", tickets, lambda r: [np.zeros(1, np.int64), np.zeros(1111, np.int32)], (0, 1),
     lambda a: [np.array([1111]), np.ones(1111, np.int32)], launch=lambda a: blocks_for(1111, 128))


@jk.jit
def cas_counter(c, n):
    i = jk.grid(1)
    if i < n:
        while True:
            cur = c[0]
            if jk.atomic.cas(c, 0, cur, cur + 1) == cur:
                break


case("atomic-cas-loop", cas_counter, lambda r: [np.zeros(1, np.uint32), 100], (0,),
     lambda a: [np.array([100], np.uint32)], launch=lambda a: (4, 32))


@jk.jit
def counters(inc, dec, seen_inc, seen_dec, limit):
    i = jk.grid(1)
    if i < seen_inc.size * 7:
        a = jk.atomic.inc(inc, 0, limit)         # old values cycle 0, 1, ..., limit, 0, ...
        jk.atomic.add(seen_inc, a, 1)
        b = jk.atomic.dec(dec, 0, limit)         # old values cycle 0, limit, limit - 1, ..., 1, 0, ...
        jk.atomic.add(seen_dec, b, 1)


def _counters_ref(a):
    limit = int(a[4])
    n = a[2].size * 7
    k = np.arange(n)
    return [np.array([n % (limit + 1)]), np.array([(-n) % (limit + 1)]),
            np.bincount(k % (limit + 1), minlength=a[2].size), np.bincount((-k) % (limit + 1), minlength=a[2].size)]


for _t in (np.uint32, np.uint64, np.int32, np.int64):
    case(f"atomic-inc-dec-{np.dtype(_t).name}", counters,
         lambda r, t=_t: [np.zeros(1, t), np.zeros(1, t), np.zeros(10, np.int32), np.zeros(10, np.int32), t(9)],
         (0, 1, 2, 3), _counters_ref, launch=lambda a: blocks_for(70, 32))


@jk.jit
def matches(x, out):
    i = jk.grid(1)
    v = x[i] if i < x.size else x[0]
    m = jk.match_any_sync(0xFFFFFFFF, v)
    am, ap = jk.match_all_sync(0xFFFFFFFF, v)
    um, up = jk.match_all_sync(0xFFFFFFFF, v * 0 + i // 32)   # uniform within each warp
    if i < x.size:
        out[i, 0] = m
        out[i, 1] = am
        out[i, 2] = ap
        out[i, 3] = um
        out[i, 4] = up


def _matches_ref(a):
    w = a[0].reshape(-1, 32)
    same = w[:, :, None] == w[:, None, :]
    anym = (same * (1 << np.arange(32, dtype=np.uint64))).sum(axis=2).ravel()
    allsame = np.repeat((w == w[:, :1]).all(axis=1), 32)
    full = np.full(anym.size, 0xFFFFFFFF)
    return [np.stack([anym, np.where(allsame, full, 0), allsame, full, np.ones(anym.size)], axis=1)]


for _t in (np.int32, np.int64, np.float32, np.float64):
    def _match_make(r, t=_t):
        x = rand(r, t, 32 * 12, 0, 3)
        x[:64] = 2                                 # two warps where every lane agrees
        return [x, poison((x.size, 5), np.uint32)]
    case(f"warp-match-{np.dtype(_t).name}", matches, _match_make, (1,), _matches_ref,
         launch=lambda a: (3, 128))


# ------------------------------------------------------------------ constexpr specialisation
@jk.jit
def absmax(a, b):
    return max(abs(a), abs(b))


@jk.jit
def combine(a, b, op: jk.constexpr):
    return op(a, b)


@jk.jit
def tile_reduce(x, out, n: jk.constexpr, dt: jk.constexpr, op: jk.constexpr):
    i = jk.grid(1)
    buf = jk.local.array(n, dt)                  # shape and dtype from constexpr parameters
    for k in range(n):
        buf[k] = x[i * n + k] if i * n + k < x.size else x[0]
    acc = buf[0]
    for k in range(1, n):
        acc = combine(acc, buf[k], op)
    if i < out.size:
        out[i] = acc


def _tile_ref(n, ufunc):
    def ref(a):
        x = a[0]
        m = a[1].size
        xp = np.full(m * n, x[0], x.dtype)
        xp[:x.size] = x
        return [ufunc.reduce(xp.reshape(m, n).astype(np.float64), axis=1)]
    return ref


_absmax_ufunc = np.frompyfunc(lambda p, q: max(abs(p), abs(q)), 2, 1)
for _n, _op, _ref, _name in ((4, operator.add, np.add, "add"), (3, max, np.maximum, "max"),
                             (8, min, np.minimum, "min"), (5, absmax, _absmax_ufunc, "jitfn"),
                             (1, operator.mul, np.multiply, "mul")):
    for _t in (np.float32, np.int64):
        case(f"constexpr-tile-{_name}-{_n}-{np.dtype(_t).name}", tile_reduce,
             lambda r, t=_t, n=_n, op=_op: [rand(r, t, 301, -9, 9).round().astype(t), poison(-(-301 // n), t), n, t, op], (1,),
             _tile_ref(_n, _ref), rtol=1e-5)


@jk.jit
def block_sum_cx(x, out, tpb: jk.constexpr, unroll: jk.constexpr):
    sh = jk.shared.array(tpb, jk.float64)
    t = jk.threadIdx.x
    i = jk.grid(1)
    sh[t] = x[i] if i < x.size else 0.0
    jk.syncthreads()
    if unroll:                                   # a constexpr bool: only one branch is compiled
        if t == 0:
            s = 0.0
            for k in range(tpb):
                s += sh[k]
            out[jk.blockIdx.x] = s
    else:
        step = 1
        while step < tpb:
            if t % (2 * step) == 0 and t + step < tpb:
                sh[t] += sh[t + step]
            jk.syncthreads()
            step *= 2
        if t == 0:
            out[jk.blockIdx.x] = sh[0]


for _tpb in (32, 96, 128):
    for _unroll in (True, False):
        case(f"constexpr-block-sum-{_tpb}-{'serial' if _unroll else 'tree'}", block_sum_cx,
             lambda r, tpb=_tpb, u=_unroll: [rand(r, np.float64, 1000), poison(-(-1000 // tpb), np.float64), tpb, u],
             (1,), lambda a: [np.add.reduceat(np.r_[a[0], np.zeros(a[1].size * a[2] - 1000)],
                                              np.arange(0, a[1].size * a[2], a[2]))],
             launch=lambda a: (a[1].size, a[2]), rtol=1e-12, atol=1e-10)  # order of summation differs


# ------------------------------------------------------------------ dynamic shared memory
@jk.jit
def dyn_reverse(x, out, sizes):
    buf = jk.shared.array(0, jk.float32)         # the launch's dynamic shared memory ...
    bits = jk.shared.array(0, jk.uint32)         # ... and a second view of the same bytes
    t = jk.threadIdx.x
    i = jk.grid(1)
    n = jk.blockDim.x
    buf[t] = x[i] if i < x.size else 0.0
    jk.syncthreads()
    j = jk.blockIdx.x * n + (n - 1 - t)
    if j < x.size:
        out[j, 0] = buf[t]
        out[j, 1] = jk.float32(bits[t] == 0x3F800000)   # 1.0f seen through the uint32 view
    if i == 0:
        sizes[0] = buf.size
        sizes[1] = bits.size


def _dynshared_ref(tpb):
    def ref(a):
        x = a[0]
        nb = -(-x.size // tpb)
        xp = np.zeros(nb * tpb, np.float32)
        xp[:x.size] = x
        rev = xp.reshape(nb, tpb)[:, ::-1].ravel()[:x.size]
        return [np.stack([rev, (rev == 1.0).astype(np.float32)], axis=1), np.array([a[3] // 4, a[3] // 4])]
    return ref


for _tpb, _extra in ((64, 0), (96, 40), (128, 64 * 1024)):   # the last needs the > 48 KiB opt-in
    def _dyn_make(r, tpb=_tpb, extra=_extra):
        x = rand(r, np.float32, 1000, -3, 3).round()
        return [x, poison((1000, 2), np.float32), np.zeros(2, np.int64), tpb * 4 + extra]
    case(f"dynamic-shared-{_tpb}-{_extra}", dyn_reverse, lambda r, m=_dyn_make: m(r)[:3], (1, 2),
         lambda a, tpb=_tpb, extra=_extra: _dynshared_ref(tpb)(a + [tpb * 4 + extra]),
         launch=lambda a, tpb=_tpb, extra=_extra: (-(-a[0].size // tpb), tpb, 0, tpb * 4 + extra))


# ------------------------------------------------------------------ complex numbers
@jk.jit
def complex_ops(z, w, s, out, flags):
    i = jk.grid(1)
    if i < z.size:
        a = z[i]
        b = w[i]
        out[i, 0] = a + b - s
        out[i, 1] = a * b - 2j
        out[i, 2] = a / b
        out[i, 3] = cmath.exp(a) + cmath.sqrt(b)
        out[i, 4] = cmath.log(a) * a.conjugate()
        out[i, 5] = a ** 2 + a ** b
        out[i, 6] = complex(abs(a), cmath.phase(b)) + a.real - a.imag
        out[i, 7] = cmath.sin(a) + cmath.cos(b) + cmath.rect(2.0, 0.5) + (-a)
        r, phi = cmath.polar(b)
        out[i, 8] = r + phi * 1j
        flags[i, 0] = a == b
        flags[i, 1] = a != a * 1
        flags[i, 2] = bool(a - a)
        flags[i, 3] = cmath.isfinite(a) and not cmath.isnan(b) and not cmath.isinf(a)


def _complex_ref(a):
    z, w, s = (np.asarray(v).astype(np.complex128) for v in a[:3])
    out = np.stack([z + w - s, z * w - 2j, z / w, np.exp(z) + np.sqrt(w), np.log(z) * np.conj(z), z ** 2 + z ** w,
                    np.abs(z) + 1j * np.angle(w) + z.real - z.imag, np.sin(z) + np.cos(w) + 2 * np.exp(0.5j) - z,
                    np.abs(w) + 1j * np.angle(w)], axis=1)
    flags = np.stack([z == w, np.zeros(z.size, bool), np.zeros(z.size, bool), np.ones(z.size, bool)], axis=1)
    return [out, flags]


for _t, _tol in ((np.complex64, 2e-5), (np.complex128, 1e-12)):
    def _cmake(r, t=_t):
        n = 333
        z = (r.normal(size=n) + 1j * r.normal(size=n)).astype(t)
        w = (r.normal(size=n) + 1j * r.normal(size=n)).astype(t)
        w[:5] = z[:5]
        return [z, w, t(0.5 - 0.25j), poison((n, 9), t), np.ones((n, 4), np.bool_)]
    case(f"complex-arith-cmath-{np.dtype(_t).name}", complex_ops, _cmake, (3, 4), _complex_ref,
         rtol=_tol, atol=_tol * 10)


# ------------------------------------------------------------------ float16
@jk.jit
def half_ops(x, y, a, out, as_f32, as_i32, flags, hist):
    sh = jk.shared.array(64, jk.float16)
    t = jk.threadIdx.x
    i = jk.grid(1)
    sh[t] = x[i] if i < x.size else jk.float16(0)
    jk.syncthreads()
    if i < x.size:
        v = sh[t]
        w = y[i]
        out[i, 0] = a * v + w                  # float16 arithmetic, rounded per operation
        out[i, 1] = v * w - v / (abs(w) + 1.5)
        out[i, 2] = math.sqrt(abs(v)) + math.exp(w / 8)
        out[i, 3] = math.sin(v) * 2.0           # weak literal: stays float16
        out[i, 4] = max(v, w) - min(v, w)
        as_f32[i] = v + jk.float32(w)           # promotes to float32
        as_i32[i] = int(v * 4)
        flags[i, 0] = v < w
        flags[i, 1] = v == jk.float16(jk.int32(v))
        jk.atomic.add(hist, jk.int32(abs(v)) % 8, jk.float16(1))


def _half_ref(a):
    x, y, s = a[0], a[1], np.float16(a[2])
    out = np.stack([s * x + y, x * y - x / (np.abs(y) + np.float16(1.5)),
                    np.sqrt(np.abs(x)) + np.exp(y / np.float16(8)), np.sin(x) * np.float16(2),
                    np.maximum(x, y) - np.minimum(x, y)], axis=1).astype(np.float16)
    hist = np.bincount(np.abs(x).astype(np.int32) % 8, minlength=8).astype(np.float16)
    return [out, x.astype(np.float32) + y.astype(np.float32), (x.astype(np.float32) * 4).astype(np.int64),
            np.stack([x < y, x == x.astype(np.int32).astype(np.float16)], axis=1), hist]


def _half_make(r):
    n = 1000
    x = (r.uniform(-20, 20, n) * 4).round().astype(np.float16) / np.float16(4)
    y = r.uniform(-4, 4, n).astype(np.float16)
    return [x, y, np.float16(1.5), poison((n, 5), np.float16), poison(n, np.float32), poison(n, np.int32),
            np.zeros((n, 2), np.bool_), np.zeros(8, np.float16)]


case("float16-arith-math-shared-atomic", half_ops, _half_make, (3, 4, 5, 6, 7), _half_ref,
     launch=lambda a: blocks_for(1000, 64), rtol=2e-3, atol=2e-3)


# ------------------------------------------------------------------ bfloat16
@jk.jit(device=True)
def bf16_pair(v, w):
    return v + w, jk.bfloat16(v * w)           # bfloat16 through a device function, in a tuple


@jk.jit
def bf16_ops(x, y, a, d, k, out, wide, as_i32, flags, hist):
    sh = jk.shared.array(64, jk.bfloat16)
    t = jk.threadIdx.x
    i = jk.grid(1)
    sh[t] = x[i] if i < x.size else jk.bfloat16(0)
    jk.syncthreads()
    if i < x.size:
        v = sh[t]
        w = y[i]
        out[i, 0] = a * v + w                   # rounded per operation, exactly like bfloat16 hardware
        out[i, 1] = v * w - v / (abs(w) + 1.5)  # weak literal: stays bfloat16
        out[i, 2] = math.sqrt(abs(v)) + w / 8    # sqrt rounds correctly in float32, so exactly too
        out[i, 3] = jk.bfloat16(math.sin(v)) * 2.0   # math.* computes in float32: bfloat16 again first
        out[i, 4] = max(v, w) - min(v, w)
        out[i, 5] = -v if v else w
        s, p = bf16_pair(v, w)
        out[i, 6] = s - p
        out[i, 7] = d[i]                        # float64 -> bfloat16: one rounding
        out[i, 8] = k[i]                        # int32 -> bfloat16: one rounding
        out[i, 9] = v // w if w != 0 else v % 3
        wide[i, 0] = v + jk.float32(w)          # bfloat16 + float32 -> float32
        wide[i, 1] = v + jk.int16(k[i] % 100)   # + int16 -> float32 (like float16)
        wide[i, 2] = v * jk.float16(w)          # + float16 -> float32
        as_i32[i] = int(v * 4)
        flags[i, 0] = v < w
        flags[i, 1] = v == jk.bfloat16(jk.int32(v))
        flags[i, 2] = math.isnan(w / v)
        jk.atomic.add(hist, jk.int32(abs(v)) % 8, jk.bfloat16(1))


def _bf(v):
    """float64/float32/int values -> bfloat16, rounded once to nearest even."""
    return np.asarray(jk.types.bf16_bits(v)).view(BF16)


def _bf16_ref(a):
    x, y, s, d, k = a[0].astype(np.float32), a[1].astype(np.float32), np.float32(a[2]), a[3], a[4]
    f = lambda v: _bf(v).astype(np.float32)        # one bfloat16 rounding, back to float32 to go on
    with np.errstate(divide="ignore", invalid="ignore"):
        cols = [f(f(s * x) + y), f(f(x * y) - f(x / f(np.abs(y) + np.float32(1.5)))),
                f(f(np.sqrt(np.abs(x))) + f(y / np.float32(8))), f(f(np.sin(x)) * np.float32(2)),
                f(np.maximum(x, y) - np.minimum(x, y)), np.where(x != 0, -x, y),
                f(f(x + y) - f(x * y)), f(d), f(k),
                np.where(y != 0, f(np.floor_divide(x, np.where(y != 0, y, 1))), f(np.mod(x, 3)))]
        flags = np.stack([x < y, x == f(x.astype(np.int32)), np.isnan(y / x)], axis=1)
    hist = np.bincount(np.abs(x).astype(np.int32) % 8, minlength=8)
    wide = np.stack([x + y, x + (k % 100).astype(np.int16), x * y.astype(np.float16)], axis=1)
    return [_bf(np.stack(cols, axis=1)), wide, (x * 4).astype(np.int64), flags, _bf(hist)]


def _bf16_make(r):
    n = 1000
    x = _bf((r.uniform(-20, 20, n) * 4).round() / 4)
    x[::37] = 0
    y = _bf(r.uniform(-4, 4, n))
    d = r.uniform(-3, 3, n) * 2.0 ** r.integers(-130, 120, n)   # the whole exponent range, subnormals too
    d[:4] = [1 + 2 ** -8 + 2 ** -30, -(1 + 2 ** -8 + 2 ** -30), 3.4e38, 1e300]  # double rounding would differ
    k = r.integers(-2 ** 31, 2 ** 31, n).astype(np.int32)
    k[:2] = [(1 << 24) + (1 << 16) + 1, -((1 << 24) + (1 << 16) + 1)]
    return [x, y, _bf(1.5)[()], d, k, poison((n, 10), BF16), poison((n, 3), np.float32), poison(n, np.int32),
            np.zeros((n, 3), np.bool_), np.zeros(8, BF16)]


@jk.jit
def bf16_math(x, out):
    i = jk.grid(1)
    if i < x.size:
        v = x[i]
        out[i, 0] = math.exp(v / 8) * math.cos(v)
        out[i, 1] = math.log(abs(v) + 1) ** 1.5
        out[i, 2] = math.tanh(v) + math.atan2(v, 3.0)


def _bf16_math_ref(a):
    x = a[0].astype(np.float64)
    return [np.stack([np.exp(x / 8) * np.cos(x), np.log(np.abs(x) + 1) ** 1.5,
                      np.tanh(x) + np.arctan2(x, 3)], axis=1)]


if BF16 is not None:
    # exact: every result is checked bit for bit against float32 arithmetic rounded once to bfloat16
    case("bfloat16-arith-convert-shared-atomic", bf16_ops, _bf16_make, (5, 6, 7, 8, 9), _bf16_ref,
         launch=lambda a: blocks_for(1000, 64), rtol=0, atol=0)
    case("bfloat16-math", bf16_math, lambda r: [_bf(r.uniform(-30, 30, 777)), poison((777, 3), BF16)], (1,),
         _bf16_math_ref, rtol=2 ** -6, atol=2 ** -7)   # two roundings of 2**-9 each, and the inputs' own


# ------------------------------------------------------------------ cooperative launch
@jk.jit
def grid_rotate(x, out, steps):
    i = jk.grid(1)
    n = x.size
    v = x[0]
    for s in range(steps):            # each step reads neighbours written by other blocks in the last step
        if i < n:
            v = x[(i + 1) % n]
        jk.grid_sync()
        if i < n:
            x[i] = v + 1
        jk.grid_sync()
    if i < n:
        out[i] = x[i]


case("grid-sync-rotate", grid_rotate,
     lambda r: [rand(r, np.int64, 25599, -1000, 1000), poison(25599, np.int64), 7], (0, 1),
     lambda a: [np.roll(a[0], -a[2]) + a[2]] * 2, launch=lambda a: (200, 128))

CASE_BY_NAME = {c.name: c for c in CASES}
