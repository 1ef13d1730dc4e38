"""The store's boundary (issue 17): all SQL in fleetcheck/store, its __init__ only re-exports,
no import cycle through the package, nothing of the SCCC domain inside, one error root."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from fleetcheck.errors import FleetcheckError
from fleetcheck.i18n import T

PACKAGE = Path(__file__).resolve().parents[2] / "fleetcheck"
STORE = PACKAGE / "store"


def _module(path: Path, package: Path = PACKAGE) -> str:
    parts = path.relative_to(package.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(tree: ast.AST, module: str, is_package: bool) -> Iterator[tuple[int, str, bool]]:
    """(line, imported module, at module level?) for every import, inside functions too."""
    top = {id(n) for n in getattr(tree, "body", [])}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, id(node) in top
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                name = ".".join([*base, node.module] if node.module else base)
            else:
                name = node.module or ""
            yield node.lineno, name, id(node) in top


def _sources(root: Path, package: Path = PACKAGE) -> Iterator[tuple[Path, str, ast.Module]]:
    for path in sorted(root.rglob("*.py")):
        yield path, _module(path, package), ast.parse(path.read_text(encoding="utf-8"))


def _sqlalchemy_imports(root: Path, *, outside: Path) -> list[str]:
    found = []
    for path, module, tree in _sources(root, root):
        if path.is_relative_to(outside):
            continue
        for line, name, _ in _imported(tree, module, path.name == "__init__.py"):
            if name == "sqlalchemy" or name.startswith("sqlalchemy."):
                found.append(f"{path.relative_to(root.parent)}:{line}: {name}")
    return found


def test_no_module_outside_the_store_imports_sqlalchemy() -> None:
    assert _sqlalchemy_imports(PACKAGE, outside=STORE) == []


def test_the_boundary_check_finds_a_planted_import(tmp_path: Path) -> None:
    pkg = tmp_path / "fleetcheck"
    (pkg / "store").mkdir(parents=True)
    (pkg / "store" / "db.py").write_text("import sqlalchemy as sa\n", encoding="utf-8")
    (pkg / "report.py").write_text("def f():\n    from sqlalchemy.engine import make_url\n", encoding="utf-8")
    assert _sqlalchemy_imports(pkg, outside=pkg / "store") == ["fleetcheck/report.py:2: sqlalchemy.engine"]


def test_the_package_init_only_re_exports() -> None:
    tree = ast.parse((STORE / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # the docstring
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(("fleetcheck.store", "__future__")):
            continue
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["__all__"]:
            continue
        pytest.fail(f"fleetcheck/store/__init__.py:{node.lineno}: {type(node).__name__} is not a re-export")


def test_store_modules_never_import_the_package_nor_inside_functions() -> None:
    """Submodules import their siblings, not ``fleetcheck.store`` (which re-exports them): no cycle."""
    problems = []
    for path, module, tree in _sources(STORE):
        if path.name == "__init__.py":
            continue
        for line, name, top in _imported(tree, module, False):
            if name == "fleetcheck.store":
                node_names = [a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                              and n.lineno == line for a in n.names]
                if not all((STORE / f"{n}.py").exists() for n in node_names):
                    problems.append(f"{module}:{line} imports names from the package")
            if not top and name.startswith("fleetcheck"):
                problems.append(f"{module}:{line} imports {name} inside a function")
    assert problems == []


def test_the_store_knows_nothing_of_the_sccc_domain() -> None:
    domain = ("fleetcheck.readiness", "fleetcheck.renew", "fleetcheck.remediate", "fleetcheck.checks",
              "fleetcheck.policy", "fleetcheck.report", "fleetcheck.web", "fleetcheck.commands")
    found = [f"{module}:{line}: {name}" for path, module, tree in _sources(STORE)
             for line, name, _ in _imported(tree, module, path.name == "__init__.py")
             if name.startswith(domain)]
    assert found == []
    for path in STORE.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "sccc" not in text.lower() and "R14" not in text, path


def test_every_store_error_is_a_fleetcheck_error() -> None:
    from fleetcheck.report.publish import ResultsFileError
    from fleetcheck.store import RunNotFound, SchemaError, StoreError, migrations

    for cls in (StoreError, RunNotFound, SchemaError, ResultsFileError):
        assert issubclass(cls, FleetcheckError), cls
        assert "__init__" not in vars(cls), cls  # no re-implemented __init__(text)
        err = cls(T("数据库坏了", "the database is broken"))
        assert (str(err), err.format("zh"), err.exit_code) == ("the database is broken", "数据库坏了", 2)
    assert migrations.SchemaError is SchemaError
