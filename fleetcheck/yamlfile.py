"""Load a YAML file into a pydantic model, reporting every problem as ``file:line:col``.

The one loader for every YAML file the user writes: policies, waivers,
inventories, host variables, notification config, the dashboard config, the
trading calendar, the PFX passwords file, simulator images and offices.
What it guarantees:

* every problem of a file is reported in one go: YAML syntax errors, duplicate
  mapping keys, and every pydantic validation error;
* each problem is an :class:`Issue` with file, 1-based line and column, a
  plain-language bilingual message (no pydantic jargon, no traceback) and the
  offending source line, shown with a caret under the column;
* a union of several alternatives yields one message, never one per
  alternative; an unknown discriminator tag (e.g. ``type: foo``) says which
  tags are known.

How positions are found: the file is read with ruamel.yaml's round-trip
loader, whose mappings and sequences remember where each key and item starts
(``.lc.key(k)``, ``.lc.value(k)``, ``.lc.item(i)``). A pydantic error location
such as ``('checks', 2, 'activex', 'clsid')`` is walked through that data; the
parts that are not in the data (union tags like ``'activex'``, validator names)
are skipped.

Example::

    from fleetcheck.yamlfile import load_model, UserFileError
    try:
        waivers = load_model("waivers.yaml", WaiverFile, error=WaiverError)
    except UserFileError as exc:    # any bad user file; WaiverError for this kind only
        print(exc.format("en"))     # every issue, file:line:col + source + caret
        for issue in exc.issues: ...

For several files or extra checks that need the raw data (duplicate ids,
template syntax), use :func:`read_document` and :meth:`YamlDocument.validate`;
for checks a loader makes by hand (no pydantic model: the trading calendar,
the dashboard config, the PFX passwords file), :meth:`YamlDocument.fail` with
:class:`RawIssue` locations; for data merged from several files (a simulator
image and the images it extends), :func:`validation_issues`.

Errors: :class:`UserFileError` (a :class:`~fleetcheck.errors.FleetcheckError`,
exit code 2) is the base of one family of siblings, one per kind of file
(``PolicyError``, ``WaiverError``, ``InventoryError``, ``HostVarsError``,
``NotifyConfigError``, ``CalendarError``, ``ServeConfigError``,
``PasswordFileError``, the simulator's ``ImageError``). Every function here
takes ``error=`` (the kind to raise; :class:`UserFileError` by default).

YAML syntax errors (ruamel's English problem texts) are said in both
languages by :func:`syntax_message`; an unknown one keeps ruamel's text.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar, Union

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.composer import Composer, MaxDepthExceededError
from ruamel.yaml.constructor import ConstructorError, RoundTripConstructor
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.reader import ReaderError

from fleetcheck.errors import FleetcheckError
from fleetcheck.i18n import DEFAULT_LANG, Lang, T, Text, TextValueError

__all__ = [
    "Issue",
    "Loc",
    "PolicyError",
    "RawIssue",
    "UserFileError",
    "YamlDocument",
    "document_data",
    "format_issues",
    "load_model",
    "parse_bytes",
    "parse_data",
    "parse_text",
    "read_data",
    "read_document",
    "syntax_message",
    "to_plain",
    "unknown_key",
    "validation_issues",
]

M = TypeVar("M", bound=BaseModel)
Loc = tuple[str | int, ...]

# Biggest file we read: policies and inventories are small; this keeps a
# mistaken path (a log, a disk image) from eating memory.
MAX_FILE_BYTES = 20 * 1024 * 1024


# --------------------------------------------------------------------------- issues


@dataclass(frozen=True)
class Issue:
    """One problem in one file. ``line``/``col`` are 1-based; None when unknown."""

    file: str
    line: int | None
    col: int | None
    message: Text
    source_line: str | None = None

    def format(self, lang: Lang = DEFAULT_LANG) -> str:
        """``file:line:col: message`` then the source line and a caret under the column."""
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.col is not None:
                where += f":{self.col}"
        text = f"{where}: {self.message.get(lang)}"
        if self.source_line is not None and self.source_line.strip():
            shown = self.source_line.rstrip("\r\n").expandtabs(1)
            text += f"\n    {shown}"
            if self.col is not None:
                text += "\n    " + " " * _display_width(shown[: self.col - 1]) + "^"
        return text


def _display_width(text: str) -> int:
    """Terminal columns of ``text``: CJK characters take two, so the caret lines up."""
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in text)


def format_issues(issues: Sequence[Issue], lang: Lang = DEFAULT_LANG) -> str:
    """All issues, sorted by file and position, one block each."""
    ordered = sorted(issues, key=lambda i: (i.file, i.line or 0, i.col or 0))
    return "\n".join(i.format(lang) for i in ordered)


class UserFileError(FleetcheckError):
    """A user-editable YAML file that cannot be used: every problem, each at ``file:line:col``.

    The base of one family of siblings: :class:`PolicyError` (policies),
    ``WaiverError``, ``InventoryError``, ``NotifyConfigError``,
    ``CalendarError``, ``ServeConfigError``, ``PasswordFileError``, the
    simulator's image and office errors. Catch this base where any bad file
    will do. ``issues`` holds every problem, sorted by file and position;
    ``str()`` is the English block, :meth:`format` picks a language.
    """

    def __init__(self, issues: Sequence[Issue]) -> None:
        ordered = sorted(issues, key=lambda i: (i.file, i.line or 0, i.col or 0))
        self.issues: list[Issue] = ordered
        super().__init__(T(format_issues(ordered, "zh"), format_issues(ordered, "en")))

    def format(self, lang: Lang = DEFAULT_LANG) -> str:
        return format_issues(self.issues, lang)


class PolicyError(UserFileError):
    """A policy file (or several: ``load_policies``) that cannot be used."""


@dataclass(frozen=True)
class RawIssue:
    """A problem found by an extra check, placed by its location in the data.

    ``key=True`` points at the mapping key itself (e.g. a duplicate id's key)
    rather than its value.
    """

    loc: Loc
    message: Text
    key: bool = False


# --------------------------------------------------------------------------- the document


@dataclass
class YamlDocument:
    """A parsed YAML file: its data (ruamel round-trip types), its lines, early issues."""

    file: str
    data: Any
    lines: list[str]
    issues: list[Issue] = field(default_factory=list)
    loaded: bool = True  # False when the YAML could not be parsed at all
    # lines (1-based) holding a value of a password-like key, and those values:
    # never quoted in a message
    secret_lines: set[int] = field(default_factory=set)
    secret_values: set[str] = field(default_factory=set)
    # compare mapping keys without case when placing a location (registry-like
    # data, e.g. simulator images, where ``HKLM`` and ``hklm`` are one key)
    ignore_case: bool = False

    # -- positions ---------------------------------------------------------

    def position(self, loc: Loc, *, key: bool = False) -> tuple[int, int] | None:
        """1-based (line, col) of the data at ``loc`` (as far as it exists)."""
        path, _ = _data_path(self.data, loc, self.ignore_case)
        return self._position_of_path(path, key=key)

    def depth_of(self, loc: Loc) -> int:
        """How many leading parts of ``loc`` this document spells out (0: none)."""
        if not self.loaded:
            return 0
        return len(_data_path(self.data, loc, self.ignore_case)[0])

    def _position_of_path(self, path: Loc, *, key: bool = False) -> tuple[int, int] | None:
        if not self.loaded:
            return None
        if not path:
            return _node_start(self.data) or (1, 1)
        parent = _follow(self.data, path[:-1])
        last = path[-1]
        try:
            if isinstance(parent, CommentedMap):
                line, col = parent.lc.key(last) if key else parent.lc.value(last)
            elif isinstance(parent, CommentedSeq) and isinstance(last, int):
                line, col = parent.lc.item(last)
            else:
                return _node_start(parent)
        except (KeyError, IndexError, TypeError, AttributeError):
            return _node_start(parent)
        return line + 1, col + 1

    def issue(self, loc: Loc, message: Text, *, key: bool = False) -> Issue:
        """An :class:`Issue` placed at ``loc`` of this document."""
        pos = self.position(loc, key=key)
        return self._issue_at(pos, message)

    def issue_at(self, pos: tuple[int, int] | None, message: Text) -> Issue:
        """An :class:`Issue` at 1-based ``(line, col)`` of this file (None: the file as a whole).

        For loaders that walk the round-trip data themselves (the inventory):
        the source line and caret come out as for every other issue, secrets redacted.
        """
        return self._issue_at(pos, message)

    def _issue_at(self, pos: tuple[int, int] | None, message: Text) -> Issue:
        if pos is None:
            return self.redact(Issue(self.file, None, None, message))
        line, col = pos
        source = self.lines[line - 1] if 0 < line <= len(self.lines) else None
        return self.redact(Issue(self.file, line, col, message, source))

    def redact(self, issue: Issue) -> Issue:
        """``issue`` without any value of a password-like key (source line or quoted value).

        Password-like keys: see :data:`SECRET_KEY`. When the file could not be
        parsed, a line is treated as secret if it or the key it belongs to
        (the nearest line above with less indentation) looks password-like.
        """
        message = issue.message
        for value in sorted(self.secret_values, key=len, reverse=True):
            if f"'{value}'" in message.zh or f"'{value}'" in message.en or (
                len(value) >= 4 and (value in message.zh or value in message.en)
            ):
                message = T(
                    message.zh.replace(f"'{value}'", "'***'").replace(value, "***") if len(value) >= 4
                    else message.zh.replace(f"'{value}'", "'***'"),
                    message.en.replace(f"'{value}'", "'***'").replace(value, "***") if len(value) >= 4
                    else message.en.replace(f"'{value}'", "'***'"),
                )
        source = issue.source_line
        if source is not None and issue.line is not None and self._secret_line(issue.line):
            source = None
        if message is issue.message and source is issue.source_line:
            return issue
        return Issue(issue.file, issue.line, issue.col, message, source)

    def _secret_line(self, line: int) -> bool:
        if line in self.secret_lines:
            return True
        if self.loaded and self.data is not None:
            return False
        return _looks_secret(self.lines, line)

    # -- validation --------------------------------------------------------

    def validate(
        self,
        model: type[M],
        *,
        context: Any = None,
        labels: Mapping[str, Text] | None = None,
        extra_checks: Iterable[Callable[[Any], Iterable[RawIssue]]] = (),
        ignore_types: Iterable[str] = (),
        error: type[UserFileError] = UserFileError,
    ) -> M:
        """Validate the data against ``model``; raise ``error`` with every issue.

        ``labels`` names discriminator fields for messages, e.g. ``{"type": T("检查类型", "check type")}``
        gives "unknown check type 'foo'". ``extra_checks`` see the raw data and
        report problems pydantic cannot (duplicates, template syntax); they run
        even when validation fails, so all problems come out together.
        ``ignore_types`` drops pydantic errors of those types (when an extra
        check already reports the same problem with a better position).
        ``error`` is the kind of file (:class:`PolicyError`, ``InventoryError``...).
        """
        issues = list(self.issues)
        if not self.loaded:
            raise error(issues)
        if self.data is None:
            issues.append(self._issue_at(None, T("文件为空", "the file is empty")))
            raise error(issues)
        result: M | None = None
        try:
            result = model.model_validate(self.data, context=context)
        except ValidationError as exc:
            skip = set(ignore_types)
            errors = [e for e in exc.errors() if e["type"] not in skip]
            issues.extend(self._translate(errors, model, labels or {}))
        for check in extra_checks:
            for raw in check(self.data):
                issues.append(self.issue(raw.loc, raw.message, key=raw.key))
        if result is None and not issues:
            issues.append(self._issue_at(None, T("内容无效", "the content is not valid")))
        if issues or result is None:
            raise error(_dedupe(issues))
        return result

    def fail(self, problems: Iterable[RawIssue], error: type[UserFileError] = UserFileError) -> None:
        """Raise ``error`` with the document's own issues and ``problems``, if there are any.

        For checks a loader makes on the data itself (no pydantic model): each
        :class:`RawIssue` is placed at its location, so it reads
        ``file:line:col`` like every other problem.
        """
        issues = list(self.issues) + [self.issue(p.loc, p.message, key=p.key) for p in problems]
        if issues:
            raise error(_dedupe(issues))

    def _translate(
        self, errors: list[ErrorDetails], model: type[BaseModel], labels: Mapping[str, Text]
    ) -> list[Issue]:
        # Group by the place in the data: several errors at one place come from
        # the alternatives of one union and are reported once.
        groups: dict[tuple[Any, ...], list[ErrorDetails]] = {}
        paths: dict[tuple[Any, ...], Loc] = {}
        for err in errors:
            loc = tuple(err["loc"])
            path, _ = _data_path(self.data, loc, self.ignore_case)
            # a missing key is its own problem; other errors at one place are alternatives
            if err["type"] == "union_tag_invalid":
                # point at the tag's value (``type: foo``), not the whole item
                disc = str((err.get("ctx") or {}).get("discriminator", "")).strip("'")
                node = _follow(self.data, path)
                if isinstance(node, Mapping) and disc in node:
                    path = (*path, disc)
            gkey: tuple[Any, ...] = ("missing", path, loc[-1]) if err["type"] == "missing" else ("at", path)
            groups.setdefault(gkey, []).append(err)
            paths[gkey] = path
        issues: list[Issue] = []
        for gkey, group in groups.items():
            path = paths[gkey]
            for message, key in _messages_for(group, self.data, model, labels):
                pos = self._position_of_path(path, key=key)
                issues.append(self._issue_at(pos, message))
        return issues


def _dedupe(issues: list[Issue]) -> list[Issue]:
    seen: set[tuple[Any, ...]] = set()
    out: list[Issue] = []
    for issue in issues:
        k = (issue.file, issue.line, issue.col, issue.message.en)
        if k not in seen:
            seen.add(k)
            out.append(issue)
    return out


# --------------------------------------------------------------------------- reading


# Bounds that keep a hostile or mistaken file from eating time and memory. No
# file fleetcheck reads needs more: a policy nests about ten levels deep.
MAX_DEPTH = 100
MAX_SCALAR_CHARS = 1_000_000
# Aliases may add this many nodes beyond the file's own (billion laughs: ten
# aliases of ten aliases of ... stay a few hundred bytes and expand to 10^9).
MAX_ALIAS_EXPANSION = 100_000
# Whole numbers longer than this are refused (Python refuses str() of an int
# over 4,300 digits; a hex literal can get there in a few thousand bytes).
MAX_INT_DIGITS = 100


class YamlLimitError(MarkedYAMLError):
    """A problem found while composing or constructing, with a bilingual message.

    Internal: :func:`parse_text` turns it into a positioned issue.
    """

    def __init__(self, text: Text, mark: Any) -> None:
        super().__init__(problem=text.en, problem_mark=mark)
        self.text = text


class _Composer(Composer):
    """ruamel's composer, refusing huge scalars (depth is bounded by ``max_depth``)."""

    def __init__(self, loader: Any = None) -> None:
        super().__init__(loader)
        self.warn_double_anchors = False  # a reused anchor is legal YAML: the later one counts
        self.aliases = 0  # aliases seen: without any, the expansion check is skipped

    def return_alias(self, node: Any) -> Any:
        self.aliases += 1
        return super().return_alias(node)

    def compose_scalar_node(self, anchor: Any) -> Any:
        node = super().compose_scalar_node(anchor)
        if isinstance(node.value, str) and len(node.value) > MAX_SCALAR_CHARS:
            raise YamlLimitError(
                T(
                    f"值过长（超过 {MAX_SCALAR_CHARS:,} 个字符）",
                    f"value is too long (over {MAX_SCALAR_CHARS:,} characters)",
                ),
                node.start_mark,
            )
        return node


_TAG_WORDS: dict[str, tuple[str, str]] = {
    "tag:yaml.org,2002:int": ("整数", "a whole number"),
    "tag:yaml.org,2002:float": ("数字", "a number"),
    "tag:yaml.org,2002:bool": ("true/false", "true or false"),
    "tag:yaml.org,2002:timestamp": ("日期或时间", "a date or time"),
    "tag:yaml.org,2002:binary": ("base64 数据", "base64 data"),
}


class _Constructor(RoundTripConstructor):
    """Round-trip constructor whose value errors (dates, tags, numbers) carry the node's mark."""

    def construct_non_recursive_object(self, node: Any, tag: str | None = None) -> Any:
        try:
            data = super().construct_non_recursive_object(node, tag)
        except YamlLimitError:
            raise
        except ConstructorError as exc:
            if str(node.tag) in _TAG_WORDS:
                raise YamlLimitError(_value_problem(node, exc), exc.problem_mark or node.start_mark) from None
            raise
        except RecursionError:
            raise YamlLimitError(
                T(f"嵌套过深（超过 {MAX_DEPTH} 层）", f"nested too deeply (over {MAX_DEPTH} levels)"),
                node.start_mark,
            ) from None
        except Exception as exc:  # noqa: BLE001 - any value that cannot be built is the file's problem
            raise YamlLimitError(_value_problem(node, exc), node.start_mark) from None
        if isinstance(data, int) and not isinstance(data, bool) and data.bit_length() > MAX_INT_DIGITS * 3.33:
            raise YamlLimitError(
                T(f"数字过大（超过 {MAX_INT_DIGITS} 位）", f"number is too large (over {MAX_INT_DIGITS} digits)"),
                node.start_mark,
            )
        return data


def _value_problem(node: Any, exc: Exception) -> Text:
    value = node.value if isinstance(node.value, str) else ""
    shown = _show(value)
    words = _TAG_WORDS.get(str(node.tag))
    if "timestamp" in str(node.tag) or str(exc).startswith(("day is out of range", "month must be")):
        return T(
            f"{shown} 不是有效的日期（写成 YYYY-MM-DD，例如 2026-12-31）",
            f"{shown} is not a valid date (write YYYY-MM-DD, e.g. 2026-12-31)",
        )
    if "Exceeds the limit" in str(exc):
        return T(f"数字过大（超过 {MAX_INT_DIGITS} 位）", f"number is too large (over {MAX_INT_DIGITS} digits)")
    if words is not None:
        return T(f"{shown} 不是{words[0]}", f"{shown} is not {words[1]}")
    tag = str(node.tag)
    return T(f"无法读取这个值（标签 {tag}）", f"cannot read this value (tag {tag})")


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = True  # duplicates are found on the node tree and reported
    yaml.max_depth = MAX_DEPTH
    yaml.Composer = _Composer
    yaml.Constructor = _Constructor
    return yaml


def read_document(path: str | Path, *, display_name: str | None = None) -> YamlDocument:
    """Read and parse a YAML file; problems are kept in ``.issues`` (never raised).

    Unreadable files, non-UTF-8 bytes, syntax errors and duplicate keys become
    issues; ``.loaded`` is False when nothing could be parsed.
    """
    name = display_name or str(path)
    try:
        with Path(path).open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        return _failed(name, T("文件不存在", "file not found"))
    except IsADirectoryError:
        return _failed(name, T("这是一个目录，不是文件", "is a directory, not a file"))
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return _failed(name, T(f"无法读取文件：{reason}", f"cannot read the file: {reason}"))
    except ValueError:  # a path with a NUL byte
        return _failed(name, T("文件名无效", "not a valid file name"))
    if len(raw) > MAX_FILE_BYTES:
        return _failed(name, T("文件过大（超过 20 MB）", "file is too large (over 20 MB)"))
    return parse_bytes(raw, name)


def parse_bytes(raw: bytes, name: str) -> YamlDocument:
    """Decode ``raw`` (UTF-8, optional BOM) and parse it; see :func:`read_document`."""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return YamlDocument(
            name,
            None,
            [],
            [
                Issue(
                    name,
                    line,
                    None,
                    T(
                        "文件不是 UTF-8 编码：请以 UTF-8 保存（GBK 等编码不受支持）",
                        "the file is not UTF-8: save it as UTF-8 (GBK and other encodings are not supported)",
                    ),
                )
            ],
            loaded=False,
        )
    return parse_text(text, name)


def _without_leading_comments(text: str) -> str:
    r"""``text`` with the comment lines before its first content emptied (line numbers kept).

    ruamel's scanner walks a comment that comes before the first token one
    character at a time in Python: a long one there (a pasted blob on a file's
    first line) took seconds per 100,000 characters. Those lines hold no data.

    >>> _without_leading_comments("# title\n\n  # more\nall: 1  # kept\n# kept\n")
    '\n\n\nall: 1  # kept\n# kept\n'
    """
    if not text.lstrip(" \t\r\n\ufeff").startswith("#"):
        return text
    lines = text.split("\n")
    for index, line in enumerate(lines):
        stripped = line.strip(" \t\r\ufeff")
        if stripped and not stripped.startswith("#"):
            break
        lines[index] = ""
    return "\n".join(lines)


def parse_text(text: str, name: str) -> YamlDocument:
    """Parse YAML ``text`` that came from ``name`` (used in messages).

    Never raises for the content: syntax errors, value errors (impossible
    dates, ``!!int abc``), nesting deeper than :data:`MAX_DEPTH`, scalars over
    :data:`MAX_SCALAR_CHARS`, alias expansion over :data:`MAX_ALIAS_EXPANSION`
    and numbers over :data:`MAX_INT_DIGITS` digits all become positioned issues.
    """
    lines = text.splitlines()
    doc = YamlDocument(name, None, lines)
    if len(text) > MAX_FILE_BYTES:
        return _failed(name, T("文件过大（超过 20 MB）", "file is too large (over 20 MB)"))
    deep = _flow_too_deep(text)
    if deep is not None:
        doc.loaded = False
        doc.issues.append(
            doc._issue_at(deep, T(f"嵌套过深（超过 {MAX_DEPTH} 层）", f"nested too deeply (over {MAX_DEPTH} levels)"))
        )
        return doc
    yaml = _yaml()
    try:
        # compose once: the node tree gives duplicate keys, then the same tree
        # is constructed into data (parsing twice doubled the load time)
        node = yaml.compose(_without_leading_comments(text))
        if node is not None:
            if yaml.composer.aliases:
                _check_aliases(node)
            if SECRET_KEY.search(text):
                doc.secret_lines, doc.secret_values = _secrets(node, shared=bool(yaml.composer.aliases))
            doc.issues.extend(_duplicate_keys(doc, node))
            doc.data = yaml.constructor.construct_document(node)
    except MarkedYAMLError as exc:
        doc.loaded = False
        doc.data = None
        doc.issues.append(_syntax_issue(doc, exc))
    except ReaderError as exc:  # a control character or other byte YAML forbids
        doc.loaded = False
        doc.data = None
        position = exc.position if isinstance(exc.position, int) else 0
        line = text.count("\n", 0, position) + 1
        col = position - (text.rfind("\n", 0, position) + 1) + 1
        code = f"U+{exc.character:04X}" if isinstance(exc.character, int) else "?"
        doc.issues.append(
            doc._issue_at(
                (line, col),
                T(f"YAML 中不允许的字符 {code}", f"character {code} is not allowed in YAML"),
            )
        )
    except YAMLError as exc:  # unmarked errors are rare; still no traceback
        doc.loaded = False
        doc.data = None
        doc.issues.append(
            Issue(name, None, None, T(f"YAML 语法错误：{_short(exc)}", f"YAML syntax error: {_short(exc)}"))
        )
    except RecursionError:
        doc.loaded = False
        doc.data = None
        doc.issues.append(
            Issue(name, None, None, T(f"嵌套过深（超过 {MAX_DEPTH} 层）", f"nested too deeply (over {MAX_DEPTH} levels)"))
        )
    return doc


SECRET_KEY = re.compile(r"pass|secret|token|credential|private[_-]?key|api[_-]?key", re.IGNORECASE)
_KEY_LINE = re.compile(r"^(\s*)(?:-\s+)?['\"]?([^'\":#]+?)['\"]?\s*:(\s|$)")


# Keys of a reference to a secret kept elsewhere ({env: NAME}, {keyring: service/user}):
# their values name the secret, they are not the secret.
_SECRET_REFERENCES = frozenset({"env", "keyring"})


def _secrets(root: Node, shared: bool = True) -> tuple[set[int], set[str]]:
    """Lines and scalar values under password-like keys.

    ``shared``: the tree may reach a node twice (aliases); without aliases the
    visited-set is skipped. Non-secret scalars are never pushed: the walk costs
    little more than the collections of the file.
    """
    lines: set[int] = set()
    values: set[str] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    seen: set[tuple[int, bool]] = set()
    collections = (MappingNode, SequenceNode)
    while stack:
        node, secret = stack.pop()
        if shared:
            if (id(node), secret) in seen:
                continue
            seen.add((id(node), secret))
        if secret and not isinstance(node, MappingNode):
            # a block scalar ends at column 0 of the line after it
            last = node.end_mark.line + (1 if node.end_mark.column > 0 else 0)
            lines.update(range(node.start_mark.line + 1, max(last, node.start_mark.line + 1) + 1))
            if isinstance(node.value, str) and node.value:
                values.add(node.value)
        if isinstance(node, MappingNode):
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node.value, str) else ""
                hidden = key not in _SECRET_REFERENCES if secret else bool(SECRET_KEY.search(key))
                if hidden:
                    if isinstance(value_node, ScalarNode):
                        lines.add(key_node.start_mark.line + 1)
                    stack.append((value_node, True))
                elif isinstance(value_node, collections):
                    stack.append((value_node, False))
        elif isinstance(node, SequenceNode):
            stack.extend((item, secret) for item in node.value if secret or isinstance(item, collections))
    return lines, values


def _looks_secret(lines: list[str], line: int) -> bool:
    """For a file that did not parse: does ``line`` belong to a password-like key?"""
    if not 0 < line <= len(lines):
        return False
    text = lines[line - 1]
    match = _KEY_LINE.match(text)
    if match and SECRET_KEY.search(match.group(2)):
        return True
    indent = len(text) - len(text.lstrip(" "))
    for index in range(line - 2, max(line - 200, 0) - 1, -1):
        above = lines[index]
        if not above.strip() or above.lstrip().startswith("#"):
            continue
        above_indent = len(above) - len(above.lstrip(" "))
        if above_indent < indent or (above_indent == indent and text.lstrip().startswith("-")):
            match = _KEY_LINE.match(above)
            if match is None:
                if above_indent == 0:
                    return False
                continue
            if SECRET_KEY.search(match.group(2)):
                return True
            indent = above_indent
            if indent == 0:
                return False
    return False


def _flow_too_deep(text: str) -> tuple[int, int] | None:
    """Where ``[``/``{`` brackets nest far beyond :data:`MAX_DEPTH`, if they do.

    The YAML scanner's cost grows with the square of the flow depth (5,000
    brackets take most of a second before the composer's depth check is
    reached), so absurd depths are refused first. Quotes are not considered:
    the bound (ten times the real limit) leaves room for brackets in strings.
    """
    bound = MAX_DEPTH * 10
    if text.count("[") + text.count("{") <= bound:
        return None
    depth = 0
    for match in _BRACKETS.finditer(text):
        depth += 1 if match.group() in "[{" else -1
        depth = max(depth, 0)
        if depth > bound:
            index = match.start()
            line = text.count("\n", 0, index) + 1
            return line, index - (text.rfind("\n", 0, index) + 1) + 1
    return None


_BRACKETS = re.compile(r"[\[\]{}]")


def _short(exc: BaseException, limit: int = 200) -> str:
    text = str(exc).replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _children(node: Node) -> list[Node]:
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, SequenceNode):
        return list(node.value)
    return []


def _check_aliases(root: Node) -> None:
    """Refuse recursive aliases and alias expansion beyond :data:`MAX_ALIAS_EXPANSION` nodes.

    The size of the expanded tree is computed on the node graph (each node
    once, children's sizes summed), so the check itself is linear in the file.
    """
    distinct = 0
    seen: set[int] = set()
    walk = [root]
    while walk:
        node = walk.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        distinct += 1
        walk.extend(_children(node))
    limit = distinct + MAX_ALIAS_EXPANSION
    size: dict[int, int] = {}
    open_nodes: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        kids = _children(node)
        if done:
            open_nodes.discard(key)
            total = 1 + sum(size[id(k)] for k in kids)
            if total > limit:
                raise YamlLimitError(
                    T(
                        f"别名（*名字）展开后过大（超过 {MAX_ALIAS_EXPANSION:,} 个节点）",
                        f"aliases (*name) expand to too much data (over {MAX_ALIAS_EXPANSION:,} nodes)",
                    ),
                    node.start_mark,
                )
            size[key] = total
            continue
        if key in size:
            continue
        if key in open_nodes:
            raise YamlLimitError(
                T("别名（*名字）引用了包含它自己的内容", "an alias (*name) refers to data that contains itself"),
                node.start_mark,
            )
        open_nodes.add(key)
        stack.append((node, True))
        stack.extend((k, False) for k in kids if id(k) not in size)


def _syntax_issue(doc: YamlDocument, exc: MarkedYAMLError) -> Issue:
    mark = exc.problem_mark or exc.context_mark
    if isinstance(exc, YamlLimitError):
        message = exc.text
    elif isinstance(exc, MaxDepthExceededError):
        message = T(f"嵌套过深（超过 {MAX_DEPTH} 层）", f"nested too deeply (over {MAX_DEPTH} levels)")
    else:
        message = syntax_message(exc.context, exc.problem)
    if mark is None:
        return Issue(doc.file, None, None, message)
    return doc._issue_at((mark.line + 1, mark.column + 1), message)


# ruamel's token names in "but found ..." as a user reads them: (zh, en)
_TOKENS: dict[str, tuple[str, str]] = {
    "<block mapping start>": ("新的键", "a new key"),
    "<block sequence start>": ("列表项", "a list item"),
    "<block end>": ("上一级的结束", "the end of the block"),
    "<scalar>": ("一个值", "a value"),
    "<stream end>": ("文件结尾", "the end of the file"),
    "<document start>": ("新文档 (---)", "a new document (---)"),
    "-": ("列表项 '-'", "a list item '-'"),
    "?": ("新的键", "a new key"),
    ":": ("冒号 ':'", "a colon ':'"),
    "\\n": ("行尾", "the end of the line"),
}


def _token(found: str) -> tuple[str, str]:
    name = found.strip().strip("(),").strip("'")
    return _TOKENS.get(name, (f"'{name}'", f"'{name}'"))


def _found_char(match: re.Match[str], _context: str) -> tuple[str, str]:
    char = match.group(1)
    if char == "\\t":
        return (
            "这里有 Tab 字符：YAML 缩进只能用空格，不能用 Tab",
            "a tab character here: indent YAML with spaces, never tabs",
        )
    return (
        f"字符 '{char}' 不能作为值的开头（请给这个值加引号）",
        f"the character '{char}' cannot start a value (put the value in quotes)",
    )


def _block_end(match: re.Match[str], _context: str) -> tuple[str, str]:
    if "<scalar>" in match.group(1):
        return (
            "这里多出一个值：引号里的值后面不能再跟文字，或者缩进不对",
            "an unexpected value here: nothing may follow a quoted value, or the indentation is wrong",
        )
    zh, en = _token(match.group(1))
    return (
        f"缩进不对：这里的{zh}与上面同级的内容没有对齐",
        f"wrong indentation: {en} here does not line up with the entries above it",
    )


def _unclosed_flow(match: re.Match[str], _context: str) -> tuple[str, str]:
    bracket = match.group(1)
    opening = "[" if bracket == "]" else "{"
    zh, en = _token(match.group(2))
    return (
        f"'{opening}' 没有闭合：这里应为 ',' 或 '{bracket}'，却是{zh}",
        f"an unclosed '{opening}': expected ',' or '{bracket}' here, but found {en}",
    )


def _end_of_stream(_match: re.Match[str], context: str) -> tuple[str, str]:
    if "quoted" in context:
        return ("引号没有闭合：文件在字符串结束之前就结束了", "an unclosed quote: the file ends inside a quoted string")
    return ("文件意外结束", "the file ends unexpectedly")


def _undefined_alias(match: re.Match[str], _context: str) -> tuple[str, str]:
    name = match.group(1)
    return (
        f"别名 *{name} 没有定义（先用 &{name} 定义锚点）",
        f"the alias *{name} is not defined (define the anchor &{name} first)",
    )


def _bad_escape(match: re.Match[str], _context: str) -> tuple[str, str]:
    char = match.group(1)
    return (
        f"双引号字符串里有未知的转义 '\\{char}'（改用单引号，或把 \\ 写成 \\\\）",
        f"unknown escape '\\{char}' in a double-quoted string (use single quotes, or write \\ as \\\\)",
    )


def _node_content(match: re.Match[str], _context: str) -> tuple[str, str]:
    zh, en = _token(match.group(1))
    return f"这里应为一个值，却是{zh}", f"expected a value here, but found {en}"


def _fixed(zh: str, en: str) -> Callable[[re.Match[str], str], tuple[str, str]]:
    def build(_match: re.Match[str], _context: str) -> tuple[str, str]:
        return zh, en

    return build


# The common ruamel problem texts (regex on the problem) and their plain bilingual form.
_SYNTAX_PROBLEMS: list[tuple[re.Pattern[str], Callable[[re.Match[str], str], tuple[str, str]]]] = [
    (re.compile(r"mapping values are not allowed here"), _fixed(
        "这里不能出现“键: 值”（值里有冒号时请加引号，例如 title: \"a: b\"）",
        'a "key: value" is not allowed here (quote values that contain a colon, e.g. title: "a: b")',
    )),
    (re.compile(r"found character '(.+?)' that cannot start any token"), _found_char),
    (re.compile(r"expected '<document start>', but found"), _fixed(
        "顶层已经是一个完整的值，这里又出现了内容（检查缩进和引号）",
        "more content after a complete value at the top level (check the indentation and quotes)",
    )),
    (re.compile(r"expected <block end>, but found (.+)"), _block_end),
    (re.compile(r"expected ',' or '([\]}])', but got (.+)"), _unclosed_flow),
    (re.compile(r"found unexpected end of stream"), _end_of_stream),
    (re.compile(r"found undefined alias '(.+?)'"), _undefined_alias),
    (re.compile(r"expected alphabetic or numeric character"), _fixed(
        "锚点或别名缺少名字（写成 &名字 / *名字）", "an anchor or alias without a name (write &name / *name)",
    )),
    (re.compile(r"found unknown escape character '(.+?)'"), _bad_escape),
    (re.compile(r"expected escape sequence of (\d+) hexdecimal numbers"), _fixed(
        "转义序列不完整（\\x、\\u、\\U 后应跟十六进制数字）",
        "an incomplete escape (\\x, \\u and \\U are followed by hexadecimal digits)",
    )),
    (re.compile(r"could not find expected ':'"), _fixed(
        "缺少 ':'：这一行既不是“键: 值”，也不是列表项", "expected ':': this line is neither \"key: value\" nor a list item",
    )),
    (re.compile(r"expected the node content, but found (.+)"), _node_content),
    (re.compile(r"expected a single document in the stream"), _fixed(
        "文件只能包含一个 YAML 文档（不要用 --- 再开始一个）",
        "the file must hold a single YAML document (no second one after ---)",
    )),
    (re.compile(r"mapping keys are not allowed here"), _fixed(
        "这里不能出现以 '?' 开头的键", "a '?' key is not allowed here",
    )),
    (re.compile(r"expected chomping or indentation indicators"), _fixed(
        "块文本（| 或 >）后面只能跟 +、- 或缩进数字", "after | or > only +, - or an indentation digit may follow",
    )),
    (re.compile(r"found undefined tag handle|expected '>' but found|expected URI"), _fixed(
        "标签（!…）写法无效", "an invalid tag (!…)",
    )),
    (re.compile(r"found incompatible YAML document"), _fixed(
        "不支持的 %YAML 版本（需要 1.x）", "an unsupported %YAML version (1.x is required)",
    )),
    (re.compile(r"found duplicate (YAML|TAG) directive"), _fixed(
        "重复的 % 指令", "a repeated % directive",
    )),
]


def syntax_message(context: Any, problem: Any) -> Text:
    """A ruamel syntax error (its ``context`` and ``problem``) as a plain bilingual message.

    The common problems are said in both languages; an unknown one keeps
    ruamel's English text (in both), so nothing is lost.

    >>> syntax_message("while scanning for the next token", "found character '\\\\t' that cannot start any token").en
    'YAML syntax error: a tab character here: indent YAML with spaces, never tabs'
    """
    context_text = str(context or "")
    problem_text = str(problem or "")
    both = f"{context_text} {problem_text}"
    for pattern, build in _SYNTAX_PROBLEMS:
        match = pattern.search(both)
        if match is not None:
            zh, en = build(match, context_text)
            return T(f"YAML 语法错误：{zh}", f"YAML syntax error: {en}")
    original = " ".join(p for p in (context_text, problem_text) if p) or "invalid YAML"
    original = original if len(original) <= 200 else original[:199] + "…"
    return T(f"YAML 语法错误：{original}", f"YAML syntax error: {original}")


def _duplicate_keys(doc: YamlDocument, root: Node) -> list[Issue]:
    issues: list[Issue] = []
    stack: list[Node] = [root]
    seen_nodes: set[int] = set()
    budget = 1_000_000  # bounds the walk even for alias-heavy ("billion laughs") input
    while stack and budget > 0:
        budget -= 1
        node = stack.pop()
        if id(node) in seen_nodes:
            continue
        seen_nodes.add(id(node))
        if isinstance(node, MappingNode):
            first: dict[Any, int] = {}
            for key_node, value_node in node.value:
                stack.append(value_node)
                if key_node.tag.endswith(":merge"):
                    continue
                key = key_node.value if not isinstance(key_node.value, list) else None
                if key is None:
                    continue
                if key in first:
                    mark = key_node.start_mark
                    issues.append(
                        doc._issue_at(
                            (mark.line + 1, mark.column + 1),
                            T(
                                f"重复的键 '{key}'（第 {first[key]} 行已经出现过）",
                                f"duplicate key '{key}' (already given on line {first[key]})",
                            ),
                        )
                    )
                else:
                    first[key] = key_node.start_mark.line + 1
        elif isinstance(node, SequenceNode):
            stack.extend(node.value)
    return issues


def _failed(name: str, message: Text) -> YamlDocument:
    return YamlDocument(name, None, [], [Issue(name, None, None, message)], loaded=False)


def load_model(
    path: str | Path,
    model: type[M],
    *,
    context: Any = None,
    labels: Mapping[str, Text] | None = None,
    extra_checks: Iterable[Callable[[Any], Iterable[RawIssue]]] = (),
    display_name: str | None = None,
    error: type[UserFileError] = UserFileError,
) -> M:
    """Read ``path`` and validate it as ``model``; raise ``error`` listing every issue.

    >>> load_model("waivers.yaml", WaiverFile, error=WaiverError)  # doctest: +SKIP
    """
    doc = read_document(path, display_name=display_name)
    return doc.validate(model, context=context, labels=labels, extra_checks=extra_checks, error=error)


def document_data(doc: YamlDocument, error: type[UserFileError] = UserFileError) -> Any:
    """The plain data of a parsed document, or ``error`` with its issues.

    Plain: ``dict``/``list``/``str``/``int``/``float``/``bool``/``None``/dates
    (no ruamel types, no positions). Duplicate keys are errors here too.
    """
    if not doc.loaded or doc.issues:
        raise error(doc.issues)
    return to_plain(doc.data)


def read_data(
    path: str | Path, *, display_name: str | None = None, error: type[UserFileError] = UserFileError
) -> Any:
    """Read a YAML file into plain data through the bounded loader; raise ``error``.

    For files without a pydantic model: the same limits and ``file:line:col``
    messages as :func:`load_model`. A loader that checks the data itself
    should keep the :class:`YamlDocument` (:func:`read_document`) and report
    through :meth:`YamlDocument.fail`, so its problems are positioned too.
    """
    return document_data(read_document(path, display_name=display_name), error)


def parse_data(text: str, name: str, error: type[UserFileError] = UserFileError) -> Any:
    """:func:`read_data` for text already in memory; ``name`` stands for the file."""
    return document_data(parse_text(text, name), error)


def validation_issues(
    exc: ValidationError,
    model: type[BaseModel],
    documents: Sequence[YamlDocument],
    *,
    labels: Mapping[str, Text] | None = None,
) -> list[Issue]:
    """Plain, positioned issues for ``exc``, raised on data merged from ``documents``.

    For data built from several files (an image and the images it extends):
    each error is placed in the document that spells out most of its
    location (the first, i.e. the child, on a tie), with the same plain
    messages as :meth:`YamlDocument.validate`. Set ``ignore_case`` on the
    documents whose keys compare without case.
    """
    if not documents:
        raise ValueError("validation_issues needs at least one document")
    buckets: dict[int, list[ErrorDetails]] = {}
    for err in exc.errors():
        loc = tuple(err["loc"])
        best = max(range(len(documents)), key=lambda i: (documents[i].depth_of(loc), -i))
        buckets.setdefault(best, []).append(err)
    issues: list[Issue] = []
    for index, errors in sorted(buckets.items()):
        issues.extend(documents[index]._translate(errors, model, labels or {}))
    return _dedupe(issues)


def _plain_key(key: Any, depth: int) -> Any:
    """A mapping key as plain data; a complex key (``? [a, b]``, ``{a: 1}: x``) becomes its text."""
    plain = to_plain(key, depth)
    try:
        hash(plain)
    except TypeError:
        return str(plain)
    return plain


# Scalar round-trip types to their plain type, in this order (bool before int:
# a bool is an int); ruamel's ScalarFloat, ScalarInt, ScalarString... subclass these.
_PLAIN_SCALARS: tuple[type, ...] = (bool, int, float, str)


def to_plain(value: Any, _depth: int = 0) -> Any:
    """ruamel round-trip types to plain Python (bounded: the loader bounds depth and size)."""
    if _depth > MAX_DEPTH + 5:
        raise RecursionError("data nested too deeply")
    if isinstance(value, Mapping):
        return {_plain_key(k, _depth + 1): to_plain(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_plain(v, _depth + 1) for v in value]
    for kind in _PLAIN_SCALARS:
        if isinstance(value, kind):
            return kind(value)
    if isinstance(value, datetime):
        return datetime(
            value.year, value.month, value.day, value.hour, value.minute, value.second,
            value.microsecond, value.tzinfo,
        )
    if isinstance(value, TaggedScalar):
        return to_plain(value.value, _depth + 1)
    return value


# --------------------------------------------------------------------------- data walking


def _follow(data: Any, path: Loc) -> Any:
    node = data
    for part in path:
        node = node[part]
    return node


def _data_path(data: Any, loc: Loc, ignore_case: bool = False) -> tuple[Loc, Loc]:
    """Split a pydantic location into the part that exists in ``data`` and the rest.

    Parts that do not exist (union tags, validator names) are skipped, except
    the final one, which is kept in the rest (e.g. a missing key).
    """
    path: list[str | int] = []
    node = data
    rest: list[str | int] = []
    for index, part in enumerate(loc):
        key: Any = _actual_key(node, part, ignore_case) if isinstance(node, Mapping) else _MISSING
        if key is not _MISSING:
            path.append(key)
            node = node[key]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            path.append(part)
            node = node[part]
        elif index == len(loc) - 1:
            rest.append(part)
        # else: a union tag or validator name; not in the data
    return tuple(path), tuple(rest)


_MISSING = object()


def _actual_key(node: Mapping[Any, Any], part: str | int, ignore_case: bool = False) -> Any:
    """The key of ``node`` that pydantic reports as ``part`` (it stringifies some keys)."""
    try:
        if part in node:
            return part
    except TypeError:  # an unhashable part never is a key
        return _MISSING
    wanted = str(part).casefold() if ignore_case else str(part)
    for key in node:
        if (str(key).casefold() if ignore_case else str(key)) == wanted:
            return key
    return _MISSING


def _node_start(node: Any) -> tuple[int, int] | None:
    lc = getattr(node, "lc", None)
    if lc is None or getattr(lc, "line", None) is None:
        return None
    return lc.line + 1, lc.col + 1


# --------------------------------------------------------------------------- messages


def _show(value: Any, limit: int = 60) -> str:
    """A short, quoted rendering of a user's value for messages."""
    if isinstance(value, str):
        text = value if len(value) <= limit else value[: limit - 1] + "…"
        return f"'{text}'"
    if isinstance(value, Mapping):
        return "{…}" if value else "{}"
    if isinstance(value, list):
        return "[…]" if value else "[]"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)[:limit]


def _kind(value: Any) -> Text:
    if isinstance(value, bool):
        return T("布尔值", "true/false")
    if isinstance(value, (int, float)):
        return T("数字", "a number")
    if isinstance(value, str):
        return T("文本", "text")
    if isinstance(value, Mapping):
        return T("映射（键: 值）", "a mapping (key: value)")
    if isinstance(value, list):
        return T("列表", "a list")
    if value is None:
        return T("空值", "nothing (null)")
    if isinstance(value, (date, datetime)):
        return T("日期", "a date")
    return T("其他类型", "another type")


def _messages_for(
    group: list[ErrorDetails], data: Any, model: type[BaseModel], labels: Mapping[str, Text]
) -> list[tuple[Text, bool]]:
    """Plain messages for the errors at one place; (message, points_at_key)."""
    if len(group) > 1 and len({tuple(e["loc"]) for e in group}) > 1:
        # alternatives of a union (e.g. str | list[str]): one message
        tagged = [e for e in group if e["type"] in ("union_tag_invalid", "union_tag_not_found")]
        if not tagged:
            return [_union_message(group)]
    out: list[tuple[Text, bool]] = []
    for err in group:
        out.append(_message(err, data, model, labels))
    return out


def _union_message(group: list[ErrorDetails]) -> tuple[Text, bool]:
    # If one alternative got past the type check and failed on its content
    # (a value error), that is the helpful message.
    for err in group:
        if err["type"] in ("value_error", "assertion_error"):
            return _plain(err), False
    value = group[0].get("input")
    names = sorted({_expected_name(e) for e in group} - {""})
    wanted = ", ".join(names)
    return (
        T(
            f"{_show(value)} 不是允许的值（应为：{wanted}）",
            f"{_show(value)} is not allowed here (expected one of: {wanted})",
        ),
        False,
    )


def _expected_name(err: ErrorDetails) -> str:
    t = err["type"]
    table = {
        "string_type": "text",
        "int_type": "whole number",
        "int_parsing": "whole number",
        "float_type": "number",
        "float_parsing": "number",
        "bool_type": "true/false",
        "bool_parsing": "true/false",
        "list_type": "list",
        "dict_type": "mapping",
        "model_type": "mapping",
        "model_attributes_type": "mapping",
        "date_type": "date",
        "date_parsing": "date",
        "none_required": "null",
    }
    if t in ("literal_error", "enum"):
        return str(err.get("ctx", {}).get("expected", ""))
    return table.get(t, t.replace("_", " "))


def _plain(err: ErrorDetails) -> Text:
    # A validator that raised TextValueError speaks both languages itself.
    raised = (err.get("ctx") or {}).get("error")
    if isinstance(raised, TextValueError):
        return raised.text
    msg = err["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(prefix)
    return T(f"取值无效：{msg}", msg)


@dataclass(frozen=True)
class _ErrorView:
    """One pydantic error, as the message builders read it."""

    code: str
    loc: Loc
    value: Any
    ctx: dict[str, Any]
    err: ErrorDetails
    model: type[BaseModel]
    labels: Mapping[str, Text]

    @property
    def shown(self) -> str:
        return _show(self.value)


# Errors whose message only quotes the value: (zh, en) templates with {shown}.
_VALUE_MESSAGES: dict[str, tuple[str, str]] = {
    "int_parsing": ("{shown} 不是整数", "{shown} is not a whole number"),
    "int_type": ("{shown} 不是整数", "{shown} is not a whole number"),
    "int_from_float": ("{shown} 不是整数", "{shown} is not a whole number"),
    "float_parsing": ("{shown} 不是数字", "{shown} is not a number"),
    "float_type": ("{shown} 不是数字", "{shown} is not a number"),
    "bool_parsing": ("{shown} 不是 true/false", "{shown} is not true or false"),
    "bool_type": ("{shown} 不是 true/false", "{shown} is not true or false"),
    "string_too_short": ("不能为空", "must not be empty"),
    "too_short": ("不能为空", "must not be empty"),
    "string_too_long": ("内容过长", "is too long"),
    "too_long": ("内容过长", "is too long"),
    "no_check_types": ("没有安装任何检查类型", "no check types are installed"),
    **dict.fromkeys(
        ("date_parsing", "date_type", "date_from_datetime_parsing", "date_from_datetime_inexact"),
        (
            "{shown} 不是日期（写成 YYYY-MM-DD，例如 2026-12-31）",
            "{shown} is not a date (write YYYY-MM-DD, e.g. 2026-12-31)",
        ),
    ),
}

# Errors of the wrong kind of value: (zh, en) templates with {zh}/{en}, the kind found.
_KIND_MESSAGES: dict[str, tuple[str, str]] = {
    "string_type": ("这里应为文本，而不是{zh}", "expected text here, not {en}"),
    "str_type": ("这里应为文本，而不是{zh}", "expected text here, not {en}"),
    "list_type": ("这里应为列表，而不是{zh}", "expected a list here, not {en}"),
    **dict.fromkeys(
        ("dict_type", "model_type", "model_attributes_type"),
        ("这里应为映射（键: 值），而不是{zh}", "expected a mapping (key: value) here, not {en}"),
    ),
}

_BOUND_WORDS: dict[str, tuple[str, str]] = {
    "greater_than_equal": ("至少为", "must be at least"),
    "greater_than": ("必须大于", "must be greater than"),
    "less_than_equal": ("最多为", "must be at most"),
    "less_than": ("必须小于", "must be less than"),
}


def _message(
    err: ErrorDetails, data: Any, model: type[BaseModel], labels: Mapping[str, Text]
) -> tuple[Text, bool]:
    """The plain message of one pydantic error; True when it points at the key."""
    view = _ErrorView(
        err["type"], tuple(err["loc"]), err.get("input"), dict(err.get("ctx") or {}), err, model, labels
    )
    if view.code in _VALUE_MESSAGES:
        zh, en = _VALUE_MESSAGES[view.code]
        return T(zh.format(shown=view.shown), en.format(shown=view.shown)), False
    if view.code in _KIND_MESSAGES:
        zh, en = _KIND_MESSAGES[view.code]
        kind = _kind(view.value)
        return T(zh.format(zh=kind.zh), en.format(en=kind.en)), False
    if view.code in _BOUND_WORDS:
        return _bound_message(view), False
    builder = _MESSAGE_BUILDERS.get(view.code)
    if builder is not None:
        return builder(view)
    # value errors and custom errors (PydanticCustomError) carry a plain message already
    return _plain(err), False


def _missing_message(view: _ErrorView) -> tuple[Text, bool]:
    name = view.loc[-1] if view.loc else "?"
    return T(f"缺少必填的键 '{name}'", f"missing required key '{name}'"), False


def _extra_message(view: _ErrorView) -> tuple[Text, bool]:
    name = view.loc[-1] if view.loc else "?"
    return unknown_key(str(name), _allowed_keys(view.model, view.loc[:-1])), True


def _tag_message(view: _ErrorView) -> tuple[Text, bool]:
    disc = str(view.ctx.get("discriminator", "type")).strip("'")
    label = view.labels.get(disc, T(disc, disc))
    if view.code == "union_tag_not_found":
        return T(f"缺少键 '{disc}'（{label.zh}）", f"missing key '{disc}' (the {label.en})"), False
    tag = str(view.ctx.get("tag", ""))
    tags = sorted(x.strip().strip("'") for x in str(view.ctx.get("expected_tags", "")).split(","))
    known = ", ".join(tags)
    close = difflib.get_close_matches(tag, tags, n=1)
    hint_en = f"; did you mean '{close[0]}'?" if close else ""
    hint_zh = f"；是否应为 '{close[0]}'？" if close else ""
    return (
        T(
            f"未知的{label.zh} '{tag}'（已知：{known}）{hint_zh}",
            f"unknown {label.en} '{tag}' (known {label.en}s: {known}){hint_en}",
        ),
        False,
    )


def _choice_message(view: _ErrorView) -> tuple[Text, bool]:
    expected = str(view.ctx.get("expected", "")).replace("'", "")
    # pydantic lists the choices in English ("a, b or c"): in Chinese they are joined with "、".
    choices = [c.strip() for part in expected.split(" or ") for c in part.split(",") if c.strip()]
    shown = view.shown
    return (
        T(f"{shown} 不是允许的值（可选：{'、'.join(choices)}）", f"{shown} is not allowed here (choose from: {expected})"),
        False,
    )


def _pattern_message(view: _ErrorView) -> tuple[Text, bool]:
    pattern = str(view.ctx.get("pattern", ""))
    shown = view.shown
    if "a-z0-9" in pattern:
        return (
            T(
                f"{shown} 格式不对：只能用小写字母、数字和 '-'，且以字母或数字开头",
                f"{shown} is not a valid id: use lowercase letters, digits and '-', starting with a letter or digit",
            ),
            False,
        )
    return T(f"{shown} 格式不对（应匹配 {pattern}）", f"{shown} has the wrong form (must match {pattern})"), False


def _bound_message(view: _ErrorView) -> Text:
    words = _BOUND_WORDS[view.code]
    bound = next(iter(view.ctx.values()), "?")
    shown = view.shown
    return T(f"{shown} 无效：{words[0]} {bound}", f"{shown} is out of range: {words[1]} {bound}")


_MESSAGE_BUILDERS: dict[str, Callable[[_ErrorView], tuple[Text, bool]]] = {
    "missing": _missing_message,
    "extra_forbidden": _extra_message,
    "union_tag_invalid": _tag_message,
    "union_tag_not_found": _tag_message,
    "literal_error": _choice_message,
    "enum": _choice_message,
    "string_pattern_mismatch": _pattern_message,
}


def unknown_key(name: str, allowed: Sequence[str] | None) -> Text:
    """The message for an unknown mapping key, with the allowed keys and a close match."""
    if not allowed:
        return T(f"未知的键 '{name}'", f"unknown key '{name}'")
    close = difflib.get_close_matches(name, allowed, n=1)
    listing = ", ".join(allowed)
    hint_en = f"; did you mean '{close[0]}'?" if close else ""
    hint_zh = f"；是否应为 '{close[0]}'？" if close else ""
    return T(
        f"未知的键 '{name}'（允许：{listing}）{hint_zh}",
        f"unknown key '{name}' (allowed: {listing}){hint_en}",
    )


# --------------------------------------------------------------------------- model walking


def _allowed_keys(model: type[BaseModel], loc: Loc) -> list[str] | None:
    """The keys the model accepts at ``loc`` (a pydantic location), or None if unknown."""
    target = _type_at(model, loc)
    if isinstance(target, type) and issubclass(target, BaseModel):
        return [f.alias or name for name, f in target.model_fields.items()]
    return None


def _strip(annotation: Any) -> Any:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _union_members(annotation: Any) -> list[Any] | None:
    origin = typing.get_origin(annotation)
    if origin is Union or origin is types.UnionType:
        return [_strip(a) for a in typing.get_args(annotation) if a is not type(None)]
    return None


def _tag_matches(member: Any, part: str) -> bool:
    if isinstance(member, type) and issubclass(member, BaseModel):
        if member.__name__ == part:
            return True
        for f in member.model_fields.values():
            if typing.get_origin(f.annotation) is typing.Literal and part in typing.get_args(f.annotation):
                return True
    return getattr(member, "__name__", None) == part or str(member) == part


def _type_at(model: type[BaseModel], loc: Loc) -> Any:
    current: Any = model
    parts = list(loc)
    steps = 0
    while parts and steps < 200:  # bounded: each step consumes a part or unwraps a type
        steps += 1
        current = _strip(current)
        members = _union_members(current)
        if members is not None:
            if len(members) == 1:
                current = members[0]
                continue
            part = parts[0]
            chosen = [m for m in members if isinstance(part, str) and _tag_matches(m, part)]
            if chosen:
                current = chosen[0]
                parts.pop(0)
                continue
            models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
            if len(models) == 1:
                current = models[0]
                continue
            return None
        part = parts.pop(0)
        if isinstance(current, type) and issubclass(current, BaseModel):
            fields = current.model_fields
            match = next(
                (f for n, f in fields.items() if part in (n, f.alias)), None
            )
            if match is None:
                return None
            current = match.annotation
            continue
        origin = typing.get_origin(current)
        args = typing.get_args(current)
        if origin in (list, tuple, set, frozenset, Sequence, typing.Sequence) or (
            origin is not None and isinstance(origin, type) and issubclass(origin, Sequence)
        ):
            if not isinstance(part, int):
                return None
            current = args[0] if args else Any
            continue
        if origin in (dict, Mapping) or (
            origin is not None and isinstance(origin, type) and issubclass(origin, Mapping)
        ):
            current = args[1] if len(args) == 2 else Any
            continue
        return None
    current = _strip(current)
    members = _union_members(current)
    if members is not None:
        models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
        if len(models) == 1:
            return models[0]
    if isinstance(current, type) and issubclass(current, Enum):
        return current
    return current
