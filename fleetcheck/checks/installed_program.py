"""``installed_program``: a program is installed (R9: the Feitian ePass token driver).

```yaml
- id: feitian-driver
  type: installed_program
  display_name: "(?i)(ePass|飞天|FEITIAN)"   # regular expression, searched in DisplayName
  publisher: "(?i)feitian|飞天"              # optional
  version: ">=1.0"                           # optional, on DisplayVersion
  csp: ["(?i)ePass|FEITIAN|EnterSafe"]       # optional: a registered CSP also counts
```

Read from the Uninstall keys of both registry views (never ``Win32_Product``,
which triggers MSI self-repair), plus the operator's per-user Uninstall key.
A CSP name under ``HKLM\\SOFTWARE\\Microsoft\\Cryptography\\Defaults\\Provider``
matching one of ``csp`` is accepted as alternative evidence (the driver may
have been installed by a bundle that writes no Uninstall entry).
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any, Literal

from pydantic import Field, field_validator

from fleetcheck.agent.contract import Query, RegistryQuery
from fleetcheck.checks.base import CheckBase, Description, EvalContext, Outcome, reg_query, register
from fleetcheck.checks.common import VersionSpecField
from fleetcheck.checks.facts import reg_location, registry_key
from fleetcheck.findings import FindingStatus
from fleetcheck.i18n import T, TextValueError
from fleetcheck.versions import VersionError

UNINSTALL = r"Microsoft\Windows\CurrentVersion\Uninstall"
CSP_KEY = r"SOFTWARE\Microsoft\Cryptography\Defaults\Provider"


def _regex(value: str | None) -> str | None:
    if value is None:
        return value
    try:
        re.compile(value)
    except re.error as exc:
        raise TextValueError(T(f"{value!r} 不是有效的正则表达式：{exc}",
                                f"{value!r} is not a valid regular expression: {exc}")) from None
    return value


class Spec(CheckBase):
    type: Literal["installed_program"]
    display_name: str = Field(min_length=1)
    publisher: str | None = None
    version: VersionSpecField | None = None
    csp: list[str] = Field(default_factory=list)

    _check_regex = field_validator("display_name", "publisher")(_regex)

    @field_validator("csp")
    @classmethod
    def _check_csp(cls, value: list[str]) -> list[str]:
        return [_regex(v) or "" for v in value]


@cache  # queries are frozen; building them is the hot path
def _uninstall_queries() -> tuple[tuple[str, RegistryQuery, bool], ...]:
    return (
        ("64 位/本机 native", reg_query("HKLM", "SOFTWARE\\" + UNINSTALL, depth=1), False),
        ("32 位 32-bit", reg_query("HKLM", "SOFTWARE\\WOW6432Node\\" + UNINSTALL, depth=1), False),
        ("用户 user", reg_query("HKU", "Software\\" + UNINSTALL, depth=1), True),
    )


@cache  # queries are frozen; building them is the hot path
def _csp_query() -> RegistryQuery:
    return reg_query("HKLM", CSP_KEY, depth=1)


def queries(spec: Spec) -> list[Query]:
    qs: list[Query] = [q for _, q, _ in _uninstall_queries()]
    if spec.csp:
        qs.append(_csp_query())
    return qs


def _text(key: Any, name: str) -> str:
    val = key.value(name)
    return (val.as_str() or "") if val is not None else ""


def evaluate(spec: Spec, ctx: EvalContext) -> Outcome:
    name_re = re.compile(spec.display_name)
    pub_re = re.compile(spec.publisher) if spec.publisher else None
    matches: list[dict[str, str]] = []
    for label, query, user in _uninstall_queries():
        if user and ctx.operator is None:
            continue
        root = registry_key(ctx, query, user=user)
        for sub_name, sub in (root.subkeys.items() if root is not None else ()):
            display = _text(sub, "DisplayName")
            if not display or not name_re.search(display):
                continue
            publisher = _text(sub, "Publisher")
            if pub_re is not None and not pub_re.search(publisher):
                continue
            sid = ctx.operator.sid if (user and ctx.operator) else None
            matches.append(
                {
                    "name": display,
                    "version": _text(sub, "DisplayVersion"),
                    "publisher": publisher,
                    "view": label,
                    "source": reg_location(query.hive, f"{query.path}\\{sub_name}", sid),
                }
            )
    expected = f"DisplayName ~ /{spec.display_name}/" + (f" {spec.version}" if spec.version else "")
    details: dict[str, Any] = {"programs": matches}
    good = [m for m in matches if spec.version is None or _version_ok(spec, m["version"])]
    if good:
        m = good[0]
        observed = f"{m['name']} {m['version']}".strip()
        return Outcome(FindingStatus.passed, expected, observed, m["source"], details=details)
    csp = _csp_evidence(spec, ctx) if spec.csp else None
    if csp is not None and spec.version is None:
        details["csp"] = csp
        return Outcome(
            FindingStatus.passed,
            expected,
            f"CSP: {csp}",
            reg_location("HKLM", f"{CSP_KEY}\\{csp}"),
            T("没有卸载登记，但已注册其 CSP", "no Uninstall entry, but its CSP is registered"),
            details,
        )
    if matches:
        found = ", ".join(f"{m['name']} {m['version']}" for m in matches)
        msg = T(f"已安装 {found}，版本不满足 {spec.version}", f"installed {found}; version does not satisfy {spec.version}")
        return Outcome(FindingStatus.fail, expected, found, matches[0]["source"], msg, details)
    msg = T(f"未找到名称匹配 {spec.display_name} 的已安装程序", f"no installed program whose name matches {spec.display_name}")
    return Outcome(FindingStatus.fail, expected, "未安装 not installed", None, msg, details)


def _version_ok(spec: Spec, version: str) -> bool:
    assert spec.version is not None
    try:
        return spec.version.matches(version)
    except VersionError:
        return False


def _csp_evidence(spec: Spec, ctx: EvalContext) -> str | None:
    root = registry_key(ctx, _csp_query())
    patterns = [re.compile(p) for p in spec.csp]
    for name in (root.subkeys if root is not None else {}):
        if any(p.search(name) for p in patterns):
            return name
    return None


def describe(spec: Spec) -> Description:
    where = [f"{q.hive}\\{q.path}\\*" for _, q, _ in _uninstall_queries()]
    if spec.csp:
        where.append(f"HKLM\\{CSP_KEY}\\*")
    return Description(where=where, expected=f"DisplayName matches {spec.display_name} {spec.version or ''}".strip())


register("installed_program", Spec, queries, evaluate, describe)
