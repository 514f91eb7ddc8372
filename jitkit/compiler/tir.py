"""The typed tree: plain dataclasses that every backend consumes.

Typing turns a Python AST into this tree; every node has a jitkit ``type`` and
a source ``loc``.  Operands are already converted to the types an operation
needs (explicit :class:`Cast` nodes), so a backend never re-derives typing
rules.  Intrinsic operations are :class:`Op` nodes named by an op declared in
:mod:`jitkit.lang.ops` ("math.sqrt", "sreg.tid.x", "syncthreads", ...), made
with :func:`op`, which applies the declaration's typing rule; each backend
keeps one rule table over that vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..lang.errors import CompileError, Loc
from ..lang.ops import OpError, result_type
from ..lang.types import Literal, Type

# ----------------------------------------------------------------- expressions


@dataclass(eq=False, slots=True)
class Expr:
    type: Type
    loc: Loc


@dataclass(eq=False, slots=True)
class Const(Expr):
    value: object


@dataclass(eq=False, slots=True)
class Var(Expr):
    name: str


@dataclass(eq=False, slots=True)
class Cast(Expr):
    value: Expr


@dataclass(eq=False, slots=True)
class BinOp(Expr):
    """Arithmetic/bitwise op.  Both operands have ``type`` except for ``pow``
    with an integer exponent on a float base (exponent keeps its own type)."""
    op: str          # add sub mul truediv floordiv mod pow lshift rshift bitand bitor bitxor
    lhs: Expr
    rhs: Expr


@dataclass(eq=False, slots=True)
class Compare(Expr):
    """Comparison of two operands of the same scalar type; type is bool."""
    op: str          # lt le gt ge eq ne
    lhs: Expr
    rhs: Expr


@dataclass(eq=False, slots=True)
class UnaryOp(Expr):
    op: str          # neg invert not
    operand: Expr


@dataclass(eq=False, slots=True)
class BoolOp(Expr):
    """Short-circuit ``and``/``or`` returning one operand (Python semantics).
    ``values`` are the raw operands: a backend evaluates each once, tests its
    truth and converts it to ``type`` (all are scalars)."""
    op: str          # and or
    values: list


@dataclass(eq=False, slots=True)
class IfExp(Expr):
    cond: Expr
    then: Expr
    orelse: Expr


@dataclass(eq=False, slots=True)
class Load(Expr):
    """``array[indices]`` with one integer index per dimension."""
    array: Expr
    indices: list


@dataclass(eq=False, slots=True)
class SubArray(Expr):
    """``array[i]`` on an n-d array (n > 1): a view of one fewer dimension."""
    array: Expr
    indices: list


@dataclass(eq=False, slots=True)
class ArrayAttr(Expr):
    """``shape[dim]``, ``strides[dim]`` (bytes) or ``size`` of an array."""
    array: Expr
    attr: str
    dim: int = 0


@dataclass(eq=False, slots=True)
class AllocArray(Expr):
    """``jk.shared.array(shape, dtype)`` (one per block) or ``jk.local.array`` (one per thread).
    The node is the allocation site: evaluating it again yields the same storage.
    Space "dynamic" is ``jk.shared.array(0, dtype)``: the launch's dynamic shared memory
    (every such array aliases it), 1-d, ``shape`` None, extent = shared_bytes // itemsize."""
    space: str       # shared local dynamic
    shape: tuple | None
    align: int = 0   # bytes


@dataclass(eq=False, slots=True)
class Atomic(Expr):
    """``jk.atomic.<op>(array, indices, *values)``: returns the element's old value.
    ``values`` is ``[value]``, or ``[expected, value]`` for cas; all of the array's dtype."""
    op: str          # add sub min max exch and_ or_ xor cas
    array: Expr
    indices: list
    values: list


@dataclass(eq=False, slots=True)
class MakeTuple(Expr):
    items: list


@dataclass(eq=False, slots=True)
class TupleGet(Expr):
    tuple: Expr
    index: int


@dataclass(eq=False, slots=True)
class Print(Expr):
    """``print(...)``: ``parts`` are literal strings and scalar expressions, in output order
    (separators and the line end already inserted).  Scalars print as Python would, except
    floats, which use C's ``%g``."""
    parts: list


@dataclass(eq=False, slots=True)
class InlineAsm(Expr):
    """``jk.asm(ptx, constraints, result_type, *args, sim=fn)``: inline PTX (``sim``: the simulator's
    NumPy stand-in, or None)."""
    ptx: str
    constraints: str
    args: list
    sim: object = None


@dataclass(eq=False, slots=True)
class ExternCall(Expr):
    """A call of a ``jk.declare_device`` function; pointer parameters get an array's data pointer."""
    decl: object
    args: list


@dataclass(eq=False, slots=True)
class Op(Expr):
    """An intrinsic operation: ``name`` is declared in :mod:`jitkit.lang.ops`.  Make it with :func:`op`."""
    name: str
    args: list


def op(name: str, loc: Loc, args: list, type: Type | None = None) -> Op:
    """The :class:`Op` node ``name(*args)``, typed by the op's declared rule.  ``type`` is required
    where the result is not a function of the operands (``bitcast``, ``array.vector_load``) and
    otherwise checked.  An undeclared name or operands the rule rejects are a located internal error.

    Example::

        op("bits.popc", loc, [x])               # int32 for any integer x
        op("bitcast", loc, [f], T.uint32)       # the caller gives the target type
    """
    try:
        ty = result_type(name, tuple(a.type for a in args), type)
    except OpError as exc:
        raise CompileError(f"internal error: {exc}", loc) from None
    return Op(ty, loc, name, args)


@dataclass(eq=False, slots=True)
class Call(Expr):
    """A call of another jit function, specialised for these argument types.
    ``args`` are the values of ``func.runtime_params`` (constexpr ones are in the types)."""
    func: "Function"
    args: list


# ------------------------------------------------------------------ statements


@dataclass(eq=False, slots=True)
class Stmt:
    loc: Loc


@dataclass(eq=False, slots=True)
class Assign(Stmt):
    name: str
    value: Expr


@dataclass(eq=False, slots=True)
class Store(Stmt):
    array: Expr
    indices: list
    value: Expr


@dataclass(eq=False, slots=True)
class ExprStmt(Stmt):
    value: Expr


@dataclass(eq=False, slots=True)
class Assert(Stmt):
    """``assert cond, "message"``: checked on the simulator and with ``debug=True`` on the GPU."""
    cond: Expr
    message: str | None


@dataclass(eq=False, slots=True)
class If(Stmt):
    cond: Expr
    body: list
    orelse: list


@dataclass(eq=False, slots=True)
class While(Stmt):
    cond: Expr
    body: list
    orelse: list


@dataclass(eq=False, slots=True)
class ForRange(Stmt):
    """``for var in range(start, stop, step)``; start/stop/step have the var's type.
    ``step_sign`` is +1/-1 when known at compile time, else 0."""
    var: str
    start: Expr
    stop: Expr
    step: Expr
    step_sign: int
    body: list
    orelse: list


@dataclass(eq=False, slots=True)
class Break(Stmt):
    pass


@dataclass(eq=False, slots=True)
class Continue(Stmt):
    pass


@dataclass(eq=False, slots=True)
class Return(Stmt):
    value: Expr | None


# ------------------------------------------------------------------ functions


@dataclass(eq=False)
class Function:
    """A typed jit function specialised for one argument signature."""
    name: str                   # unique symbol name in the module
    qualname: str               # for messages
    params: list                # [(name, Type)]
    locals: dict                # name -> Type, params included
    body: list
    return_type: Type
    loc: Loc
    callees: list = field(default_factory=list)   # Functions called directly
    written_params: set = field(default_factory=set)  # array params the function may write
    cooperative: bool = False   # it (or a callee) uses grid_sync: launch cooperatively

    @property
    def runtime_params(self) -> list:
        """``params`` without the compile-time (``jk.constexpr``) ones, which pass no value."""
        return [(n, t) for n, t in self.params if not isinstance(t, Literal)]
