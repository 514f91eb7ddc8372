"""NVVM lowering of the intrinsic ops: one rule per op of :mod:`jitkit.lang.ops`, in :data:`RULES`.

Each rule takes the function being lowered (``fl``: builder ``fl.b``, module ``fl.ml``), the
:class:`~jitkit.compiler.tir.Op` node and its lowered operands, and returns the result value (None
for ops of type none).  The ``array.*`` rules are registered ``raw``: they address the array
element themselves (``fl.element_ptr``) and get no lowered operands.  Thread-index special
registers, barriers, warp operations through the ``llvm.nvvm`` intrinsics (and a few lines of
inline PTX where LLVM 7 has none), bit counts through LLVM's, ``math``/``cmath`` through libdevice.
"""

from __future__ import annotations

import math

from llvmlite import ir

from ...lang import types as T
from ...lang.ops import MATH_FUNCS, SREGS, WARP_SHUFFLES, Rules
from .scalars import (I1, I8, I16, I32, I64, cabs, cexp, clog, compare, complex_parts, half_bits, libdevice,
                      make_complex, math_pred, value_type)

__all__ = ["RULES", "lower_op", "read_sreg"]

RULES = Rules("nvvm")


def lower_op(fl, e):
    """Lower one ``tir.Op`` node (and its operands, unless its rule is raw)."""
    rule = RULES.lookup(e.name, e.loc)
    return rule.fn(fl, e, None if rule.raw else [fl.expr(a) for a in e.args])


def read_sreg(fl, reg: str):
    """The value of PTX special register ``%reg`` (int32)."""
    return fl.b.call(fl.ml.declare(f"llvm.nvvm.read.ptx.sreg.{reg}", I32, []), [])


# ------------------------------------------------------------------ thread indices and barriers

@RULES.register(*(f"sreg.{reg}" for reg in SREGS))
def _sreg(fl, e, args):
    return read_sreg(fl, e.name[5:])


@RULES.register("grid.x", "grid.y", "grid.z", "gridsize.x", "gridsize.y", "gridsize.z")
def _grid(fl, e, args):
    b = fl.b
    kind, d = e.name.split(".")
    ntid = b.sext(read_sreg(fl, f"ntid.{d}"), I64)
    if kind == "grid":
        return b.add(b.sext(read_sreg(fl, f"tid.{d}"), I64), b.mul(b.sext(read_sreg(fl, f"ctaid.{d}"), I64), ntid))
    return b.mul(ntid, b.sext(read_sreg(fl, f"nctaid.{d}"), I64))


@RULES.register("syncthreads")
def _syncthreads(fl, e, args):
    fl.b.call(fl.ml.declare("llvm.nvvm.barrier0", ir.VoidType(), []), [])


@RULES.register("threadfence", "threadfence_block")
def _threadfence(fl, e, args):
    fence = "llvm.nvvm.membar.gl" if e.name == "threadfence" else "llvm.nvvm.membar.cta"
    fl.b.call(fl.ml.declare(fence, ir.VoidType(), []), [])


@RULES.register("grid_sync")
def _grid_sync(fl, e, args):
    """Grid-wide barrier (the launch is cooperative, so every block is resident).

    Thread 0 of each block arrives on a module-scope counter; the last block to arrive resets it
    and advances a generation word, which the others spin on.  One barrier per block around it
    keeps the block's other threads waiting and orders their memory operations."""
    b, ml = fl.b, fl.ml
    g = ml.module.globals.get("__jitkit_grid_barrier")
    if g is None:
        g = ir.GlobalVariable(ml.module, ir.ArrayType(I32, 2), "__jitkit_grid_barrier", addrspace=1)
        g.linkage = "internal"
        g.initializer = ir.Constant(ir.ArrayType(I32, 2), None)
        g.align = 8
    words = b.addrspacecast(g, g.type.pointee.as_pointer())
    count = b.gep(words, [ir.Constant(I32, 0), ir.Constant(I32, 0)])
    gen = b.gep(words, [ir.Constant(I32, 0), ir.Constant(I32, 1)])
    barrier0 = ml.declare("llvm.nvvm.barrier0", ir.VoidType(), [])
    fence = ml.declare("llvm.nvvm.membar.gl", ir.VoidType(), [])
    b.call(barrier0, [])
    first = b.and_(b.and_(b.icmp_unsigned("==", read_sreg(fl, "tid.x"), ir.Constant(I32, 0)),
                          b.icmp_unsigned("==", read_sreg(fl, "tid.y"), ir.Constant(I32, 0))),
                   b.icmp_unsigned("==", read_sreg(fl, "tid.z"), ir.Constant(I32, 0)))
    leader, last_bb, wait_bb, spin_bb, done_bb, after_bb = (fl.new_block(n) for n in (
        "gsync.leader", "gsync.last", "gsync.wait", "gsync.spin", "gsync.done", "gsync.after"))
    b.cbranch(first, leader, after_bb)
    b.position_at_end(leader)
    nblocks = b.mul(b.mul(read_sreg(fl, "nctaid.x"), read_sreg(fl, "nctaid.y")), read_sreg(fl, "nctaid.z"))
    b.call(fence, [])
    start = b.load_atomic(gen, "monotonic", 4)
    arrived = b.atomic_rmw("add", count, ir.Constant(I32, 1), "monotonic")
    b.cbranch(b.icmp_unsigned("==", arrived, b.sub(nblocks, ir.Constant(I32, 1))), last_bb, wait_bb)
    b.position_at_end(last_bb)                       # everyone is here: reset, then release
    b.store_atomic(ir.Constant(I32, 0), count, "monotonic", 4)
    b.call(fence, [])
    b.atomic_rmw("add", gen, ir.Constant(I32, 1), "monotonic")
    b.branch(done_bb)
    b.position_at_end(wait_bb)
    b.branch(spin_bb)
    b.position_at_end(spin_bb)
    b.cbranch(b.icmp_unsigned("==", b.load_atomic(gen, "monotonic", 4), start), spin_bb, done_bb)
    b.position_at_end(done_bb)
    b.call(fence, [])
    b.branch(after_bb)
    b.position_at_end(after_bb)
    b.call(barrier0, [])


# ------------------------------------------------------------------ warp operations

def _widen_bits(b, value):
    """A value narrower than 32 bits (bool, 8/16-bit int, float16, bfloat16) as the i32 of its bits."""
    ity = ir.IntType(value.type.width) if isinstance(value.type, ir.IntType) else I16   # half: 16 bits
    return b.zext(value if ity == value.type else b.bitcast(value, ity), I32)


def _narrow_bits(b, r, vtype):
    """The inverse of :func:`_widen_bits` for a value of LLVM type ``vtype``."""
    ity = vtype if isinstance(vtype, ir.IntType) else I16
    r = b.trunc(r, ity)
    return r if ity == vtype else b.bitcast(r, vtype)


_SHFL_MODE = {"shfl_sync": ("idx", 0x1F), "shfl_up_sync": ("up", 0), "shfl_down_sync": ("down", 0x1F),
              "shfl_xor_sync": ("bfly", 0x1F)}


@RULES.register(*(f"warp.{n}" for n in WARP_SHUFFLES))
def _shfl(fl, e, args):
    b = fl.b
    mode, c = _SHFL_MODE[e.name[5:]]
    mask, value, lane = args
    fn = fl.ml.declare(f"llvm.nvvm.shfl.sync.{mode}.i32", I32, [I32, I32, I32, I32])
    cc = ir.Constant(I32, c)

    def shfl32(v):
        return b.call(fn, [mask, v, lane, cc])
    ty = e.type
    if ty.bits < 32 or ty.is_bool:  # widen to one 32-bit register and back
        return _narrow_bits(b, shfl32(_widen_bits(b, value)), value.type)
    if ty.bits == 32:
        v = b.bitcast(value, I32) if ty.is_float else value
        r = shfl32(v)
        return b.bitcast(r, value.type) if ty.is_float else r
    v = b.bitcast(value, I64) if ty.is_float else value   # 64-bit: two 32-bit shuffles
    lo = shfl32(b.trunc(v, I32))
    hi = shfl32(b.trunc(b.lshr(v, ir.Constant(I64, 32)), I32))
    r = b.or_(b.zext(lo, I64), b.shl(b.zext(hi, I64), ir.Constant(I64, 32)))
    return b.bitcast(r, value.type) if ty.is_float else r


@RULES.register("warp.ballot_sync")
def _ballot(fl, e, args):
    return fl.b.call(fl.ml.declare("llvm.nvvm.vote.ballot.sync", I32, [I32, I1]), args)


@RULES.register("warp.any_sync", "warp.all_sync")
def _vote(fl, e, args):
    return fl.b.call(fl.ml.declare(f"llvm.nvvm.vote.{e.name[5:8]}.sync", I1, [I32, I1]), args)


@RULES.register("warp.syncwarp")
def _syncwarp(fl, e, args):
    fl.b.call(fl.ml.declare("llvm.nvvm.bar.warp.sync", ir.VoidType(), [I32]), args)


@RULES.register("warp.activemask")
def _activemask(fl, e, args):   # PTX activemask.b32 has no LLVM 7 intrinsic; one line of inline PTX
    asm = ir.InlineAsm(ir.FunctionType(I32, []), "activemask.b32 $0;", "=r", side_effect=True)
    return fl.b.call(asm, [])


@RULES.register("warp.lanemask_lt")
def _lanemask_lt(fl, e, args):
    return read_sreg(fl, "lanemask.lt")


@RULES.register("warp.match_any_sync", "warp.match_all_sync")
def _match(fl, e, args):   # match.*.sync (sm_70+) through inline PTX
    b = fl.b
    mask, value = args
    vt = e.args[1].type
    if vt.bits < 32 or vt.is_bool:  # equal values have equal widened bits
        value, vt = _widen_bits(b, value), T.uint32
    bits = vt.bits
    ity = ir.IntType(bits)
    v = b.bitcast(value, ity) if vt.is_float else value
    c = "l" if bits == 64 else "r"
    if e.name == "warp.match_any_sync":
        asm = ir.InlineAsm(ir.FunctionType(I32, [ity, I32]), f"match.any.sync.b{bits} $0, $1, $2;",
                           f"=r,{c},r", side_effect=True)
        return b.call(asm, [v, mask])
    pair = ir.LiteralStructType([I32, I32])
    asm = ir.InlineAsm(ir.FunctionType(pair, [ity, I32]),
                       f"{{ .reg .pred %jkp; match.all.sync.b{bits} $0|%jkp, $2, $3; selp.u32 $1, 1, 0, %jkp; }}",
                       f"=r,=r,{c},r", side_effect=True)
    r = b.call(asm, [v, mask])
    out = ir.Constant(ir.LiteralStructType([I32, I1]), ir.Undefined)
    out = b.insert_value(out, b.extract_value(r, 0), 0)
    return b.insert_value(out, b.icmp_unsigned("!=", b.extract_value(r, 1), ir.Constant(I32, 0)), 1)


# ------------------------------------------------------------------ bits and scalar builtins

def _to_int32(b, r):
    """A bit count of an integer's own width as int32."""
    w = r.type.width
    if w == 32:
        return r
    return b.trunc(r, I32) if w > 32 else b.zext(r, I32)


@RULES.register("bits.brev")
def _brev(fl, e, args):
    x, = args
    return fl.b.call(fl.ml.declare(f"llvm.bitreverse.i{x.type.width}", x.type, [x.type]), [x])


@RULES.register("bits.popc")
def _popc(fl, e, args):
    x, = args
    ty = x.type
    return _to_int32(fl.b, fl.b.call(fl.ml.declare(f"llvm.ctpop.i{ty.width}", ty, [ty]), [x]))


@RULES.register("bits.clz")
def _clz(fl, e, args):
    x, = args
    ty = x.type
    return _to_int32(fl.b, fl.b.call(fl.ml.declare(f"llvm.ctlz.i{ty.width}", ty, [ty, I1]), [x, ir.Constant(I1, 0)]))


@RULES.register("bits.ffs")
def _ffs(fl, e, args):   # trailing zeros + 1, and 0 for 0
    b = fl.b
    x, = args
    ty = x.type
    tz = b.call(fl.ml.declare(f"llvm.cttz.i{ty.width}", ty, [ty, I1]), [x, ir.Constant(I1, 0)])
    return _to_int32(b, b.select(b.icmp_unsigned("==", x, ir.Constant(ty, 0)), ir.Constant(ty, 0),
                                 b.add(tz, ir.Constant(ty, 1))))


@RULES.register("bitcast")
def _bitcast(fl, e, args):
    x, = args
    return x if x.type == value_type(e.type) else fl.b.bitcast(x, value_type(e.type))


@RULES.register("min", "max")
def _minmax(fl, e, args):
    x, y = args
    pick_y = compare(fl.b, "lt" if e.name == "min" else "gt", y, x, e.type)
    return fl.b.select(pick_y, y, x)


@RULES.register("abs")
def _abs(fl, e, args):
    b = fl.b
    x, = args
    if e.type.is_float:
        return libdevice(fl, "fabs", e.type, [x])
    return b.select(b.icmp_signed("<", x, ir.Constant(x.type, 0)), b.sub(ir.Constant(x.type, 0), x), x)


@RULES.register("round")
def _round(fl, e, args):
    x, = args
    return fl.b.fptosi(libdevice(fl, "rint", e.args[0].type, [x]), I64)


# ------------------------------------------------------------------ math

@RULES.register("math.isnan", "math.isinf", "math.isfinite")
def _math_pred(fl, e, args):
    return math_pred(fl, e.name[5:], e.args[0].type, args[0])


@RULES.register("math.floor", "math.ceil", "math.trunc")
def _math_to_int(fl, e, args):
    return fl.b.fptosi(libdevice(fl, e.name[5:], e.args[0].type, [args[0]]), I64)


@RULES.register("math.degrees", "math.radians")
def _math_angle(fl, e, args):
    x = args[0]
    k = 180.0 / math.pi if e.name == "math.degrees" else math.pi / 180.0
    return fl.b.fmul(x, ir.Constant(x.type, k))


@RULES.register(*(f"math.{n}" for n, (_, kind) in MATH_FUNCS.items()
                  if kind == "float" and n not in ("degrees", "radians")))
def _math_libdevice(fl, e, args):
    return libdevice(fl, e.name[5:], e.args[0].type, args)


# ------------------------------------------------------------------ complex and cmath

@RULES.register("complex.make")
def _complex_make(fl, e, args):
    return make_complex(fl.b, e.type, args[0], args[1])


@RULES.register("complex.real")
def _complex_real(fl, e, args):
    return fl.b.extract_value(args[0], 0)


@RULES.register("complex.imag")
def _complex_imag(fl, e, args):
    return fl.b.extract_value(args[0], 1)


@RULES.register("complex.conj")
def _complex_conj(fl, e, args):
    re, im = complex_parts(fl.b, args[0])
    return make_complex(fl.b, e.args[0].type, re, fl.b.fsub(ir.Constant(im.type, -0.0), im))


@RULES.register("complex.abs")
def _complex_abs(fl, e, args):
    return cabs(fl, args[0], e.args[0].type)


@RULES.register("cmath.rect")
def _cmath_rect(fl, e, args):
    b = fl.b
    r, phi = args
    p = e.type.part
    return make_complex(b, e.type, b.fmul(r, libdevice(fl, "cos", p, [phi])), b.fmul(r, libdevice(fl, "sin", p, [phi])))


def _z(fl, e, args):
    """(z, its type, the part type, re, im) of a cmath function's complex operand.  The parts are
    extracted first, also where the function's own helper extracts them again (the IR keeps both)."""
    z = args[0]
    ty = e.args[0].type
    re, im = complex_parts(fl.b, z)
    return z, ty, ty.part, re, im


@RULES.register("cmath.phase")
def _cmath_phase(fl, e, args):
    z, ty, p, re, im = _z(fl, e, args)
    return libdevice(fl, "atan2", p, [im, re])


@RULES.register("cmath.exp")
def _cmath_exp(fl, e, args):
    z, ty, p, re, im = _z(fl, e, args)
    return cexp(fl, z, ty)


@RULES.register("cmath.log")
def _cmath_log(fl, e, args):
    z, ty, p, re, im = _z(fl, e, args)
    return clog(fl, z, ty)


@RULES.register("cmath.sqrt")
def _cmath_sqrt(fl, e, args):   # sqrt(|z|) * exp(i * phase / 2), via the half-angle formulas (exact for reals)
    b = fl.b
    z, ty, p, re, im = _z(fl, e, args)
    m = cabs(fl, z, ty)
    half = ir.Constant(re.type, 0.5)
    s = libdevice(fl, "sqrt", p, [b.fmul(b.fadd(m, libdevice(fl, "fabs", p, [re])), half)])
    zero = ir.Constant(re.type, 0.0)
    t = b.select(b.fcmp_ordered("==", s, zero), zero, b.fdiv(b.fmul(libdevice(fl, "fabs", p, [im]), half), s))
    pos = b.fcmp_ordered(">=", re, zero)
    out_re = b.select(pos, s, t)
    out_im = b.select(pos, libdevice(fl, "copysign", p, [t, im]), libdevice(fl, "copysign", p, [s, im]))
    return make_complex(b, ty, out_re, out_im)


@RULES.register("cmath.sin", "cmath.cos")
def _cmath_sin_cos(fl, e, args):
    b = fl.b
    z, ty, p, re, im = _z(fl, e, args)
    sin_re, cos_re = libdevice(fl, "sin", p, [re]), libdevice(fl, "cos", p, [re])
    sinh_im, cosh_im = libdevice(fl, "sinh", p, [im]), libdevice(fl, "cosh", p, [im])
    if e.name == "cmath.sin":
        return make_complex(b, ty, b.fmul(sin_re, cosh_im), b.fmul(cos_re, sinh_im))
    return make_complex(b, ty, b.fmul(cos_re, cosh_im), b.fsub(ir.Constant(re.type, -0.0), b.fmul(sin_re, sinh_im)))


@RULES.register("cmath.isnan", "cmath.isinf", "cmath.isfinite")
def _cmath_pred(fl, e, args):
    b = fl.b
    z, ty, p, re, im = _z(fl, e, args)
    f = e.name[6:]
    a, c = math_pred(fl, f, p, re), math_pred(fl, f, p, im)
    return b.and_(a, c) if f == "isfinite" else b.or_(a, c)


# ------------------------------------------------------------------ vector access

@RULES.register("array.is_aligned", raw=True)
def _is_aligned(fl, e, args):
    b = fl.b
    ptr = fl.element_ptr(e.args[0], [e.args[1]], e)
    low = b.and_(b.ptrtoint(ptr, I64), ir.Constant(I64, e.args[2].value - 1))
    ok = b.icmp_unsigned("==", low, ir.Constant(I64, 0))
    aty = e.args[0].type
    if aty.layout == "A":       # a strided view: vectors need unit stride too
        stride = b.extract_value(fl.expr(e.args[0]), [2, 0])
        ok = b.and_(ok, b.icmp_signed("==", stride, ir.Constant(I64, aty.dtype.itemsize)))
    return ok


def _vector_element(ptr):
    """The LLVM element type of a vector access through ``ptr`` (float16 moves as i16: see half_bits)."""
    half = isinstance(ptr.type.pointee, ir.HalfType)
    return (I16 if half else ptr.type.pointee), half


@RULES.register("array.vector_store", raw=True)
def _vector_store(fl, e, args):
    b = fl.b
    ptr = fl.element_ptr(e.args[0], [e.args[1]], e)
    dt = e.args[0].type.dtype
    elem, half = _vector_element(ptr)
    tup = fl.expr(e.args[2])
    n = len(e.args[2].type.types)
    vec = ir.Constant(ir.VectorType(elem, n), ir.Undefined)
    for k, t in enumerate(e.args[2].type.types):
        v = fl.cast(b.extract_value(tup, k), t, dt)
        if dt.is_bool:
            v = b.zext(v, I8)
        elif half:
            v = half_bits(b, v, I16)
        vec = b.insert_element(vec, v, ir.Constant(I32, k))
    b.store(vec, b.bitcast(ptr, ir.PointerType(vec.type, ptr.type.addrspace)), align=n * dt.itemsize)


@RULES.register("array.vector_load", raw=True)
def _vector_load(fl, e, args):
    b = fl.b
    ptr = fl.element_ptr(e.args[0], [e.args[1]], e)
    dt = e.args[0].type.dtype
    elem, _ = _vector_element(ptr)
    n = len(e.type.types)
    vec = b.load(b.bitcast(ptr, ir.PointerType(ir.VectorType(elem, n), ptr.type.addrspace)), align=n * dt.itemsize)
    out = ir.Constant(value_type(e.type), ir.Undefined)
    for k in range(n):
        out = b.insert_value(out, fl.from_memory(b.extract_element(vec, ir.Constant(I32, k)), dt), k)
    return out
