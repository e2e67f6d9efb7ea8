"""The package's modules import each other in layers: every import of a package module is at
module level (none hidden in a function), and the graph of those imports has no cycle.

Read with ``ast`` from the sources (nothing is imported), so the check also covers imports under
``if TYPE_CHECKING:``.
"""

import ast
from pathlib import Path
from typing import Dict, List, Set, Tuple

PACKAGE = Path(__file__).resolve().parent.parent / "humanloop_native"
NAME = PACKAGE.name


def _modules() -> Dict[str, ast.Module]:
    return {path.stem: ast.parse(path.read_text(encoding="utf-8"), str(path))
            for path in sorted(PACKAGE.glob("*.py"))}


def _targets(node: ast.AST, modules: Set[str]) -> List[str]:
    """The package modules an import statement names (``from . import x``, ``from ._x import y``,
    ``import humanloop_native._x``, ``from humanloop_native import x``)."""
    found: List[str] = []
    if isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level == 0 and base != NAME and not base.startswith(NAME + "."):
            return found
        if node.level == 0:
            base = base[len(NAME) + 1:] if base != NAME else ""
        if base:
            found.append(base.split(".")[0])
        else:  # from . import _x
            found.extend(alias.name for alias in node.names if alias.name in modules)
    elif isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name.startswith(NAME + "."):
                found.append(alias.name.split(".")[1])
    return [name for name in found if name in modules]


def _imports() -> Tuple[Dict[str, Set[str]], List[str]]:
    """(module -> package modules it imports at module level, imports found inside functions)."""
    modules = _modules()
    graph: Dict[str, Set[str]] = {name: set() for name in modules}
    nested: List[str] = []
    for name, tree in modules.items():
        functions = [node for node in ast.walk(tree) if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]
        inside = {id(inner) for function in functions for inner in ast.walk(function) if inner is not function}
        for node in ast.walk(tree):
            targets = _targets(node, set(modules))
            if not targets:
                continue
            if id(node) in inside:
                nested.append(f"{name}.py:{getattr(node, 'lineno', '?')} imports {', '.join(targets)}")
            else:
                graph[name].update(target for target in targets if target != name)
    return graph, nested


def _cycle(graph: Dict[str, Set[str]]) -> List[str]:
    """One cycle of the graph (its modules, the first repeated at the end), or []."""
    state: Dict[str, int] = {}  # 1: on the current path, 2: done
    path: List[str] = []

    def visit(node: str) -> List[str]:
        state[node] = 1
        path.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        state[node] = 2
        path.pop()
        return []

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return []


def test_no_function_level_imports_of_package_modules():
    _, nested = _imports()
    assert nested == [], "imports of package modules inside functions:\n" + "\n".join(nested)


def test_module_imports_have_no_cycle():
    graph, _ = _imports()
    assert graph["_client"] and graph["_types"] == set(), graph  # the check sees imports at all
    cycle = _cycle(graph)
    assert cycle == [], "import cycle: " + " -> ".join(cycle)


def test_the_check_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) == []
