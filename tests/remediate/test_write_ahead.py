"""Write-ahead changes (issue 13, finding 2), against the simulator's executor in process.

* before the agent receives a write, the store durably holds the exact prior
  state from a fresh read (value with its type and the key the fix creates,
  the whole key tree for delete_key, file content with its hash for
  write_file) and the audit log a ``sent`` entry per change;
* a connection lost after the PC acted: the changes are ``unknown``, audited,
  and rollback restores the PC exactly from the write-ahead record;
* a record without a prior state (written before write-ahead existed) is never
  "undone" by guessing (the old code deleted a site list that existed);
* a key tree deeper than the agent backs up is not sent at all.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from fleetcheck.agent import build_payload, command_line, parse_output
from fleetcheck.agent.contract import DeleteKey, ProbeRequest, ProbeResponse, RegKey, WriteFile
from fleetcheck.i18n import T
from fleetcheck.inventory.model import HostSpec
from fleetcheck.policy.loader import load_policies, shipped_policy_paths
from fleetcheck.remediate.apply import Remediator
from fleetcheck.remediate.guard import Guard, TradingCalendar
from fleetcheck.remediate.plan import DEFAULT_SITE_LIST, FixStep, HostPlan, plan_host
from fleetcheck.remediate.rollback import NO_PRIOR_STATE, rollback_host
from fleetcheck.runner import policy_sweep
from fleetcheck.sim.host import SimulatedHost
from fleetcheck.store import Store
from fleetcheck.store.audit import AuditLog, ChangeLog, ChangeRecord
from fleetcheck.transport import Deadline, Unreachable

NOW = datetime(2026, 3, 4, 8, 0, tzinfo=timezone.utc)  # 16:00 in Shanghai, after the close
OLD_SITE_LIST = b'<site-list version="2"><site url="intranet.example.cn"><open-in>IE11</open-in></site></site-list>'
IMAGE = f"""\
description: write-ahead PC - no Edge policy key, an older site list at the fix's path, old CertEnroll
extends: win10-certenroll-old
registry:
  'SOFTWARE\\Policies\\Microsoft\\Edge': null
files:
  'C:\\ProgramData\\fleetcheck\\sccc-sites.xml':
    content: '{OLD_SITE_LIST.decode()}'
"""
VARS = {"hostname": "WA-01", "operator_name": "交易员01", "operator": "TRADE\\交易员01",
        "operator_sid": "S-1-5-21-1004336348-1177238915-682003330-1001", "gateway_cert": "F00504Y0001#0",
        "cert_kind": "file"}
SPEC = HostSpec(name="WA-01", address="127.0.0.1")
Probe = Callable[[HostSpec, ProbeRequest, Deadline, Any], ProbeResponse]


@pytest.fixture()
def sim(tmp_path: Path) -> SimulatedHost:
    image = tmp_path / "wa.yaml"
    image.write_text(IMAGE, encoding="utf-8")
    return SimulatedHost.from_image(str(image), VARS, NOW)


def probe_of(sim: SimulatedHost) -> Probe:
    exe, args = command_line()

    def probe(host: HostSpec, request: ProbeRequest, deadline: Deadline, cancel: Any) -> ProbeResponse:
        out = sim.run(exe, args, build_payload(request))
        assert out.exit_code == 0, out.stderr
        return parse_output(out.stdout.encode("ascii"))

    return probe


def plan_for(sim: SimulatedHost) -> tuple[Any, HostPlan, list[Any]]:
    policies = load_policies(shipped_policy_paths())
    scan = policy_sweep(policies, [SPEC], probe=probe_of(sim), timeout_s=10, clock=lambda: NOW).run().run.hosts[0]
    assert scan.facts is not None, scan.error
    plan = plan_host(scan.findings, scan.facts, policies, host=SPEC.name, now=NOW)
    return scan, plan, policies


def remediator(store: Store, policies: list[Any], probe: Probe) -> Remediator:
    guard = Guard(TradingCalendar(), ("XtItClient.exe",), clock=lambda: NOW)
    return Remediator(policies, AuditLog(store), ChangeLog(store), guard, who="tester", probe=probe, clock=lambda: NOW)


def test_the_exact_prior_state_is_durable_before_the_agent_receives_a_write(sim: SimulatedHost,
                                                                           tmp_path: Path) -> None:
    scan, plan, policies = plan_for(sim)
    kinds = {a.kind for a in plan.actions}
    assert {"set_value", "write_file", "delete_key"} <= kinds, kinds
    db = f"sqlite:///{tmp_path / 'wa.db'}"
    real = probe_of(sim)
    seen: dict[str, Any] = {}

    def probe(host: HostSpec, request: ProbeRequest, deadline: Deadline, cancel: Any) -> ProbeResponse:
        if request.actions and not seen:
            # The moment the agent would receive the writes: read what another process would find.
            with Store.open(db) as other:
                seen["rows"] = {r.action_id: r for r in ChangeLog(other).for_host(SPEC.name)}
                seen["audit"] = [(e.event, e.action_id) for e in AuditLog(other).entries()]
            seen["snapshot"] = sim.snapshot()
            seen["trees"] = {}
            for action in request.actions:
                if isinstance(action, DeleteKey):
                    profile = sim.image.profile(action.sid) if action.sid else None
                    root = profile.hive if profile is not None else sim.image.hklm
                    node = root.find(action.path)
                    seen["trees"][action.id] = node.to_regkey(8) if node is not None else None
        return real(host, request, deadline, cancel)

    with Store.open(db) as store:
        result = remediator(store, policies, probe).apply_host(SPEC, scan, plan)
    assert result.status == "fixed", [(o.step.check_id, o.status, o.error) for o in result.steps]
    rows: dict[str, ChangeRecord] = seen["rows"]
    assert {r.status for r in rows.values()} == {"pending"} and len(rows) == len(plan.actions)
    assert sorted(seen["audit"]) == sorted(("sent", aid) for aid in rows)
    snap = seen["snapshot"]
    for record in rows.values():
        before = record.before or {}
        if record.kind == "write_file":
            old = {k.lower(): v for k, v in snap["files"].items()}[DEFAULT_SITE_LIST.lower()]
            assert before["file"]["exists"] is True
            assert base64.b64decode(before["file"]["content"]) == OLD_SITE_LIST == base64.b64decode(old["content_b64"])
            assert before["file"]["sha256"] == hashlib.sha256(OLD_SITE_LIST).hexdigest()
        elif record.kind == "delete_key":
            tree = RegKey.model_validate(before["tree"])
            assert tree.subkeys, record.action  # the whole CLSID tree, InprocServer32 and all
            assert tree == seen["trees"][record.action_id]
        elif record.kind == "set_value" and "Policies\\Microsoft\\Edge" in str(record.action["path"]):
            assert before["value"] is None and before["created_key"] == "SOFTWARE\\Policies\\Microsoft\\Edge"


def test_connection_lost_after_the_pc_acted_rollback_restores_exactly(sim: SimulatedHost, tmp_path: Path) -> None:
    scan, plan, policies = plan_for(sim)
    before = sim.snapshot()
    real = probe_of(sim)

    def probe(host: HostSpec, request: ProbeRequest, deadline: Deadline, cancel: Any) -> ProbeResponse:
        answer = real(host, request, deadline, cancel)
        if request.actions:
            raise Unreachable(T("连接被重置", "connection reset"))  # the PC acted; its answer is lost
        return answer

    with Store.open(f"sqlite:///{tmp_path / 'lost.db'}") as store:
        result = remediator(store, policies, probe).apply_host(SPEC, scan, plan)
        assert result.status == "error"
        changes, audit = ChangeLog(store), AuditLog(store)
        records = changes.for_host(SPEC.name)
        assert {r.status for r in records} == {"unknown"}
        events = [(e.event, e.action_id) for e in audit.entries()]
        assert {aid for ev, aid in events if ev == "unknown"} == {r.action_id for r in records}
        assert sim.snapshot() != before  # the writes did happen

        undone = rollback_host(SPEC, records, audit, changes, who="tester", probe=real)
        assert undone.ok, (undone.failed, undone.error)
        assert sim.snapshot() == before
        confirmed = {e.action_id: e.result for e in audit.entries() if e.event == "confirmed"}
        assert confirmed and set(confirmed.values()) == {"the change is on the PC"}
        assert audit.verify() == []


def test_a_record_without_prior_state_is_never_undone_by_guessing(sim: SimulatedHost, tmp_path: Path) -> None:
    before = sim.snapshot()
    assert DEFAULT_SITE_LIST.lower() in {p.lower() for p in before["files"]}
    legacy = [
        ChangeRecord(action_id="old-1", run_id="old", position=0, host=SPEC.name, check_id="p/portal-ie-mode",
                     kind="write_file", action=WriteFile(id="old-1", path=DEFAULT_SITE_LIST, content="").model_dump(),
                     before=None, after=None, status="pending", who="tester"),
        ChangeRecord(action_id="old-2", run_id="old", position=1, host=SPEC.name, check_id="p/certenroll",
                     kind="delete_key",
                     action=DeleteKey(id="old-2", hive="HKLM", path="SOFTWARE\\Classes\\CLSID\\{x}").model_dump(),
                     before=None, after=None, status="pending", who="tester"),
    ]
    with Store.open(f"sqlite:///{tmp_path / 'legacy.db'}") as store:
        changes, audit = ChangeLog(store), AuditLog(store)
        for record in legacy:
            changes.record(record)
        result = rollback_host(SPEC, changes.for_run("old"), audit, changes, who="tester", probe=probe_of(sim))
        assert set(result.failed) == {"old-1", "old-2"} and not result.restored
        assert all(why == NO_PRIOR_STATE for why in result.failed.values())
        assert sim.snapshot() == before  # the site list that existed is still there
        # The absent key is confirmed as deleted; neither change is "restored" without a prior state.
        assert [e.event for e in audit.entries() if e.event != "confirmed"] == ["rollback_failed", "rollback_failed"]


def test_a_key_tree_too_deep_to_back_up_is_not_sent(sim: SimulatedHost, tmp_path: Path) -> None:
    scan, _, policies = plan_for(sim)
    deep = "SOFTWARE\\fleetcheck-test\\" + "\\".join(f"k{i}" for i in range(12))
    sim.image.hklm.ensure(deep)
    before = sim.snapshot()
    step = FixStep("p", "deep", T("删除", "delete"), (DeleteKey(id="d", hive="HKLM", path="SOFTWARE\\fleetcheck-test"),),
                   (T("删除", "delete"),))
    plan = HostPlan(SPEC.name, None, (step,))
    real = probe_of(sim)
    sent: list[ProbeRequest] = []

    def probe(host: HostSpec, request: ProbeRequest, deadline: Deadline, cancel: Any) -> ProbeResponse:
        sent.append(request)
        return real(host, request, deadline, cancel)

    with Store.open(f"sqlite:///{tmp_path / 'deep.db'}") as store:
        result = remediator(store, policies, probe).apply_host(SPEC, scan, plan)
        assert result.status == "failed" and result.steps[0].status == "failed"
        assert result.steps[0].error is not None and "not sent" in result.steps[0].error.en
        assert not any(r.actions for r in sent)
        assert ChangeLog(store).for_host(SPEC.name) == [] and AuditLog(store).entries() == []
    assert sim.snapshot() == before
