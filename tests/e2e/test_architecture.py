"""The layout is the architecture: imports between the package's rooms point one way.

``lint-imports`` (run by ``.ci/run``) enforces the layer contracts of pyproject.toml;
these tests add what a contract cannot say: the map of package-level imports has no
cycle, no module imports another of this package inside a function (to dodge a
cycle), and only the one log reader pages through the recorder.
"""

from __future__ import annotations

import ast
from pathlib import Path

import grimp

import healthcard

PACKAGE = Path(healthcard.__file__).parent


def package_graph() -> dict[str, set[str]]:
    """``healthcard.X -> {healthcard.Y, ...}`` for every import between rooms."""
    graph = grimp.build_graph("healthcard")
    edges: dict[str, set[str]] = {}
    for module in graph.modules:
        room = ".".join(module.split(".")[:2])
        for imported in graph.find_modules_directly_imported_by(module):
            target = ".".join(imported.split(".")[:2])
            if target != room:
                edges.setdefault(room, set()).add(target)
    return edges


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """A cycle of ``edges`` (as a path that ends where it starts), or None."""
    state: dict[str, str] = {}
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == "open":
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)) is not None:
                return cycle
        state[node] = "done"
        path.pop()
        return None

    for node in sorted(edges):
        if node not in state and (cycle := visit(node)) is not None:
            return cycle
    return None


def test_package_level_imports_have_no_cycle() -> None:
    edges = package_graph()
    assert "healthcard.domain" not in edges  # the domain imports no other room
    assert find_cycle(edges) is None, f"import cycle: {' -> '.join(find_cycle(edges) or [])}"


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}}) is None


def sources() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def imports_healthcard(node: ast.AST) -> bool:
    """True for ``import healthcard...`` and ``from healthcard... import ...``."""
    if isinstance(node, ast.ImportFrom):
        return (node.module or "").startswith("healthcard")
    if isinstance(node, ast.Import):
        return any(alias.name.startswith("healthcard") for alias in node.names)
    return False


def function_level_internal_imports(tree: ast.AST) -> list[int]:
    """Lines of imports of this package made inside a function."""
    return sorted(
        inner.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for inner in ast.walk(node)
        if imports_healthcard(inner) and isinstance(inner, ast.Import | ast.ImportFrom)
    )


def test_no_module_imports_the_package_inside_a_function() -> None:
    found = {
        str(path.relative_to(PACKAGE)): lines
        for path in sources()
        if (lines := function_level_internal_imports(ast.parse(path.read_text(encoding="utf-8"))))
    }
    assert found == {}


def test_the_function_import_check_sees_one() -> None:
    tree = ast.parse("def f():\n    from healthcard.domain import card\n    return card\n")
    assert function_level_internal_imports(tree) == [2]


def recorder_pagers() -> set[str]:
    """Modules that call ``select_notifications`` (an attribute call, not a mention)."""
    found = set()
    for path in sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr == "select_notifications":
                found.add(str(path.relative_to(PACKAGE)))
    return found


def test_only_the_log_reader_pages_through_the_recorder() -> None:
    assert recorder_pagers() == {"adapters/log_reader.py"}
