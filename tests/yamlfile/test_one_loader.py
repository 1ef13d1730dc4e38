"""Only fleetcheck/yamlfile.py parses YAML: every other module reads user files through it."""

from __future__ import annotations

import ast
from pathlib import Path

import fleetcheck

PACKAGE = Path(fleetcheck.__file__).parent
PARSING = {"load", "load_all", "compose", "compose_all", "parse", "safe_load", "full_load", "unsafe_load"}


def _is_yaml_ctor(node: ast.AST) -> bool:
    """``YAML(...)`` or ``ruamel.yaml.YAML(...)``."""
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    return (isinstance(func, ast.Name) and func.id == "YAML") or (isinstance(func, ast.Attribute) and func.attr == "YAML")


def _parsers(tree: ast.AST) -> set[str]:
    """Names that hold a YAML parser: ``x = YAML()`` and imported ``yaml`` modules."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and _is_yaml_ctor(node.value):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.Import):
            names.update(a.asname or a.name for a in node.names if a.name.split(".")[-1] == "yaml")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ruamel"):
            names.update(a.asname or a.name for a in node.names if a.name == "yaml")
    return names


def _parse_calls(tree: ast.AST) -> list[int]:
    """Lines that parse YAML: ``parser.load(...)``, ``YAML().compose(...)``, ``yaml.safe_load(...)``."""
    parsers = _parsers(tree)
    lines = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in PARSING):
            continue
        receiver = node.func.value
        if _is_yaml_ctor(receiver) or (isinstance(receiver, ast.Name) and receiver.id in parsers):
            lines.append(node.lineno)
    return sorted(lines)


def test_no_module_but_yamlfile_parses_yaml() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path != PACKAGE / "yamlfile.py":
            tree = ast.parse(path.read_text(encoding="utf-8"))
            offenders += [f"{path.relative_to(PACKAGE)}:{line}" for line in _parse_calls(tree)]
    assert not offenders, f"YAML parsed outside fleetcheck/yamlfile.py: {offenders}"


def test_the_walk_sees_a_second_parser() -> None:
    source = (
        "from ruamel.yaml import YAML\nimport yaml\ny = YAML()\ny.load(t)\n"
        "YAML(typ='rt').compose(t)\nyaml.safe_load(t)\ny.dump(d, out)\nOfficeSpec.load(p)\n"
    )
    assert _parse_calls(ast.parse(source)) == [4, 5, 6]
