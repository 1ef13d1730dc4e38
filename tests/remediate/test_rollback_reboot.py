"""Rollback of a ``schedule_reboot`` change: the reboot is cancelled while it has not happened.

The write-ahead record names the task (``after.task``, ``\\fleetcheck-reboot-<32 hex>``)
before the agent receives anything; rollback sends ``cancel_reboot`` for it.
A reboot that ran (its ``result.txt`` says ``REBOOTING``) cannot be undone: it
is reported ``skipped`` with a bilingual reason, never "restored". A row whose
task name is not a fleetcheck name is never acted on.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pydantic
import pytest

from fleetcheck.agent.contract import CancelReboot, ScheduleReboot
from fleetcheck.remediate.apply import recorded_reboot_task
from fleetcheck.remediate.rollback import NO_REBOOT_TASK, rollback_host, undo_action
from fleetcheck.sim.host import SimulatedHost
from fleetcheck.store import Store
from fleetcheck.store.audit import AuditLog, ChangeLog, ChangeRecord

from .test_write_ahead import IMAGE, NOW, SPEC, VARS, plan_for, probe_of, remediator

TASK = re.compile(r"\\fleetcheck-reboot-[0-9a-f]{32}")


@pytest.fixture()
def sim(tmp_path: Path) -> SimulatedHost:
    """The write-ahead PC: its plan deletes a stale CertEnroll registration and schedules a reboot."""
    image = tmp_path / "wa.yaml"
    image.write_text(IMAGE, encoding="utf-8")
    return SimulatedHost.from_image(str(image), VARS, NOW)


def _apply(sim: SimulatedHost, db: Path) -> tuple[Store, list[ChangeRecord]]:
    scan, plan, policies = plan_for(sim)
    assert any(isinstance(a, ScheduleReboot) for a in plan.actions)
    store = Store.open(f"sqlite:///{db}")
    result = remediator(store, policies, probe_of(sim)).apply_host(SPEC, scan, plan)
    assert result.status == "fixed", [(o.step.check_id, o.status, o.error) for o in result.steps]
    return store, ChangeLog(store).for_host(SPEC.name)


def _reboot_row(records: list[ChangeRecord]) -> ChangeRecord:
    [row] = [r for r in records if r.kind == "schedule_reboot"]
    return row


def test_the_change_row_names_the_task_the_agent_registered(sim: SimulatedHost, tmp_path: Path) -> None:
    store, records = _apply(sim, tmp_path / "name.db")
    with store:
        row = _reboot_row(records)
        task = recorded_reboot_task(row)
        assert task is not None and TASK.fullmatch(task)
        assert row.action["token"] == task.rsplit("-", 1)[1]  # chosen before sending, sent as data
        assert task in sim.image.scheduled_tasks and sim.image.scheduled_reboots[0]["task"] == task


def test_rollback_cancels_a_reboot_that_has_not_happened(sim: SimulatedHost, tmp_path: Path) -> None:
    before = sim.snapshot()
    store, records = _apply(sim, tmp_path / "cancel.db")
    with store:
        task = recorded_reboot_task(_reboot_row(records))
        assert task is not None
        audit, changes = AuditLog(store), ChangeLog(store)
        undone = rollback_host(SPEC, records, audit, changes, who="tester", probe=probe_of(sim))
        assert undone.ok and _reboot_row(records).action_id in undone.restored, (undone.failed, undone.skipped)
        assert sim.snapshot() == before  # task, folder, files, schedule: all gone
        [entry] = [e for e in audit.entries() if e.event == "rolled_back" and e.action_id == _reboot_row(records).action_id]
        assert entry.action is not None and entry.action["kind"] == "cancel_reboot" and entry.action["task"] == task
        assert audit.verify() == []


def test_a_reboot_that_skipped_for_a_trading_client_is_cancelled_too(sim: SimulatedHost, tmp_path: Path) -> None:
    before = sim.snapshot()
    store, records = _apply(sim, tmp_path / "skipped.db")
    with store:
        sim.start_process("XtItClient.exe")
        [(_task, line)] = sim.time_reaches(NOW + timedelta(days=1))
        assert line.startswith("SKIPPED")  # no reboot happened: its leftovers can go
        sim.stop_process("XtItClient.exe")
        sim.image.now = NOW  # the clock moving on is not a change of the fix's
        undone = rollback_host(SPEC, records, AuditLog(store), ChangeLog(store), who="tester", probe=probe_of(sim))
        assert undone.ok and _reboot_row(records).action_id in undone.restored
        assert sim.snapshot() == before


def test_a_reboot_that_happened_is_reported_as_not_undone(sim: SimulatedHost, tmp_path: Path) -> None:
    store, records = _apply(sim, tmp_path / "ran.db")
    with store:
        [(task, line)] = sim.time_reaches(NOW + timedelta(days=1))
        assert line.startswith("REBOOTING")
        audit = AuditLog(store)
        undone = rollback_host(SPEC, records, audit, ChangeLog(store), who="tester", probe=probe_of(sim))
        aid = _reboot_row(records).action_id
        assert aid not in undone.restored and aid not in undone.failed
        why = undone.skipped[aid]
        assert "cannot be undone" in why.en and "REBOOTING" in why.en and "无法撤销" in why.zh
        assert task in sim.image.scheduled_tasks  # nothing touched: the record of what ran stays
        assert undone.ok  # every other change was restored
        [entry] = [e for e in audit.entries() if e.action_id == aid and e.event in ("skipped", "rolled_back")]
        assert entry.event == "skipped" and "cannot be undone" in entry.result
        again = ChangeLog(store).for_host(SPEC.name)
        assert {r.status for r in again if r.action_id == aid} == {"applied"}  # not marked rolled back


def test_a_row_with_a_name_that_is_not_a_fleetcheck_task_is_never_acted_on(sim: SimulatedHost,
                                                                        tmp_path: Path) -> None:
    store, records = _apply(sim, tmp_path / "forged.db")
    with store:
        row = _reboot_row(records)
        for forged in ("\\Microsoft\\Windows\\Defrag\\ScheduledDefrag", "\\fleetcheck-reboot-" + "A" * 32,
                       "\\fleetcheck-reboot-" + "a" * 32 + "\n", "\\fleetcheck-reboot-" + "a" * 31 + "' ; x"):
            row.after = {"task": forged}
            assert recorded_reboot_task(row) is None and undo_action(row) is None
        audit = AuditLog(store)
        undone = rollback_host(SPEC, [row], audit, ChangeLog(store), who="tester", probe=probe_of(sim))
        assert undone.skipped[row.action_id] == NO_REBOOT_TASK
        assert sim.image.scheduled_reboots  # the real task was not touched
        assert all(e.action is None or e.action.get("kind") != "cancel_reboot" for e in audit.entries())


def test_cancel_reboot_refuses_any_other_task_name() -> None:
    CancelReboot(id="c", task="\\fleetcheck-reboot-" + "0" * 32)
    for bad in ("fleetcheck-reboot-" + "0" * 32, "\\fleetcheck-reboot-" + "0" * 32 + "\n",
                "\\fleetcheck-import-" + "0" * 32, "\\fleetcheck-reboot-" + "0" * 32 + "\\..\\x"):
        with pytest.raises(pydantic.ValidationError):
            CancelReboot(id="c", task=bad)
    with pytest.raises(pydantic.ValidationError):
        ScheduleReboot(id="r", delay_s=60, token="$(calc)" + "0" * 25)
