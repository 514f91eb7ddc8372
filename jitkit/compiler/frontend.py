"""Frontend: read a Python function's source, parse it with ``ast``, locate nodes.

The parsed function keeps its file, first line and indentation so every node
maps back to the user's file:line:column.  Name resolution (globals, closure
cells, builtins) happens here too, at compile time.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import textwrap
import weakref
from dataclasses import dataclass, field

from ..errors import CompileError, Loc

__all__ = ["ParsedFunction", "parse_function", "MISSING"]

MISSING = object()


@dataclass(eq=False)
class ParsedFunction:
    """A Python function ready for typing: its AST plus where it came from."""

    pyfunc: object
    name: str
    qualname: str
    filename: str
    source: str                     # dedented source text, decorators included
    first_line: int                 # file line of source line 1
    indent: int                     # columns removed by dedenting
    tree: ast.FunctionDef
    lines: list = field(repr=False)  # original (not dedented) source lines

    def loc(self, node: ast.AST | None) -> Loc:
        """The user-facing location of ``node`` (or of the ``def`` when None)."""
        if node is None or not hasattr(node, "lineno"):
            node = self.tree
        rel = node.lineno - 1
        text = self.lines[rel] if 0 <= rel < len(self.lines) else ""
        return Loc(self.filename, self.first_line + rel, node.col_offset + self.indent, text, self.qualname)

    def error(self, cls, message: str, node: ast.AST | None, hint: str | None = None) -> CompileError:
        return cls(message, self.loc(node), hint)

    @property
    def arg_names(self) -> list[str]:
        return [a.arg for a in self.tree.args.args]

    def resolve(self, name: str):
        """The compile-time value of a free name: closure cell, global, or builtin."""
        fn = self.pyfunc
        code = fn.__code__
        if fn.__closure__ and name in code.co_freevars:
            cell = fn.__closure__[code.co_freevars.index(name)]
            try:
                return cell.cell_contents
            except ValueError:
                return MISSING
        g = fn.__globals__
        if name in g:
            return g[name]
        return getattr(builtins, name, MISSING)


_parsed: "weakref.WeakKeyDictionary[object, ParsedFunction]" = weakref.WeakKeyDictionary()


def parse_function(pyfunc) -> ParsedFunction:
    """Parse ``pyfunc`` once (cached per function object)."""
    found = _parsed.get(pyfunc)
    if found is not None:
        return found
    name = getattr(pyfunc, "__name__", repr(pyfunc))
    if not inspect.isfunction(pyfunc):
        raise CompileError(f"@jit needs a Python function, got {type(pyfunc).__name__} {name!r}",
                           hint="decorate a plain `def` function")
    try:
        lines, first_line = inspect.getsourcelines(pyfunc)
        filename = inspect.getsourcefile(pyfunc) or pyfunc.__code__.co_filename
    except (OSError, TypeError) as exc:
        raise CompileError(f"cannot read the source of {pyfunc.__qualname__!r}: {exc}",
                           hint="define jit functions in a file or a notebook cell, not with exec() or "
                                "at an interactive prompt without source") from None
    raw = "".join(lines)
    source = textwrap.dedent(raw)
    first = next((ln for ln in lines if ln.strip()), "")
    indent = len(first) - len(first.lstrip()) if source != raw else 0
    try:
        module = ast.parse(source)
    except SyntaxError as exc:  # pragma: no cover - Python compiled it already
        raise CompileError(f"cannot parse {pyfunc.__qualname__}: {exc.msg}") from None
    tree = next((n for n in module.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))), None)
    if tree is None:
        raise CompileError(f"cannot find the definition of {pyfunc.__qualname__!r} in its source",
                           hint="lambdas cannot be kernels; use a `def`")
    parsed = ParsedFunction(pyfunc, name, pyfunc.__qualname__, filename, source, first_line, indent, tree,
                            [ln.rstrip("\n") for ln in lines])
    if isinstance(tree, ast.AsyncFunctionDef):
        raise parsed.error(CompileError, "async functions cannot be compiled", tree)
    _check_signature(parsed)
    _parsed[pyfunc] = parsed
    return parsed


def _check_signature(p: ParsedFunction) -> None:
    a = p.tree.args
    if a.vararg or a.kwarg:
        node = a.vararg or a.kwarg
        raise p.error(CompileError, "*args and **kwargs are not supported in jit functions", node,
                      "list the parameters explicitly")
    if a.kwonlyargs or a.posonlyargs:
        raise p.error(CompileError, "keyword-only and positional-only parameters are not supported",
                      (a.kwonlyargs or a.posonlyargs)[0], "use plain positional parameters")
