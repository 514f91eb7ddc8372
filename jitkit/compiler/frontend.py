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

from ..lang.errors import CompileError, Loc

__all__ = ["ParsedFunction", "parse_function", "MISSING"]

MISSING = object()


@dataclass(eq=False)
class ParsedFunction:
    """A Python function ready for typing: its AST plus where it came from.  Holds the function
    weakly (the parse cache is keyed by it: a strong reference here would keep every kernel ever
    made alive)."""

    _func_ref: object               # weakref.ref to the Python function
    name: str
    qualname: str
    filename: str
    source: str                     # dedented source text, decorators included
    first_line: int                 # file line of source line 1
    indent: int                     # columns removed by dedenting
    tree: ast.FunctionDef
    lines: list = field(repr=False)  # original (not dedented) source lines

    @property
    def pyfunc(self):
        return self._func_ref()

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
    if pyfunc.__name__ == "<lambda>":
        tree, source, lines, first_line, indent = _lambda_tree(pyfunc, filename)
    else:
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
                               hint="define it with `def`")
    parsed = ParsedFunction(weakref.ref(pyfunc), name, pyfunc.__qualname__, filename, source, first_line, indent, tree,
                            [ln.rstrip("\n") for ln in lines])
    if isinstance(tree, ast.AsyncFunctionDef):
        raise parsed.error(CompileError, "async functions cannot be compiled", tree)
    _check_signature(parsed)
    _parsed[pyfunc] = parsed
    return parsed


def _lambda_tree(pyfunc, filename):
    """A lambda as ``def <lambda>(args): return body``, found in its file's syntax tree by its line,
    its parameters and the column its code starts at (several lambdas may share a line).

    Returns (tree, source, lines, first_line, indent): node positions are the file's own."""
    import linecache
    code = pyfunc.__code__
    lines = linecache.getlines(filename, pyfunc.__globals__)
    try:
        module = ast.parse("".join(lines))
    except (SyntaxError, ValueError):
        module = None
    params = list(code.co_varnames[:code.co_argcount])
    found = [] if module is None else \
        [n for n in ast.walk(module) if isinstance(n, ast.Lambda) and n.lineno == code.co_firstlineno
         and [a.arg for a in n.args.args] == params]
    cols = [(p[0], p[2]) for p in code.co_positions()   # the body's instructions, not the zero-width RESUME
            if p[0] is not None and p[2] is not None and p[3] is not None and (p[1] != p[0] or p[3] > p[2])]
    if len(found) > 1 and cols:                         # several on the line: the one whose body starts there
        first = min(cols)
        found = [n for n in found if (n.body.lineno, n.body.col_offset) == first] or found
    if len(found) != 1:
        raise CompileError(f"cannot tell lambda {pyfunc.__qualname__!r} from the others on its line"
                           if found else f"cannot find the source of lambda {pyfunc.__qualname__!r}",
                           hint="give it a line of its own, or use a `def`")
    lam = found[0]
    body = ast.Return(value=lam.body)
    ast.copy_location(body, lam.body)
    tree = ast.FunctionDef(name="<lambda>", args=lam.args, body=[body], decorator_list=[], returns=None,
                           type_params=[])
    ast.copy_location(tree, lam)
    source = "".join(lines[lam.lineno - 1:(lam.end_lineno or lam.lineno)])
    return tree, source, lines, 1, 0


def _check_signature(p: ParsedFunction) -> None:
    a = p.tree.args
    if a.vararg or a.kwarg:
        node = a.vararg or a.kwarg
        raise p.error(CompileError, "*args and **kwargs are not supported in jit functions", node,
                      "list the parameters explicitly")
    if a.kwonlyargs or a.posonlyargs:
        raise p.error(CompileError, "keyword-only and positional-only parameters are not supported",
                      (a.kwonlyargs or a.posonlyargs)[0], "use plain positional parameters")
