"""The op vocabulary: every intrinsic operation of the typed tree, declared once, and the per-backend rule tables.

An intrinsic operation is a :class:`~jitkit.compiler.tir.Op` node named by one of the names declared
here (``"sreg.tid.x"``, ``"warp.shfl_sync"``, ``"math.sqrt"``, ``"array.vector_load"``...).  A
declaration (:class:`OpDecl`) holds the name, a one-line doc and a *typing rule*: the result type
from the operand types, or, for the few ops whose result depends on something that is not an
operand (``bitcast``'s target type, the width of ``array.vector_load``), a check of the type the
caller gives.  Nodes are made only through ``tir.op(name, loc, args, type=None)``, which applies the
rule, so a misspelt name or a badly typed operand fails at typing, never in a backend.

Each backend keeps one :class:`Rules` table, the name of an op to the one function that implements
it (``backends/nvvm/ops.py`` emits NVVM IR, ``backends/sim/ops.py`` computes with NumPy);
``tests/test_ops.py`` checks that both cover exactly :data:`OPS`.

How to add an intrinsic, e.g. ``jk.parity(x)`` (1 when x has an odd number of set bits):

1. the user-facing marker in :mod:`jitkit.lang.intrinsics` (``parity = Intrinsic("parity", doc)``)
   and its declaration here, with its typing rule::

       _declare("bits.parity", _sig((_is_int,), T.int32), "parity(x): 1 if x has an odd number of set bits")

2. its call typing in ``compiler/infer/builtins.py``: a rule that checks the arguments and builds
   ``tir.op("bits.parity", typer.loc(node), [x])``, listed in ``builtins._build()`` (for a bit op
   the table line ``I.parity: _bits("parity")`` is all: ``_bits`` makes that rule);
3. one rule per backend, which ``tests/test_ops.py`` checks both have::

       @RULES.register("bits.parity")                      # backends/nvvm/ops.py
       def _parity(fl, e, args):
           n = _popc(fl, e, args)
           return fl.b.and_(n, ir.Constant(n.type, 1))

       @RULES.register("bits.parity")                      # backends/sim/ops.py
       def _parity(ex, e, args):
           return _popc(ex, e, args) & np.int32(1)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple

from . import intrinsics as I
from . import types as T
from .errors import CompileError, Loc

__all__ = ["OpDecl", "OpError", "MissingRule", "Rules", "Rule", "OPS", "declaration", "result_type",
           "MATH_FUNCS", "CMATH_FUNCS", "SREGS", "WARP_SHUFFLES", "WARP_VOTES", "BIT_OPS"]


class OpError(TypeError):
    """An op name that is not declared, or operand types (or a given result type) its rule rejects."""


@dataclass(frozen=True)
class OpDecl:
    """One declared op.  ``typing(operand_types, given)`` returns the result type; ``given`` is the
    caller's result type, required where ``given_type`` (the result is not a function of the
    operands), else optional and checked against the rule's."""
    name: str
    typing: Callable
    doc: str
    given_type: bool = False


OPS: dict = {}   # name -> OpDecl; filled below, then never changed


def _declare(name: str, typing, doc: str, given_type: bool = False) -> None:
    if name in OPS:
        raise ValueError(f"op {name!r} is declared twice")
    OPS[name] = OpDecl(name, typing, doc, given_type)


def declaration(name: str) -> OpDecl:
    """The declaration of op ``name`` (:class:`OpError` when there is none)."""
    decl = OPS.get(name)
    if decl is None:
        raise OpError(f"{name!r} is not a declared op (see jitkit/lang/ops.py)")
    return decl


def result_type(name: str, operand_types: tuple, given: T.Type | None = None) -> T.Type:
    """The type of op ``name`` applied to operands of ``operand_types``.

    Example::

        >>> result_type("bits.popc", (T.uint64,))
        int32
    """
    decl = declaration(name)
    if decl.given_type and given is None:
        raise OpError(f"op {name!r} needs its result type from the caller")
    try:
        ty = decl.typing(tuple(operand_types), given)
    except OpError as exc:
        raise OpError(f"op {name!r}: {exc}") from None
    if given is not None and ty is not given:
        raise OpError(f"op {name!r} on ({_types(operand_types)}) gives {ty}, not {given}")
    return ty


def _types(ts) -> str:
    return ", ".join(str(t) for t in ts)


# ------------------------------------------------------------------ typing rules
# operand patterns: a Type (that type exactly) or a predicate on one type

def _is_real(t):
    return isinstance(t, T.Scalar) and not t.is_complex


def _is_int(t):
    return isinstance(t, T.Scalar) and t.is_int


def _is_float(t):
    return isinstance(t, T.Scalar) and t.is_float


def _is_signed_or_float(t):
    return isinstance(t, T.Scalar) and (t.is_signed or t.is_float)


def _is_complex(t):
    return isinstance(t, T.Scalar) and t.is_complex


def _is_part(t):
    """A float that is the part type of a complex type."""
    return t is T.float32 or t is T.float64


def _is_vector_array(t):
    return isinstance(t, T.Array) and t.ndim == 1


def _sig(params: tuple, result, same: bool = False):
    """The typing rule of an op taking operands that match ``params``; ``result`` is a Type, or a
    function of the operand types.  ``same``: all operands have one type."""
    checks = tuple((p, isinstance(p, T.Type)) for p in params)
    fixed = isinstance(result, T.Type)

    def typing(types, given):
        ok = len(types) == len(checks)
        if ok:
            for (p, exact), t in zip(checks, types):
                if (p is not t) if exact else not p(t):
                    ok = False
                    break
            if same and ok:
                ok = all(t is types[0] for t in types)
        if not ok:
            raise OpError(f"operands ({_types(types)}) do not match the op's signature")
        return result if fixed else result(*types)
    return typing


def _first(t, *rest):
    return t


def _complex_of(part):
    return T.Scalar("c", 2 * part.bits)


def _bitcast(types, given):
    def castable(t):
        return isinstance(t, T.Scalar) and not (t.is_bool or t.is_complex)
    if len(types) != 1 or not castable(types[0]) or not castable(given) or given.bits != types[0].bits \
            or given is types[0]:
        raise OpError(f"({_types(types)}) to {given}: needs a non-bool, non-complex scalar and "
                      "another such type of its width")
    return given


def _vector_load(types, given):
    if len(types) != 2 or not _is_vector_array(types[0]) or types[1] is not T.int64:
        raise OpError(f"operands ({_types(types)}): needs (1-d array, int64)")
    dt = types[0].dtype
    if not (isinstance(given, T.Tuple) and given.count in (2, 4) and all(t is dt for t in given.types)):
        raise OpError(f"{types[0]} gives 2 or 4 items of {dt}, not {given}")
    return given


def _vector_store(types, given):
    if len(types) != 3 or not _is_vector_array(types[0]) or types[1] is not T.int64 \
            or not (isinstance(types[2], T.Tuple) and types[2].count in (2, 4)
                    and all(_is_real(t) for t in types[2].types)):
        raise OpError(f"operands ({_types(types)}): needs (1-d array, int64, "
                      "tuple of 2 or 4 real scalars)")
    return T.none


# ------------------------------------------------------------------ the vocabulary
# thread-index special registers: sreg.<reg>.<axis> (jk.threadIdx.x is sreg.tid.x) and sreg.laneid
SREGS = tuple(f"{reg}.{axis}" for reg in ("tid", "ctaid", "ntid", "nctaid") for axis in "xyz") + ("laneid",)
for _reg in SREGS:
    _declare(f"sreg.{_reg}", _sig((), T.int32), f"the special register %{_reg} (int32)")
for _axis in "xyz":
    _declare(f"grid.{_axis}", _sig((), T.int64), f"absolute thread index along {_axis}: "
             f"tid.{_axis} + ctaid.{_axis} * ntid.{_axis} (int64)")
    _declare(f"gridsize.{_axis}", _sig((), T.int64), f"threads of the grid along {_axis}: "
             f"ntid.{_axis} * nctaid.{_axis} (int64)")

for _intr in (I.syncthreads, I.grid_sync, I.threadfence, I.threadfence_block):
    _declare(_intr.name, _sig((), T.none), _intr.doc)

# warp operations: the mask is the first operand (uint32)
WARP_SHUFFLES = ("shfl_sync", "shfl_up_sync", "shfl_down_sync", "shfl_xor_sync")
WARP_VOTES = ("ballot_sync", "any_sync", "all_sync")
for _name in WARP_SHUFFLES:
    _declare(f"warp.{_name}", _sig((T.uint32, _is_real, T.int32), lambda m, v, lane: v), getattr(I, _name).doc)
for _name in WARP_VOTES:
    _declare(f"warp.{_name}", _sig((T.uint32, T.boolean), T.uint32 if _name == "ballot_sync" else T.boolean),
             getattr(I, _name).doc)
_declare("warp.match_any_sync", _sig((T.uint32, _is_real), T.uint32), I.match_any_sync.doc)
_declare("warp.match_all_sync", _sig((T.uint32, _is_real), T.Tuple((T.uint32, T.boolean))), I.match_all_sync.doc)
_declare("warp.syncwarp", _sig((T.uint32,), T.none), I.syncwarp.doc)
_declare("warp.activemask", _sig((), T.uint32), I.activemask.doc)
_declare("warp.lanemask_lt", _sig((), T.uint32), I.lanemask_lt.doc)

BIT_OPS = ("popc", "clz", "ffs", "brev")
for _name in BIT_OPS:
    _declare(f"bits.{_name}", _sig((_is_int,), _first if _name == "brev" else T.int32), getattr(I, _name).doc)

_declare("bitcast", _bitcast, I.bitcast.doc, given_type=True)
_declare("min", _sig((_is_real, _is_real), _first, same=True),
         "min(x, y): y if y < x else x (Python's tie and NaN rule: the first argument wins)")
_declare("max", _sig((_is_real, _is_real), _first, same=True),
         "max(x, y): y if y > x else x (Python's tie and NaN rule: the first argument wins)")
_declare("abs", _sig((_is_signed_or_float,), _first), "abs(x) of a signed integer or float (same type)")
_declare("round", _sig((_is_float,), T.int64), "round(x): to the nearest integer, ties to even (int64)")

# math functions: name -> (arity, result kind); kinds: float (same float type), bool (predicate),
# int (Python returns int: floor/ceil/trunc, int64)
MATH_FUNCS = {
    **{n: (1, "float") for n in (
        "sqrt", "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sin", "cos", "tan",
        "asin", "acos", "atan", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "erf", "erfc",
        "gamma", "lgamma", "fabs", "cbrt", "degrees", "radians")},
    **{n: (2, "float") for n in ("pow", "atan2", "hypot", "copysign", "fmod")},
    **{n: (1, "bool") for n in ("isnan", "isinf", "isfinite")},
    **{n: (1, "int") for n in ("floor", "ceil", "trunc")},
}
_MATH_RESULT = {"float": "same type", "bool": "bool", "int": "int64"}
for _name, (_arity, _kind) in MATH_FUNCS.items():
    _result = {"float": _first, "bool": T.boolean, "int": T.int64}[_kind]
    _declare(f"math.{_name}", _sig((_is_float,) * _arity, _result, same=True),
             f"math.{_name}() of {'two floats' if _arity == 2 else 'a float'} ({_MATH_RESULT[_kind]})")

_declare("complex.make", _sig((_is_part, _is_part), lambda re, im: _complex_of(re), same=True),
         "complex(re, im) from two float32 (complex64) or float64 (complex128) parts")
_declare("complex.real", _sig((_is_complex,), lambda z: z.part), "z.real")
_declare("complex.imag", _sig((_is_complex,), lambda z: z.part), "z.imag")
_declare("complex.conj", _sig((_is_complex,), _first), "z.conjugate()")
_declare("complex.abs", _sig((_is_complex,), lambda z: z.part), "abs(z): the modulus, as the part type")

CMATH_FUNCS = ("exp", "log", "sqrt", "sin", "cos", "phase", "isnan", "isinf", "isfinite", "rect", "polar")
for _name in ("exp", "log", "sqrt", "sin", "cos"):
    _declare(f"cmath.{_name}", _sig((_is_complex,), _first), f"cmath.{_name}(z) (same complex type)")
for _name in ("isnan", "isinf", "isfinite"):
    _declare(f"cmath.{_name}", _sig((_is_complex,), T.boolean), f"cmath.{_name}(z): of either part (bool)")
_declare("cmath.phase", _sig((_is_complex,), lambda z: z.part), "cmath.phase(z): the argument, as the part type")
_declare("cmath.rect", _sig((_is_part, _is_part), lambda r, phi: _complex_of(r), same=True),
         "cmath.rect(r, phi): r * (cos(phi) + i sin(phi))")
# (cmath.polar is complex.abs and cmath.phase)

_declare("array.vector_load", _vector_load, I.vector_load.doc, given_type=True)
_declare("array.vector_store", _vector_store, I.vector_store.doc)
_declare("array.is_aligned", _sig((_is_vector_array, T.int64, T.int64), T.boolean),
         I.is_aligned.doc + " (the byte count is a compile-time constant operand)")

del _reg, _axis, _intr, _name, _arity, _kind, _result


# ------------------------------------------------------------------ backend rule tables

class MissingRule(CompileError):
    """Internal error: a backend has no rule for a declared op."""

    def __init__(self, op: str, backend: str, loc: Loc | None = None):
        super().__init__(f"internal error: the {backend} backend has no rule for op {op!r}", loc)
        self.op = op
        self.backend = backend


class Rule(NamedTuple):
    """A backend's implementation of one op: ``fn(context, node, operands)``.  With ``raw`` the
    backend passes ``None`` for the operands and ``fn`` evaluates ``node.args`` itself (in the order
    and as often as the generated code needs)."""
    fn: Callable
    raw: bool = False


class Rules:
    """One backend's table of op rules, filled at import by :meth:`register`.

    Example::

        RULES = Rules("nvvm")

        @RULES.register("min", "max")
        def _minmax(fl, e, args): ...

        RULES.lookup("min", loc).fn(fl, e, args)
    """

    def __init__(self, backend: str):
        self.backend = backend
        self._table: dict = {}

    def register(self, *names: str, raw: bool = False):
        """Decorator: ``fn`` is the rule of each declared op in ``names`` (undeclared or already
        registered names raise :class:`ValueError`, at import)."""
        def deco(fn):
            for name in names:
                if name not in OPS:
                    raise ValueError(f"{self.backend} backend: {name!r} is not a declared op (jitkit/lang/ops.py)")
                if name in self._table:
                    raise ValueError(f"{self.backend} backend: op {name!r} has two rules "
                                     f"({self._table[name].fn.__name__} and {fn.__name__})")
                self._table[name] = Rule(fn, raw)
            return fn
        return deco

    def lookup(self, name: str, loc: Loc | None = None) -> Rule:
        """The rule of op ``name``; :class:`MissingRule` (a located internal error) when there is none."""
        rule = self._table.get(name)
        if rule is None:
            raise MissingRule(name, self.backend, loc)
        return rule

    def covered(self) -> frozenset:
        """The names of the ops that have a rule."""
        return frozenset(self._table)

    def missing(self) -> list:
        """Declared ops without a rule, sorted."""
        return sorted(set(OPS) - set(self._table))

    def __repr__(self):
        return f"<{self.backend} op rules: {len(self._table)} of {len(OPS)} ops>"
