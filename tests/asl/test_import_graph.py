"""The engine's modules import each other without cycles (issue 9: one home per concept)."""

from __future__ import annotations

import ast
from pathlib import Path

ASL = Path(__file__).resolve().parents[2] / "src" / "mrbatch" / "asl"


def _imports(path: Path) -> set[str]:
    """Every `mrbatch.asl.X` module this file imports, at top level or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "mrbatch.asl":
                found.update(f"mrbatch.asl.{a.name}" for a in node.names)
            elif node.module.startswith("mrbatch.asl."):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("mrbatch.asl."))
    return found


def _graph() -> dict[str, set[str]]:
    modules = {f"mrbatch.asl.{p.stem}": p for p in ASL.glob("*.py") if p.stem != "__init__"}
    return {name: _imports(path) & modules.keys() for name, path in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules, or None (depth-first search with colours)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)) is not None:
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)) is not None:
            return found
    return None


def test_asl_modules_have_no_import_cycle_including_function_level_imports() -> None:
    assert _cycle(_graph()) is None, " -> ".join(_cycle(_graph()) or [])


def test_cycle_finder_reports_a_known_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
