"""Carry out a renewal: read the drop folder, validate, match, probe, guard, import, verify, record.

The I/O edge of renewal (the pure parts are :mod:`validate`, :mod:`match`,
:mod:`plan`). Per PFX file, in order — a step that says no ends that file's
way, and a refused PFX never causes a request to any host:

1. password: from the passwords file or the prompt (``no_password``);
2. :func:`~fleetcheck.renew.validate.open_pfx` (password, key, ``#0``, name, expiry);
3. :func:`~fleetcheck.renew.match.match_host` (latest scan, inventory);
   a host outside ``--limit`` → ``skipped``; a host whose certificate check is
   waived (``--waivers``, not expired) → ``skipped``, saying until when and why
   (an expired waiver is not honoured: renewed as usual, and said so);
4. per target host (hosts in parallel, bounded by ``forks``; one host's
   failure stays on that host): a fresh read-only probe with the policy set
   — it gives the operator, the certificate installed now, and the process
   list for the guard. Unreachable → ``failed`` (exit code 3);
5. :func:`~fleetcheck.renew.validate.check_renewal` against the installed
   certificate (probe, else the latest scan) and the expected issuer
   (``--issuer``, else the policy's certificate-check ``issuer``, else the
   installed certificate's issuer); the same thumbprint already installed →
   ``already_installed``;
6. no operator logged on → ``pending``; dry run stops here (``planned``);
7. ``--apply``: :class:`~fleetcheck.remediate.guard.Guard` (trading hours,
   running trading client; ``--force`` overrides and is audited); one
   ``ImportPfx`` round trip into the operator's Personal store (the agent
   answering "no interactive session" → ``pending``); a fresh probe must show
   the new thumbprint with its private key and every certificate finding on
   it passing → ``installed``, else ``failed``;
8. ``--remove-old``: only after that verification, ``RemoveCert`` of the old
   thumbprint; the agent's backup (public blob, key-provider name) is kept in
   the ``renewals`` record for rollback.

Every step of an applied run is appended to the audit log
(:class:`fleetcheck.store.audit.AuditLog`; passwords masked, PFX bytes only
as a hash) and every PFX is recorded in the ``renewals`` table. Pending
renewals are listed at the start of the next run; that run retries them as
long as their PFX is still in the drop folder.

:func:`rollback_renewals` undoes an applied run: removes each imported
certificate and restores each removed one from its backup, guarded the same
way, verified by a fresh probe, audited.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from fleetcheck.agent.budget import action_wait_ms, explain_action_error
from fleetcheck.agent.contract import (
    Action,
    ImportPfx,
    ProbeRequest,
    ProbeResponse,
    Profile,
    RegKey,
    RemoveCert,
    RestoreKey,
    WriteFile,
)
from fleetcheck.checks.certificate import REG_STORE
from fleetcheck.errors import FleetcheckError
from fleetcheck.findings import Finding, FindingStatus, HostResult, HostStatus, RunResult
from fleetcheck.i18n import T, Text
from fleetcheck.inventory.model import HostSpec, Inventory
from fleetcheck.officetime import Clock, office_date, utc_now
from fleetcheck.policy.waivers import Waiver
from fleetcheck.remediate.guard import Guard, GuardDecision
from fleetcheck.renew.match import match_host
from fleetcheck.renew.passwords import PfxPassword
from fleetcheck.renew.personal_store import STORE_QUERIES, holds, installed_in_store, operator_store
from fleetcheck.renew.plan import RenewalItem, RenewalState
from fleetcheck.renew.records import RenewalLog, RenewalRecord
from fleetcheck.renew.validate import Refusal, check_renewal, open_pfx
from fleetcheck.runner import DEFAULT_TIMEOUT_S, ProbeFn, Sweep, ThreadExecutor
from fleetcheck.store import RunNotFound, Store
from fleetcheck.store.audit import AuditLog
from fleetcheck.transport import Deadline, TransportError, probe_host

__all__ = [
    "DropError",
    "DropFile",
    "Renewal",
    "RenewalOptions",
    "RenewalOutcome",
    "RollbackResult",
    "certificate_waivers",
    "read_drop",
    "rollback_renewals",
]

MAX_DROP_FILES = 2000
NO_SESSION_MARK = "no interactive session"
IMPORT_WAIT_MS = 60_000  # how long the agent polls for the user-session task at most


def certificate_waivers(waivers: Sequence[Waiver], policies: Sequence[Any], host: str, groups: list[str],
                        today: date) -> tuple[Waiver | None, list[Waiver]]:
    """The first unexpired waiver naming a certificate check of the policies on ``host`` (or None),
    and the expired ones naming one (not honoured). Pure."""
    checks = [(p.id, c.id) for p in policies for c in getattr(p, "checks", ()) if getattr(c, "type", "") == "certificate"]
    naming = [w for w in waivers if any(w.matches(pid, cid, host, groups) for pid, cid in checks)]
    honoured = next((w for w in naming if not w.expired(today)), None)
    return honoured, [w for w in naming if w.expired(today)]


class DropError(FleetcheckError):
    """The drop folder cannot be used; ``text`` says which folder and what to do."""


@dataclass(frozen=True)
class DropFile:
    """One ``<CN>.pfx`` of the drop folder, read into memory (a few KB)."""

    file_name: str
    data: bytes

    @property
    def stem(self) -> str:
        return self.file_name[:-4] if self.file_name.lower().endswith(".pfx") else self.file_name


def read_drop(folder: Path) -> list[DropFile]:
    """Every ``*.pfx`` directly in ``folder`` (case-insensitive suffix), sorted by name."""
    if not folder.is_dir():
        raise DropError(T(f"{folder}：不是文件夹（--drop 应指向存放 <证书名>.pfx 的文件夹）",
                          f"{folder}: not a folder (--drop names the folder holding <CN>.pfx files)"))
    try:
        paths = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".pfx")
    except OSError as exc:
        raise DropError(T(f"{folder}：无法读取（{exc.strerror}）", f"{folder}: cannot be read ({exc.strerror})")) from None
    if len(paths) > MAX_DROP_FILES:
        raise DropError(T(f"{folder}：PFX 文件超过 {MAX_DROP_FILES} 个", f"{folder}: more than {MAX_DROP_FILES} PFX files"))
    files: list[DropFile] = []
    for path in paths:
        try:
            files.append(DropFile(path.name, path.read_bytes()))
        except OSError as exc:
            raise DropError(T(f"{path}：无法读取（{exc.strerror}）", f"{path}: cannot be read ({exc.strerror})")) from None
    return files


@dataclass
class RenewalOptions:
    apply: bool = False
    remove_old: bool = False
    force: bool = False
    issuer: str | None = None  # --issuer: overrides the policy's expected issuer
    trusted_cas: tuple[Any, ...] = ()  # --ca-file: x509 CA certificates the PFX must be signed by
    timeout_s: float = DEFAULT_TIMEOUT_S
    forks: int = 10
    who: str = "unknown"
    waivers: tuple[Waiver, ...] = ()  # --waivers: a host whose certificate check is waived is left alone


@dataclass
class RenewalOutcome:
    run_id: str
    items: list[RenewalItem]
    pending_before: list[RenewalRecord] = field(default_factory=list)
    pending_missing: list[RenewalRecord] = field(default_factory=list)  # pending, PFX no longer in the folder


def policy_issuer(policies: Sequence[Any]) -> str | None:
    """The first literal ``issuer`` of a certificate check in the policy set (templated ones skipped)."""
    for policy in policies:
        for check in getattr(policy, "checks", ()):
            issuer = getattr(check, "issuer", None)
            if getattr(check, "type", None) == "certificate" and isinstance(issuer, str) and issuer.strip() \
                    and "{{" not in issuer:
                return issuer.strip()
    return None


def _masked(text: str | None, secret: PfxPassword | None) -> str:
    """Agent error text with the password blanked out, should a broken agent ever echo it."""
    value = text or ""
    if secret is not None and secret.reveal():
        value = value.replace(secret.reveal(), "***")
    return value[:500]


class Renewal:
    """One ``fleetcheck renew`` run over a drop folder (see the module docstring).

    >>> # outcome = Renewal(inventory, names, policies, store=store, guard=Guard(),
    >>> #                   options=RenewalOptions(apply=True)).run(files, passwords)
    """

    def __init__(
        self,
        inventory: Inventory,
        selected: Sequence[str],
        policies: Sequence[Any],
        *,
        store: Store | None,
        guard: Guard,
        options: RenewalOptions,
        probe: ProbeFn = probe_host,
        clock: Clock = utc_now,
    ) -> None:
        self.inventory = inventory
        self.selected = set(selected)
        self.policies = list(policies)
        self.store = store
        self.guard = guard
        self.options = options
        self.probe = probe
        self.clock = clock
        self.run_id = "renew-" + uuid.uuid4().hex[:12]
        self.audit = AuditLog(store) if store is not None and options.apply else None
        self._request: ProbeRequest | None = None

    # ------------------------------------------------------------------ the run
    def run(self, files: Sequence[DropFile], passwords: Mapping[str, PfxPassword]) -> RenewalOutcome:
        now = self.clock()
        latest = self._latest_scan()
        log = RenewalLog(self.store) if self.store is not None else None
        pending = log.pending() if log is not None else []
        by_stem = {p.casefold(): pw for p, pw in passwords.items()}
        all_vars = {name: spec.host_vars for name, spec in self.inventory.hosts.items()}
        items: list[RenewalItem] = []
        secrets: dict[int, PfxPassword] = {}
        for drop in files:
            item = RenewalItem(file_name=drop.file_name, cn=drop.stem)
            items.append(item)
            password = by_stem.get(drop.stem.strip().casefold())
            if password is None:
                item.refuse(Refusal("no_password", T(
                    f"{drop.file_name}：密码文件中没有 {drop.stem} 的密码（或用 --ask 逐个输入）",
                    f"{drop.file_name}: no password for {drop.stem} in the passwords file (or use --ask)")))
                continue
            opened = open_pfx(drop.file_name, drop.data, password, now, self.options.trusted_cas)
            if isinstance(opened, list):
                item.refuse(*opened)
                continue
            item.pfx, item.cn = opened, opened.cn
            secrets[id(item)] = password
            found = match_host(opened.cn, latest, all_vars)
            if found.refusal is not None:
                item.refuse(found.refusal)
                continue
            item.host, item.evidence, item.installed = found.host, found.evidence, found.installed
            item.was_pending = any(r.host == found.host and r.cn.casefold() == opened.cn.casefold() for r in pending)
            if found.host is not None and self._waived(item, found.host, now):
                continue
            if found.host not in self.selected:
                item.state = RenewalState.skipped
                item.notes.append(T("目标主机不在 --limit 范围内", "the target host is outside --limit"))
        data = {d.file_name: d.data for d in files}
        by_host: dict[str, list[RenewalItem]] = {}
        for item in items:
            if item.host is not None and item.state is RenewalState.planned:
                by_host.setdefault(item.host, []).append(item)
        jobs = list(by_host.items())
        if jobs:
            with ThreadPoolExecutor(max_workers=max(1, min(self.options.forks, len(jobs))),
                                    thread_name_prefix="fleetcheck-renew") as pool:
                futures = [pool.submit(self._host_guarded, self.inventory.hosts[h], its, data, secrets)
                           for h, its in jobs]
                for future in futures:
                    future.result()  # _host_guarded never raises
        if self.options.apply:
            self._audit_refusals(items)
            if log is not None:
                log.record(self.run_id, items, self.options.who)
        present = {(i.host, i.cn.casefold()) for i in items}
        missing = [r for r in pending if (r.host, r.cn.casefold()) not in present]
        return RenewalOutcome(self.run_id, items, pending, missing)

    def _waived(self, item: RenewalItem, host: str, now: datetime) -> bool:
        """Skip ``item`` when a waiver covers a certificate check of ``host``; note an expired one. True when skipped."""
        spec = self.inventory.hosts.get(host)
        waived, expired = certificate_waivers(self.options.waivers, self.policies, host,
                                              list(spec.groups) if spec is not None else [], office_date(now))
        for waiver in expired:
            day = waiver.expires.isoformat()
            item.notes.append(T(f"豁免（{waiver.check}）已于 {day} 过期，不再生效，照常更新（{waiver.reason}）",
                                f"the waiver ({waiver.check}) expired on {day}: not honoured, renewed as usual "
                                f"({waiver.reason})"))
        if waived is None:
            return False
        day = waived.expires.isoformat()
        item.state = RenewalState.skipped
        item.notes.append(T(f"已豁免（{waived.check}）至 {day}：{waived.reason}（批准：{waived.approver}），不导入",
                            f"waived ({waived.check}) until {day}: {waived.reason} (approver {waived.approver}); "
                            "not imported"))
        return True

    def _latest_scan(self) -> RunResult | None:
        if self.store is None:
            return None
        try:
            return self.store.load_run("latest")
        except RunNotFound:
            return None

    # ------------------------------------------------------------------ one host
    def _host_guarded(self, host: HostSpec, items: list[RenewalItem], data: Mapping[str, bytes],
                      secrets: Mapping[int, PfxPassword]) -> None:
        try:
            self._host(host, items, data, secrets)
        except Exception as exc:  # noqa: BLE001 - one host's bug must not stop the others
            for item in items:
                if item.state is RenewalState.planned:
                    item.state = RenewalState.failed
                    item.notes.append(T(f"内部错误 {type(exc).__name__}，请报告此问题",
                                        f"internal error {type(exc).__name__}; please report it"))

    def _evaluate(self, host: HostSpec) -> HostResult:
        """One read-only probe of ``host`` with the policy set plus the operator's store, evaluated.

        Retries transient faults as a scan does; never raises (failures are the result's status).
        """
        from fleetcheck.evaluate import compile_request, evaluate_host

        if self._request is None:
            base = compile_request(self.policies)
            known = {q.id for q in base.queries}
            extra = [q for q in STORE_QUERIES if q.id not in known]
            self._request = base.model_copy(update={"queries": [*base.queries, *extra]})

        def evaluator(spec: HostSpec, facts: ProbeResponse, now: datetime) -> tuple[list[Finding], Profile | None]:
            done = evaluate_host(self.policies, facts, host_vars=spec.host_vars, now=now, host=spec.name,
                                 groups=tuple(spec.groups))
            return list(done.findings), done.operator

        sweep = Sweep([host], self._request, evaluator, timeout_s=self.options.timeout_s,
                      executor=ThreadExecutor(forks=1, probe=self.probe, clock=self.clock), clock=self.clock)
        return sweep.run().run.hosts[0]

    def _host(self, host: HostSpec, items: list[RenewalItem], data: Mapping[str, bytes],
              secrets: Mapping[int, PfxPassword]) -> None:
        fresh = self._evaluate(host)
        reachable = fresh.status is HostStatus.ok
        for item in items:
            assert item.pfx is not None
            if reachable and fresh.operator_sid and fresh.facts is not None:
                # What the operator holds now beats what the last scan saw (also "nothing").
                item.installed = installed_in_store(fresh.facts, fresh.operator_sid, item.pfx.cn, host.name)
            item.operator, item.operator_sid = fresh.operator, fresh.operator_sid
            if item.installed is not None and item.installed.thumbprint == item.pfx.thumbprint:
                item.state = RenewalState.already_installed
                self._audit_item(item, "skipped", result="already installed")
                continue
            issuer = self.options.issuer or policy_issuer(self.policies) or (
                item.installed.issuer if item.installed is not None else None)
            # Without a fresh look at the operator's store (host down, nobody logged on)
            # the checks against the installed certificate use the latest scan; when even
            # that is unknown they wait for the run that can see the store.
            deferred = item.installed is None and (not reachable or not fresh.operator_sid) and issuer is None
            refusals = [] if deferred else check_renewal(item.pfx, item.installed, issuer)
            if refusals:
                item.refuse(*refusals)
                continue
            if not reachable:
                item.state, item.unreachable = RenewalState.failed, True
                item.notes.append(fresh.error or T("主机无法连接", "host unreachable"))
                continue
            if not fresh.operator_sid:
                item.state = RenewalState.pending
                item.notes.append(T("操作员未登录：登录后再次运行 fleetcheck renew 即可导入",
                                    "the operator is not logged on: run fleetcheck renew again once they are"))
                self._audit_item(item, "skipped", result="pending: no operator logged on")
                continue
            if not self.options.apply:
                continue  # planned
            decision = self._guard(fresh.facts, item)
            if decision is None:
                continue
            self._import(host, item, data[item.file_name], secrets[id(item)], decision)

    def _guard(self, facts: ProbeResponse | None, item: RenewalItem) -> GuardDecision | None:
        decision = self.guard.check(facts)
        if decision.allowed:
            return decision
        if self.options.force:
            item.forced = True
            overridden = decision.summary()
            item.notes.append(T(f"已强制（--force），忽略：{overridden.zh}", f"forced (--force), overriding: {overridden.en}"))
            return decision.override()
        item.state = RenewalState.guard_refused
        item.notes.extend(decision.reasons)
        self._audit_item(item, "refused", result=decision.summary().en)
        return None

    def _import(self, host: HostSpec, item: RenewalItem, pfx_bytes: bytes, password: PfxPassword,
                decision: GuardDecision) -> None:
        assert item.pfx is not None and item.operator_sid is not None
        # The agent's poll must end inside the host deadline: WinRM ending the
        # agent mid-poll leaves the task folder behind (a later run clears it).
        action = ImportPfx(id=f"{self.run_id}-import-{uuid.uuid4().hex[:8]}", sid=item.operator_sid,
                           pfx=base64.b64encode(pfx_bytes).decode("ascii"), password=password.reveal(),
                           timeout_ms=action_wait_ms(self.options.timeout_s, IMPORT_WAIT_MS))
        outcome = self._act(host, [action])
        if isinstance(outcome, Text):
            item.state = RenewalState.failed
            item.notes.append(outcome)
            self._audit_item(item, "failed", action=action, result=outcome.en, forced=decision.forced)
            return
        result = outcome.actions[0] if outcome.actions else None
        if result is None or result.status != "ok":
            error = _masked(result.error if result else "no answer for the import action", password)
            if NO_SESSION_MARK in error.lower():
                item.state = RenewalState.pending
                item.notes.append(T("操作员没有交互式会话（未登录）：登录后再次运行即可导入",
                                    "the operator has no interactive session (not logged on): run again once they are"))
                self._audit_item(item, "skipped", action=action, result="pending: " + error, forced=decision.forced)
            else:
                item.state = RenewalState.failed
                why = explain_action_error(error)
                item.notes.append(T(f"导入失败：{why.zh}", f"import failed: {why.en}"))
                self._audit_item(item, "failed", action=action, result=error, forced=decision.forced)
            return
        item.new_thumbprint = (result.thumbprint or item.pfx.thumbprint).upper()
        self._audit_item(item, "applied", action=action, result="imported",
                         after={"thumbprint": item.new_thumbprint, "not_after": item.pfx.not_after.isoformat()},
                         forced=decision.forced)
        problem = self._verify(host, item)
        if problem is not None:
            item.state = RenewalState.failed
            item.notes.append(problem)
            self._audit_item(item, "failed", result="verification: " + problem.en, forced=decision.forced)
            return
        item.state = RenewalState.installed
        if self.options.remove_old:
            self._remove_old(host, item, decision)

    def _act(self, host: HostSpec, actions: list[Action]) -> ProbeResponse | Text:
        """One write round trip (never retried: a write is not repeated blindly)."""
        try:
            return self.probe(host, ProbeRequest(actions=actions, want_processes=False),
                              Deadline.after(self.options.timeout_s), None)
        except TransportError as exc:
            return exc.text
        except Exception as exc:  # noqa: BLE001 - reported on this item, never a traceback
            return T(f"内部错误 {type(exc).__name__}", f"internal error {type(exc).__name__}")

    def _verify(self, host: HostSpec, item: RenewalItem) -> Text | None:
        """None when a fresh probe shows the new certificate with its key and its findings pass."""
        assert item.pfx is not None
        after = self._evaluate(host)
        if after.status is not HostStatus.ok:
            return T(f"导入后复查失败：{after.error.zh if after.error else '主机无法连接'}",
                     f"re-probe after the import failed: {after.error.en if after.error else 'host unreachable'}")
        seen = holds(after.facts, item.operator_sid or "", item.new_thumbprint or "") if after.facts else None
        if seen is None or after.operator_sid != item.operator_sid:
            return T("复查未在操作员个人证书存储中找到新证书", "re-probe: the new certificate is not in the operator's Personal store")
        if not seen.has_private_key:
            return T("复查：新证书没有关联私钥", "re-probe: the new certificate has no private key")
        failing = [f.check_id for f in after.findings if f.check_type == "certificate"
                   and str(f.details.get("thumbprint") or "").upper() == item.new_thumbprint
                   and f.status is not FindingStatus.passed]
        if failing:
            names = ", ".join(failing)
            return T(f"复查：新证书的检查未通过（{names}）", f"re-probe: checks on the new certificate fail ({names})")
        return None

    def _remove_old(self, host: HostSpec, item: RenewalItem, decision: GuardDecision) -> None:
        old = item.installed.thumbprint if item.installed is not None else None
        if not old or old.upper() == item.new_thumbprint or item.operator_sid is None:
            return
        action = RemoveCert(id=f"{self.run_id}-remove-{uuid.uuid4().hex[:8]}", sid=item.operator_sid,
                            thumbprint=old.upper())
        outcome = self._act(host, [action])
        result = outcome.actions[0] if isinstance(outcome, ProbeResponse) and outcome.actions else None
        if result is None or result.status != "ok":
            why = outcome if isinstance(outcome, Text) else T(
                f"旧证书未删除：{_masked(result.error if result else None, None)}",
                f"the old certificate was not removed: {_masked(result.error if result else None, None)}")
            item.notes.append(why)
            self._audit_item(item, "failed", action=action, result=why.en, forced=decision.forced)
            return
        item.removed_old = old.upper()
        item.notes.append(T(f"旧证书 {old.upper()[:8]}… 已删除（已备份，可回滚）",
                            f"old certificate {old.upper()[:8]}… removed (backed up, can be rolled back)"))
        item.old_backup = {
            "tree": result.before_tree.model_dump(mode="json") if result.before_tree is not None else None,
            "file": result.before_file.model_dump(mode="json") if result.before_file is not None else None,
        }
        self._audit_item(item, "applied", action=action, result="old certificate removed (backup kept)",
                         before={"thumbprint": old.upper(), "backup": "renewals table"}, forced=decision.forced)

    # ------------------------------------------------------------------ audit
    def _audit_item(self, item: RenewalItem, event: str, *, action: Any = None, before: Any = None,
                    after: Any = None, result: str = "", forced: bool = False) -> None:
        if self.audit is None:
            return
        details = {"renewal": True, "file": item.file_name, "cn": item.cn, "operator": item.operator,
                   "pfx_sha256": item.pfx.sha256 if item.pfx else None, "state": item.state.value}
        self.audit.append(self.options.who, item.host or "-", event, action=action, before=before, after=after,
                          result=result, forced=forced, run_id=self.run_id, action_id=getattr(action, "id", None),
                          details=details)

    def _audit_refusals(self, items: list[RenewalItem]) -> None:
        """Validation refusals: nothing touched a host, but the decision is part of the record."""
        for item in items:
            if item.state is RenewalState.refused:
                self._audit_item(item, "refused", result="; ".join(f"{r.code}: {r.reason.en}" for r in item.reasons))


# --------------------------------------------------------------------------- rollback


@dataclass
class RollbackResult:
    record: RenewalRecord
    ok: bool
    message: Text


def _restore_actions(record: RenewalRecord, prefix: str) -> list[Action]:
    assert record.operator_sid is not None
    actions: list[Action] = []
    new = (record.new_thumbprint or "").upper()
    if new and new != (record.old_thumbprint or "").upper():
        actions.append(RemoveCert(id=f"{prefix}-remove", sid=record.operator_sid, thumbprint=new))
    backup = record.old_backup or {}
    if record.removed_old and isinstance(backup.get("tree"), dict):
        actions.append(RestoreKey(id=f"{prefix}-restore-key", hive="HKU", sid=record.operator_sid,
                                  path=f"{REG_STORE}\\{record.removed_old}",
                                  tree=RegKey.model_validate(backup["tree"])))
    file_backup = backup.get("file")
    if record.removed_old and isinstance(file_backup, dict) and file_backup.get("exists") and file_backup.get("content"):
        actions.append(WriteFile(id=f"{prefix}-restore-file", path=str(file_backup["path"]),
                                 content=str(file_backup["content"])))
    return actions


def rollback_renewals(
    run_id: str,
    store: Store,
    inventory: Inventory,
    policies: Sequence[Any],
    *,
    guard: Guard,
    options: RenewalOptions | None = None,
    probe: ProbeFn = probe_host,
    clock: Clock = utc_now,
) -> list[RollbackResult]:
    """Undo the renewals of ``run_id`` (see the module docstring); one result per undone record.

    Of ``options`` only ``force`` (past the guard), ``who`` (audited) and
    ``timeout_s`` count: a rollback always applies.
    """
    given = options or RenewalOptions()
    log = RenewalLog(store)
    records = [r for r in log.for_run(run_id) if r.new_thumbprint and r.state in ("installed", "failed")
               and r.operator_sid]
    helper = Renewal(inventory, list(inventory.hosts), policies, store=store, guard=guard,
                     options=RenewalOptions(apply=True, timeout_s=given.timeout_s, who=given.who),
                     probe=probe, clock=clock)
    rollback = _Rollback(helper, AuditLog(store), log, run_id=run_id, force=given.force, who=given.who)
    return [rollback.one(record) for record in records]


@dataclass
class _Rollback:
    """Undoing the records of one renewal run, one at a time; every outcome is audited."""

    helper: Renewal
    audit: AuditLog
    log: RenewalLog
    run_id: str
    force: bool
    who: str

    def one(self, record: RenewalRecord) -> RollbackResult:
        """Re-probe, guard, restore, verify one record's host; never raises for a host's failure."""
        host = self.helper.inventory.hosts.get(record.host or "")
        if host is None:
            return self._done(record, False, T(f"{record.host} 不在清单中", f"{record.host} is not in the inventory"),
                              "rollback_failed")
        refusal = self._refusal(record, host)
        if refusal is not None:
            text, event = refusal
            return self._done(record, False, text, event)
        actions = _restore_actions(record, f"{self.run_id}-rb-{record.id}")
        failure = self._restore(host, actions) or self._verify(record, host)
        if failure is not None:
            return self._done(record, False, failure, "rollback_failed", actions)
        self.log.mark_rolled_back(record.id)
        return self._done(record, True, T(f"{record.host}：已恢复更新前的证书存储",
                                          f"{record.host}: the certificate store is as before the renewal"),
                          "rolled_back", actions)

    def _refusal(self, record: RenewalRecord, host: HostSpec) -> tuple[Text, str] | None:
        """Why this host may not be rolled back now (text, audit event), or None."""
        fresh = self.helper._evaluate(host)
        if fresh.status is not HostStatus.ok:
            return fresh.error or T("主机无法连接", "host unreachable"), "rollback_failed"
        if fresh.operator_sid != record.operator_sid:
            return T("导入时的操作员未登录：登录后再回滚",
                     "the operator of the import is not logged on: roll back once they are"), "rollback_failed"
        decision = self.helper.guard.check(fresh.facts)
        if not decision.allowed and not self.force:
            return decision.summary(), "refused"
        return None

    def _restore(self, host: HostSpec, actions: list[Action]) -> Text | None:
        """Run the restoring actions; the failure, or None when every action answered ok."""
        outcome = self.helper._act(host, actions)
        if isinstance(outcome, Text):
            return outcome
        bad = [a for a in outcome.actions if a.status != "ok"]
        if bad:
            text = "; ".join(f"{a.id}: {a.error}" for a in bad)
            return T(f"回滚失败：{text}", f"rollback failed: {text}")
        return None

    def _verify(self, record: RenewalRecord, host: HostSpec) -> Text | None:
        """A fresh probe shows the store as before the renewal; else what it still shows."""
        after = self.helper._evaluate(host)
        if after.status is HostStatus.ok and after.facts is not None and record.operator_sid:
            thumbs = {c.thumbprint for c in operator_store(after.facts, record.operator_sid)}
            if record.new_thumbprint and record.new_thumbprint != record.old_thumbprint and record.new_thumbprint in thumbs:
                return T("回滚后复查仍看到新证书", "re-probe after rollback still shows the new certificate")
            if record.removed_old and record.removed_old not in thumbs:
                return T("回滚后复查没有看到恢复的旧证书",
                         "re-probe after rollback does not show the restored old certificate")
        return None

    def _done(self, record: RenewalRecord, ok: bool, text: Text, event: str, action: Any = None) -> RollbackResult:
        self.audit.append(self.who, record.host or "-", event, action=action, result=text.en, forced=self.force,
                          run_id=self.run_id,
                          details={"renewal": True, "cn": record.cn, "file": record.file_name,
                                   "new_thumbprint": record.new_thumbprint, "restored": record.removed_old})
        return RollbackResult(record, ok, text)
