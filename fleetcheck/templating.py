"""Rendering templated check parameters: ``"{{ host.gateway_cert }}"``.

Inventory (and policy ``vars:``) values are available under ``host.*``.
jinja2's SandboxedEnvironment keeps a policy from reaching Python internals,
and StrictUndefined makes a missing variable an error rather than an empty
string (an empty CN would silently match nothing, or everything with a pattern).
Rendered text is plain data: it is never used as PowerShell source or HTML.

The loader calls :func:`template_problem` on every string at load time, so a
broken template is reported with its ``file:line:col``; the evaluator calls
:func:`render` per host.

Pure: no I/O. Compiled templates are cached by their source text.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError, meta
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from fleetcheck.i18n import T, Text

__all__ = ["TEMPLATE_NAMES", "TemplateError", "check_syntax", "is_template", "render", "template_problem"]

_ENV = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)
_MISSING_ATTR = re.compile(r"has no attribute '([^']+)'")
_MISSING_NAME = re.compile(r"'([^']+)' is undefined")

TEMPLATE_NAMES = frozenset({"host"})  # the only name a template may use


def template_problem(text: str) -> Text | None:
    """Why ``text`` is not a usable template, or None when it is fine (or not a template).

    >>> template_problem("{{ host.gateway_cert }}") is None
    True
    >>> template_problem("{{ host.gateway_cert ").en.startswith("broken template")
    True
    """
    if not is_template(text):
        return None
    try:
        ast = _ENV.parse(text)
    except TemplateSyntaxError as exc:
        where = f" (line {exc.lineno} of the template)" if "\n" in text else ""
        where_zh = f"（模板第 {exc.lineno} 行）" if "\n" in text else ""
        return T(
            f"模板语法错误：{exc.message}{where_zh}；变量写成 {{{{ host.变量名 }}}}",
            f"broken template: {exc.message}{where}; write variables as {{{{ host.name }}}}",
        )
    unknown = sorted(meta.find_undeclared_variables(ast) - TEMPLATE_NAMES)
    if unknown:
        names = ", ".join(unknown)
        return T(
            f"模板引用了未知的名称 {names}：只能使用 host.<清单变量>，例如 {{{{ host.gateway_cert }}}}",
            f"template uses unknown name(s) {names}: only host.<inventory variable> is available, "
            "e.g. {{ host.gateway_cert }}",
        )
    return None


class TemplateError(ValueError):
    """A template that cannot be rendered for this host; ``message`` is bilingual."""

    def __init__(self, message: Text, variable: str | None = None) -> None:
        super().__init__(message.en)
        self.message = message
        self.variable = variable


def is_template(value: object) -> bool:
    """True for text holding jinja2 syntax (only those are rendered)."""
    return isinstance(value, str) and ("{{" in value or "{%" in value or "{#" in value)


@lru_cache(maxsize=512)
def _compile(source: str) -> Any:
    return _ENV.from_string(source)


def check_syntax(source: str) -> None:
    """Raise ValueError with jinja2's explanation when ``source`` is not a valid template."""
    try:
        _compile(source)
    except TemplateSyntaxError as exc:
        raise ValueError(f"template {source!r} is not valid: {exc.message}") from None


def render(source: str, host_vars: dict[str, Any]) -> str:
    """Render ``source`` with ``host`` = the host's variables.

    >>> render("{{ host.gateway_cert }}", {"gateway_cert": "F00504Y0007#0"})
    'F00504Y0007#0'

    Raises TemplateError naming the missing variable (``host.gateway_cert``).
    """
    try:
        return str(_compile(source).render(host=host_vars))
    except UndefinedError as exc:
        text = str(exc.message or "")
        m = _MISSING_ATTR.search(text)
        name = f"host.{m.group(1)}" if m else (m2.group(1) if (m2 := _MISSING_NAME.search(text)) else text)
        raise TemplateError(
            T(
                f"模板 {source} 用到的变量 {name} 未定义：请在清单（inventory）里为该主机设置它",
                f"template {source} uses {name}, which is not defined: set it for this host in the inventory",
            ),
            name,
        ) from None
    except TemplateSyntaxError as exc:
        raise TemplateError(T(f"模板 {source} 有语法错误：{exc.message}", f"template {source} is not valid: {exc.message}")) from None
    except SecurityError:
        raise TemplateError(T(f"模板 {source} 试图做不允许的操作", f"template {source} tries something unsafe")) from None
