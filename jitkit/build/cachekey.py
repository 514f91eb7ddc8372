"""Cache keys of jit functions, computed without parsing or typing them.

A key hashes the function's code object (bytecode, constants, names, nested
code), its defaults, its closure values, and every global it can reach by
name -- recursively through other ``@jit`` functions and one level into
modules (``cfg.N`` hashes ``cfg.N``).  Computing it costs microseconds, so a
disk-cache hit never imports the compiler.
"""

from __future__ import annotations

import builtins
import hashlib
import sys
import types as pytypes

import numpy as np

from ..lang.intrinsics import is_kernel

_PY = f"py{sys.version_info[0]}.{sys.version_info[1]}"


def _all_names(code, out: set) -> set:
    out.update(code.co_names)
    for c in code.co_consts:
        if isinstance(c, pytypes.CodeType):
            _all_names(c, out)
    return out


def _code(h, code) -> None:
    h.update(code.co_code)
    h.update(repr((code.co_name, code.co_argcount, code.co_names, code.co_varnames, code.co_freevars,
                   code.co_firstlineno)).encode())
    for c in code.co_consts:
        if isinstance(c, pytypes.CodeType):
            _code(h, c)
        else:
            h.update(f"{type(c).__name__}:{c!r};".encode())


def _value(h, v, names: set, seen: set) -> None:
    if isinstance(v, (bool, int, float, str, bytes, type(None), np.generic)):
        h.update(f"{type(v).__name__}:{v!r};".encode())
    elif isinstance(v, tuple):
        h.update(b"(")
        for x in v:
            _value(h, x, names, seen)
        h.update(b")")
    elif is_kernel(v):
        h.update(function_key(v.py_func, seen).encode())
    elif isinstance(v, pytypes.ModuleType):
        h.update(f"module:{v.__name__}[".encode())
        if v not in seen:            # attributes this function may read off the module, and off its
            seen.add(v)              # submodules (``jk.block.scan``): any attribute name the code uses
            for n in sorted(names):
                attr = v.__dict__.get(n, _MISSING)
                if attr is not _MISSING:
                    h.update(n.encode() + b"=")
                    _value(h, attr, names if isinstance(attr, pytypes.ModuleType) else set(), seen)
            seen.discard(v)
        h.update(b"]")
    elif isinstance(v, np.ndarray):
        h.update(b"ndarray;")
    else:
        mod = getattr(v, "__module__", None)
        qn = getattr(v, "__qualname__", None) or getattr(v, "__name__", None)
        ident = f"{mod}.{qn}" if qn is not None else repr(v)
        h.update(f"{type(v).__module__}.{type(v).__qualname__}:{ident};".encode())


_MISSING = object()


def function_key(pyfunc, seen: set | None = None) -> str:
    """Hex digest identifying how ``pyfunc`` compiles (for a given signature and toolchain)."""
    seen = set() if seen is None else seen
    if pyfunc in seen:  # recursion: the compiler rejects it; only the name matters here
        return f"recursive:{pyfunc.__qualname__}"
    seen.add(pyfunc)
    h = hashlib.sha256(_PY.encode())
    code = pyfunc.__code__
    h.update(pyfunc.__qualname__.encode())
    _code(h, code)
    names = _all_names(code, set())
    _value(h, pyfunc.__defaults__, names, seen)
    for name, cell in zip(code.co_freevars, pyfunc.__closure__ or ()):
        h.update(f"cell {name}=".encode())
        try:
            _value(h, cell.cell_contents, names, seen)
        except ValueError:
            h.update(b"<empty>")
    g = pyfunc.__globals__
    for name in sorted(names):
        if name in g:
            h.update(f"global {name}=".encode())
            _value(h, g[name], names, seen)
        elif hasattr(builtins, name):
            h.update(f"builtin {name};".encode())
    seen.discard(pyfunc)
    return h.hexdigest()


_SOURCES = None


def sources_key() -> str:
    """Digest of jitkit's own source files (path, size, mtime): a compiler or primitives edit
    invalidates cached kernels even where the version string stays the same."""
    global _SOURCES
    if _SOURCES is None:
        import os
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        h = hashlib.sha256()
        for d, _, files in sorted(os.walk(root)):
            for f in sorted(files):
                if f.endswith(".py"):
                    st = os.stat(os.path.join(d, f))
                    h.update(f"{os.path.relpath(os.path.join(d, f), root)}:{st.st_size}:{st.st_mtime_ns};".encode())
        _SOURCES = h.hexdigest()
    return _SOURCES


def values_key(values) -> str:
    """Hex digest of compile-time values (constexpr arguments: numbers, tuples, @jit functions...)."""
    h = hashlib.sha256()
    _value(h, tuple(values), set(), set())
    return h.hexdigest()
