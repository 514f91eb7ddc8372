"""Lowering of one function body: statements, scalar expressions, calls, and the dispatch to op rules.

:class:`FunctionLowering` walks a :class:`~jitkit.compiler.tir.Function` and emits its LLVM
function with one builder.  Locals live in allocas at the entry block (libNVVM's mem2reg turns
them into registers); control flow is explicit blocks.  Dispatch is by node type
(``stmt_<Node>``, ``expr_<Node>``); array memory is :mod:`.memory`, atomics :mod:`.atomics`, and
an intrinsic ``Op`` node is one lookup in the rule table of :mod:`.ops`.
"""

from __future__ import annotations

from llvmlite import ir

from ...lang import types as T
from ...compiler import tir
from . import scalars
from .atomics import AtomicLowering
from .memory import MemoryLowering
from .ops import lower_op
from .scalars import I1, I8, I32, I64, bf16_to_f32, make_complex, value_type

__all__ = ["FunctionLowering"]


class FunctionLowering(MemoryLowering, AtomicLowering):
    """Lowers one typed function body into an LLVM function (``ml``: its :class:`~.lower.ModuleLowering`)."""

    def __init__(self, ml, func: tir.Function, builder: ir.IRBuilder, subprogram=None):
        self.ml = ml
        self.func = func
        self.b = builder
        self.sp = subprogram
        self.slots: dict = {}
        self.loops: list = []   # (continue_block, break_block)

    # ------------------------------------------------------------- structure
    def lower(self, params: list) -> None:
        b = self.b
        body_bb = self.new_block("body")
        self._alloca_anchor = b.branch(body_bb)  # every alloca goes before this, in the entry block
        b.position_at_start(body_bb)
        for name, ty in self.func.locals.items():
            slot = self._alloca(value_type(ty), name.replace("$", "tmp."))
            b.store(ir.Constant(value_type(ty), None), slot)
            self.slots[name] = slot
        for (name, pty), v in zip(self.func.runtime_params, params):
            b.store(self.cast(v, pty, self.func.locals[name]), self.slots[name])
        self.block(self.func.body)
        if not b.block.is_terminated:
            if isinstance(self.func.return_type, T.NoneType):
                b.ret_void()
            else:  # typing proved every path returns; this block is unreachable
                b.unreachable()

    def _alloca(self, ty: ir.Type, name: str):
        """A stack slot in the entry block (where mem2reg promotes it), wherever we are now."""
        here = self.b.block
        self.b.position_before(self._alloca_anchor)
        slot = self.b.alloca(ty, name=name)
        self.b.position_at_end(here)
        return slot

    def block(self, stmts) -> None:
        for s in stmts:
            if self.b.block.is_terminated:
                return  # code after break/continue/return is dead
            if self.sp is not None and s.loc is not None:
                self.b.debug_metadata = self.ml.location(self.sp, s.loc)
            getattr(self, "stmt_" + type(s).__name__)(s)

    def new_block(self, name):
        return self.b.append_basic_block(name)

    # ------------------------------------------------------------- statements
    def stmt_Assign(self, s: tir.Assign):
        self.b.store(self.expr(s.value), self.slots[s.name])

    def stmt_ExprStmt(self, s: tir.ExprStmt):
        self.expr(s.value)

    def stmt_Assert(self, s: tir.Assert):
        if not self.ml.debug:  # like `python -O`: asserts cost nothing unless debug=True
            return
        ok = self.expr(s.cond)
        self._check(ok, "assert", s.loc, s.message, [ir.Constant(I64, 0)] * 3)

    def _check(self, ok, kind, loc, message, details):
        """In debug mode: when ``ok`` is false, report ``(site, *details)`` and go on."""
        b = self.b
        fail, cont = self.new_block("check.fail"), self.new_block("check.ok")
        b.cbranch(ok, cont, fail)
        b.position_at_end(fail)
        site = ir.Constant(I64, self.ml.site(kind, loc, message))
        b.call(self.ml.fail_function(), [site, *details])
        b.branch(cont)
        b.position_at_end(cont)

    def stmt_If(self, s: tir.If):
        b = self.b
        cond = self.expr(s.cond)
        then_bb, else_bb, end_bb = self.new_block("if.then"), self.new_block("if.else"), self.new_block("if.end")
        b.cbranch(cond, then_bb, else_bb)
        for bb, body in ((then_bb, s.body), (else_bb, s.orelse)):
            b.position_at_end(bb)
            self.block(body)
            if not b.block.is_terminated:
                b.branch(end_bb)
        b.position_at_end(end_bb)

    def stmt_While(self, s: tir.While):
        b = self.b
        head = self.new_block("while.cond")
        body_bb, else_bb, end_bb = self.new_block("while.body"), self.new_block("while.else"), \
            self.new_block("while.end")
        b.branch(head)
        b.position_at_end(head)
        b.cbranch(self.expr(s.cond), body_bb, else_bb)
        self._loop_body(body_bb, head, end_bb, s.body)
        b.position_at_end(else_bb)
        self.block(s.orelse)
        if not b.block.is_terminated:
            b.branch(end_bb)
        b.position_at_end(end_bb)

    def _loop_body(self, body_bb, cont_bb, end_bb, body):
        b = self.b
        b.position_at_end(body_bb)
        self.loops.append((cont_bb, end_bb))
        self.block(body)
        self.loops.pop()
        if not b.block.is_terminated:
            b.branch(cont_bb)

    def stmt_ForRange(self, s: tir.ForRange):
        b = self.b
        ty = self.func.locals[s.var]
        start, stop, step = self.expr(s.start), self.expr(s.stop), self.expr(s.step)
        ind = self._alloca(value_type(ty), f"{s.var}.ind")
        b.store(start, ind)
        head, step_bb = self.new_block("for.cond"), self.new_block("for.step")
        body_bb, else_bb, end_bb = self.new_block("for.body"), self.new_block("for.else"), \
            self.new_block("for.end")
        b.branch(head)
        b.position_at_end(head)
        i = b.load(ind)
        up = self.compare("lt", i, stop, ty)
        if s.step_sign > 0:
            go = up
        else:
            down = self.compare("gt", i, stop, ty)
            go = down if s.step_sign < 0 else b.select(self.compare("gt", step, self.zero(ty), ty), up, down)
        b.cbranch(go, body_bb, else_bb)
        b.position_at_end(body_bb)
        b.store(i, self.slots[s.var])
        self._loop_body(b.block, step_bb, end_bb, s.body)
        b.position_at_end(step_bb)
        b.store(self.arith("add", b.load(ind), step, ty), ind)
        b.branch(head)
        b.position_at_end(else_bb)
        self.block(s.orelse)
        if not b.block.is_terminated:
            b.branch(end_bb)
        b.position_at_end(end_bb)

    def stmt_Break(self, s):
        self.b.branch(self.loops[-1][1])

    def stmt_Continue(self, s):
        self.b.branch(self.loops[-1][0])

    def stmt_Return(self, s: tir.Return):
        if s.value is None or isinstance(s.value.type, T.NoneType):
            if s.value is not None:
                self.expr(s.value)
            self.b.ret_void()
        else:
            self.b.ret(self.expr(s.value))

    # ------------------------------------------------------------- expressions
    def expr(self, e: tir.Expr) -> ir.Value:
        return getattr(self, "expr_" + type(e).__name__)(e)

    def zero(self, ty):
        return ir.Constant(value_type(ty), 0)

    def expr_Const(self, e: tir.Const):
        if isinstance(e.type, T.NoneType):
            return None
        if e.type.is_bool:
            return ir.Constant(I1, int(bool(e.value)))
        if e.type.is_complex:
            z = complex(e.value)
            part = value_type(e.type.part)
            return ir.Constant(value_type(e.type), [ir.Constant(part, z.real), ir.Constant(part, z.imag)])
        if e.type.is_bf16:
            return ir.Constant(value_type(e.type), int(T.bf16_bits(e.value)))
        if e.type.is_float:
            return ir.Constant(value_type(e.type), float(e.value))
        return ir.Constant(value_type(e.type), int(e.value) & ((1 << e.type.bits) - 1))

    def expr_Var(self, e: tir.Var):
        return self.b.load(self.slots[e.name])

    def expr_Cast(self, e: tir.Cast):
        return self.cast(self.expr(e.value), e.value.type, e.type)

    def expr_BinOp(self, e: tir.BinOp):
        lhs = self.expr(e.lhs)
        if e.op == "pow" and e.type.is_float and isinstance(e.rhs, tir.Const) and e.rhs.value == 2:
            return self.b.fmul(lhs, lhs)  # exact, and what x ** 2 means
        if e.op == "pow" and e.type.is_float and e.rhs.type is not e.type:
            rhs = self.cast(self.expr(e.rhs), e.rhs.type, e.type)
        else:
            rhs = self.expr(e.rhs)
        return self.arith(e.op, lhs, rhs, e.type)

    def expr_Compare(self, e: tir.Compare):
        return self.compare(e.op, self.expr(e.lhs), self.expr(e.rhs), e.lhs.type)

    def expr_UnaryOp(self, e: tir.UnaryOp):
        v = self.expr(e.operand)
        b = self.b
        if e.op == "not":
            return b.xor(v, ir.Constant(I1, 1))
        if e.op == "invert":
            return b.xor(v, ir.Constant(v.type, -1))
        if e.type.is_complex:
            p = value_type(e.type.part)
            neg = [b.fsub(ir.Constant(p, -0.0), b.extract_value(v, k)) for k in (0, 1)]
            return make_complex(b, e.type, *neg)
        if e.type.is_float:  # fneg is LLVM 8+; libNVVM's LLVM 7 dialect wants fsub -0.0
            return b.fsub(ir.Constant(v.type, -0.0), v)
        return b.sub(ir.Constant(v.type, 0), v)

    def expr_BoolOp(self, e: tir.BoolOp):
        b = self.b
        end_bb = self.new_block("boolop.end")
        incoming = []
        for k, raw in enumerate(e.values):
            v = self.expr(raw)
            conv = self.cast(v, raw.type, e.type)
            if k == len(e.values) - 1:
                incoming.append((conv, b.block))
                b.branch(end_bb)
                break
            t = self.truth(v, raw.type)
            nxt = self.new_block("boolop.next")
            incoming.append((conv, b.block))
            if e.op == "and":
                b.cbranch(t, nxt, end_bb)
            else:
                b.cbranch(t, end_bb, nxt)
            b.position_at_end(nxt)
        b.position_at_end(end_bb)
        phi = b.phi(value_type(e.type))
        for v, bb in incoming:
            phi.add_incoming(v, bb)
        return phi

    def expr_IfExp(self, e: tir.IfExp):
        b = self.b
        cond = self.expr(e.cond)
        t_bb, f_bb, end_bb = self.new_block("ifexp.then"), self.new_block("ifexp.else"), self.new_block("ifexp.end")
        b.cbranch(cond, t_bb, f_bb)
        b.position_at_end(t_bb)
        tv, t_end = self.expr(e.then), None
        t_end = b.block
        b.branch(end_bb)
        b.position_at_end(f_bb)
        fv = self.expr(e.orelse)
        f_end = b.block
        b.branch(end_bb)
        b.position_at_end(end_bb)
        phi = b.phi(value_type(e.type))
        phi.add_incoming(tv, t_end)
        phi.add_incoming(fv, f_end)
        return phi

    def expr_MakeTuple(self, e: tir.MakeTuple):
        agg = ir.Constant(value_type(e.type), ir.Undefined)
        for i, item in enumerate(e.items):
            agg = self.b.insert_value(agg, self.expr(item), i)
        return agg

    def expr_TupleGet(self, e: tir.TupleGet):
        return self.b.extract_value(self.expr(e.tuple), e.index)

    def expr_Print(self, e: tir.Print):
        """``vprintf(format, args)``: ints as %lld/%llu, floats as %g (double), bools as True/False."""
        b = self.b
        fmt, vals = [], []
        for p in e.parts:
            if isinstance(p, str):
                fmt.append(p.replace("%", "%%"))
                continue
            v, ty = self.expr(p), p.type
            if ty.is_bf16:
                v, ty = bf16_to_f32(b, v), T.float32
            if ty.is_bool:
                fmt.append("%s")
                vals.append(b.select(v, self.ml.cstring(b, "True"), self.ml.cstring(b, "False")))
            elif ty.is_complex:   # Python's (1+2j)
                fmt.append("(%g%+gj)")
                for k in (0, 1):
                    part = b.extract_value(v, k)
                    vals.append(b.fpext(part, ir.DoubleType()) if ty.bits < 128 else part)
            elif ty.is_float:
                fmt.append("%g")
                vals.append(b.fpext(v, ir.DoubleType()) if ty.bits < 64 else v)
            else:
                fmt.append("%lld" if ty.is_signed else "%llu")
                vals.append(v if ty.bits == 64 else (b.sext(v, I64) if ty.is_signed else b.zext(v, I64)))
        i8p = I8.as_pointer()
        if vals:
            buf_ty = ir.LiteralStructType([v.type for v in vals])
            buf = self._alloca(buf_ty, "printf.args")
            for k, v in enumerate(vals):
                b.store(v, b.gep(buf, [ir.Constant(I32, 0), ir.Constant(I32, k)]))
            args = b.bitcast(buf, i8p)
        else:
            args = ir.Constant(i8p, None)
        vprintf = self.ml.declare("vprintf", I32, [i8p, i8p])
        b.call(vprintf, [self.ml.cstring(b, "".join(fmt)), args])
        return None

    def expr_ExternCall(self, e: tir.ExternCall):
        b = self.b
        vals, tys = [], []
        for p, a in zip(e.decl.params, e.args):
            v = self.expr(a)
            if isinstance(p, tuple):
                v = b.extract_value(v, 0)
            vals.append(v)
            tys.append(v.type)
        fn = self.ml.module.globals.get(e.decl.name)
        if fn is None:
            fn = ir.Function(self.ml.module, ir.FunctionType(value_type(e.type), tys), e.decl.name)
        return b.call(fn, vals)

    def expr_InlineAsm(self, e: tir.InlineAsm):
        args = [self.expr(a) for a in e.args]
        fnty = ir.FunctionType(value_type(e.type), [a.type for a in args])
        return self.b.call(ir.InlineAsm(fnty, e.ptx, e.constraints, side_effect=True), args)

    def expr_Op(self, e: tir.Op):
        return lower_op(self, e)

    def expr_Call(self, e: tir.Call):
        fn = self.ml.device_function(e.func)
        return self.b.call(fn, [self.expr(a) for a in e.args])

    # ------------------------------------------------------------- primitives
    def cast(self, v, src: T.Type, dst: T.Type):
        return scalars.cast(self.b, v, src, dst)

    def truth(self, v, ty: T.Scalar):
        return scalars.truth(self.b, v, ty)

    def compare(self, op, lhs, rhs, ty: T.Scalar):
        return scalars.compare(self.b, op, lhs, rhs, ty)

    def arith(self, op, lhs, rhs, ty: T.Scalar):
        return scalars.arith(self, op, lhs, rhs, ty)
