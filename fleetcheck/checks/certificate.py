"""``certificate``: the gateway certificate in the operator's Personal store (R12–R14).

```yaml
- id: gateway-cert-present          # R12
  type: certificate
  cn: "{{ host.gateway_cert }}"     # the default; or cn_pattern: "^F00504Y\\d+#0$"
  kind: any                         # file | hardware | any
  require_private_key: true
- id: gateway-cert-naming           # R13
  type: certificate
  naming_rule: true                 # file => CN ends with "#0"; hardware => it does not
- id: gateway-cert-validity         # R14
  type: certificate
  min_days_left: 30                 # expired => critical, message says expired
  remedy_expired: {zh: ..., en: ...}  # the remedy of an expired one (``remedy``: one about to expire)
```

The store is the operator's, never the WinRM account's: the registry store
(``HKU\\<SID>\\Software\\Microsoft\\SystemCertificates\\My\\Certificates``, value
``Blob``) and the file store in the operator's Roaming AppData
(``%APPDATA%\\Microsoft\\SystemCertificates\\My\\Certificates``, Microsoft's
"Certificate Store Migration" table). AppData is where the operator's
``User Shell Folders\\AppData`` says (folder redirection: another drive or a
share), which the agent resolves as ``{appdata}``. A share cannot be read
from a WinRM session (NTLM, no delegation: the second hop), so a redirected
store on a share makes the finding an ``error`` that says so, never a pass
or a fail on half the store. The same thumbprint in both is counted once
(registry first).

Several certificates match: the one with the latest NotAfter is judged, the
others are listed in ``details["others"]``. Every finding carries ``details``
with subject_cn, issuer, not_after, days_left, thumbprint, kind,
has_private_key, store, user (None when no certificate matched).

Each host's blobs are parsed once, however many certificate checks there are
(cached in ``EvalContext.memo``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from fleetcheck.agent.contract import DirQuery, Query, RegistryQuery
from fleetcheck.certinfo import CertInfo, CertParseError, parse_store_blob
from fleetcheck.checks.base import (
    CheckBase,
    Description,
    EvalContext,
    Outcome,
    dir_query,
    reg_query,
    register,
)
from fleetcheck.checks.facts import FactError, answer_of, reg_location
from fleetcheck.findings import FindingStatus, Severity
from fleetcheck.i18n import T, Text, TextValueError
from fleetcheck.officetime import office_day

REG_STORE = r"Software\Microsoft\SystemCertificates\My\Certificates"
FILE_STORE = r"{appdata}\Microsoft\SystemCertificates\My\Certificates"
DEFAULT_CN = "{{ host.gateway_cert }}"
# The remedy of an expired certificate when the policy gives no ``remedy_expired``: the
# check's own ``remedy`` speaks of renewing one that is about to expire.
EXPIRED_REMEDY = T(
    "证书已过期：已过期的证书无法在线更新，需按证书颁发机构的流程线下更新或重新申请。",
    "The certificate has expired: an expired certificate cannot be renewed online; "
    "renew or re-issue it offline by the CA's procedure.",
)
DETAIL_KEYS = ("subject_cn", "issuer", "not_after", "days_left", "thumbprint", "kind", "has_private_key", "store", "user")


class Spec(CheckBase):
    type: Literal["certificate"]
    templated_fields: ClassVar[frozenset[str]] = frozenset({"cn", "cn_pattern", "issuer"})

    scope: Literal["user", "machine"] = "user"
    cn: str | None = None
    cn_pattern: str | None = None
    kind: Literal["file", "hardware", "any"] = "any"
    min_days_left: int | None = Field(default=None, ge=0)
    require_private_key: bool = False
    naming_rule: bool = False
    issuer: str | None = None
    # The remedy of an expired certificate (``remedy`` speaks of one about to expire).
    remedy_expired: Text | None = None

    @model_validator(mode="before")
    @classmethod
    def _default_cn(cls, data: Any) -> Any:
        # Neither given: the gateway certificate named by the inventory variable.
        if isinstance(data, dict) and data.get("cn") is None and data.get("cn_pattern") is None:
            data = {**data, "cn": DEFAULT_CN}
        return data

    @model_validator(mode="after")
    def _cn_choice(self) -> Spec:
        if self.cn is not None and self.cn_pattern is not None:
            raise TextValueError(T("cn 与 cn_pattern 只能写一个", "give either 'cn' or 'cn_pattern', not both"))
        if self.scope != "user":
            raise TextValueError(T("证书检查读取操作员的个人证书存储：scope 必须为 user",
                                    "certificate checks read the operator's Personal store: scope must be 'user'"))
        return self

    @field_validator("cn_pattern")
    @classmethod
    def _regex(cls, value: str | None) -> str | None:
        if value is not None and "{{" not in value:
            try:
                re.compile(value)
            except re.error as exc:
                raise TextValueError(T(f"cn_pattern {value!r} 不是有效的正则表达式：{exc}",
                                        f"cn_pattern {value!r} is not a valid regular expression: {exc}")) from None
        return value


@cache  # queries are frozen; building them is the hot path
def _reg_query() -> RegistryQuery:
    return reg_query("HKU", REG_STORE, depth=1)


@cache  # queries are frozen; building them is the hot path
def _dir_query() -> DirQuery:
    return dir_query(FILE_STORE, per_user=True, content=True)


def queries(spec: Spec) -> list[Query]:
    return [_reg_query(), _dir_query()]


@dataclass(frozen=True)
class StoredCert:
    info: CertInfo
    store: Literal["registry", "appdata"]
    location: str


def operator_certificates(ctx: EvalContext) -> tuple[list[StoredCert], list[str]]:
    """Every readable certificate in the operator's Personal store, and unreadable entries.

    Cached per host in ``ctx.memo``; raises FactError when the store cannot be read.
    """
    assert ctx.operator is not None
    memo_key = f"certificate:{ctx.operator.sid}"
    cached = ctx.memo.get(memo_key)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    certs: list[StoredCert] = []
    bad: list[str] = []
    seen: set[str] = set()
    reg_ans = answer_of(ctx, _reg_query(), user=True)
    root = reg_ans.key if reg_ans is not None else None
    for thumb, sub in (root.subkeys.items() if root is not None else ()):
        where = reg_location("HKU", f"{REG_STORE}\\{thumb}", ctx.operator.sid)
        blob = sub.value("Blob")
        if blob is None or blob.t != "BINARY":
            bad.append(f"{where}: no Blob value")
            continue
        _add(certs, bad, seen, blob.as_bytes(), "registry", where)
    _check_appdata_readable(ctx)
    dir_ans = answer_of(ctx, _dir_query(), user=True)
    for f in dir_ans.files if dir_ans is not None else []:
        data = f.content_bytes()
        if data is None or f.content_truncated:
            bad.append(f"{f.path}: content not available")
            continue
        _add(certs, bad, seen, data, "appdata", f.path)
    ctx.memo[memo_key] = (certs, bad)
    return certs, bad


def _check_appdata_readable(ctx: EvalContext) -> None:
    """FactError (bilingual) when the operator's file store cannot be read from here."""
    op = ctx.operator
    assert op is not None
    folder = op.appdata
    who = op.user or op.sid
    if folder is None:
        raw = op.appdata_raw or "?"
        raise FactError(T(
            f"无法确定操作员 {who} 的 AppData 文件夹（User Shell Folders\\AppData = {raw}，含该用户特有的变量），"
            "文件证书存储未能读取",
            f"the AppData folder of operator {who} cannot be resolved (User Shell Folders\\AppData = {raw} "
            "uses a variable of that user): the file-based Personal store was not read",
        ))
    if folder.startswith("\\\\"):
        raise FactError(T(
            f"操作员 {who} 的 AppData 已重定向到网络共享 {folder}：WinRM 会话（NTLM）无法再访问网络共享（第二跳），"
            "文件证书存储未能读取；请在该电脑上本地检查，或改用 CredSSP/Kerberos 委派",
            f"the AppData of operator {who} is redirected to the network share {folder}: a WinRM session "
            "(NTLM) cannot reach a share (second hop), so the file-based Personal store was not read; "
            "check on the PC itself, or use CredSSP/Kerberos delegation",
        ))


def _add(certs: list[StoredCert], bad: list[str], seen: set[str], blob: bytes, store: Any, where: str) -> None:
    try:
        info = parse_store_blob(blob)
    except CertParseError as exc:
        bad.append(f"{where}: {exc}")
        return
    if info.thumbprint in seen:
        return
    seen.add(info.thumbprint)
    certs.append(StoredCert(info, store, where))


def _name_matches(spec: Spec, cn: str) -> bool:
    if spec.cn_pattern is not None:
        return re.fullmatch(spec.cn_pattern, cn) is not None
    return spec.cn is not None and cn.strip().casefold() == spec.cn.strip().casefold()


def _wanted(spec: Spec) -> str:
    parts = [f"CN = {spec.cn}" if spec.cn is not None else f"CN ~ /{spec.cn_pattern}/"]
    if spec.kind != "any":
        parts.append({"file": "文件证书 file", "hardware": "硬件证书 hardware"}[spec.kind])
    if spec.require_private_key:
        parts.append("有私钥 with private key")
    if spec.naming_rule:
        parts.append("命名符合 #0 规则 #0 naming rule")
    if spec.min_days_left is not None:
        parts.append(f"剩余 ≥ {spec.min_days_left} 天 days left")
    if spec.issuer:
        parts.append(f"颁发者 issuer {spec.issuer}")
    return ", ".join(parts)


def evaluate(spec: Spec, ctx: EvalContext) -> Outcome:
    certs, bad = operator_certificates(ctx)
    user = ctx.operator.user if ctx.operator is not None else None
    expected = _wanted(spec)
    matching = [c for c in certs if _name_matches(spec, c.info.subject_cn)]
    if spec.kind != "any":
        matching = [c for c in matching if c.info.kind == spec.kind]
    matching.sort(key=lambda c: c.info.not_after, reverse=True)
    if not matching:
        return _missing(spec, ctx, certs, bad, expected, user)
    chosen, others = matching[0], matching[1:]
    info = chosen.info
    details = info.summary(ctx.now, chosen.store, user)
    details["others"] = [o.info.summary(ctx.now, o.store, user) for o in others]
    if bad:
        details["unreadable"] = bad
    observed = f"{info.subject_cn} ({info.kind}, {office_day(info.not_after)}, {info.thumbprint[:8]}…)"
    problems: list[Text] = []
    severity: Severity | None = None
    remedy: Text | None = None
    if spec.require_private_key and not info.has_private_key:
        problems.append(T("证书没有关联私钥（导入 PFX 时未带私钥？）", "the certificate has no private key (PFX imported without its key?)"))
    if spec.naming_rule:
        problems += _naming_problem(info)
    if spec.min_days_left is not None:
        left = info.days_left(ctx.now)
        if left < 0:
            severity = Severity.critical
            remedy = spec.remedy_expired or EXPIRED_REMEDY
            problems.append(T(f"证书已于 {office_day(info.not_after)} 过期", f"the certificate expired on {office_day(info.not_after)}"))
        elif left < spec.min_days_left:
            problems.append(T(f"证书还剩 {left} 天到期（阈值 {spec.min_days_left} 天），需要更新", f"the certificate expires in {left} days (threshold {spec.min_days_left}): renew it"))
    if spec.issuer and info.issuer.strip().casefold() != spec.issuer.strip().casefold():
        problems.append(T(f"颁发者为 {info.issuer}，应为 {spec.issuer}", f"issued by {info.issuer}, expected {spec.issuer}"))
    if not problems:
        return Outcome(FindingStatus.passed, expected, observed, chosen.location, details=details)
    msg = T("；".join(p.zh for p in problems), "; ".join(p.en for p in problems))
    return Outcome(FindingStatus.fail, expected, observed, chosen.location, msg, details, severity, remedy)


def _naming_problem(info: CertInfo) -> list[Text]:
    ends = info.subject_cn.endswith("#0")
    if info.kind == "file" and not ends:
        return [T(f"文件证书 {info.subject_cn} 的名称必须以“#0”结尾", f"file certificate {info.subject_cn}: the name must end with '#0'")]
    if info.kind == "hardware" and ends:
        return [T(f"硬件证书 {info.subject_cn} 的名称不能以“#0”结尾", f"hardware certificate {info.subject_cn}: the name must not end with '#0'")]
    return []


def _missing(
    spec: Spec, ctx: EvalContext, certs: list[StoredCert], bad: list[str], expected: str, user: str | None
) -> Outcome:
    details: dict[str, Any] = {k: None for k in DETAIL_KEYS}
    details["user"] = user
    details["others"] = [c.info.summary(ctx.now, c.store, user) for c in certs]
    if bad:
        details["unreadable"] = bad
    who = user or (ctx.operator.sid if ctx.operator else "?")
    extra_zh = f"（另有 {len(bad)} 个条目无法解析）" if bad else ""
    extra_en = f" ({len(bad)} entries could not be parsed)" if bad else ""
    msg = T(
        f"操作员 {who} 的个人证书存储中没有符合要求的证书（{expected}）{extra_zh}",
        f"no certificate matching {expected} in the Personal store of operator {who}{extra_en}",
    )
    source = reg_location("HKU", REG_STORE, ctx.operator.sid if ctx.operator else None)
    return Outcome(FindingStatus.fail, expected, f"未找到 not found ({len(certs)} 个其他证书 other certificates)", source, msg, details)


def describe(spec: Spec) -> Description:
    return Description(where=[f"HKU\\<operator SID>\\{REG_STORE}\\*\\Blob", FILE_STORE], expected=_wanted(spec))


register("certificate", Spec, queries, evaluate, describe)
