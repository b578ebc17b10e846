"""The package's import graph: no cycle between cnnjax's subpackages and top-level modules.

Nodes are the subpackages (`cnnjax.train`, `cnnjax.tasks`, ...) and top-level modules (`cnnjax.cli`, ...); an
edge A -> B is any `import` of B in a file of A, at module level or inside a function (a function-level
import is a dependency all the same). The graph is read from the source (AST), so nothing is imported.
"""

import ast
import pathlib

import cnnjax

PACKAGE = pathlib.Path(cnnjax.__file__).parent


def _node(module: str) -> str | None:
    """'cnnjax.train.loop' -> 'train'; 'cnnjax' itself and other packages -> None."""
    parts = module.split(".")
    return parts[1] if parts[0] == "cnnjax" and len(parts) > 1 else None


def _imported_modules(path: pathlib.Path, module: str) -> set[str]:
    """Every module `path` (the file of `module`) imports, absolute; `from a import b` counts as `a.b` too."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def import_graph() -> dict[str, set[str]]:
    """{node: the other nodes it imports}, over every .py file under cnnjax/."""
    graph: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        module = ".".join(relative.parts[:-1] if path.name == "__init__.py" else relative.parts)
        source = _node(module)
        if source is None:
            continue
        targets = {_node(m) for m in _imported_modules(path, module)}
        graph.setdefault(source, set()).update(t for t in targets if t is not None and t != source)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` as [a, b, ..., a], or None (depth-first search, nodes in sorted order)."""
    state: dict[str, str] = {}  # 'open' while on the path, 'done' once fully explored
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return path[path.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_find_cycle_names_the_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_import_graph_sees_function_level_and_relative_imports(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from cnnjax.train import loop\n\nfrom . import sibling\n")
    assert {"cnnjax.train", "cnnjax.train.loop", "cnnjax.data", "cnnjax.data.sibling"} <= _imported_modules(
        source, "cnnjax.data.m"
    )


def test_no_import_cycle_between_subpackages():
    graph = import_graph()
    assert {"train", "tasks", "models", "data"} <= set(graph)
    cycle = find_cycle(graph)
    assert cycle is None, f"import cycle between cnnjax subpackages: {' -> '.join(cycle)}"


def test_losses_and_metrics_are_leaf_modules():
    for name in ("losses", "pixelwise", "count_losses", "ranking"):
        path = PACKAGE / "tasks" / f"{name}.py"
        imported = {m for m in _imported_modules(path, f"cnnjax.tasks.{name}") if m.split(".")[0] == "cnnjax"}
        assert not imported, f"cnnjax.tasks.{name} imports {sorted(imported)}"
