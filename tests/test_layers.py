"""The layer rule, read from the source: every import in jitkit points down the pipeline.

Layers, bottom up (README "Layout" says what each owns):

0. ``jitkit.lang`` (types, intrinsics, op declarations, ABI, errors) and ``jitkit.config``
1. ``jitkit.compiler`` and ``jitkit.runtime``: peers, neither imports the other
2. ``jitkit.backends.nvvm`` and ``jitkit.backends.sim``: side by side, neither imports the other
3. ``jitkit.build`` (toolchain, linking, cache, cache key, stages)
4. ``jitkit.notebook``
5. ``jitkit.dispatcher``
6. ``jitkit.primitives`` (device primitives, host algorithms)
7. the package face ``jitkit`` and ``jitkit.__main__``

A module may import a lower layer, or its own group (a package such as ``jitkit.compiler``), never
a higher layer or a peer group; no module imports another module's private (``_name``) names or
reads ``module._name``; imports inside a group form no cycle; modules stay under 600 lines and open
with a docstring saying what they own.  Lazy imports inside functions count like the others.
"""

from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent / "jitkit"

LAYERS = [  # (module prefix, layer, group)
    ("jitkit.lang", 0, "lang"), ("jitkit.config", 0, "config"),
    ("jitkit.compiler", 1, "compiler"), ("jitkit.runtime", 1, "runtime"),
    ("jitkit.backends.nvvm", 2, "nvvm"), ("jitkit.backends.sim", 2, "sim"), ("jitkit.backends", 2, "backends"),
    ("jitkit.build", 3, "build"),
    ("jitkit.notebook", 4, "notebook"),
    ("jitkit.dispatcher", 5, "dispatcher"),
    ("jitkit.primitives", 6, "primitives"),
    ("jitkit.__main__", 7, "face"), ("jitkit", 7, "face"),
]
MAX_LINES = 600


def _modules() -> dict:
    mods = {}
    for path in sorted(ROOT.rglob("*.py")):
        parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        if is_pkg:
            parts = parts[:-1]
        mods[".".join(parts)] = (path, is_pkg)
    return mods


MODULES = _modules()


def _place(mod: str):
    for prefix, layer, group in LAYERS:
        if mod == prefix or mod.startswith(prefix + "."):
            return layer, group
    raise AssertionError(f"{mod} is in no layer: add it to LAYERS (and to README's layout)")


def _imports(mod: str):
    """(line, imported module, imported names or None) of every jitkit import in ``mod``."""
    path, is_pkg = MODULES[mod]
    tree = ast.parse(path.read_text(), str(path))
    pkg = mod if is_pkg else mod.rsplit(".", 1)[0]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name, None) for a in node.names if a.name.split(".")[0] == "jitkit"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")[:len(pkg.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "jitkit":
                continue
            for a in node.names:   # ``from pkg import submodule`` imports the submodule
                sub = f"{target}.{a.name}"
                if sub in MODULES:
                    out.append((node.lineno, sub, None))
                else:
                    out.append((node.lineno, target, a.name))
    return tree, out


@pytest.mark.parametrize("mod", sorted(MODULES))
def test_imports_point_down(mod):
    layer, group = _place(mod)
    _, imports = _imports(mod)
    bad = []
    for line, target, name in imports:
        tl, tg = _place(target)
        if target == "jitkit" and mod != "jitkit" and group != "face":
            bad.append(f"line {line}: imports the package face ({name}); import it from where it is defined")
        elif tl > layer or (tl == layer and tg != group):
            bad.append(f"line {line}: {mod} (layer {layer}, {group}) imports {target} (layer {tl}, {tg})")
        if name and name.startswith("_") and not (name.startswith("__") and name.endswith("__")):
            bad.append(f"line {line}: imports the private name {name} from {target}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("mod", sorted(MODULES))
def test_no_private_attributes_of_other_modules(mod):
    tree, imports = _imports(mod)
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for a in node.names:
                local = (a.asname or a.name).split(".")[0]
                aliases[local] = a.name
    modules = {line_target for _, line_target, name in imports if name is None}
    local_modules = {k for k, v in aliases.items() if any(m == v or m.endswith("." + v) for m in modules)}
    bad = [f"line {n.lineno}: {n.value.id}.{n.attr}" for n in ast.walk(tree)
           if isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id in local_modules
           and n.attr.startswith("_") and not n.attr.startswith("__")]
    assert not bad, f"{mod} reads private names of other modules:\n" + "\n".join(bad)


def test_no_import_cycles():
    graph = {m: {t for _, t, _ in _imports(m)[1] if t != m} for m in MODULES}
    state: dict = {}
    cycles = []

    def visit(m, stack):
        state[m] = 1
        for t in graph.get(m, ()):
            if t == "jitkit" or t not in graph:
                continue
            if state.get(t) == 1:
                cycles.append(" -> ".join(stack[stack.index(t):] + [t]) if t in stack else f"{m} -> {t}")
            elif not state.get(t):
                visit(t, stack + [t])
        state[m] = 2
    for m in sorted(graph):
        if m != "jitkit" and not state.get(m):
            visit(m, [m])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


@pytest.mark.parametrize("mod", sorted(MODULES))
def test_module_size_and_docstring(mod):
    path, is_pkg = MODULES[mod]
    text = path.read_text()
    lines = text.count("\n")
    assert lines <= MAX_LINES, f"{path.relative_to(ROOT.parent)} has {lines} lines (at most {MAX_LINES}): split it"
    if text.strip():
        assert ast.get_docstring(ast.parse(text)), f"{path.relative_to(ROOT.parent)} opens without a docstring"
