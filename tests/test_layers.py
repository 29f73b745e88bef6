"""The package's shape stays easy to change: imports point one way, no module reaches into
another's private names, and no class or function grows past what a reader can hold."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import dagron

ROOT = Path(dagron.__file__).parent
MAX_CLASS_LINES = 350
MAX_FUNCTION_LINES = 80


def modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = ["dagron", *path.relative_to(ROOT).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def runtime_nodes(tree: ast.Module) -> Iterator[ast.AST]:
    """Every node except those under ``if TYPE_CHECKING:`` (imported only by type checkers)."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            stack.extend(node.orelse)
            continue
        yield node
        stack.extend(ast.iter_child_nodes(node))


def imported(name: str, path: Path, node: ast.ImportFrom, known: dict[str, Path]) -> list[str]:
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    if node.level:
        base = package[: len(package) - node.level + 1]
        source = ".".join(base + ([node.module] if node.module else []))
    else:
        source = node.module or ""
    targets = [source] if source in known else []
    targets += [f"{source}.{a.name}" for a in node.names if f"{source}.{a.name}" in known]
    return targets


def import_graph() -> tuple[dict[str, set[str]], list[str]]:
    """Module -> the dagron modules it imports at run time (a parent package, always
    imported first anyway, is left out), and every import of another module's private name."""
    known = modules()
    edges: dict[str, set[str]] = {m: set() for m in known}
    private = []
    for name, path in known.items():
        for node in runtime_nodes(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                for target in imported(name, path, node, known):
                    if target != name and not name.startswith(target + "."):
                        edges[name].add(target)
                inside = node.level > 0 or (node.module or "").startswith("dagron")
                for alias in node.names:
                    module = f"{node.module or ''}.{alias.name}".lstrip(".")
                    is_module = any(m.endswith("." + module) or m == module for m in known)
                    dunder = alias.name.startswith("__")
                    if inside and alias.name.startswith("_") and not (is_module or dunder):
                        if alias.name != "_core":
                            private.append(f"{name} imports {alias.name} from {node.module}")
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in known and alias.name != name:
                        edges[name].add(alias.name)
    return edges, private


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in edges:
        if v not in index:
            visit(v)
    return found


def test_layers_have_no_import_cycle() -> None:
    edges, _ = import_graph()
    assert cycles(edges) == []


def test_layers_cycle_finder_sees_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_layers_no_module_imports_another_modules_private_name() -> None:
    _, private = import_graph()
    assert private == []


def test_layers_no_class_or_function_is_too_long() -> None:
    too_long = []
    for name, path in modules().items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                limit = MAX_CLASS_LINES
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                limit = MAX_FUNCTION_LINES
            else:
                continue
            lines = (node.end_lineno or node.lineno) - node.lineno + 1
            if lines > limit:
                too_long.append(f"{name}.{node.name}: {lines} lines (limit {limit})")
    assert too_long == []
