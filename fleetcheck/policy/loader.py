"""Read policy and waiver files; every problem comes back as ``file:line:col: message``.

* :func:`load_policy` — one file;
* :func:`load_policies` — files and directories (``*.yaml``/``*.yml`` inside,
  sorted), all problems of all files at once, duplicate policy ids across
  files included;
* :func:`shipped_policy_paths` — the policy packs shipped with fleetcheck;
* :func:`load_waivers` — the waivers file; with ``policies`` given, a waiver
  naming an unknown check is an error too.

Besides the model's own validation (unknown keys, bad CLSIDs, bad version
specs, unknown check types, bad ``when:``), the loader checks what needs the
raw document: duplicate check ids and the syntax of templated strings.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from fleetcheck.checks import REGISTRY, load_all
from fleetcheck.i18n import T, Text
from fleetcheck.policy.models import Policy, policy_model
from fleetcheck.policy.waivers import Waiver, WaiverFile
from fleetcheck.resources import policies_dir
from fleetcheck.templating import is_template, template_problem
from fleetcheck.yamlfile import (
    Issue,
    PolicyError,
    RawIssue,
    UserFileError,
    YamlDocument,
    parse_text,
    read_document,
)

__all__ = [
    "PolicyError",
    "WaiverError",
    "load_policies",
    "load_policy",
    "load_policy_files",
    "load_policy_text",
    "load_waivers",
    "policy_files",
    "shipped_policy_paths",
    "template_sites",
]

POLICY_SUFFIXES = (".yaml", ".yml")
_LABELS = {"type": T("检查类型", "check type")}
# Bounds a directory walk: a policy folder holds a handful of files.
_MAX_FILES = 10_000


class WaiverError(UserFileError):
    """A waivers file that cannot be used (a sibling of :class:`PolicyError`)."""


def shipped_policy_paths() -> list[Path]:
    """The policy files shipped with fleetcheck (``policies/*.yaml``), sorted."""
    directory = policies_dir()
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.suffix in POLICY_SUFFIXES and p.is_file())


def policy_files(paths: Iterable[str | Path]) -> tuple[list[Path], list[Issue]]:
    """Expand files and directories into policy files; missing paths become issues."""
    files: list[Path] = []
    issues: list[Issue] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*") if p.suffix in POLICY_SUFFIXES and p.is_file()
            )[:_MAX_FILES]
            if not found:
                issues.append(
                    Issue(
                        str(path),
                        None,
                        None,
                        T("目录中没有 .yaml 策略文件", "no .yaml policy files in this directory"),
                    )
                )
            files.extend(found)
        elif path.exists():
            files.append(path)
        else:
            issues.append(Issue(str(path), None, None, T("文件不存在", "file not found")))
    # a file named twice (``lint policies/ policies/a.yaml``) is read once
    unique: dict[Path, Path] = {}
    for file in files:
        unique.setdefault(file.resolve(), file)
    return list(unique.values()), issues


def _check_ids(data: Any) -> Iterable[RawIssue]:
    """Duplicate check ids, reported at the second (and later) occurrence."""
    checks = data.get("checks") if isinstance(data, Mapping) else None
    if not isinstance(checks, list):
        return
    first: dict[str, int] = {}
    for index, check in enumerate(checks):
        if not isinstance(check, Mapping) or not isinstance(check.get("id"), str):
            continue
        check_id = check["id"]
        if check_id in first:
            line = _line_of_item(checks, first[check_id])
            yield RawIssue(
                ("checks", index, "id"),
                T(
                    f"重复的检查 id '{check_id}'（第 {line} 行已使用）；同一策略内检查 id 必须唯一",
                    f"duplicate check id '{check_id}' (already used on line {line}); "
                    "check ids must be unique within a policy",
                ),
            )
        else:
            first[check_id] = index


def _line_of_item(seq: Any, index: int) -> int | str:
    try:
        return int(seq.lc.item(index)[0]) + 1
    except (AttributeError, KeyError, IndexError, TypeError):
        return "?"


def _templates(data: Any) -> Iterable[RawIssue]:
    """Template syntax of every string inside ``checks`` (rendering happens per host later).

    Only the fields a check type declares in ``templated_fields`` are rendered; template
    syntax anywhere else would be used literally (a path probed as ``C:\\{{ x }}``), so it
    is an error at its position, naming the fields of that type that are templated.
    """
    checks = data.get("checks") if isinstance(data, Mapping) else None
    for loc, text in template_sites(data):
        problem = template_problem(text)
        if problem is not None:
            yield RawIssue(loc, problem)
            continue
        misplaced = _misplaced_template(checks, loc)
        if misplaced is not None:
            yield RawIssue(loc, misplaced)


def _misplaced_template(checks: Any, loc: tuple[str | int, ...]) -> Text | None:
    """Why a template at ``loc`` (inside ``checks``) would not be rendered, or None if it is."""
    if len(loc) < 3 or not isinstance(checks, list) or not isinstance(loc[1], int):
        return None
    check = checks[loc[1]] if loc[1] < len(checks) else None
    kind = check.get("type") if isinstance(check, Mapping) else None
    registered = REGISTRY.get(kind) if isinstance(kind, str) else None
    if registered is None:
        return None  # an unknown type is reported by the model's validation
    allowed: frozenset[str] = getattr(registered.spec, "templated_fields", frozenset())
    if len(loc) == 3 and loc[2] in allowed:
        return None
    field = ".".join(str(part) for part in loc[2:])
    names = ", ".join(sorted(allowed))
    return T(
        f"字段 '{field}' 不支持模板（{{{{ … }}}} / {{% … %}} 会被原样使用）；"
        + (f"检查类型 {kind} 仅以下字段支持模板：{names}" if names else f"检查类型 {kind} 没有支持模板的字段"),
        f"field '{field}' is not templated ({{{{ … }}}} / {{% … %}} would be used literally); "
        + (f"the templated fields of check type {kind} are: {names}" if names
           else f"check type {kind} has no templated fields"),
    )


def template_sites(data: Any) -> Iterable[tuple[tuple[str | int, ...], str]]:
    """(location, text) of every string inside ``checks`` that holds template syntax."""
    checks = data.get("checks") if isinstance(data, Mapping) else None
    if not isinstance(checks, list):
        return
    stack: list[tuple[tuple[str | int, ...], Any]] = [(("checks",), checks)]
    budget = 100_000  # bounds the walk (aliases can make a document look huge)
    while stack and budget > 0:
        budget -= 1
        loc, node = stack.pop()
        if isinstance(node, str):
            if is_template(node):
                yield loc, node
        elif isinstance(node, Mapping):
            stack.extend(((*loc, k), v) for k, v in node.items() if isinstance(k, (str, int)))
        elif isinstance(node, list):
            stack.extend(((*loc, i), v) for i, v in enumerate(node))


def _validate_policy(doc: YamlDocument) -> Policy:
    load_all()
    return doc.validate(
        policy_model(),
        labels=_LABELS,
        extra_checks=(_check_ids, _templates),
        ignore_types=("duplicate_check_id",),
        error=PolicyError,
    )


def load_policy(path: str | Path) -> Policy:
    """Load one policy file; raise :class:`PolicyError` listing every problem.

    >>> load_policy("policies/sccc-gateway-cert.yaml").id  # doctest: +SKIP
    'sccc-gateway-cert'
    """
    return _validate_policy(read_document(path))


def load_policy_text(text: str, name: str = "<policy>") -> Policy:
    """Validate policy YAML given as text; ``name`` stands for the file in messages."""
    return _validate_policy(parse_text(text, name))


def load_policies(paths: Iterable[str | Path]) -> list[Policy]:
    """Load every policy in ``paths`` (files or directories); all problems at once.

    Policy ids must be unique across the files: a repeated id is reported at
    the later file's ``id:`` with the earlier file named.
    """
    files, issues = policy_files(paths)
    policies: list[Policy] = []
    first_seen: dict[str, str] = {}
    for path in files:
        doc = read_document(path)
        try:
            policy = _validate_policy(doc)
        except PolicyError as exc:
            issues.extend(exc.issues)
            continue
        if policy.id in first_seen:
            issues.append(
                doc.issue(
                    ("id",),
                    T(
                        f"策略 id '{policy.id}' 与 {first_seen[policy.id]} 重复；策略 id 必须唯一",
                        f"policy id '{policy.id}' is already used by {first_seen[policy.id]}; "
                        "policy ids must be unique",
                    ),
                )
            )
            continue
        pos = doc.position(("id",))
        first_seen[policy.id] = f"{doc.file}:{pos[0]}" if pos else doc.file
        policies.append(policy)
    if issues:
        raise PolicyError(issues)
    return policies


def load_policy_files(paths: Iterable[str | Path] = ()) -> list[Policy]:
    """The policies of ``paths`` (files or folders), or the shipped pack when none are given.

    What every command's ``-p/--policy`` means; raises :class:`PolicyError` with every problem.
    """
    chosen = list(paths)
    return load_policies(chosen or shipped_policy_paths())


def load_waivers(path: str | Path, policies: Sequence[Policy] | None = None) -> list[Waiver]:
    """Load a waivers file (``waivers: [...]``); raise :class:`WaiverError` on any problem.

    With ``policies``, each waiver's ``check`` must name a check in them, as
    ``check-id`` or ``policy-id/check-id``.
    """
    doc = read_document(path)
    extra = (_waiver_targets(policies),) if policies is not None else ()
    return list(doc.validate(WaiverFile, extra_checks=extra, error=WaiverError).waivers)


def _waiver_targets(policies: Sequence[Policy]) -> Any:
    names: set[str] = set()
    for policy in policies:
        for check in policy.checks:
            names.add(check.id)
            names.add(f"{policy.id}/{check.id}")

    def unknown_targets(data: Any) -> Iterable[RawIssue]:
        waivers = data.get("waivers") if isinstance(data, Mapping) else None
        if not isinstance(waivers, list):
            return
        for index, waiver in enumerate(waivers):
            target = waiver.get("check") if isinstance(waiver, Mapping) else None
            if not isinstance(target, str) or target in names:
                continue
            close = difflib.get_close_matches(target, sorted(names), n=3)
            hint_en = f" (did you mean: {', '.join(close)}?)" if close else ""
            hint_zh = f"（是否应为：{', '.join(close)}？）" if close else ""
            yield RawIssue(
                ("waivers", index, "check"),
                T(
                    f"豁免指向未知的检查 '{target}'{hint_zh}",
                    f"waiver names unknown check '{target}'{hint_en}",
                ),
            )

    return unknown_targets
