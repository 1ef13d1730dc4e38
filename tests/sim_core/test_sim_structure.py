"""The simulator's modules form no import cycle, even through imports inside functions.

A function-level import that breaks a cycle still couples the two modules both
ways (issue 17): sim.wsman <-> sim.faults and sim.image <-> sim.regimport were
such cycles. The image package's ``__init__`` only re-exports.
"""

from __future__ import annotations

import ast
from pathlib import Path

SIM = Path(__file__).resolve().parents[2] / "fleetcheck" / "sim"
PACKAGE_ROOT = SIM.parent.parent


def _name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _sim_modules() -> dict[str, Path]:
    return {_name(p): p for p in SIM.rglob("*.py")}


def _graph() -> dict[str, set[str]]:
    """Edges between fleetcheck.sim modules for every import, module level or inside functions."""
    modules = _sim_modules()
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                targets = [
                    f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                    for a in node.names
                ]
            else:
                continue
            graph[name].update(t for t in targets if t in modules and t != name)
    return graph


def _reaches(graph: dict[str, set[str]], start: str, goal: str) -> bool:
    seen: set[str] = set()
    todo = list(graph[start])
    while todo:
        node = todo.pop()
        if node == goal:
            return True
        if node not in seen:
            seen.add(node)
            todo.extend(graph[node])
    return False


def test_no_import_cycle_among_the_simulators_modules() -> None:
    graph = _graph()
    # a package and its own submodules are one unit (``__init__`` re-exports them)
    in_cycle = sorted(
        name for name in graph
        if any(
            _reaches(graph, dep, name)
            for dep in graph[name]
            if not dep.startswith(name + ".") and not name.startswith(dep + ".")
        )
    )
    assert in_cycle == []


def test_the_cycles_of_before_are_gone() -> None:
    graph = _graph()
    assert "fleetcheck.sim.wsman" not in graph["fleetcheck.sim.faults"]
    assert not any(dep.startswith("fleetcheck.sim.image") for dep in graph["fleetcheck.sim.regimport"])


def test_no_fleetcheck_import_hides_inside_a_function() -> None:
    found = []
    for name, path in _sim_modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top = {id(node) for node in tree.body}
        for node in ast.walk(tree):
            module = node.module if isinstance(node, ast.ImportFrom) else None
            if module and module.startswith("fleetcheck") and id(node) not in top:
                found.append(f"{name}:{node.lineno} {module}")
    assert found == []


def test_the_image_package_init_only_re_exports() -> None:
    tree = ast.parse((SIM / "image" / "__init__.py").read_text(encoding="utf-8"))
    kinds = {type(node).__name__ for node in tree.body}
    assert kinds <= {"Expr", "ImportFrom", "Assign"}  # docstring, imports, __all__
    assigned = [t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets
                if isinstance(t, ast.Name)]
    assert assigned == ["__all__"]
