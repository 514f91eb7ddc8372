"""NVVM lowering of scalar values: register and memory types, casts, comparisons, arithmetic.

Python semantics throughout: floor division and modulo round toward negative infinity, ``x ** n``
on integers by squaring, NaN is true, complex arithmetic by Smith's algorithm.  bfloat16 is held as
its 16 bits (the typer computes in float32 and rounds once); float16 array elements move through
``mov.b16`` (:func:`half_bits`).  ``math`` functions go through libdevice (:func:`libdevice`).  The
intrinsic ops built from these are in :mod:`.ops`.
"""

from __future__ import annotations

from llvmlite import ir

from ...lang import types as T
from ...lang.errors import CompileError

__all__ = ["I1", "I8", "I16", "I32", "I64", "value_type", "memory_type", "truth", "cast", "bf16_to_f32",
           "f32_to_bf16", "f64_to_bf16", "make_complex", "complex_parts", "compare", "arith", "cabs", "clog",
           "cexp", "math_pred", "libdevice", "as_i16", "half_bits"]

I1, I8, I16, I32, I64 = ir.IntType(1), ir.IntType(8), ir.IntType(16), ir.IntType(32), ir.IntType(64)

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
            return libdevice(fl, "pow", ty, [lhs, rhs])
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


def complex_parts(b, z):
    return b.extract_value(z, 0), b.extract_value(z, 1)


def _complex_arith(fl, op, lhs, rhs, ty):
    b = fl.b
    (xr, xi), (yr, yi) = complex_parts(b, lhs), complex_parts(b, rhs)      # (xr + i xi) op (yr + i yi)
    if op in ("add", "sub"):
        f = b.fadd if op == "add" else b.fsub
        return make_complex(b, ty, f(xr, yr), f(xi, yi))
    if op == "mul":
        return make_complex(b, ty, b.fsub(b.fmul(xr, yr), b.fmul(xi, yi)), b.fadd(b.fmul(xr, yi), b.fmul(xi, yr)))
    if op == "truediv":  # Smith's algorithm: no overflow from squaring the divisor
        p = ty.part
        big_re = b.fcmp_ordered(">=", libdevice(fl, "fabs", p, [yr]), libdevice(fl, "fabs", p, [yi]))
        r1 = b.fdiv(yi, yr)
        den1 = b.fadd(yr, b.fmul(yi, r1))
        re1, im1 = b.fdiv(b.fadd(xr, b.fmul(xi, r1)), den1), b.fdiv(b.fsub(xi, b.fmul(xr, r1)), den1)
        r2 = b.fdiv(yr, yi)
        den2 = b.fadd(b.fmul(yr, r2), yi)
        re2, im2 = b.fdiv(b.fadd(b.fmul(xr, r2), xi), den2), b.fdiv(b.fsub(b.fmul(xi, r2), xr), den2)
        return make_complex(b, ty, b.select(big_re, re1, re2), b.select(big_re, im1, im2))
    if op == "pow":  # z ** w = exp(w * log(z)); 0 ** w = 0 (w != 0), z ** 0 = 1
        return cexp(fl, _complex_arith(fl, "mul", rhs, clog(fl, lhs, ty), ty), ty, zero_base=(lhs, rhs))
    raise CompileError(f"internal error: no lowering for {op} on {ty}")


def cabs(fl, z, ty):
    re, im = complex_parts(fl.b, z)
    return libdevice(fl, "hypot", ty.part, [re, im])


def clog(fl, z, ty):
    re, im = complex_parts(fl.b, z)
    return make_complex(fl.b, ty, libdevice(fl, "log", ty.part, [cabs(fl, z, ty)]),
                        libdevice(fl, "atan2", ty.part, [im, re]))


def cexp(fl, z, ty, zero_base=None):
    b = fl.b
    re, im = complex_parts(b, z)
    p = ty.part
    r = libdevice(fl, "exp", p, [re])
    out = make_complex(b, ty, b.fmul(r, libdevice(fl, "cos", p, [im])), b.fmul(r, libdevice(fl, "sin", p, [im])))
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


def math_pred(fl, fname, ty, x):
    b = fl.b
    if fname == "isnan":
        return b.fcmp_unordered("uno", x, x)
    a = libdevice(fl, "fabs", ty, [x])
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
    mod = b.select(b.fcmp_ordered("==", mod, zero), libdevice(fl, "copysign", ty, [zero, w]), mod)
    fdiv = libdevice(fl, "floor", ty, [div])
    fdiv = b.select(b.fcmp_ordered(">", b.fsub(div, fdiv), ir.Constant(a.type, 0.5)),
                    b.fadd(fdiv, ir.Constant(a.type, 1.0)), fdiv)
    fdiv = b.select(b.fcmp_ordered("==", div, zero), libdevice(fl, "copysign", ty, [zero, b.fdiv(a, w)]), fdiv)
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


def libdevice(fl, name: str, ty: T.Scalar, args):
    if ty.bits == 16:  # libdevice has no half functions: compute in float32, round once
        b = fl.b
        r = libdevice(fl, name, T.float32, [b.fpext(a, ir.FloatType()) if a.type == ir.HalfType() else a
                                             for a in args])
        return b.fptrunc(r, ir.HalfType()) if r.type == ir.FloatType() else r
    base = "__nv_" + _LIBDEVICE_NAME.get(name, name) + ("f" if ty.bits == 32 else "")
    t = value_type(ty)
    return fl.b.call(fl.ml.declare(base, t, [t] * len(args)), args)


def as_i16(b, ptr):
    return b.bitcast(ptr, ir.PointerType(I16, ptr.type.addrspace))


def half_bits(b, v, to):
    """float16 array elements are loaded and stored as i16 and moved to and from half through an
    opaque ``mov.b16``: libNVVM's vectorizer otherwise merges neighbouring loads into <8 x half>
    (through a plain bitcast too), which its back end rejects ("unsupported operation").  ptxas
    removes the moves."""
    asm = ir.InlineAsm(ir.FunctionType(to, [v.type]), "mov.b16 $0, $1;", "=h,h")
    return b.call(asm, [v])

