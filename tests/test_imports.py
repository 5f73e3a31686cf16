"""The house rules of jaxnn's imports, read from the source with ``ast`` (nothing is imported).

(a) no ``from jaxnn.x import _name`` where ``_name`` is not a module: a leading underscore means "this
    module only", so a name that sibling modules share has none;
(b) no attribute access ``mod._name`` on an imported jaxnn module (dunders such as ``__version__``
    excepted);
(c) the graph of jaxnn-internal imports has no cycle.  Its edges are the imports that run when a
    module is imported: module level (class bodies included, function bodies not) and the body of a
    module-level ``__getattr__`` (a lazy re-export is part of the module's namespace: the old
    ``estimators`` <-> ``_search`` circle ran through one).  An import of ``jaxnn.a.b`` is an edge to
    the module ``jaxnn.a.b`` (a package is its ``__init__``); ``from jaxnn.a import name`` is an edge
    to ``jaxnn.a.name`` where that is a module, else to ``jaxnn.a``.  A package's ``__init__``
    importing its own submodules is an edge like any other: a cycle appears only where a submodule
    imports back from its package's ``__init__`` (or through other modules), which is a real circle.

Every message names the offending file and line.  ``ALLOWED`` lists the violations in files that this
test's owners may not edit, each with the reason; the test fails on any violation not listed there
(and on a listed one that no longer occurs, so the list cannot go stale).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "jaxnn"

# (rule, "path:line") -> why the violation stands for now.  Only for files owned elsewhere; each was
# reported to the issue (22) with its exact line.
ALLOWED: dict[tuple[str, str], str] = {}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


MODULES = _modules()


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _resolve_from(node: ast.ImportFrom, module: str) -> str:
    """The absolute module of a ``from ... import`` in ``module``."""
    if node.level == 0:
        return node.module or ""
    base = module.split(".") if _is_package(module) else module.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _imports(tree: ast.Module):
    """``(node, runs_at_import)`` for every import of a module: ``runs_at_import`` for module-level
    imports (class bodies included) and those in a module-level ``__getattr__``."""
    out = []

    def visit(node, at_import: bool):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                out.append((child, at_import))
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                lazy_export = node is tree and getattr(child, "name", "") == "__getattr__"
                visit(child, at_import and lazy_export)
            else:
                visit(child, at_import)

    visit(tree, True)
    return out


def _targets(node, module: str):
    """``(target module, imported name or None, alias bound in the importing module)`` per alias."""
    if isinstance(node, ast.Import):
        for a in node.names:
            # ``import jaxnn.x`` binds ``jaxnn`` (its attribute chains are resolved); ``as m`` binds the module
            yield a.name, None, (a.asname, a.name) if a.asname else (a.name.split(".")[0], a.name.split(".")[0])
        return
    base = _resolve_from(node, module)
    for a in node.names:
        sub = f"{base}.{a.name}"
        if sub in MODULES:
            yield sub, None, (a.asname or a.name, sub)
        else:
            yield base, a.name, None


def _parsed():
    return {name: ast.parse(path.read_text(), filename=str(path)) for name, path in MODULES.items()}


TREES = _parsed()


def _where(module: str, node) -> str:
    return f"{MODULES[module].relative_to(ROOT)}:{node.lineno}"


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _check(rule: str, found: list[tuple[str, str]]) -> None:
    """Fail on every violation ``(where, message)`` not in :data:`ALLOWED`, and on stale entries."""
    new = [f"{where}: {msg}" for where, msg in found if (rule, where) not in ALLOWED]
    stale = [where for (r, where) in ALLOWED if r == rule and where not in {w for w, _ in found}]
    assert not new, f"rule {rule}:\n" + "\n".join(new)
    assert not stale, f"rule {rule}: ALLOWED entries that no longer occur (remove them): {stale}"


def _private_imports() -> list[tuple[str, str]]:
    found = []
    for module, tree in TREES.items():
        for node, _ in _imports(tree):
            for target, name, _bound in _targets(node, module):
                if target.split(".")[0] == "jaxnn" and name is not None and _private(name):
                    found.append((_where(module, node), f"`from {target} import {name}`: {name} is private to "
                                  f"{target} (drop the underscore where sibling modules share it)"))
    return found


def _dotted(node) -> list[str] | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return [node.id] + parts[::-1]


def _private_attributes() -> list[tuple[str, str]]:
    found = []
    for module, tree in TREES.items():
        bound = {}
        for node, _ in _imports(tree):
            for _target, _name, alias in _targets(node, module):
                if alias is not None and alias[1].split(".")[0] == "jaxnn":
                    bound[alias[0]] = alias[1]
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Attribute) and _private(node.attr)):
                continue
            chain = _dotted(node.value)
            if not chain or chain[0] not in bound:
                continue
            owner = ".".join([bound[chain[0]]] + chain[1:])
            if owner in MODULES and owner != module and f"{owner}.{node.attr}" not in MODULES:
                found.append((_where(module, node), f"`{'.'.join(chain)}.{node.attr}`: {node.attr} is private "
                              f"to {owner}"))
    return found


def _graph() -> dict[str, dict[str, str]]:
    """``{module: {imported jaxnn module: where}}`` of the imports that run at import time."""
    edges = {m: {} for m in MODULES}
    for module, tree in TREES.items():
        for node, at_import in _imports(tree):
            if not at_import:
                continue
            for target, _name, _alias in _targets(node, module):
                if target in MODULES and target != module:
                    edges[module].setdefault(target, _where(module, node))
    return edges


def _cycles(edges) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan)."""
    index, low, stack, on, comps = {}, {}, [], set(), []

    def strong(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(comp)

    for v in sorted(edges):
        if v not in index:
            strong(v)
    cycles = []
    for comp in comps:  # a path back to the first module inside the component
        members, start = set(comp), min(comp)
        path, seen = [start], {start}
        while True:
            nxt = [w for w in sorted(edges[path[-1]]) if w in members]
            back = start in nxt
            if back:
                break
            w = next(w for w in nxt if w not in seen)
            path.append(w)
            seen.add(w)
        cycles.append(path + [start])
    return cycles


def _cycle_violations() -> list[tuple[str, str]]:
    edges = _graph()
    found = []
    for cycle in _cycles(edges):
        steps = [f"{a} -> {b} ({edges[a][b]})" for a, b in zip(cycle, cycle[1:])]
        found.append((edges[cycle[0]][cycle[1]], "import cycle: " + "; ".join(steps)))
    return found


def test_no_private_name_imported_across_modules():
    _check("private-import", _private_imports())


def test_no_private_attribute_of_another_module():
    _check("private-attribute", _private_attributes())


def test_no_import_cycle():
    _check("cycle", _cycle_violations())


@pytest.mark.parametrize("source, rule", [
    ("from jaxnn.mlp import _helper\n", "private-import"),
    ("from ..mlp import _helper\n", "private-import"),
    ("import jaxnn.mlp as m\nm._helper(1)\n", "private-attribute"),
    ("from jaxnn import mlp\nmlp._helper\n", "private-attribute"),
])
def test_rules_catch_a_violation(source, rule, monkeypatch):
    """Each rule fires on a planted violation (a checker that finds nothing would pass any tree)."""
    monkeypatch.setitem(TREES, "jaxnn.sweeps.planted", ast.parse(source))
    monkeypatch.setitem(MODULES, "jaxnn.sweeps.planted", PACKAGE / "sweeps" / "planted.py")
    found = _private_imports() if rule == "private-import" else _private_attributes()
    line = 1 if rule == "private-import" else 2
    assert any(where == f"jaxnn/sweeps/planted.py:{line}" for where, _ in found), found


def test_cycle_rule_catches_a_lazy_reexport_circle(monkeypatch):
    """The old circle: a module re-exporting through its ``__getattr__`` a module that imports it."""
    a = "def __getattr__(name):\n    from jaxnn import planted_b\n    return getattr(planted_b, name)\n"
    b = "from jaxnn.planted_a import thing\n"
    for name, src in (("jaxnn.planted_a", a), ("jaxnn.planted_b", b)):
        monkeypatch.setitem(TREES, name, ast.parse(src))
        monkeypatch.setitem(MODULES, name, PACKAGE / (name.split(".")[1] + ".py"))
    found = _cycle_violations()
    assert any("jaxnn.planted_a -> jaxnn.planted_b (jaxnn/planted_a.py:2)" in msg for _, msg in found), found


def test_estimators_need_scikit_learn_and_say_which_extra():
    """``import jaxnn.estimators`` without scikit-learn: an ImportError naming the extra to install,
    raised before any submodule imports scikit-learn (a fresh process in which ``sklearn`` is blocked)."""
    import subprocess
    import sys

    code = ("import sys\nsys.modules['sklearn'] = None\nimport jaxnn\n"
            "try:\n    import jaxnn.estimators\nexcept ImportError as e:\n    print('ERR', e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert "ERR sklearn is needed here: pip install 'jaxnn[experiments]'" in out.stdout, (out.stdout, out.stderr)
