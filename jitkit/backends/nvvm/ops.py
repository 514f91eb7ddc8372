"""NVVM lowering of scalar primitives and of the intrinsic ``Op`` table.

Casts, comparisons and arithmetic with Python semantics (floor division and
modulo round toward negative infinity; ``min``/``max`` return the first
argument on ties and NaNs as Python does), thread-index special registers,
barriers and ``math`` through libdevice.
"""

from __future__ import annotations

from llvmlite import ir

from ...lang import types as T
from ...lang.errors import CompileError

I1, I16, I32, I64 = ir.IntType(1), ir.IntType(16), ir.IntType(32), ir.IntType(64)

_CMP = {"lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "==", "ne": "!="}


def value_type(ty: T.Type) -> ir.Type:
    """The LLVM type of a value of ``ty`` held in registers."""
    if isinstance(ty, T.Scalar):
        if ty.is_bool:
            return I1
        if ty.is_complex:
            part = value_type(ty.part)
            return ir.LiteralStructType([part, part])
        if ty.is_bf16:
            return I16  # bit pattern; arithmetic is float32 (the typer inserts the casts)
        if ty.is_float:
            return {16: ir.HalfType(), 32: ir.FloatType(), 64: ir.DoubleType()}[ty.bits]
        return ir.IntType(ty.bits)
    if isinstance(ty, T.Array):
        n = ir.ArrayType(I64, ty.ndim)
        return ir.LiteralStructType([memory_type(ty.dtype).as_pointer(), n, n])
    if isinstance(ty, T.Tuple):
        return ir.LiteralStructType([value_type(t) for t in ty.types])
    if isinstance(ty, T.NoneType):
        return ir.VoidType()
    raise TypeError(ty)


def memory_type(ty: T.Scalar) -> ir.Type:
    """The LLVM type of a scalar stored in memory (bool is a byte)."""
    return ir.IntType(8) if ty.is_bool else value_type(ty)


def truth(b: ir.IRBuilder, v, ty: T.Scalar):
    """Python truthiness: nonzero (NaN is true)."""
    if ty.is_bool:
        return v
    if ty.is_bf16:  # any bit but the sign's (NaN is true)
        return b.icmp_unsigned("!=", b.and_(v, ir.Constant(I16, 0x7FFF)), ir.Constant(I16, 0))
    if ty.is_complex:
        return b.or_(truth(b, b.extract_value(v, 0), ty.part), truth(b, b.extract_value(v, 1), ty.part))
    if ty.is_float:
        return b.fcmp_unordered("!=", v, ir.Constant(v.type, 0.0))
    return b.icmp_unsigned("!=", v, ir.Constant(v.type, 0))


def cast(b: ir.IRBuilder, v, src: T.Type, dst: T.Type):
    if src is dst:
        return v
    if isinstance(src, T.Array) and isinstance(dst, T.Array):
        return v  # same register layout; only the static layout differs
    if isinstance(src, T.Tuple) and isinstance(dst, T.Tuple):
        agg = ir.Constant(value_type(dst), ir.Undefined)
        for i, (s, d) in enumerate(zip(src.types, dst.types)):
            agg = b.insert_value(agg, cast(b, b.extract_value(v, i), s, d), i)
        return agg
    if not (isinstance(src, T.Scalar) and isinstance(dst, T.Scalar)):
        raise TypeError(f"cannot cast {src} to {dst}")
    if dst.is_bool:
        return truth(b, v, src)
    if src.is_bf16:  # exact in float32
        return cast(b, bf16_to_f32(b, v), T.float32, dst)
    if dst.is_bf16:
        if src.is_bool or (src.is_float and src.bits <= 32) or (src.is_int and src.bits < 24):
            return f32_to_bf16(b, cast(b, v, src, T.float32))   # exact in float32, then one rounding
        return f64_to_bf16(b, cast(b, v, src, T.float64))       # ints: one harmless 53-bit rounding first
    if dst.is_complex:
        if src.is_complex:
            re, im = b.extract_value(v, 0), b.extract_value(v, 1)
            return make_complex(b, dst, cast(b, re, src.part, dst.part), cast(b, im, src.part, dst.part))
        return make_complex(b, dst, cast(b, v, src, dst.part), ir.Constant(value_type(dst.part), 0.0))
    to = value_type(dst)
    if src.is_bool:
        return b.uitofp(v, to) if dst.is_float else b.zext(v, to)
    if src.is_float and dst.is_float:
        return b.fpext(v, to) if dst.bits > src.bits else b.fptrunc(v, to)
    if src.is_float:
        return b.fptosi(v, to) if dst.is_signed else b.fptoui(v, to)
    if dst.is_float:
        return b.sitofp(v, to) if src.is_signed else b.uitofp(v, to)
    if dst.bits == src.bits:
        return v
    if dst.bits < src.bits:
        return b.trunc(v, to)
    return b.sext(v, to) if src.is_signed else b.zext(v, to)


def bf16_to_f32(b: ir.IRBuilder, v):
    return b.bitcast(b.shl(b.zext(v, I32), ir.Constant(I32, 16)), ir.FloatType())


def _rne_bf16(b: ir.IRBuilder, u, nan):
    """float32 bits ``u`` rounded to bfloat16 bits, to nearest even; a NaN stays a (quiet) NaN."""
    c16 = ir.Constant(I32, 16)
    lsb = b.and_(b.lshr(u, c16), ir.Constant(I32, 1))
    r = b.lshr(b.add(u, b.add(lsb, ir.Constant(I32, 0x7FFF))), c16)
    r = b.select(nan, b.or_(b.lshr(u, c16), ir.Constant(I32, 0x40)), r)
    return b.trunc(r, I16)


def f32_to_bf16(b: ir.IRBuilder, v):
    return _rne_bf16(b, b.bitcast(v, I32), b.fcmp_unordered("uno", v, v))


def f64_to_bf16(b: ir.IRBuilder, d):
    """Correctly rounded: float64 to float32 with round-to-odd (the nearest float32, stepped toward
    zero if it rounded away, with its last bit set when inexact), then to nearest even."""
    f = b.fptrunc(d, ir.FloatType())
    back = b.fpext(f, ir.DoubleType())
    u = b.bitcast(f, I32)
    inexact = b.fcmp_ordered("!=", back, d)
    away = b.and_(inexact, b.xor(b.fcmp_ordered(">", back, d), b.fcmp_ordered("<", d, ir.Constant(d.type, 0.0))))
    u = b.select(away, b.sub(u, ir.Constant(I32, 1)), u)
    u = b.select(inexact, b.or_(u, ir.Constant(I32, 1)), u)
    return _rne_bf16(b, u, b.fcmp_unordered("uno", d, d))


def make_complex(b: ir.IRBuilder, ty: T.Scalar, re, im):
    agg = ir.Constant(value_type(ty), ir.Undefined)
    return b.insert_value(b.insert_value(agg, re, 0), im, 1)


def compare(b: ir.IRBuilder, op: str, lhs, rhs, ty: T.Scalar):
    if ty.is_complex:  # typing allows only == and !=
        p = ty.part
        eq = b.and_(compare(b, "eq", b.extract_value(lhs, 0), b.extract_value(rhs, 0), p),
                    compare(b, "eq", b.extract_value(lhs, 1), b.extract_value(rhs, 1), p))
        return eq if op == "eq" else b.xor(eq, ir.Constant(I1, 1))
    if ty.is_float:
        if op == "ne":  # NaN != x is true in Python
            return b.fcmp_unordered("!=", lhs, rhs)
        return b.fcmp_ordered(_CMP[op], lhs, rhs)
    if ty.is_signed:
        return b.icmp_signed(_CMP[op], lhs, rhs)
    return b.icmp_unsigned(_CMP[op], lhs, rhs)


def arith(fl, op: str, lhs, rhs, ty: T.Scalar):
    """Binary arithmetic on two values of scalar type ``ty``."""
    b = fl.b
    if ty.is_complex:
        return _complex_arith(fl, op, lhs, rhs, ty)
    if ty.is_float:
        simple = {"add": b.fadd, "sub": b.fsub, "mul": b.fmul, "truediv": b.fdiv}
        if op in simple:
            return simple[op](lhs, rhs)
        if op == "pow":
            return _libdevice(fl, "pow", ty, [lhs, rhs])
        if op in ("floordiv", "mod"):
            return _float_divmod(fl, lhs, rhs, ty)[0 if op == "floordiv" else 1]
    else:
        simple = {"add": b.add, "sub": b.sub, "mul": b.mul, "bitand": b.and_, "bitor": b.or_,
                  "bitxor": b.xor, "lshift": b.shl}
        if op in simple:
            return simple[op](lhs, rhs)
        if op == "rshift":
            return b.ashr(lhs, rhs) if ty.is_signed else b.lshr(lhs, rhs)
        if op in ("floordiv", "mod"):
            return _int_divmod(b, op, lhs, rhs, ty)
        if op == "pow":
            return b.call(_ipow(fl.ml, ty), [lhs, rhs])
    raise CompileError(f"internal error: no lowering for {op} on {ty}")


def _parts(b, z):
    return b.extract_value(z, 0), b.extract_value(z, 1)


def _complex_arith(fl, op, lhs, rhs, ty):
    b = fl.b
    (xr, xi), (yr, yi) = _parts(b, lhs), _parts(b, rhs)      # (xr + i xi) op (yr + i yi)
    if op in ("add", "sub"):
        f = b.fadd if op == "add" else b.fsub
        return make_complex(b, ty, f(xr, yr), f(xi, yi))
    if op == "mul":
        return make_complex(b, ty, b.fsub(b.fmul(xr, yr), b.fmul(xi, yi)), b.fadd(b.fmul(xr, yi), b.fmul(xi, yr)))
    if op == "truediv":  # Smith's algorithm: no overflow from squaring the divisor
        p = ty.part
        big_re = b.fcmp_ordered(">=", _libdevice(fl, "fabs", p, [yr]), _libdevice(fl, "fabs", p, [yi]))
        r1 = b.fdiv(yi, yr)
        den1 = b.fadd(yr, b.fmul(yi, r1))
        re1, im1 = b.fdiv(b.fadd(xr, b.fmul(xi, r1)), den1), b.fdiv(b.fsub(xi, b.fmul(xr, r1)), den1)
        r2 = b.fdiv(yr, yi)
        den2 = b.fadd(b.fmul(yr, r2), yi)
        re2, im2 = b.fdiv(b.fadd(b.fmul(xr, r2), xi), den2), b.fdiv(b.fsub(b.fmul(xi, r2), xr), den2)
        return make_complex(b, ty, b.select(big_re, re1, re2), b.select(big_re, im1, im2))
    if op == "pow":  # z ** w = exp(w * log(z)); 0 ** w = 0 (w != 0), z ** 0 = 1
        return _cexp(fl, _complex_arith(fl, "mul", rhs, _clog(fl, lhs, ty), ty), ty, zero_base=(lhs, rhs))
    raise CompileError(f"internal error: no lowering for {op} on {ty}")


def _cabs(fl, z, ty):
    re, im = _parts(fl.b, z)
    return _libdevice(fl, "hypot", ty.part, [re, im])


def _clog(fl, z, ty):
    re, im = _parts(fl.b, z)
    return make_complex(fl.b, ty, _libdevice(fl, "log", ty.part, [_cabs(fl, z, ty)]),
                        _libdevice(fl, "atan2", ty.part, [im, re]))


def _cexp(fl, z, ty, zero_base=None):
    b = fl.b
    re, im = _parts(b, z)
    p = ty.part
    r = _libdevice(fl, "exp", p, [re])
    out = make_complex(b, ty, b.fmul(r, _libdevice(fl, "cos", p, [im])), b.fmul(r, _libdevice(fl, "sin", p, [im])))
    if zero_base is not None:
        base, w = zero_base
        zero = ir.Constant(value_type(p), 0.0)
        base0 = b.and_(b.fcmp_ordered("==", b.extract_value(base, 0), zero),
                       b.fcmp_ordered("==", b.extract_value(base, 1), zero))
        w0 = b.and_(b.fcmp_ordered("==", b.extract_value(w, 0), zero), b.fcmp_ordered("==", b.extract_value(w, 1), zero))
        one = make_complex(b, ty, ir.Constant(value_type(p), 1.0), zero)
        out = b.select(base0, make_complex(b, ty, zero, zero), out)
        out = b.select(w0, one, out)
    return out


def _complex_op(fl, name, e, args):
    b = fl.b
    ty = e.args[0].type if e.args else e.type
    if name == "complex.make":
        return make_complex(b, e.type, args[0], args[1])
    z = args[0]
    if name == "complex.real":
        return b.extract_value(z, 0)
    if name == "complex.imag":
        return b.extract_value(z, 1)
    if name == "complex.conj":
        re, im = _parts(b, z)
        return make_complex(b, ty, re, b.fsub(ir.Constant(im.type, -0.0), im))
    if name == "complex.abs":
        return _cabs(fl, z, ty)
    if name == "cmath.rect":
        r, phi = args
        p = e.type.part
        return make_complex(b, e.type, b.fmul(r, _libdevice(fl, "cos", p, [phi])),
                            b.fmul(r, _libdevice(fl, "sin", p, [phi])))
    re, im = _parts(b, z)
    p = ty.part
    if name == "cmath.phase":
        return _libdevice(fl, "atan2", p, [im, re])
    if name == "cmath.exp":
        return _cexp(fl, z, ty)
    if name == "cmath.log":
        return _clog(fl, z, ty)
    if name == "cmath.sqrt":  # sqrt(|z|) * exp(i * phase / 2), via the half-angle formulas (exact for reals)
        m = _cabs(fl, z, ty)
        half = ir.Constant(re.type, 0.5)
        s = _libdevice(fl, "sqrt", p, [b.fmul(b.fadd(m, _libdevice(fl, "fabs", p, [re])), half)])
        zero = ir.Constant(re.type, 0.0)
        t = b.select(b.fcmp_ordered("==", s, zero), zero, b.fdiv(b.fmul(_libdevice(fl, "fabs", p, [im]), half), s))
        pos = b.fcmp_ordered(">=", re, zero)
        out_re = b.select(pos, s, t)
        out_im = b.select(pos, _libdevice(fl, "copysign", p, [t, im]), _libdevice(fl, "copysign", p, [s, im]))
        return make_complex(b, ty, out_re, out_im)
    if name in ("cmath.sin", "cmath.cos"):
        sin_re, cos_re = _libdevice(fl, "sin", p, [re]), _libdevice(fl, "cos", p, [re])
        sinh_im, cosh_im = _libdevice(fl, "sinh", p, [im]), _libdevice(fl, "cosh", p, [im])
        if name == "cmath.sin":
            return make_complex(b, ty, b.fmul(sin_re, cosh_im), b.fmul(cos_re, sinh_im))
        return make_complex(b, ty, b.fmul(cos_re, cosh_im), b.fsub(ir.Constant(re.type, -0.0), b.fmul(sin_re, sinh_im)))
    if name in ("cmath.isnan", "cmath.isinf", "cmath.isfinite"):
        f = name[6:]
        a, c = _math_pred(fl, f, p, re), _math_pred(fl, f, p, im)
        return b.and_(a, c) if f == "isfinite" else b.or_(a, c)
    raise CompileError(f"internal error: no NVVM lowering for operation {name!r}", e.loc)


def _math_pred(fl, fname, ty, x):
    b = fl.b
    if fname == "isnan":
        return b.fcmp_unordered("uno", x, x)
    a = _libdevice(fl, "fabs", ty, [x])
    return b.fcmp_ordered("==" if fname == "isinf" else "<", a, ir.Constant(x.type, float("inf")))


def _int_divmod(b, op, lhs, rhs, ty):
    if not ty.is_signed:
        return b.udiv(lhs, rhs) if op == "floordiv" else b.urem(lhs, rhs)
    zero = ir.Constant(lhs.type, 0)
    q, r = b.sdiv(lhs, rhs), b.srem(lhs, rhs)
    # round toward -inf: adjust when the remainder is nonzero and signs differ
    fix = b.and_(b.icmp_signed("!=", r, zero),
                 b.icmp_signed("!=", b.icmp_signed("<", r, zero), b.icmp_signed("<", rhs, zero)))
    if op == "floordiv":
        return b.select(fix, b.sub(q, ir.Constant(lhs.type, 1)), q)
    return b.select(fix, b.add(r, rhs), r)


def _float_divmod(fl, a, w, ty):
    """Python's float divmod (CPython float_divmod), branch-free."""
    b = fl.b
    zero = ir.Constant(a.type, 0.0)
    mod = b.frem(a, w)
    div = b.fdiv(b.fsub(a, mod), w)
    fix = b.and_(b.fcmp_unordered("!=", mod, zero),
                 b.icmp_unsigned("!=", b.fcmp_ordered("<", w, zero), b.fcmp_ordered("<", mod, zero)))
    mod = b.select(fix, b.fadd(mod, w), mod)
    div = b.select(fix, b.fsub(div, ir.Constant(a.type, 1.0)), div)
    mod = b.select(b.fcmp_ordered("==", mod, zero), _libdevice(fl, "copysign", ty, [zero, w]), mod)
    fdiv = _libdevice(fl, "floor", ty, [div])
    fdiv = b.select(b.fcmp_ordered(">", b.fsub(div, fdiv), ir.Constant(a.type, 0.5)),
                    b.fadd(fdiv, ir.Constant(a.type, 1.0)), fdiv)
    fdiv = b.select(b.fcmp_ordered("==", div, zero), _libdevice(fl, "copysign", ty, [zero, b.fdiv(a, w)]), fdiv)
    return fdiv, mod


def _ipow(ml, ty: T.Scalar) -> ir.Function:
    """Integer power by squaring; a negative exponent gives 0 unless |base| == 1."""
    name = f"__jitkit_ipow_{ty.name}"
    if name in ml.declared:
        return ml.declared[name]
    t = value_type(ty)
    fn = ml.declare(name, t, [t, t])
    fn.linkage = "internal"
    base, exp = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))
    one, zero = ir.Constant(t, 1), ir.Constant(t, 0)
    loop, body, done = fn.append_basic_block("loop"), fn.append_basic_block("body"), fn.append_basic_block("done")
    if ty.is_signed:
        neg_bb, pos_bb = fn.append_basic_block("neg"), fn.append_basic_block("pos")
        b.cbranch(b.icmp_signed("<", exp, zero), neg_bb, pos_bb)
        b.position_at_end(neg_bb)
        odd = b.icmp_unsigned("!=", b.and_(exp, one), zero)
        r = b.select(b.icmp_signed("==", base, one), one,
                     b.select(b.icmp_signed("==", base, ir.Constant(t, -1)), b.select(odd, ir.Constant(t, -1), one),
                              zero))
        b.ret(r)
        b.position_at_end(pos_bb)
    entry = b.block
    b.branch(loop)
    b.position_at_end(loop)
    r_phi, b_phi, e_phi = b.phi(t), b.phi(t), b.phi(t)
    b.cbranch(b.icmp_unsigned("!=", e_phi, zero), body, done)
    b.position_at_end(body)
    odd = b.icmp_unsigned("!=", b.and_(e_phi, one), zero)
    r2 = b.select(odd, b.mul(r_phi, b_phi), r_phi)
    b2 = b.mul(b_phi, b_phi)
    e2 = b.lshr(e_phi, one)
    b.branch(loop)
    r_phi.add_incoming(one, entry), r_phi.add_incoming(r2, body)
    b_phi.add_incoming(base, entry), b_phi.add_incoming(b2, body)
    e_phi.add_incoming(exp, entry), e_phi.add_incoming(e2, body)
    b.position_at_end(done)
    b.ret(r_phi)
    return fn


# libdevice names that differ from Python's
_LIBDEVICE_NAME = {"gamma": "tgamma"}


def _libdevice(fl, name: str, ty: T.Scalar, args):
    if ty.bits == 16:  # libdevice has no half functions: compute in float32, round once
        b = fl.b
        r = _libdevice(fl, name, T.float32, [b.fpext(a, ir.FloatType()) if a.type == ir.HalfType() else a
                                             for a in args])
        return b.fptrunc(r, ir.HalfType()) if r.type == ir.FloatType() else r
    base = "__nv_" + _LIBDEVICE_NAME.get(name, name) + ("f" if ty.bits == 32 else "")
    t = value_type(ty)
    return fl.b.call(fl.ml.declare(base, t, [t] * len(args)), args)


def _sreg(fl, reg: str):
    return fl.b.call(fl.ml.declare(f"llvm.nvvm.read.ptx.sreg.{reg}", I32, []), [])


def lower_op(fl, e, args):
    """Lower one ``tir.Op`` node whose operands are already lowered."""
    name = e.name
    b = fl.b
    if name.startswith("sreg."):
        return _sreg(fl, name[5:])
    if name.startswith(("grid.", "gridsize.")):
        kind, d = name.split(".")
        ntid = b.sext(_sreg(fl, f"ntid.{d}"), I64)
        if kind == "grid":
            return b.add(b.sext(_sreg(fl, f"tid.{d}"), I64), b.mul(b.sext(_sreg(fl, f"ctaid.{d}"), I64), ntid))
        return b.mul(ntid, b.sext(_sreg(fl, f"nctaid.{d}"), I64))
    if name == "syncthreads":
        b.call(fl.ml.declare("llvm.nvvm.barrier0", ir.VoidType(), []), [])
        return None
    if name == "grid_sync":
        _grid_sync(fl)
        return None
    if name in ("threadfence", "threadfence_block"):
        fence = "llvm.nvvm.membar.gl" if name == "threadfence" else "llvm.nvvm.membar.cta"
        b.call(fl.ml.declare(fence, ir.VoidType(), []), [])
        return None
    if name.startswith("warp."):
        return _warp(fl, name[5:], e, args)
    if name.startswith("bits."):
        return _bits(fl, name[5:], args[0])
    if name == "bitcast":
        x, = args
        return x if x.type == value_type(e.type) else b.bitcast(x, value_type(e.type))
    if name in ("min", "max"):
        x, y = args
        pick_y = compare(b, "lt" if name == "min" else "gt", y, x, e.type)
        return b.select(pick_y, y, x)
    if name == "abs":
        x, = args
        if e.type.is_float:
            return _libdevice(fl, "fabs", e.type, [x])
        return b.select(b.icmp_signed("<", x, ir.Constant(x.type, 0)), b.sub(ir.Constant(x.type, 0), x), x)
    if name == "round":
        x, = args
        return b.fptosi(_libdevice(fl, "rint", e.args[0].type, [x]), I64)
    if name.startswith("math."):
        return _math(fl, name[5:], e, args)
    if name.startswith(("complex.", "cmath.")):
        return _complex_op(fl, name, e, args)
    raise CompileError(f"internal error: no NVVM lowering for operation {name!r}", e.loc)


def _bits(fl, name, x):
    """popc / clz / ffs (int32) and brev (same type) of an integer through LLVM's bit intrinsics."""
    b = fl.b
    ty = x.type
    if name == "brev":
        return b.call(fl.ml.declare(f"llvm.bitreverse.i{ty.width}", ty, [ty]), [x])
    if name == "popc":
        r = b.call(fl.ml.declare(f"llvm.ctpop.i{ty.width}", ty, [ty]), [x])
    elif name == "clz":
        r = b.call(fl.ml.declare(f"llvm.ctlz.i{ty.width}", ty, [ty, I1]), [x, ir.Constant(I1, 0)])
    else:   # ffs: trailing zeros + 1, and 0 for 0
        tz = b.call(fl.ml.declare(f"llvm.cttz.i{ty.width}", ty, [ty, I1]), [x, ir.Constant(I1, 0)])
        r = b.select(b.icmp_unsigned("==", x, ir.Constant(ty, 0)), ir.Constant(ty, 0),
                     b.add(tz, ir.Constant(ty, 1)))
    if ty.width == 32:
        return r
    return b.trunc(r, I32) if ty.width > 32 else b.zext(r, I32)


def _grid_sync(fl):
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
    first = b.and_(b.and_(b.icmp_unsigned("==", _sreg(fl, "tid.x"), ir.Constant(I32, 0)),
                          b.icmp_unsigned("==", _sreg(fl, "tid.y"), ir.Constant(I32, 0))),
                   b.icmp_unsigned("==", _sreg(fl, "tid.z"), ir.Constant(I32, 0)))
    leader, last_bb, wait_bb, spin_bb, done_bb, after_bb = (fl._new_block(n) for n in (
        "gsync.leader", "gsync.last", "gsync.wait", "gsync.spin", "gsync.done", "gsync.after"))
    b.cbranch(first, leader, after_bb)
    b.position_at_end(leader)
    nblocks = b.mul(b.mul(_sreg(fl, "nctaid.x"), _sreg(fl, "nctaid.y")), _sreg(fl, "nctaid.z"))
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


def _math(fl, fname: str, e, args):
    b = fl.b
    ty = e.args[0].type
    x = args[0]
    if fname in ("isnan", "isinf", "isfinite"):
        return _math_pred(fl, fname, ty, x)
    if fname in ("floor", "ceil", "trunc"):
        return b.fptosi(_libdevice(fl, fname, ty, [x]), I64)
    if fname in ("degrees", "radians"):
        import math
        k = 180.0 / math.pi if fname == "degrees" else math.pi / 180.0
        return b.fmul(x, ir.Constant(x.type, k))
    return _libdevice(fl, fname, ty, args)


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


def _warp(fl, name, e, args):
    b = fl.b
    if name in _SHFL_MODE:
        mode, c = _SHFL_MODE[name]
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
    if name == "ballot_sync":
        return b.call(fl.ml.declare("llvm.nvvm.vote.ballot.sync", I32, [I32, I1]), args)
    if name in ("any_sync", "all_sync"):
        return b.call(fl.ml.declare(f"llvm.nvvm.vote.{name[:3]}.sync", I1, [I32, I1]), args)
    if name == "syncwarp":
        b.call(fl.ml.declare("llvm.nvvm.bar.warp.sync", ir.VoidType(), [I32]), args)
        return None
    if name == "activemask":  # PTX activemask.b32 has no LLVM 7 intrinsic; one line of inline PTX
        asm = ir.InlineAsm(ir.FunctionType(I32, []), "activemask.b32 $0;", "=r", side_effect=True)
        return b.call(asm, [])
    if name == "lanemask_lt":
        return _sreg(fl, "lanemask.lt")
    if name in ("match_any_sync", "match_all_sync"):  # match.*.sync (sm_70+) through inline PTX
        mask, value = args
        vt = e.args[1].type
        if vt.bits < 32 or vt.is_bool:  # equal values have equal widened bits
            value, vt = _widen_bits(b, value), T.uint32
        bits = vt.bits
        ity = ir.IntType(bits)
        v = b.bitcast(value, ity) if vt.is_float else value
        c = "l" if bits == 64 else "r"
        if name == "match_any_sync":
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
    raise CompileError(f"internal error: no NVVM lowering for warp.{name}", e.loc)
