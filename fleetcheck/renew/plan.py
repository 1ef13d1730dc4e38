"""The renewal plan and its outcome: one :class:`RenewalItem` per PFX file. Pure data + rendering.

States (``RenewalState``):

* ``refused`` — validation or matching said no; nothing was sent to any host;
* ``planned`` — dry run: this PFX would be imported into that operator's store;
* ``pending`` — the operator is not logged on (no operator in the facts, or the
  agent answered "no interactive session"); recorded, picked up by the next run;
* ``installed`` — imported and verified by a fresh probe (new thumbprint with
  its private key in the operator's Personal store);
* ``already_installed`` — the PFX's certificate is already the operator's
  (a second run over the same folder changes nothing);
* ``guard_refused`` — trading hours or a running trading client (``--force``
  overrides, and the audit log says so);
* ``failed`` — the host could not be reached, the import failed, or the
  verification did not find the new certificate with its key;
* ``skipped`` — the target host is outside ``--limit``.

Exit code of ``fleetcheck renew`` (:func:`exit_code`): 0 when every item is
planned / installed / already installed / skipped; 3 when a target host could
not be reached; otherwise 1 (something refused, pending, guarded or failed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from fleetcheck.i18n import Lang, T, Text
from fleetcheck.officetime import office_day, office_zone
from fleetcheck.renew.validate import InstalledCertificate, Refusal, RenewalPfx

__all__ = ["STATE_LABELS", "RenewalItem", "RenewalState", "exit_code", "render_items"]


class RenewalState(str, Enum):
    refused = "refused"
    planned = "planned"
    pending = "pending"
    installed = "installed"
    already_installed = "already_installed"
    guard_refused = "guard_refused"
    failed = "failed"
    skipped = "skipped"
    rolled_back = "rolled_back"


STATE_LABELS: dict[RenewalState, Text] = {
    RenewalState.refused: T("拒绝", "refused"),
    RenewalState.planned: T("计划导入", "planned"),
    RenewalState.pending: T("待操作员登录", "pending"),
    RenewalState.installed: T("已导入并验证", "installed"),
    RenewalState.already_installed: T("已是新证书", "already installed"),
    RenewalState.guard_refused: T("受保护规则阻止", "refused by guard"),
    RenewalState.failed: T("失败", "failed"),
    RenewalState.skipped: T("跳过", "skipped"),
    RenewalState.rolled_back: T("已回滚", "rolled back"),
}

OK_STATES = frozenset({RenewalState.planned, RenewalState.installed, RenewalState.already_installed,
                       RenewalState.skipped, RenewalState.rolled_back})


@dataclass
class RenewalItem:
    """One PFX file's way through validation, matching and (with ``--apply``) import."""

    file_name: str
    cn: str
    state: RenewalState = RenewalState.planned
    reasons: list[Refusal] = field(default_factory=list)
    notes: list[Text] = field(default_factory=list)
    host: str | None = None
    evidence: str | None = None  # scan | inventory
    pfx: RenewalPfx | None = None
    installed: InstalledCertificate | None = None
    operator: str | None = None
    operator_sid: str | None = None
    new_thumbprint: str | None = None
    removed_old: str | None = None  # thumbprint removed with --remove-old
    old_backup: dict[str, object] | None = None  # RemoveCert's before_tree / before_file
    was_pending: bool = False  # a pending record from an earlier run was picked up
    unreachable: bool = False
    forced: bool = False

    def refuse(self, *refusals: Refusal) -> RenewalItem:
        self.state = RenewalState.refused
        self.reasons.extend(refusals)
        return self

    def reason_text(self) -> Text:
        parts = [r.reason for r in self.reasons] + list(self.notes)
        if not parts:
            return T("", "")
        return T("；".join(p.zh for p in parts), "; ".join(p.en for p in parts))


def exit_code(items: list[RenewalItem]) -> int:
    """0 all fine, 3 some target host unreachable, else 1 (see the module docstring)."""
    if any(i.unreachable for i in items):
        return 3
    return 0 if all(i.state in OK_STATES for i in items) else 1


def render_items(items: list[RenewalItem], lang: Lang, *, applied: bool) -> list[str]:
    """Plain lines (one per PFX, then a count line) for the console."""
    zh = lang == "zh"
    lines = [("证书更新（已执行）：" if applied else "证书更新计划（演练，未改动任何主机；加 --apply 执行）：") if zh else
             ("Certificate renewal (applied):" if applied else
              "Certificate renewal plan (dry run, no host changed; add --apply to carry it out):")]
    for item in sorted(items, key=lambda i: (i.host or "~", i.file_name)):
        label = STATE_LABELS[item.state].get(lang)
        expiry = ""
        if item.pfx is not None:
            new = office_day(item.pfx.not_after)  # office dates, as certs and the report show them
            old = office_day(item.installed.not_after) if item.installed and item.installed.not_after else "—"
            expiry = f"  {old} → {new}（{office_zone().key}）" if zh else f"  {old} → {new} ({office_zone().key})"
        who = f" [{item.operator}]" if item.operator else ""
        line = f"  {item.file_name}  →  {item.host or '—'}{who}  {label}{expiry}"
        if item.was_pending:
            line += "  (上次待处理 / was pending)" if zh else "  (was pending)"
        lines.append(line)
        reason = item.reason_text().get(lang)
        if reason:
            lines.append(f"      {reason}")
    counts: dict[RenewalState, int] = {}
    for item in items:
        counts[item.state] = counts.get(item.state, 0) + 1
    summary = ", ".join(f"{STATE_LABELS[s].get(lang)} {n}" for s, n in sorted(counts.items(), key=lambda kv: kv[0].value))
    lines.append(("  合计：" if zh else "  total: ") + (summary or ("无 PFX 文件" if zh else "no PFX files")))
    return lines
