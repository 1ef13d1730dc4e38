"""Rules over the command modules' source (ast): no broad exception printed, no private cross-imports."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

import fleetcheck.commands

COMMANDS_DIR = Path(fleetcheck.commands.__file__).parent
SOURCES = sorted(COMMANDS_DIR.glob("*.py"))


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _is_broad(handler: ast.ExceptHandler) -> bool:
    kinds = handler.type
    if kinds is None:
        return True
    names = kinds.elts if isinstance(kinds, ast.Tuple) else [kinds]
    return any(isinstance(n, ast.Name) and n.id in ("Exception", "BaseException") for n in names)


def _uses_name(node: ast.AST, name: str) -> bool:
    return any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(node))


def broad_handlers_that_show_the_exception(tree: ast.Module) -> Iterator[int]:
    """Line of each ``except Exception/BaseException/bare`` whose body uses the caught exception
    (printing it, formatting it into a message, or re-raising it wrapped); and of each bare
    ``except:`` / ``except BaseException:`` at all (they swallow Ctrl-C)."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.ExceptHandler) or not _is_broad(node):
            continue
        if node.type is None or (isinstance(node.type, ast.Name) and node.type.id == "BaseException"):
            yield node.lineno
            continue
        if node.name is not None and any(_uses_name(stmt, node.name) for stmt in node.body):
            yield node.lineno


def private_imports_of_commands(tree: ast.Module) -> Iterator[tuple[int, str]]:
    """``from fleetcheck.commands.x import _y`` and ``fleetcheck.commands.x._y`` attribute use."""
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("fleetcheck.commands"):
            for alias in node.names:
                if alias.name.startswith("_"):
                    yield node.lineno, f"{node.module}.{alias.name}"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_no_command_prints_a_caught_broad_exception(path: Path) -> None:
    assert list(broad_handlers_that_show_the_exception(_tree(path))) == [], path.name


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_no_command_module_imports_another_ones_private_names(path: Path) -> None:
    assert list(private_imports_of_commands(_tree(path))) == [], path.name


def test_the_broad_exception_rule_catches_what_it_should() -> None:
    bad = ast.parse(
        "try:\n    x()\nexcept Exception as exc:\n    click.echo(f'failed: {exc}')\n"
        "try:\n    x()\nexcept (ValueError, Exception) as e:\n    fail(T(str(e), str(e)))\n"
        "try:\n    x()\nexcept:\n    pass\n"
        "try:\n    x()\nexcept BaseException:\n    pass\n"
    )
    assert list(broad_handlers_that_show_the_exception(bad)) == [3, 7, 11, 15]
    fine = ast.parse(
        "try:\n    x()\nexcept Exception:\n    log.exception('x')\n    click.echo('internal error')\n"
        "try:\n    x()\nexcept ValueError as exc:\n    click.echo(str(exc))\n"
    )
    assert list(broad_handlers_that_show_the_exception(fine)) == []


def test_the_private_import_rule_catches_what_it_should() -> None:
    bad = ast.parse("from fleetcheck.commands.scan import _load_policies, run_sweep\n")
    assert list(private_imports_of_commands(bad)) == [(1, "fleetcheck.commands.scan._load_policies")]
    fine = ast.parse("from fleetcheck.commands.common import fail\nfrom fleetcheck.store import _private\n")
    assert list(private_imports_of_commands(fine)) == []
