"""No module of fleetcheck uses another module's private (``_name``) names.

An AST walk over every module of the package: ``from fleetcheck.x import _y``
(and the relative form) and ``x._y`` where ``x`` is a name bound by importing a
fleetcheck module (``import fleetcheck.x as x``, ``from fleetcheck import x``)
are offences. A module's own privates, dunders (``__version__``) and
``from __future__`` are not.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "fleetcheck"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _absolute(module: str | None, level: int, here: str, is_package: bool) -> str:
    """The absolute module an ``ImportFrom`` names (``from ..x import y`` in ``here``)."""
    if level == 0:
        return module or ""
    base = here.split(".")
    if not is_package:
        base = base[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, module] if module else base)


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _is_ours(module: str) -> bool:
    return module == "fleetcheck" or module.startswith("fleetcheck.")


def _module_aliases(tree: ast.Module, here: str, is_package: bool) -> dict[str, str]:
    """Local names bound to a fleetcheck module object -> that module."""
    known = {_module_name(p) for p in PACKAGE.rglob("*.py")}
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if not _is_ours(alias.name):
                    continue
                if alias.asname:
                    aliases[alias.asname] = alias.name
                else:
                    aliases[alias.name.split(".")[0]] = alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            source = _absolute(node.module, node.level, here, is_package)
            if not _is_ours(source):
                continue
            for alias in node.names:
                full = f"{source}.{alias.name}"
                if full in known:
                    aliases[alias.asname or alias.name] = full
    return aliases


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        inner = _dotted(node.value)
        return f"{inner}.{node.attr}" if inner is not None else None
    return None


def offences_in(source: str, here: str, is_package: bool = False) -> list[str]:
    """Every use of another fleetcheck module's private name in ``source`` (module ``here``)."""
    tree = ast.parse(source)
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            origin = _absolute(node.module, node.level, here, is_package)
            if not _is_ours(origin) or origin == here:
                continue
            found += [f"line {node.lineno}: from {origin} import {a.name}" for a in node.names if _private(a.name)]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if _is_ours(alias.name) and any(_private(p) for p in alias.name.split(".")):
                    found.append(f"line {node.lineno}: import {alias.name}")
    aliases = _module_aliases(tree, here, is_package)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or not _private(node.attr):
            continue
        dotted = _dotted(node.value)
        if dotted is None:
            continue
        head, _, rest = dotted.partition(".")
        module = aliases.get(head)
        if module is None:
            continue
        target = f"{module}.{rest}" if rest else module
        if target != here:
            found.append(f"line {node.lineno}: {target}.{node.attr}")
    return found


def _all_offences() -> dict[str, list[str]]:
    result: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        here = _module_name(path)
        hits = offences_in(path.read_text(encoding="utf-8"), here, path.name == "__init__.py")
        if hits:
            result[str(path.relative_to(PACKAGE.parent))] = hits
    return result


@pytest.mark.parametrize(
    ("source", "here", "expected"),
    [
        ("from fleetcheck.checks.activex import _find_registration\n", "fleetcheck.remediate.fixes",
         ["line 1: from fleetcheck.checks.activex import _find_registration"]),
        ("from ..checks import _x\n", "fleetcheck.remediate.fixes", ["line 1: from fleetcheck.checks import _x"]),
        ("from fleetcheck.checks import activex\nactivex._unit_version(1)\n", "fleetcheck.remediate.fixes",
         ["line 2: fleetcheck.checks.activex._unit_version"]),
        ("import fleetcheck.checks.activex as ax\nax._list_value\n", "fleetcheck.web.app",
         ["line 2: fleetcheck.checks.activex._list_value"]),
        ("import fleetcheck.checks.activex\nfleetcheck.checks.activex._list_value\n", "fleetcheck.web.app",
         ["line 2: fleetcheck.checks.activex._list_value"]),
        ("def f():\n    from fleetcheck.store import _engine\n", "fleetcheck.web.app",
         ["line 2: from fleetcheck.store import _engine"]),
    ],
)
def test_the_walk_finds_private_uses(source: str, here: str, expected: list[str]) -> None:
    assert offences_in(source, here) == expected


@pytest.mark.parametrize(
    ("source", "here"),
    [
        ("from __future__ import annotations\n", "fleetcheck.x"),
        ("from fleetcheck import __version__\n", "fleetcheck.x"),
        ("from fleetcheck.checks import activex\nactivex.LIST_ON_USER\n", "fleetcheck.x"),
        ("import os\nos._exit(1)\n", "fleetcheck.x"),  # not ours
        ("class A:\n    def f(self):\n        return self._y\n", "fleetcheck.x"),  # own privates
        ("from . import _own\n", "fleetcheck.checks"),  # a package using its own private name
        ("from fleetcheck.checks.facts import registry_key\nregistry_key._cache\n", "fleetcheck.x"),
    ],
)
def test_the_walk_accepts_public_uses(source: str, here: str) -> None:
    assert offences_in(source, here, is_package=here == "fleetcheck.checks") == []


def test_no_module_imports_another_modules_private_names() -> None:
    offences = _all_offences()
    assert offences == {}, "\n".join(f"{path}: {hit}" for path, hits in offences.items() for hit in hits)
