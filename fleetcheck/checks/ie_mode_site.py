"""``ie_mode_site``: the portal pages open in Edge's IE mode (R8).

```yaml
- id: portal-ie-mode
  type: ie_mode_site
  urls: [https://biz.sccc.com, https://biz.sccc.com/index.html#/myCenter,
         https://biz.sccc.com/index.html#/gatewayFileCertDown]
```

Evidence, strongest first:

1. the Enterprise Mode site list named by the machine policy
   ``InternetExplorerIntegrationSiteList`` (read through the registry query's
   ``follow`` with content), together with ``InternetExplorerIntegrationLevel``
   = 1. Both schemas are read: v2 ``<site-list><site url=..><open-in>IE11``
   and v1 ``<rules><emie><domain>``. A ``<site>`` covers the URL when its host
   is the URL's host or a parent domain of it and its path is a prefix of the
   URL's path; the most specific entry decides. Fragments (``#/myCenter``) never
   reach the matching, as in Edge. The XML is parsed with DOCTYPE/ENTITY
   declarations refused (no entity expansion attacks from a host file).
   A site list given as an ``http(s)://`` URL cannot be read by the agent
   (only local and UNC files): that is an ``error`` finding unless the user
   list covers everything.
2. the operator's own "Internet Explorer mode pages" list, Edge's ``Preferences``
   JSON ``dual_engine.user_list_data_1`` of the ``Default`` profile. This is
   community-documented, not a Microsoft contract: best effort. Edge drops
   these entries 30 days after they were added, so expired entries do not count.

Policy scopes (docs/windows-semantics.md, Edge rows): both policies are
mandatory-only ("Can be recommended: No") and exist for the machine (HKLM) and
for the user (HKU\\<SID>\\Software\\Policies\\Microsoft\\Edge); each value is
taken from the machine when set there, else from the operator's hive.

A site list on a UNC path cannot be read from a WinRM session authenticated
with NTLM (no delegation: the "second hop"); that is an ``error`` finding naming
the cause, never "file does not exist".

Scope: the site list is usually machine-wide, so the check runs without an
operator; it needs the operator for the user policies and the user list, and
says "not evaluated" when the machine policy does not decide and nobody is
logged on.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import cache
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field

from fleetcheck.agent.contract import FileInfo, FileQuery, Query, RegistryQuery
from fleetcheck.checks.base import (
    CheckBase,
    Description,
    EvalContext,
    Outcome,
    file_query,
    reg_query,
    register,
)
from fleetcheck.checks.edge_policy import edge_int
from fleetcheck.checks.facts import NO_OPERATOR, FactError, answer_of, reg_location
from fleetcheck.findings import FindingStatus
from fleetcheck.i18n import T, Text

EDGE = r"SOFTWARE\Policies\Microsoft\Edge"
USER_EDGE = r"Software\Policies\Microsoft\Edge"
SITE_LIST = "InternetExplorerIntegrationSiteList"
LEVEL = "InternetExplorerIntegrationLevel"
PREFERENCES = r"{profile}\AppData\Local\Microsoft\Edge\User Data\Default\Preferences"
USER_LIST_DAYS = 30
PORTAL_PAGES = [
    "https://biz.sccc.com",
    "https://biz.sccc.com/index.html#/myCenter",
    "https://biz.sccc.com/index.html#/gatewayFileCertDown",
]
_DOCTYPE = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_WINDOWS_EPOCH = datetime(1601, 1, 1, tzinfo=timezone.utc)


class Spec(CheckBase):
    type: Literal["ie_mode_site"]
    urls: list[str] = Field(default_factory=lambda: list(PORTAL_PAGES), min_length=1)
    use_user_list: bool = True


@cache  # queries are frozen; building them is the hot path
def policy_query() -> RegistryQuery:
    """The machine Edge policy key, following the site list path to its content (check and fix planner)."""
    return reg_query("HKLM", EDGE, follow=(SITE_LIST,), follow_content=True)


@cache  # queries are frozen; building them is the hot path
def _prefs_query() -> FileQuery:
    return file_query(PREFERENCES, per_user=True, content=True)


@cache  # queries are frozen; building them is the hot path
def _user_policy_query() -> RegistryQuery:
    return reg_query("HKU", USER_EDGE, follow=(SITE_LIST,), follow_content=True)


def queries(spec: Spec) -> list[Query]:
    qs: list[Query] = [policy_query(), _user_policy_query()]
    if spec.use_user_list:
        qs.append(_prefs_query())
    return qs


class SiteListError(ValueError):
    """The site list XML cannot be used; the message says why (internal: host data, becomes a finding)."""


@dataclass(frozen=True)
class SiteRule:
    host: str
    path: str
    ie: bool  # opens in IE11 mode


def parse_site_list(data: bytes) -> list[SiteRule]:
    """Rules of an Enterprise Mode site list (v2 or v1 schema).

    >>> parse_site_list(b'<site-list version="1"><site url="biz.sccc.com"><open-in>IE11</open-in></site></site-list>')
    [SiteRule(host='biz.sccc.com', path='/', ie=True)]
    """
    if _DOCTYPE.search(data):
        raise SiteListError("the XML declares a DOCTYPE or ENTITY, which is refused")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise SiteListError(f"not well-formed XML ({exc})") from None
    rules: list[SiteRule] = []
    tag = root.tag.lower()
    if tag == "site-list":
        for site in root.iter("site"):
            url = (site.get("url") or "").strip()
            if not url:
                continue
            open_in = (site.findtext("open-in") or "").strip().lower()
            rules.append(_rule(url, open_in == "ie11"))
    elif tag == "rules":
        for section, ie in (("emie", True), ("docMode", False)):
            for node in root.iter(section):
                for dom in node.iter("domain"):
                    text = (dom.text or "").strip()
                    if text:
                        excluded = (dom.get("exclude") or "").lower() == "true"
                        rules.append(_rule(text, ie and not excluded))
                        for p in dom.iter("path"):
                            if p.text:
                                p_ex = (p.get("exclude") or "").lower() == "true"
                                rules.append(_rule(text.rstrip("/") + p.text.strip(), ie and not p_ex))
    else:
        raise SiteListError(f"root element <{root.tag}> is neither <site-list> nor <rules>")
    return rules


def _rule(url: str, ie: bool) -> SiteRule:
    parts = urlsplit(url if "://" in url else f"//{url}")
    return SiteRule((parts.hostname or "").lower(), parts.path or "/", ie)


def _covered(rules: list[SiteRule], url: str) -> bool:
    parts = urlsplit(url)
    host, path = (parts.hostname or "").lower(), parts.path or "/"
    best: tuple[int, int, bool] | None = None
    for rule in rules:
        if not (host == rule.host or host.endswith("." + rule.host)):
            continue
        if not path.lower().startswith(rule.path.lower()):
            continue
        score = (len(rule.host), len(rule.path), rule.ie)
        if best is None or score[:2] > best[:2]:
            best = score
    return bool(best and best[2])


def _normal(url: str) -> str:
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    frag = f"#{parts.fragment}" if parts.fragment else ""
    return f"{parts.scheme.lower()}://{(parts.hostname or '').lower()}{path}{frag}"


def user_list(prefs: FileInfo, now: datetime) -> tuple[set[str], list[str]]:
    """(normalised URLs in the user's IE-mode page list that are still valid, notes)."""
    notes: list[str] = []
    raw = prefs.content_bytes() or b""
    if prefs.content_truncated:
        notes.append("Preferences truncated by the agent")
    try:
        doc = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, RecursionError, ValueError):  # ValueError: not JSON, or a 4,300+ digit number
        # The operator can write this file: nested too deeply (RecursionError bounds the depth) is unreadable too.
        notes.append("Preferences is not readable JSON")
        return set(), notes
    entries = doc.get("dual_engine", {}).get("user_list_data_1", {}) if isinstance(doc, dict) else {}
    valid: set[str] = set()
    if not isinstance(entries, dict):
        return valid, notes
    for url, info in entries.items():
        added = _added(info)
        if added is not None and now - added > timedelta(days=USER_LIST_DAYS):
            notes.append(f"{url}: expired (added {added.date().isoformat()})")
            continue
        valid.add(_normal(url))
    return valid, notes


def _added(info: Any) -> datetime | None:
    """``date_added`` in Chromium's format: microseconds since 1601-01-01 UTC, as text."""
    try:
        micros = int(info.get("date_added"))
        return _WINDOWS_EPOCH + timedelta(microseconds=micros)
    except (AttributeError, TypeError, ValueError, OverflowError):
        return None


def _aware(now: datetime) -> datetime:
    return now if now.tzinfo else now.replace(tzinfo=timezone.utc)


@dataclass(frozen=True)
class _Policy:
    """The effective IE-integration policy values (machine over user) and where they came from."""

    level: int | None
    list_path: str | None
    followed: FileInfo | None
    source: str
    undecided: bool  # the machine does not set both, and the operator's hive was not seen


def _effective_policy(ctx: EvalContext) -> _Policy:
    m_ans = answer_of(ctx, policy_query())
    m_key = m_ans.key if m_ans is not None else None
    u_ans = None
    if ctx.operator is not None:
        u_ans = answer_of(ctx, _user_policy_query(), user=True)
    u_key = u_ans.key if u_ans is not None else None
    level_val = m_key.value(LEVEL) if m_key is not None else None
    level_where = reg_location("HKLM", EDGE)
    if level_val is None and u_key is not None:
        level_val = u_key.value(LEVEL)
        level_where = reg_location("HKU", USER_EDGE, ctx.operator.sid if ctx.operator else None)
    list_val = m_key.value(SITE_LIST) if m_key is not None else None
    followed = m_ans.followed.get(SITE_LIST) if m_ans is not None else None
    list_where = reg_location("HKLM", EDGE)
    if list_val is None and u_key is not None:
        list_val = u_key.value(SITE_LIST)
        followed = u_ans.followed.get(SITE_LIST) if u_ans is not None else None
        list_where = reg_location("HKU", USER_EDGE, ctx.operator.sid if ctx.operator else None)
    machine_sets_both = m_key is not None and m_key.value(LEVEL) is not None and m_key.value(SITE_LIST) is not None
    list_path = list_val.as_str() if list_val is not None else None
    source = level_where if list_where == level_where else f"{level_where} [{LEVEL}]; {list_where}"
    return _Policy(
        edge_int(level_val) if level_val is not None else None,
        list_path,
        followed,
        source,
        undecided=ctx.operator is None and not machine_sets_both,
    )


def evaluate(spec: Spec, ctx: EvalContext) -> Outcome:
    pol = _effective_policy(ctx)
    level, list_path = pol.level, pol.list_path
    expected = "全部门户页面在 IE 模式打开 all portal pages open in IE mode"
    details: dict[str, Any] = {"level": level, "site_list": list_path, "urls": list(spec.urls)}
    source = pol.source

    machine_problem: Text | None = None
    uncovered = list(spec.urls)
    list_is_url = bool(list_path and re.match(r"^\s*https?://", list_path, re.IGNORECASE))
    if list_path:
        if list_is_url:
            machine_problem = T(
                f"站点列表 {list_path} 是网址：fleetcheck 只能读取本地或 UNC 路径的文件",
                f"the site list {list_path} is a URL: only local or UNC files can be read",
            )
        elif list_path.strip().startswith("\\\\") and (pol.followed is None or not pol.followed.exists):
            return Outcome(FindingStatus.error, expected, None, f"{source} [{SITE_LIST}={list_path}]", T(
                f"站点列表 {list_path} 在网络共享上：通过 WinRM（NTLM）无法访问网络共享（第二跳，凭据不能委派），"
                "无法确认其内容；请把站点列表放在本机（fleetcheck fix 会写本地副本），或用 CredSSP/Kerberos 委派",
                f"the site list {list_path} is on a network share: a WinRM session (NTLM) cannot reach a share "
                "(second hop: no credential delegation), so its content cannot be checked; keep the site list on the "
                "PC (fleetcheck fix writes a local copy) or use CredSSP/Kerberos delegation",
            ), details)
        else:
            machine_problem, uncovered = _machine_coverage(spec, pol.followed, list_path, level)
        source = f"{source} [{SITE_LIST}={list_path}]"
    else:
        machine_problem = T("未配置企业站点列表", "no enterprise site list configured")
    if not uncovered and machine_problem is None:
        return Outcome(FindingStatus.passed, expected, "企业站点列表 enterprise site list", source, details=details)
    if pol.undecided:
        return Outcome(FindingStatus.not_evaluated, expected, None, source, NO_OPERATOR, details)

    if spec.use_user_list and ctx.operator is not None:
        prefs: FileInfo | None = None
        try:
            p_ans = answer_of(ctx, _prefs_query(), user=True)
            prefs = p_ans.file if p_ans is not None and p_ans.file and p_ans.file.exists else None
        except FactError as exc:
            details["user_list_error"] = exc.message.en
        if prefs is not None:
            have, notes = user_list(prefs, _aware(ctx.now))
            details["user_list"] = sorted(have)
            details["user_list_notes"] = notes
            missing = [u for u in uncovered if _normal(u) not in have]
            if not missing:
                return Outcome(
                    FindingStatus.passed,
                    expected,
                    "用户 IE 模式页面列表 user IE-mode page list (best effort)",
                    f"{prefs.path} [dual_engine.user_list_data_1]",
                    details=details,
                )
            uncovered = missing
    elif spec.use_user_list and ctx.operator is None:
        return Outcome(FindingStatus.not_evaluated, expected, None, source, NO_OPERATOR, details)

    details["uncovered"] = uncovered
    if list_is_url and machine_problem is not None:
        return Outcome(FindingStatus.error, expected, None, source, machine_problem, details)
    reason = machine_problem or T("", "")
    msg = T(
        f"这些页面不会在 IE 模式打开：{', '.join(uncovered)}。{reason.zh}",
        f"these pages do not open in IE mode: {', '.join(uncovered)}. {reason.en}",
    )
    return Outcome(FindingStatus.fail, expected, f"未覆盖 not covered: {len(uncovered)}", source, msg, details)


def _machine_coverage(
    spec: Spec, followed: FileInfo | None, list_path: str, level: int | None
) -> tuple[Text | None, list[str]]:
    """(problem with the machine site list or None, URLs it does not cover)."""
    if followed is None or not followed.exists:
        return T(f"站点列表文件 {list_path} 不存在", f"the site list file {list_path} does not exist"), list(spec.urls)
    data = followed.content_bytes()
    if data is None:
        return T(f"无法读取站点列表 {list_path}", f"could not read the site list {list_path}"), list(spec.urls)
    try:
        rules = parse_site_list(data)
    except SiteListError as exc:
        return T(f"站点列表 {list_path} 无效：{exc}", f"site list {list_path} is invalid: {exc}"), list(spec.urls)
    uncovered = [u for u in spec.urls if not _covered(rules, u)]
    if level != 1:
        return (
            T(
                f"InternetExplorerIntegrationLevel 为 {level}，应为 1（否则站点列表不生效）",
                f"InternetExplorerIntegrationLevel is {level}, must be 1 for the site list to apply",
            ),
            list(spec.urls),
        )
    return None, uncovered


def describe(spec: Spec) -> Description:
    return Description(
        where=[
            f"HKLM\\{EDGE} [{LEVEL}, {SITE_LIST}] + the site list XML",
            f"HKU\\<SID>\\{USER_EDGE} [{LEVEL}, {SITE_LIST}] (when the machine does not set them)",
            f"{PREFERENCES} [dual_engine.user_list_data_1] (best effort)",
        ],
        expected="IE mode for: " + ", ".join(spec.urls),
    )


register("ie_mode_site", Spec, queries, evaluate, describe)
