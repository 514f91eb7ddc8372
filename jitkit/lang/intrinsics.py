"""Kernel intrinsics: the names a ``@jit`` function uses for thread indices and barriers.

These objects are markers.  The compiler recognises them by identity wherever
a kernel reaches them (``jk.threadIdx.x``, ``from jitkit import grid``); on the
host they only explain that they belong inside a kernel.  Their classes
(:class:`Intrinsic`, :class:`Dim3`, :class:`Special`, :class:`Namespace`,
:class:`Atomics`) are what the compiler tests for; the operations a call
becomes are declared in :mod:`jitkit.lang.ops`.

Example::

    @jk.jit
    def fill(out):
        i = jk.grid(1)
        if i < out.size:
            out[i] = jk.threadIdx.x
"""

from __future__ import annotations

__all__ = [
    "threadIdx", "blockIdx", "blockDim", "gridDim",
    "grid", "gridsize", "laneid", "warpsize", "syncthreads", "block_dims", "bitcast", "static_assert", "vector_load", "vector_store", "is_aligned",
]


class Intrinsic:
    """A function usable only inside kernels."""

    __slots__ = ("name", "doc")

    def __init__(self, name: str, doc: str):
        self.name = name
        self.doc = doc

    def __call__(self, *args, **kwargs):
        raise RuntimeError(f"jitkit.{self.name}() can only be called inside a @jit function: {self.doc}")

    def __repr__(self):
        return f"<jitkit intrinsic {self.name}>"


class Dim3:
    """``threadIdx``/``blockIdx``/``blockDim``/``gridDim``: ``.x``, ``.y``, ``.z`` are int32."""

    __slots__ = ("name", "sreg")

    def __init__(self, name: str, sreg: str):
        self.name = name
        self.sreg = sreg

    def __getattr__(self, attr):
        if attr in ("x", "y", "z"):
            raise RuntimeError(f"jitkit.{self.name}.{attr} can only be read inside a @jit function")
        raise AttributeError(attr)

    def __repr__(self):
        return f"<jitkit intrinsic {self.name}>"


class Special:
    """A read-only special value (``laneid``, ``warpsize``), int32 inside kernels."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __repr__(self):
        return f"<jitkit intrinsic {self.name}>"


threadIdx = Dim3("threadIdx", "tid")
blockIdx = Dim3("blockIdx", "ctaid")
blockDim = Dim3("blockDim", "ntid")
gridDim = Dim3("gridDim", "nctaid")
laneid = Special("laneid")
warpsize = Special("warpsize")
grid = Intrinsic("grid", "grid(n) returns the absolute thread index in n dimensions (int64, a tuple for n > 1)")
gridsize = Intrinsic("gridsize", "gridsize(n) returns the total number of threads in n dimensions")
syncthreads = Intrinsic("syncthreads", "syncthreads() waits until every thread of the block reaches it")
bitcast = Intrinsic("bitcast", "bitcast(x, type): the bits of scalar x as another scalar type of the same "
                     "width, e.g. bitcast(f, jk.uint32)")
static_assert = Intrinsic("static_assert", "static_assert(cond, message): a compile error with message where the "
                           "compile-time condition is false (in code that is compiled: a branch folded away "
                           "at compile time is not)")
vector_load = Intrinsic("vector_load", "vector_load(array, i, n): the tuple array[i], ..., array[i+n-1] of a "
                         "1-d array in one n-wide load (n: 2 or 4, n * itemsize <= 16); only where "
                         "is_aligned(array, i, n * itemsize)")
vector_store = Intrinsic("vector_store", "vector_store(array, i, values): array[i], ..., array[i+n-1] = values (a tuple "
                          "of n = 2 or 4 numbers, converted to the array's type) in one n-wide store; only where "
                          "is_aligned(array, i, n * itemsize)")
is_aligned = Intrinsic("is_aligned", "is_aligned(array, i, nbytes): True when a vector access of nbytes may start at "
                        "array[i] of a 1-d array: its address is a multiple of nbytes and the items are contiguous "
                        "(a strided view's are not)")
block_dims = Intrinsic("block_dims", "block_dims() is the launch's block shape (x, y, z) as compile-time "
                        "ints; a kernel using it (as the block primitives do) compiles once per block shape")


class Namespace:
    """``jk.shared`` / ``jk.local``: holds ``array(shape, dtype)``."""

    __slots__ = ("name", "array")

    def __init__(self, name: str, doc: str):
        self.name = name
        self.array = Intrinsic(f"{name}.array", doc)

    def __repr__(self):
        return f"<jitkit intrinsic namespace {self.name}>"


shared = Namespace("shared", "shared.array(shape, dtype): an array shared by the threads of a block "
                              "(shape: constant int or tuple of ints)")
local = Namespace("local", "local.array(shape, dtype): a small array private to each thread")

_WARP_DOCS = {
    "shfl_sync": "shfl_sync(mask, value, src_lane): value of lane src_lane",
    "shfl_up_sync": "shfl_up_sync(mask, value, delta): value of lane (laneid - delta), own value below 0",
    "shfl_down_sync": "shfl_down_sync(mask, value, delta): value of lane (laneid + delta), own value past 31",
    "shfl_xor_sync": "shfl_xor_sync(mask, value, lane_mask): value of lane (laneid ^ lane_mask)",
    "ballot_sync": "ballot_sync(mask, predicate): uint32 with bit i set when lane i's predicate is true",
    "any_sync": "any_sync(mask, predicate): True when the predicate holds on any lane in mask",
    "all_sync": "all_sync(mask, predicate): True when the predicate holds on every lane in mask",
    "syncwarp": "syncwarp(mask=0xffffffff): barrier for the lanes of a warp",
    "match_any_sync": "match_any_sync(mask, value): uint32 mask of the lanes in mask whose value equals this one's",
    "match_all_sync": "match_all_sync(mask, value): (mask if every lane in mask has the same value else 0, "
                      "that condition as a bool)",
}
(shfl_sync, shfl_up_sync, shfl_down_sync, shfl_xor_sync, ballot_sync, any_sync, all_sync, syncwarp,
 match_any_sync, match_all_sync) = (Intrinsic(n, d) for n, d in _WARP_DOCS.items())

__all__ += ["shared", "local", *_WARP_DOCS]


class Atomics:
    """``jk.atomic.add(array, index, value)`` etc.: read-modify-write returning the old value."""

    OPS = ("add", "sub", "min", "max", "exch", "and_", "or_", "xor", "cas", "inc", "dec", "load")
    _DOCS = {
        "cas": "cas(array, index, expected, value): store value if the element equals expected",
        "load": "load(array, index): the element read past the caches (coherent with other blocks' atomics and "
                "stores; for flags polled across blocks)",
        "inc": "inc(array, index, value): element = 0 if element >= value else element + 1; returns the old value",
        "dec": "dec(array, index, value): element = value if element == 0 or element > value else element - 1; "
               "returns the old value",
    }

    def __init__(self):
        for op in self.OPS:
            doc = self._DOCS.get(op) or f"{op}(array, index, value): atomic {op.rstrip('_')}, returns the old value"
            setattr(self, op, Intrinsic(f"atomic.{op}", doc))

    def __repr__(self):
        return "<jitkit intrinsic namespace atomic>"


atomic = Atomics()
__all__ += ["atomic"]


threadfence = Intrinsic("threadfence", "threadfence(): order this thread's memory writes device-wide")
threadfence_block = Intrinsic("threadfence_block", "threadfence_block(): order writes within the block")
activemask = Intrinsic("activemask", "activemask(): uint32 mask of the lanes executing this call")
lanemask_lt = Intrinsic("lanemask_lt", "lanemask_lt(): uint32 with the bits of the lanes below this one")
__all__ += ["threadfence", "threadfence_block", "activemask", "lanemask_lt"]

grid_sync = Intrinsic("grid_sync", "grid_sync(): wait until every thread of the whole grid reaches it "
                                    "(the kernel is then launched cooperatively; the grid must fit on the GPU at once)")
__all__ += ["grid_sync"]

_BIT_DOCS = {
    "popc": "popc(x): the number of set bits of integer x (int32)",
    "clz": "clz(x): the number of leading zero bits of integer x in its type's width (int32)",
    "ffs": "ffs(x): the position of x's lowest set bit counting from 1, or 0 when x is 0 (int32)",
    "brev": "brev(x): x with its bits in reverse order (x's type)",
}
popc, clz, ffs, brev = (Intrinsic(n, d) for n, d in _BIT_DOCS.items())
__all__ += list(_BIT_DOCS)


asm = Intrinsic("asm", "asm(ptx, constraints, result_type, *args, sim=None): inline PTX, e.g. "
                        "asm('add.s32 $0, $1, $2;', '=r,r,r', jk.int32, a, b); sim is a NumPy function "
                        "the CPU simulator calls instead")
__all__ += ["asm"]


class _ConstexprMarker:
    """``jk.constexpr``: annotate a parameter to specialise the kernel on its value.

    ``def tile(x, out, n: jk.constexpr)`` compiles once per distinct ``n``;
    inside the kernel ``n`` is a compile-time constant (loop bounds, shared
    array shapes, ``if`` on it drops the untaken branch).  Scalar types and
    ``@jit`` functions are constexpr values too (``dtype: jk.constexpr``,
    ``op: jk.constexpr``).
    """

    __slots__ = ()

    def __repr__(self):
        return "jitkit.constexpr"


constexpr = _ConstexprMarker()
__all__ += ["constexpr"]


def is_kernel(obj) -> bool:
    """True for a ``@jk.jit`` function (a dispatcher: its class carries the ``jitkit_kernel`` mark)."""
    return getattr(type(obj), "jitkit_kernel", False) is True


def constexpr_params(pyfunc) -> tuple:
    """Names of ``pyfunc``'s parameters annotated ``jk.constexpr`` (also as a string annotation)."""
    ann = getattr(pyfunc, "__annotations__", None) or {}
    out = []
    for name in pyfunc.__code__.co_varnames[:pyfunc.__code__.co_argcount]:
        a = ann.get(name)
        if a is constexpr or (isinstance(a, str) and (a == "constexpr" or a.endswith(".constexpr"))):
            out.append(name)
    return tuple(out)
