"""The layering of `src/mrbatch`, as docs/architecture.md draws it, checked on every import.

Each module belongs to the layer of its longest listed package prefix; it may import its own
layer and the layers below, never one above, and no chain of imports may lead back to where
it started (imports inside functions count: a lazy import is still a dependency).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"

# Lowest first. Keep in step with docs/architecture.md, section "Layers".
LAYERS: list[tuple[str, ...]] = [
    ("mrbatch", "mrbatch.errors", "mrbatch.model", "mrbatch.ports", "mrbatch.atomic"),
    ("mrbatch.pipeline", "mrbatch.asl"),
    ("mrbatch.state", "mrbatch.storage"),
    ("mrbatch.accesspoint",),
    ("mrbatch.routing", "mrbatch.metrics", "mrbatch.notify", "mrbatch.enrichment", "mrbatch.job"),
    ("mrbatch.handlers", "mrbatch.workflows"),
    ("mrbatch.runtime", "mrbatch.runtime.replication"),
    ("mrbatch.runtime.services", "mrbatch.runtime.operations", "mrbatch.dashboard", "mrbatch.aws"),
    ("mrbatch.cli",),
]


def _modules() -> dict[str, Path]:
    found = {}
    for path in SRC.rglob("*.py"):
        parts = path.relative_to(SRC).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _owner(name: str) -> str | None:
    """The module `name` refers to (an imported name may be a function of a module)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _imports(name: str) -> set[str]:
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            # `from package import module` imports the module; `from module import name`
            # the module itself
            names = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                for alias in node.names
            ]
        else:
            continue
        for imported in names:
            if imported.startswith("mrbatch"):
                target = _owner(imported)
                if target is not None and target != name:
                    targets.add(target)
    return targets


GRAPH = {name: _imports(name) for name in MODULES}


def layer_of(name: str) -> int:
    best, layer = "", -1
    for index, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and len(prefix) > len(best):
                best, layer = prefix, index
    return layer


def test_every_module_has_a_layer() -> None:
    assert [name for name in MODULES if layer_of(name) < 0] == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_import_reaches_a_higher_layer(name: str) -> None:
    upward = sorted(t for t in GRAPH[name] if layer_of(t) > layer_of(name))
    assert upward == [], f"{name} (layer {layer_of(name)}) imports higher layers: {upward}"


def test_no_import_cycle() -> None:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's strongly connected components
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in GRAPH[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(GRAPH):
        if node not in index:
            visit(node)
    assert cycles == []
