"""Rendering templated check parameters: ``"{{ host.gateway_cert }}"``.

Inventory (and policy ``vars:``) values are available under ``host.*``.
jinja2's ImmutableSandboxedEnvironment keeps a policy from reaching Python
internals or changing data, and StrictUndefined makes a missing variable an
error rather than an empty string (an empty CN would silently match nothing,
or everything with a pattern). Rendered text is plain data: it is never used
as PowerShell source or HTML.

Budgets: a template is text in a policy, and a policy must not be able to
stall or exhaust the machine that evaluates it. Every render has limits on
``range`` length (:data:`MAX_RANGE`), the size of any string, list or mapping
it builds (:data:`MAX_SIZE`: ``'a' * n``, ``+``, ``~``, ``%``-formatting,
``center``/``ljust``/``replace``/``join``/``indent``...), big-number
arithmetic, loop iterations, output length (:data:`MAX_OUTPUT`, checked while
streaming) and wall time (:data:`MAX_SECONDS`, checked at every call, attribute
access, operator and loop step). A breach raises :class:`TemplateError`, which
the evaluator turns into an error finding of the checks using the template.

The loader calls :func:`template_problem` on every string at load time, so a
broken template is reported with its ``file:line:col``; ``policy lint`` also
renders each template (:func:`render_problem`) against the inventory's or a
representative variable set; the evaluator calls :func:`render` per host.

Pure: no I/O. Compiled templates are cached by their source text.
"""

from __future__ import annotations

import functools
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError, meta, nodes
from jinja2.exceptions import SecurityError
from jinja2.exceptions import TemplateError as JinjaTemplateError
from jinja2.runtime import Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from fleetcheck.errors import FleetcheckError
from fleetcheck.i18n import T, Text

__all__ = [
    "MAX_OUTPUT",
    "MAX_RANGE",
    "MAX_SECONDS",
    "MAX_SIZE",
    "SAMPLE_VARS",
    "TEMPLATE_NAMES",
    "TemplateError",
    "check_syntax",
    "is_template",
    "render",
    "render_problem",
    "template_problem",
]

MAX_RANGE = 10_000  # items of range()
MAX_SIZE = 100_000  # characters of a string, items of a list/mapping, loop steps
MAX_OUTPUT = 100_000  # characters a template may render
MAX_SECONDS = 1.0  # wall time of one render
MAX_SOURCE = 20_000  # characters of a template's source
MAX_INT_BITS = 4_096  # big-number arithmetic (str() of an int stops at 4,300 digits)

_MISSING_ATTR = re.compile(r"has no attribute '([^']+)'")
_MISSING_NAME = re.compile(r"'([^']+)' is undefined")
_PERCENT_WIDTH = re.compile(r"%[^a-zA-Z%]*(\d{6,}|\*)")  # a %-width of a million or more, or from args
_BRACE_WIDTH = re.compile(r"\{[^{}]*:[^{}]*(\d{6,}|\{)")  # a {:width} of a million or more, or nested

TEMPLATE_NAMES = frozenset({"host"})  # the only name a template may use


# --------------------------------------------------------------------------- budgets


class _Breach(Exception):
    """A budget was exceeded; ``text`` says which (bilingual). Internal: becomes a TemplateError."""

    def __init__(self, text: Text) -> None:
        super().__init__(text.en)
        self.text = text


_STATE = threading.local()


class _Timeout(Exception):
    """The render's wall-time budget ran out. Internal: becomes a TemplateError."""


def _tick() -> None:
    deadline = getattr(_STATE, "deadline", None)
    if deadline is not None and time.monotonic() > deadline:
        raise _Timeout


_TIMEOUT_TEXT = T(f"渲染超过 {MAX_SECONDS:g} 秒", f"rendering took longer than {MAX_SECONDS:g} s")
# A template that ran out of time this often is not rendered again in this
# process (a sweep of 5,000 PCs must not spend a second on each of them).
_MAX_TIMEOUTS = 3
_TIMEOUTS: dict[str, int] = {}
_TIMEOUTS_LOCK = threading.Lock()


def _too_big(what_zh: str, what_en: str, limit: int = MAX_SIZE) -> _Breach:
    return _Breach(T(f"{what_zh}超过 {limit:,}", f"{what_en} over {limit:,}"))


def _size(value: Any) -> int:
    try:
        return len(value) if isinstance(value, (str, bytes, list, tuple, dict, set, frozenset)) else 0
    except TypeError:
        return 0


def _check_result(value: Any) -> Any:
    if _size(value) > MAX_SIZE:
        raise _too_big("结果的长度", "a result of length")
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > MAX_INT_BITS:
        raise _too_big("数字的位数（二进制）", "a number of bits", MAX_INT_BITS)
    return value


def _check_width(fmt: Any, *, braces: bool = False) -> None:
    if not isinstance(fmt, str):
        return
    pattern = _BRACE_WIDTH if braces else _PERCENT_WIDTH
    if pattern.search(fmt.replace("%%", "") if not braces else fmt):
        raise _Breach(T("格式宽度过大", "a format width that is too large"))


def _bounded_range(*args: Any) -> range:
    _tick()
    result = range(*args)
    if len(result) > MAX_RANGE:
        raise _too_big("range 的长度", "range of length", MAX_RANGE)
    return result


class _Ticking:
    """A loop's iterable: every step checks the clock and the step count."""

    def __init__(self, iterable: Any) -> None:
        self._iterable = iterable

    def __iter__(self) -> Iterator[Any]:
        for index, item in enumerate(self._iterable):
            if index >= MAX_SIZE:
                raise _too_big("循环次数", "a loop of steps")
            _tick()
            yield item

    def __len__(self) -> int:
        return len(self._iterable)


def _loop(value: Any) -> Any:
    if isinstance(value, Undefined):
        return value  # StrictUndefined raises on iteration, naming the variable
    _tick()
    if _size(value) > MAX_SIZE:
        raise _too_big("循环次数", "a loop of steps")
    return _Ticking(value)


def _concat(parts: Iterable[Any]) -> str:
    pieces = [str(p) for p in parts]
    if sum(len(p) for p in pieces) > MAX_SIZE:
        raise _too_big("拼接结果的长度", "a concatenation of length")
    return "".join(pieces)


def _estimate_replace(text: str, old: Any, new: Any, count: Any = -1) -> None:
    if isinstance(old, str) and isinstance(new, str):
        hits = text.count(old) if old else len(text) + 1
        if isinstance(count, int) and count >= 0:
            hits = min(hits, count)
        if len(text) + hits * (len(new) - len(old)) > MAX_SIZE:
            raise _too_big("替换结果的长度", "a replacement of length")


def _estimate_join(sep: Any, items: Any) -> list[Any]:
    listed = list(_Ticking(items))
    total = sum(len(str(x)) for x in listed) + max(len(listed) - 1, 0) * len(str(sep))
    if total > MAX_SIZE:
        raise _too_big("拼接结果的长度", "a join of length")
    return listed


def _int_arg(value: Any) -> None:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_SIZE:
        raise _too_big("宽度", "a width")


# str methods that build text from a size argument: check before calling
_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})


def _guard_method(obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
    owner = getattr(obj, "__self__", None)
    name = getattr(obj, "__name__", "")
    if isinstance(owner, str):
        if name in _WIDTH_METHODS:
            for arg in (*args, *kwargs.values()):
                _int_arg(arg)
        elif name == "replace" and len(args) >= 2:
            _estimate_replace(owner, *args[:3])
        elif name == "join" and args:
            return (_estimate_join(owner, args[0]), *args[1:])
        elif name in ("format", "format_map"):
            _check_width(owner, braces=True)
    return args


def _guard_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """A filter wrapped with the budget checks its arguments need."""

    @functools.wraps(func)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        _tick()
        # the filtered value is the first argument after any context/environment
        values = [a for a in args if not hasattr(a, "filters") and not hasattr(a, "environment")]
        value = values[0] if values else None
        rest = values[1:]
        if name in ("center", "indent", "wordwrap", "truncate", "batch", "slice"):
            for arg in (*rest, *kwargs.values()):
                _int_arg(arg)
            if name == "indent":
                width = kwargs.get("width", rest[0] if rest else 4)
                pad = len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
                if isinstance(value, str) and (value.count("\n") + 1) * pad + len(value) > MAX_SIZE:
                    raise _too_big("缩进结果的长度", "an indented text of length")
        elif name == "format":
            _check_width(value)
        elif name == "replace" and isinstance(value, str) and len(rest) >= 2:
            _estimate_replace(value, *rest[:3])
        elif name == "join" and value is not None and not isinstance(value, Undefined):
            sep = kwargs.get("d", rest[0] if rest else "")
            attribute = kwargs.get("attribute", rest[1] if len(rest) > 1 else None)
            if attribute is None:
                _estimate_join(sep, value)
        return _check_result(func(*args, **kwargs))

    return guarded


class _Environment(ImmutableSandboxedEnvironment):
    """The sandbox with budgets (see the module docstring)."""

    intercepted_binops = frozenset({"*", "**", "+", "%", "//", "-"})

    def __init__(self) -> None:
        super().__init__(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)
        self.globals["range"] = _bounded_range
        for unbounded in ("lipsum", "cycler", "joiner"):
            self.globals.pop(unbounded, None)
        self.filters = {name: _guard_filter(name, func) for name, func in self.filters.items()}
        self.filters["fc_loop"] = _loop
        self.filters["fc_concat"] = _concat

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        # every loop steps through _loop (clock and step count); every ~ through _concat
        for loop in tree.find_all(nodes.For):
            loop.iter = nodes.Filter(loop.iter, "fc_loop", [], [], None, None, lineno=loop.lineno)
        for concat in list(tree.find_all(nodes.Concat)):
            parts = nodes.List(list(concat.nodes), lineno=concat.lineno)
            replacement = nodes.Filter(parts, "fc_concat", [], [], None, None, lineno=concat.lineno)
            concat.__class__ = nodes.Filter  # type: ignore[assignment]
            for field_name in nodes.Filter.fields:
                setattr(concat, field_name, getattr(replacement, field_name))
            del concat.nodes
        return tree

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        _tick()
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if _size(seq) and isinstance(times, int) and _size(seq) * times > MAX_SIZE:
                    raise _too_big("结果的长度", "a result of length")
            if isinstance(left, int) and isinstance(right, int) and (
                left.bit_length() + right.bit_length() > MAX_INT_BITS
            ):
                raise _too_big("数字的位数（二进制）", "a number of bits", MAX_INT_BITS)
        elif operator == "**":
            if isinstance(left, (int, float)) and isinstance(right, (int, float)) and abs(left) > 1:
                bits = max(abs(int(left)), 2).bit_length() * abs(right)
                if bits > MAX_INT_BITS:
                    raise _too_big("数字的位数（二进制）", "a number of bits", MAX_INT_BITS)
        elif operator == "+":
            if _size(left) + _size(right) > MAX_SIZE:
                raise _too_big("结果的长度", "a result of length")
        elif operator == "%" and isinstance(left, str):
            _check_width(left)
        return _check_result(super().call_binop(context, operator, left, right))

    def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        _tick()
        args = _guard_method(obj, args, kwargs)
        return _check_result(super().call(context, obj, *args, **kwargs))

    def getattr(self, obj: Any, attribute: str) -> Any:
        _tick()
        if isinstance(obj, str) and attribute in ("format", "format_map"):
            _check_width(obj, braces=True)  # jinja wraps str.format: check before it runs
        return super().getattr(obj, attribute)

    def getitem(self, obj: Any, argument: Any) -> Any:
        _tick()
        return super().getitem(obj, argument)


_ENV = _Environment()


# --------------------------------------------------------------------------- checking


def template_problem(text: str) -> Text | None:
    """Why ``text`` is not a usable template, or None when it is fine (or not a template).

    >>> template_problem("{{ host.gateway_cert }}") is None
    True
    >>> template_problem("{{ host.gateway_cert ").en.startswith("broken template")
    True
    """
    if not is_template(text):
        return None
    if len(text) > MAX_SOURCE:
        return T(f"模板过长（超过 {MAX_SOURCE:,} 个字符）", f"template is too long (over {MAX_SOURCE:,} characters)")
    try:
        ast = _ENV.parse(text)
        unknown = sorted(meta.find_undeclared_variables(ast) - TEMPLATE_NAMES)
    except TemplateSyntaxError as exc:
        where = f" (line {exc.lineno} of the template)" if "\n" in text else ""
        where_zh = f"（模板第 {exc.lineno} 行）" if "\n" in text else ""
        return T(
            f"模板语法错误：{exc.message}{where_zh}；变量写成 {{{{ host.变量名 }}}}",
            f"broken template: {exc.message}{where}; write variables as {{{{ host.name }}}}",
        )
    except RecursionError:
        return T("模板嵌套过深", "template nests too deeply")
    if unknown:
        names = ", ".join(unknown)
        return T(
            f"模板引用了未知的名称 {names}：只能使用 host.<清单变量>，例如 {{{{ host.gateway_cert }}}}",
            f"template uses unknown name(s) {names}: only host.<inventory variable> is available, "
            "e.g. {{ host.gateway_cert }}",
        )
    return None


class TemplateError(FleetcheckError, ValueError):
    """A template that cannot be rendered for this host; ``message`` (= ``text``) is bilingual.

    Also a ValueError: pydantic validators raise it and turn it into a positioned issue.
    """

    def __init__(self, message: Text, variable: str | None = None, *, budget: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.variable = variable
        self.budget = budget  # a budget was exceeded (not a missing variable or a value's type)


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
    except RecursionError:
        raise ValueError(f"template {source[:80]!r} nests too deeply") from None


def _shown(source: str, limit: int = 120) -> str:
    return source if len(source) <= limit else source[: limit - 1] + "…"


def render(source: str, host_vars: Mapping[str, Any]) -> str:
    """Render ``source`` with ``host`` = the host's variables, within the budgets.

    >>> render("{{ host.gateway_cert }}", {"gateway_cert": "F00504Y0007#0"})
    'F00504Y0007#0'

    Raises TemplateError naming the missing variable (``host.gateway_cert``),
    or saying which budget was exceeded; never anything else.
    """
    shown = _shown(source)
    if _TIMEOUTS.get(source, 0) >= _MAX_TIMEOUTS:
        raise TemplateError(
            T(f"模板 {shown} 超出限制：{_TIMEOUT_TEXT.zh}（此前已多次超时，不再渲染）",
              f"template {shown} exceeds a limit: {_TIMEOUT_TEXT.en} (it did before; not rendered again)"),
            budget=True,
        )
    previous = getattr(_STATE, "deadline", None)
    _STATE.deadline = time.monotonic() + MAX_SECONDS
    try:
        if len(source) > MAX_SOURCE:
            raise _too_big("模板长度", "a template of length", MAX_SOURCE)
        out: list[str] = []
        total = 0
        for chunk in _compile(source).generate(host=host_vars):
            total += len(chunk)
            if total > MAX_OUTPUT:
                raise _too_big("输出长度", "output of length", MAX_OUTPUT)
            _tick()
            out.append(chunk)
        return "".join(out)
    except UndefinedError as exc:
        text = str(exc.message or "")
        m = _MISSING_ATTR.search(text)
        name = f"host.{m.group(1)}" if m else (m2.group(1) if (m2 := _MISSING_NAME.search(text)) else text)
        name = _shown(name, 80)
        raise TemplateError(
            T(
                f"模板 {shown} 用到的变量 {name} 未定义：请在清单（inventory）里为该主机设置它",
                f"template {shown} uses {name}, which is not defined: set it for this host in the inventory",
            ),
            name,
        ) from None
    except TemplateSyntaxError as exc:
        raise TemplateError(T(f"模板 {shown} 有语法错误：{exc.message}", f"template {shown} is not valid: {exc.message}")) from None
    except SecurityError:
        raise TemplateError(T(f"模板 {shown} 试图做不允许的操作", f"template {shown} tries something unsafe")) from None
    except _Timeout:
        with _TIMEOUTS_LOCK:
            if len(_TIMEOUTS) < 1024:
                _TIMEOUTS[source] = _TIMEOUTS.get(source, 0) + 1
        raise TemplateError(
            T(f"模板 {shown} 超出限制：{_TIMEOUT_TEXT.zh}", f"template {shown} exceeds a limit: {_TIMEOUT_TEXT.en}"),
            budget=True,
        ) from None
    except _Breach as exc:
        raise TemplateError(
            T(f"模板 {shown} 超出限制：{exc.text.zh}", f"template {shown} exceeds a limit: {exc.text.en}"),
            budget=True,
        ) from None
    except RecursionError:
        raise TemplateError(T(f"模板 {shown} 递归过深", f"template {shown} recurses too deeply"), budget=True) from None
    except (JinjaTemplateError, ArithmeticError, ValueError, TypeError, LookupError, AttributeError, MemoryError) as exc:
        reason = _shown(f"{type(exc).__name__}: {exc}", 160)
        raise TemplateError(
            T(f"模板 {shown} 无法为此主机渲染（{reason}）", f"template {shown} cannot be rendered for this host ({reason})")
        ) from None
    finally:
        _STATE.deadline = previous


class _SampleVars(dict[str, Any]):
    """A representative variable set: any ``host.<name>`` is a short sample text."""

    def __missing__(self, key: str) -> str:
        return f"sample-{key}"


SAMPLE_VARS: Mapping[str, Any] = _SampleVars()


def render_problem(source: str, host_vars: Mapping[str, Any] | None = None) -> Text | None:
    """Why rendering ``source`` fails for ``host_vars`` (None: a representative set), or None.

    Used by ``policy lint``: budget breaches (``range(99999999)``, ``'a' * 10**9``)
    and, with real variables, undefined names and other failures are found before
    any host is scanned. With the representative set only budget breaches count:
    its sample texts may not fit what a template does with a real value
    (``host.port + 1``), and that is no fault of the template.
    """
    if not is_template(source) or template_problem(source) is not None:
        return None
    try:
        render(source, SAMPLE_VARS if host_vars is None else host_vars)
    except TemplateError as exc:
        return exc.message if exc.budget or host_vars is not None else None
    return None
