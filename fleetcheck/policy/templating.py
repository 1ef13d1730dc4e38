"""Templated policy strings: ``"{{ host.gateway_cert }}"``.

Policies may reference inventory variables in string parameters. Templates are
rendered by jinja2's SandboxedEnvironment with StrictUndefined, so a policy
cannot reach Python internals and a missing variable is an error, never an
empty string. The only name a template sees is ``host`` (the host's inventory
variables over the policy's ``vars`` defaults).

The loader calls :func:`template_problem` on every string at load time, so a
broken template is reported with its ``file:line:col``; the evaluator calls
:func:`render` per host.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError, meta
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from fleetcheck.i18n import T, Text

__all__ = ["TEMPLATE_NAMES", "TemplateRenderError", "is_template", "render", "template_problem"]

TEMPLATE_NAMES = frozenset({"host"})
_MARKERS = ("{{", "{%", "{#")


@lru_cache(maxsize=1)
def _environment() -> SandboxedEnvironment:
    return SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


def is_template(text: str) -> bool:
    """True when ``text`` contains jinja2 markup."""
    return any(m in text for m in _MARKERS)


def template_problem(text: str) -> Text | None:
    """Why ``text`` is not a usable template, or None when it is fine (or not a template).

    >>> template_problem("{{ host.gateway_cert }}") is None
    True
    >>> template_problem("{{ host.gateway_cert ").en.startswith("broken template")
    True
    """
    if not is_template(text):
        return None
    env = _environment()
    try:
        ast = env.parse(text)
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


class TemplateRenderError(ValueError):
    """A template could not be rendered for a host (e.g. the variable is not set)."""

    def __init__(self, message: Text) -> None:
        self.text = message
        super().__init__(message.en)


def render(text: str, host_vars: Mapping[str, Any], defaults: Mapping[str, Any] | None = None) -> str:
    """Render ``text`` for one host; plain strings come back unchanged.

    >>> render("{{ host.gateway_cert }}", {"gateway_cert": "F00504Y0007#0"})
    'F00504Y0007#0'
    """
    if not is_template(text):
        return text
    context = {**(defaults or {}), **host_vars}
    try:
        return _environment().from_string(text).render(host=context)
    except UndefinedError as exc:
        raise TemplateRenderError(
            T(
                f"模板 {text!r} 需要的清单变量未设置：{exc.message}",
                f"template {text!r} needs an inventory variable that is not set: {exc.message}",
            )
        ) from None
    except (TemplateSyntaxError, SecurityError, TypeError, ValueError) as exc:
        raise TemplateRenderError(
            T(f"模板 {text!r} 无法渲染：{exc}", f"template {text!r} cannot be rendered: {exc}")
        ) from None
