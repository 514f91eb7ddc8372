"""The op vocabulary (jitkit/lang/ops.py): both backends implement exactly the declared ops, a missing
rule is a located internal error naming the op and the backend, and an undeclared op name or badly
typed operands fail when the typed tree is built, not in a backend."""

import cmath
import math

import numpy as np
import pytest

import jitkit as jk
from jitkit.backends.nvvm import ops as nvvm_ops
from jitkit.backends.nvvm.lower import lower_kernel
from jitkit.backends.sim import SimArray, run_kernel
from jitkit.backends.sim import ops as sim_ops
from jitkit.compiler import tir
from jitkit.lang import ops
from jitkit.lang import types as T
from jitkit.lang.errors import CompileError, Loc

LOC = Loc("kernel.py", 7, 4, "    y = op(x)", "k")
F32 = jk.Array(jk.float32, 1, "C")


@pytest.mark.parametrize("rules", [nvvm_ops.RULES, sim_ops.RULES], ids=["nvvm", "sim"])
def test_backend_covers_exactly_the_declared_ops(rules):
    assert rules.missing() == []
    assert rules.covered() == frozenset(ops.OPS)


def test_vocabulary_is_complete_and_documented():
    names = set(ops.OPS)
    assert {"sreg.tid.x", "sreg.laneid", "grid.z", "gridsize.y", "syncthreads", "grid_sync", "threadfence",
            "threadfence_block", "warp.shfl_xor_sync", "warp.match_all_sync", "warp.activemask",
            "warp.lanemask_lt", "bits.brev", "bitcast", "min", "max", "abs", "round", "complex.make",
            "cmath.rect", "array.vector_load", "array.vector_store", "array.is_aligned"} <= names
    assert {f"math.{n}" for n in ops.MATH_FUNCS} <= names
    for decl in ops.OPS.values():
        assert decl.name and decl.doc.strip() and callable(decl.typing), decl


@pytest.mark.parametrize("name, operands, given, want", [
    ("sreg.ntid.y", (), None, T.int32),
    ("grid.x", (), None, T.int64),
    ("bits.popc", (T.uint64,), None, T.int32),
    ("bits.brev", (T.uint16,), None, T.uint16),
    ("warp.shfl_down_sync", (T.uint32, T.float64, T.int32), None, T.float64),
    ("warp.ballot_sync", (T.uint32, T.boolean), None, T.uint32),
    ("warp.match_all_sync", (T.uint32, T.int8), None, T.Tuple((T.uint32, T.boolean))),
    ("min", (T.int16, T.int16), None, T.int16),
    ("math.atan2", (T.float32, T.float32), None, T.float32),
    ("math.floor", (T.float16,), None, T.int64),
    ("math.isnan", (T.float64,), None, T.boolean),
    ("complex.make", (T.float32, T.float32), None, T.complex64),
    ("complex.abs", (T.complex128,), None, T.float64),
    ("cmath.rect", (T.float64, T.float64), None, T.complex128),
    ("bitcast", (T.float32,), T.int32, T.int32),
    ("array.vector_load", (F32, T.int64), T.Tuple((T.float32,) * 4), T.Tuple((T.float32,) * 4)),
    ("array.vector_store", (F32, T.int64, T.Tuple((T.int64, T.float64))), None, T.none),
])
def test_typing_rules(name, operands, given, want):
    assert ops.result_type(name, operands, given) is want


@pytest.mark.parametrize("name, operands, given", [
    ("math.sqrtt", (T.float32,), None),                  # not declared
    ("bits.popc", (T.float32,), None),                   # an integer op on a float
    ("min", (T.int32, T.int64), None),                   # operands of two types
    ("warp.shfl_sync", (T.int32, T.float32, T.int32), None),   # the mask is uint32
    ("math.sqrt", (T.float32, T.float32), None),         # arity
    ("bitcast", (T.float32,), None),                     # the target type must be given
    ("bitcast", (T.float32,), T.int64),                  # ... of the same width
    ("bits.popc", (T.int32,), T.int64),                  # a given type must agree with the rule
    ("array.vector_load", (F32, T.int64), T.Tuple((T.float64,) * 2)),
])
def test_typing_rules_reject(name, operands, given):
    with pytest.raises(ops.OpError, match=name.replace(".", r"\.")):
        ops.result_type(name, operands, given)


def test_undeclared_op_fails_when_the_typed_tree_is_built():
    x = tir.Const(T.float32, LOC, 2.0)
    with pytest.raises(CompileError) as info:
        tir.op("math.sqrtt", LOC, [x])
    err = info.value
    assert err.loc is LOC and "internal error" in str(err) and "'math.sqrtt'" in str(err)
    assert 'File "kernel.py", line 7' in str(err)
    with pytest.raises(CompileError, match="bits.popc"):
        tir.op("bits.popc", LOC, [x])
    node = tir.op("math.sqrt", LOC, [x])
    assert isinstance(node, tir.Op) and node.type is T.float32 and node.args == [x] and node.loc is LOC


def test_rules_table_checks_registrations():
    rules = ops.Rules("test")

    @rules.register("min", "max")
    def minmax(ctx, e, args):
        return "minmax"

    assert rules.lookup("max").fn is minmax and not rules.lookup("max").raw
    assert rules.covered() == {"min", "max"} and "abs" in rules.missing()
    with pytest.raises(ValueError, match="'math.nope' is not a declared op"):
        rules.register("math.nope")(minmax)
    with pytest.raises(ValueError, match="'min' has two rules"):
        rules.register("min")(minmax)
    with pytest.raises(ops.MissingRule) as info:
        rules.lookup("abs", LOC)
    assert info.value.op == "abs" and info.value.backend == "test" and info.value.loc is LOC
    assert "internal error: the test backend has no rule for op 'abs'" in str(info.value)


@jk.jit
def _sqrt_kernel(x, out):
    i = jk.grid(1)
    if i < x.size:
        out[i] = math.sqrt(x[i])


def _typed_with_bogus_op():
    """The typed kernel with its math.sqrt node renamed to an op no backend has."""
    func = _sqrt_kernel.inspect_types((F32, F32))
    found = []

    def walk(n):
        if isinstance(n, tir.Op) and n.name == "math.sqrt":
            found.append(n)
        for v in (getattr(n, f, None) for f in getattr(n, "__dataclass_fields__", ())):
            for item in (v if isinstance(v, list) else [v]):
                if isinstance(item, (tir.Expr, tir.Stmt)):
                    walk(item)
    for s in func.body:
        walk(s)
    assert len(found) == 1
    found[0].name = "math.bogus"
    return func, found[0]


def test_missing_nvvm_rule_is_a_located_internal_error():
    func, node = _typed_with_bogus_op()
    with pytest.raises(CompileError) as info:
        lower_kernel(func)
    err = info.value
    assert isinstance(err, ops.MissingRule) and err.loc is node.loc
    assert "internal error: the nvvm backend has no rule for op 'math.bogus'" in str(err)
    assert "math.sqrt(x[i])" in str(err)      # the source line of the node


def test_missing_sim_rule_names_the_op():
    func, node = _typed_with_bogus_op()
    x, out = np.ones(3, np.float32), np.full(3, np.nan, np.float32)
    with pytest.raises(ops.MissingRule, match="the sim backend has no rule for op 'math.bogus'") as info:
        run_kernel(func, "k", (1, 1, 1), (32, 1, 1), [SimArray(x), SimArray(out)])
    assert info.value.loc is node.loc
    assert np.isnan(out).all()


def test_every_op_a_catalogue_kernel_uses_is_declared():
    """Typing builds Op nodes only through tir.op: each one's name is declared and its type the rule's."""
    from kernels import CASES, blocks_for
    rng = np.random.default_rng(0)
    seen, done = set(), set()

    def walk(n):
        if isinstance(n, tir.Function):
            if n not in done:
                done.add(n)
                for s in n.body:
                    walk(s)
                for c in n.callees:
                    walk(c)
            return
        if isinstance(n, tir.Op):
            given = n.type if ops.declaration(n.name).given_type else None
            assert ops.result_type(n.name, tuple(a.type for a in n.args), given) is n.type, n.name
            seen.add(n.name)
        for v in (getattr(n, f, None) for f in getattr(n, "__dataclass_fields__", ())):
            for item in (v if isinstance(v, list) else [v]):
                if isinstance(item, (tir.Expr, tir.Stmt)):
                    walk(item)
    for case in CASES:
        args = case.make(rng)
        launch = case.launch(args) if case.launch is not None else blocks_for(np.asarray(args[case.outputs[0]]).size)
        walk(case.kernel.inspect_types(tuple(args), block=launch[1]))
    assert len(seen) > 40, sorted(seen)


@jk.jit
def _rect_kernel(r, phi, out):
    i = jk.grid(1)
    if i < out.size:
        out[i] = cmath.rect(r[i], phi[i])


@pytest.mark.parametrize("n", [1, 33])
def test_cmath_rect_of_float16_parts(n):
    """The typing rule of cmath.rect (parts of the result's part type) caught float16 parts typed into
    a complex128 op: NVVM lowering failed with a raw TypeError.  The parts are now float64."""
    rng = np.random.default_rng(n)
    r, phi = rng.uniform(0, 4, n).astype(np.float16), rng.uniform(-3, 3, n).astype(np.float16)
    out = np.full(n, np.nan, np.complex128)
    _rect_kernel.with_target("sim")[1, 64](r, phi, out)
    want = r.astype(np.float64) * np.exp(1j * phi.astype(np.float64))
    np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-12)
    sig = (jk.Array(jk.float16, 1, "C"), jk.Array(jk.float16, 1, "C"), jk.Array(jk.complex128, 1, "C"))
    ir_text = str(lower_kernel(_rect_kernel.inspect_types(sig)).module)
    assert "call double @\"__nv_cos\"" in ir_text and "call double @\"__nv_sin\"" in ir_text   # in float64
