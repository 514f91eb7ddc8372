"""Random programs in jitkit's kernel language, for differential fuzzing (tests/test_fuzz.py).

A program is one device function ``prog(i, a, b, x, y, oi, of)`` run by every thread ``i``:
``a`` (int32) and ``b`` (float32) are (threads, 8) inputs, ``x``/``y`` an int64 and a float64
scalar, ``oi``/``of`` (threads, k) int64 and float64 outputs.  Hypothesis draws every choice, so a
failing program shrinks to a small one.

The generator writes only programs whose meaning is the same in Python (run with NumPy scalars,
NumPy 2 promotion) and in jitkit, so any disagreement is a bug:

- every variable has one declared type, and every assignment casts to it (``v = np.int32(...)``):
  in Python a variable takes the type of its last value, in jitkit the unification of all;
- integer literals are small and non-negative (they fit every type: no NEP 50 overflow errors);
  ``//`` and ``%`` divide by ``(e & 7) + 1``, shifts go by ``e & 7`` (no undefined cases);
- floats never flow into integers, conditions or indices: the GPU contracts ``a * b + c`` into
  one FMA, so its floats are compared with a tolerance, and control flow must not hang on them;
- bools come from comparisons and are only used as conditions and outputs;
- ``abs`` never sees the most negative integer (``abs(e | 1)``): ptxas takes an integer abs as
  non-negative, as CUDA C may (abs(INT_MIN) is undefined there), so ``0 > abs(INT_MIN)`` is False
  on the GPU (found by this fuzzer; tests/test_fuzz.py::test_abs_of_the_most_negative_int);
- ``min``/``max``/ternaries see operands of one type, loop counters are cast to int64 where used.
"""

from __future__ import annotations

import re

import numpy as np
from hypothesis import strategies as st

_TYPED = re.compile(r"a\[|\bx\b|\bi\b|\bv\d|\bj\d")   # a leaf with a NumPy type
THREADS = 64
COLS = 8
INT_TYPES = ("int32", "int64", "uint32")
FLOAT_TYPES = ("float32", "float64")


class Program:
    """The source of one program, its variables' types and how many outputs it writes."""

    def __init__(self, source: str, n_int: int, n_float: int):
        self.source = source
        self.n_int = n_int
        self.n_float = n_float


class _Gen:
    def __init__(self, draw):
        self.draw = draw
        self.ints: list = []      # (name, type)
        self.floats: list = []
        self.bools: list = []
        self.loop_vars: list = []
        self.lines: list = []
        self.counter = 0
        self.in_loop = 0

    # -------------------------------------------------------------- choices
    def n(self, lo, hi):
        return self.draw(st.integers(lo, hi))

    def pick(self, seq):
        return seq[self.n(0, len(seq) - 1)]

    def fresh(self, stem):
        self.counter += 1
        return f"{stem}{self.counter}"

    # -------------------------------------------------------------- expressions
    def int_leaf(self):
        options = ["lit", "a", "x", "i"] + ["var"] * 3 + (["loop"] if self.loop_vars else [])
        k = self.pick(options)
        if k == "lit":
            return str(self.n(0, 9))
        if k == "a":
            return f"a[i, {self.index()}]"
        if k == "x":
            return "x"
        if k == "i":
            return "i"
        if k == "loop":
            return f"np.int64({self.pick(self.loop_vars)})"
        name, _ = self.pick(self.ints)
        return name

    def index(self):
        """An in-range column: a constant, or an int expression masked to 0..7."""
        if self.n(0, 2) == 0:
            return f"({self.int_expr(1)}) & 7"
        return str(self.n(0, COLS - 1))

    def int_expr(self, depth: int) -> str:
        """An integer expression.  One made of literals alone is wrapped in np.int64: in Python it
        would be a Python int, which NumPy 2 rejects where it does not fit the other operand."""
        src = self._int_expr(depth)
        if not _TYPED.search(src) and not src.isdigit():
            return f"np.int64({src})"
        return src

    def _int_expr(self, depth: int) -> str:
        if depth <= 0 or self.n(0, 3) == 0:
            return self.int_leaf()
        k = self.pick(["bin", "bin", "bin", "div", "shift", "neg", "abs", "minmax", "cast", "ternary"])
        e = lambda: self.int_expr(depth - 1)  # noqa: E731
        if k == "bin":
            return f"({e()} {self.pick(['+', '-', '*', '&', '|', '^'])} {e()})"
        if k == "div":
            return f"({e()} {self.pick(['//', '%'])} (({e()} & 7) + 1))"
        if k == "shift":
            return f"({e()} {self.pick(['<<', '>>'])} ({e()} & 7))"
        if k == "neg":
            return f"(-{e()})"
        if k == "abs":                       # never of the most negative int: undefined on the GPU
            return f"abs({e()} | 1)"
        t = self.pick(INT_TYPES)
        if k == "minmax":
            return f"{self.pick(['min', 'max'])}(np.{t}({e()}), np.{t}({e()}))"
        if k == "cast":
            return f"np.{t}({e()})"
        return f"(np.{t}({e()}) if {self.cond(depth - 1)} else np.{t}({e()}))"

    def float_leaf(self):
        k = self.pick(["lit", "b", "y", "var", "var", "int"])
        if k == "lit":
            return self.pick(["0.5", "1.5", "2.0", "0.25", "3.0"])
        if k == "b":
            return f"b[i, {self.index()}]"
        if k == "y":
            return "y"
        if k == "int":
            return f"np.{self.pick(FLOAT_TYPES)}({self.int_expr(1)})"
        name, _ = self.pick(self.floats)
        return name

    def float_expr(self, depth: int) -> str:
        if depth <= 0 or self.n(0, 3) == 0:
            return self.float_leaf()
        k = self.pick(["bin", "bin", "div", "mixed", "neg", "abs", "minmax", "ternary"])
        e = lambda: self.float_expr(depth - 1)  # noqa: E731
        if k == "bin":
            return f"({e()} {self.pick(['+', '-', '*'])} {e()})"
        if k == "div":
            return f"({e()} / {e()})"
        if k == "mixed":                         # int and float operands: NumPy 2's promotion
            return f"({e()} {self.pick(['+', '-', '*'])} {self.int_expr(depth - 1)})"
        if k == "neg":
            return f"(-{e()})"
        if k == "abs":
            return f"abs({e()})"
        t = self.pick(FLOAT_TYPES)
        if k == "minmax":
            return f"{self.pick(['min', 'max'])}(np.{t}({e()}), np.{t}({e()}))"
        return f"(np.{t}({e()}) if {self.cond(depth - 1)} else np.{t}({e()}))"

    def cond(self, depth: int) -> str:
        k = self.pick(["cmp", "cmp", "cmp", "bool", "not", "andor"] if depth > 0 else ["cmp", "bool"])
        if k == "bool" and self.bools:
            return self.pick(self.bools)
        if k == "not":
            return f"(not {self.cond(depth - 1)})"
        if k == "andor":
            return f"({self.cond(depth - 1)} {self.pick(['and', 'or'])} {self.cond(depth - 1)})"
        op = self.pick(["<", "<=", ">", ">=", "==", "!="])
        return f"({self.int_expr(max(depth, 1))} {op} {self.int_expr(max(depth, 1))})"

    # -------------------------------------------------------------- statements
    def emit(self, indent: int, text: str):
        self.lines.append("    " * indent + text)

    def block(self, indent: int, budget: int, depth: int):
        for _ in range(self.n(1, budget)):
            self.statement(indent, depth)

    def statement(self, indent: int, depth: int):
        kinds = ["int", "int", "int", "float", "float", "store"] + (["bool"] if self.bools else [])
        if depth < 2:
            kinds += ["if", "if", "for", "while"]
        if self.in_loop:
            kinds += ["break"]
        k = self.pick(kinds)
        if k == "int":
            name, t = self.pick(self.ints)
            self.emit(indent, f"{name} = np.{t}({self.int_expr(3)})")
        elif k == "float":
            name, t = self.pick(self.floats)
            self.emit(indent, f"{name} = np.{t}({self.float_expr(3)})")
        elif k == "bool":
            self.emit(indent, f"{self.pick(self.bools)} = {self.cond(2)}")
        elif k == "store":
            self.emit(indent, f"a[i, {self.index()}] = np.int32({self.int_expr(2)})")
        elif k == "if":
            self.emit(indent, f"if {self.cond(2)}:")
            self.block(indent + 1, 3, depth + 1)
            if self.n(0, 1):
                self.emit(indent, "else:")
                self.block(indent + 1, 3, depth + 1)
        elif k == "for":
            j = self.fresh("j")
            self.emit(indent, f"for {j} in range(({self.int_expr(2)} & 3) + {self.n(0, 2)}):")
            self.loop_vars.append(j)
            self.in_loop += 1
            self.block(indent + 1, 3, depth + 1)
            self.in_loop -= 1
            self.loop_vars.pop()
        elif k == "while":
            w = self.fresh("w")
            self.emit(indent, f"{w} = 0")
            self.emit(indent, f"while {w} < {self.n(1, 4)}:")
            self.emit(indent + 1, f"{w} += 1")
            self.in_loop += 1
            self.block(indent + 1, 3, depth + 1)
            self.in_loop -= 1
        else:
            self.emit(indent, f"if {self.cond(1)}:")
            self.emit(indent + 1, self.pick(["break", "continue"]))

    # -------------------------------------------------------------- the program
    def program(self, name: str) -> Program:
        inits = ["a[i, 0]", "x", "i", "a[i, 1]", "7"]
        for k in range(self.n(2, 4)):
            t = self.pick(INT_TYPES)
            v = f"v{k}"
            self.emit(1, f"{v} = np.{t}({inits[k]})")
            self.ints.append((v, t))
        finits = ["b[i, 0]", "y", "b[i, 1]"]
        for k in range(self.n(1, 3)):
            t = self.pick(FLOAT_TYPES)
            f = f"f{k}"
            self.emit(1, f"{f} = np.{t}({finits[k]})")
            self.floats.append((f, t))
        for k in range(self.n(0, 2)):
            c = f"c{k}"
            self.emit(1, f"{c} = a[i, {k + 2}] > 0")
            self.bools.append(c)
        self.block(1, 8, 0)
        outs = [v for v, _ in self.ints] + self.bools
        for k, v in enumerate(outs):
            self.emit(1, f"oi[i, {k}] = {v}")
        for k, (f, _) in enumerate(self.floats):
            self.emit(1, f"of[i, {k}] = {f}")
        head = [f"def {name}(i, a, b, x, y, oi, of):"]
        return Program("\n".join(head + self.lines) + "\n", len(outs), len(self.floats))


@st.composite
def programs(draw, name="prog"):
    return _Gen(draw).program(name)


def inputs(seed: int):
    """(a, b, x, y): random values with the int32 extremes, zeros and -1 among them."""
    rng = np.random.default_rng(seed)
    a = rng.integers(-50, 50, (THREADS, COLS)).astype(np.int32)
    special = np.array([0, -1, 1, 2**31 - 1, -2**31, 65535, -65536], np.int32)
    pick = rng.random(a.shape) < 0.15
    a[pick] = rng.choice(special, int(pick.sum()))
    b = (rng.integers(-40, 40, (THREADS, COLS)) / 4).astype(np.float32)
    x = np.int64(rng.integers(-1000, 1000))
    y = np.float64(rng.integers(-16, 16) / 8)
    return a, b, x, y
