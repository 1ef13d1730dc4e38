"""One error root (issue 17, acceptance 3): every error a user can cause is a FleetcheckError.

Every exception class defined in the package either derives from
:class:`fleetcheck.errors.FleetcheckError` (a bilingual ``text``, an
``exit_code``) or says in its docstring that it is internal (control flow or
host data that is turned into a result, never shown as the user's error).
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import click
import pytest

import fleetcheck
from fleetcheck.errors import EXIT_UNREACHABLE, EXIT_USAGE, FleetcheckError
from fleetcheck.i18n import T

PACKAGE = Path(fleetcheck.__file__).parent



def _exception_classes() -> list[type[BaseException]]:
    found: list[type[BaseException]] = []
    for info in pkgutil.walk_packages([str(PACKAGE)], "fleetcheck."):
        module = importlib.import_module(info.name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__ == module.__name__:
                found.append(value)
    return found


def test_every_exception_is_on_the_root_or_says_it_is_internal() -> None:
    offenders = []
    for cls in _exception_classes():
        name = f"{cls.__module__}.{cls.__qualname__}"
        if issubclass(cls, (FleetcheckError, click.ClickException)):
            continue  # click's own exceptions are the command line's usage errors
        if "internal" not in (cls.__doc__ or "").lower():
            offenders.append(name)
    assert not offenders, f"neither a FleetcheckError nor documented as internal: {offenders}"


def test_no_error_reimplements_the_roots_init() -> None:
    """``__init__(self, text)`` that only stores ``text`` is the root's job."""
    duplicates = []
    for path in PACKAGE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.ClassDef):
                continue
            if node.name == "FleetcheckError" or "internal" in (ast.get_docstring(node) or "").lower():
                continue
            for item in node.body:
                if not (isinstance(item, ast.FunctionDef) and item.name == "__init__"):
                    continue
                args = item.args
                params = [a.arg for a in args.args]
                body = [s for s in item.body if not isinstance(s, ast.Expr)]
                if params == ["self", "text"] and not args.kwonlyargs and not args.vararg and len(body) <= 2:
                    duplicates.append(f"{path.relative_to(PACKAGE)}:{node.name}")
    assert not duplicates, duplicates


def test_str_is_english_and_format_picks_the_language() -> None:
    err = FleetcheckError(T("清单无效", "the inventory is not valid"))
    assert str(err) == "the inventory is not valid"
    assert err.format("zh") == "清单无效" and err.format("en") == "the inventory is not valid"
    assert err.exit_code == EXIT_USAGE


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("Unreachable", EXIT_UNREACHABLE),
        ("Refused", EXIT_UNREACHABLE),
        ("TimedOut", EXIT_UNREACHABLE),
        ("TlsError", EXIT_UNREACHABLE),
        ("AuthRejected", EXIT_UNREACHABLE),
        ("WsmanFault", EXIT_UNREACHABLE),
        ("QuotaExceeded", EXIT_UNREACHABLE),
        ("BadOutput", EXIT_UNREACHABLE),
        ("Cancelled", EXIT_UNREACHABLE),
        ("ConfigurationError", EXIT_USAGE),
    ],
)
def test_a_host_that_cannot_be_probed_maps_to_exit_3(name: str, code: int) -> None:
    from fleetcheck.transport import errors

    cls = getattr(errors, name)
    err = cls(T("主机：无法连接", "host: cannot connect"))
    assert isinstance(err, FleetcheckError) and err.exit_code == code
    assert err.format("zh") == "主机：无法连接" and str(err) == "host: cannot connect"


def test_agent_failed_keeps_the_agents_code_apart_from_the_exit_code() -> None:
    from fleetcheck.transport.errors import AgentFailed

    err = AgentFailed(T("代理退出码 5", "agent exited with code 5"), exit_code=5, stderr_head="boom")
    assert err.agent_exit_code == 5 and err.stderr_head == "boom"
    assert err.exit_code == EXIT_UNREACHABLE


def test_errors_that_pydantic_or_callers_catch_as_valueerror_still_are() -> None:
    from fleetcheck.templating import TemplateError

    err = TemplateError(T("模板无效", "template is not valid"), "x")
    assert isinstance(err, ValueError) and isinstance(err, FleetcheckError)
    assert err.message == err.text and err.variable == "x"
