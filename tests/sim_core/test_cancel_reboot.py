"""The simulator's cancel_reboot, as agent.ps1's Invoke-CancelReboot does it (rollback of schedule_reboot)."""

from __future__ import annotations

from datetime import timedelta

from fleetcheck.agent import build_payload, command_line, parse_output
from fleetcheck.agent.contract import CancelReboot, ProbeRequest, ProbeResponse, ScheduleReboot
from fleetcheck.sim.executor import MSG_REBOOT_NOT_FOUND, MSG_REBOOT_RAN
from fleetcheck.sim.host import SimulatedHost

from .conftest import NOW

TOKEN = "0123456789abcdef0123456789abcdef"
TASK = "\\fleetcheck-reboot-" + TOKEN


def probe(host: SimulatedHost, request: ProbeRequest) -> ProbeResponse:
    exe, args = command_line()
    out = host.run(exe, args, build_payload(request))
    assert out.exit_code == 0, out.stderr
    return parse_output(out.stdout.encode("ascii"))


def schedule(host: SimulatedHost) -> None:
    done = probe(host, ProbeRequest(actions=[ScheduleReboot(id="r", delay_s=600, token=TOKEN,
                                                            guard_processes=["TdxW.exe"])]))
    assert (done.actions[0].status, done.actions[0].task) == ("ok", TASK)  # the controller's name, reported


def test_cancelling_a_waiting_reboot_leaves_the_pc_as_before() -> None:
    host = SimulatedHost.from_image("win10-compliant", {"hostname": "PC1"}, NOW)
    before = host.snapshot()
    schedule(host)
    scheduled = host.snapshot()
    assert TASK in scheduled["scheduled_tasks"] and scheduled["scheduled_reboots"]
    assert any(TOKEN in d for d in scheduled["dirs"]) and any(TOKEN in d for d in scheduled["dir_created"])
    assert scheduled["os"]["pending_reboot"] is False  # scheduling sets no pending-reboot marker
    done = probe(host, ProbeRequest(actions=[CancelReboot(id="c", task=TASK)]))
    assert (done.actions[0].status, done.actions[0].changed, done.actions[0].task) == ("ok", True, TASK)
    assert host.snapshot() == before  # task, folder, guard.txt, message.txt, schedule entry: gone
    assert host.time_reaches(NOW + timedelta(hours=1)) == []  # nothing left to run


def test_a_reboot_that_ran_is_not_touched() -> None:
    host = SimulatedHost.from_image("win10-compliant", {"hostname": "PC1"}, NOW)
    schedule(host)
    [(_task, line)] = host.time_reaches(NOW + timedelta(minutes=10))
    assert line.startswith("REBOOTING")
    after_reboot = host.snapshot()
    done = probe(host, ProbeRequest(actions=[CancelReboot(id="c", task=TASK)]))
    assert done.actions[0].status == "skipped" and not done.actions[0].changed
    assert done.actions[0].error == MSG_REBOOT_RAN.format(line=line)
    assert host.snapshot() == after_reboot


def test_a_reboot_that_skipped_is_cleaned_up() -> None:
    host = SimulatedHost.from_image("win10-compliant", {"hostname": "PC1"}, NOW)
    before = host.snapshot()
    schedule(host)
    host.start_process("TdxW.exe")
    [(_task, line)] = host.time_reaches(NOW + timedelta(minutes=10))
    assert line.startswith("SKIPPED")
    host.stop_process("TdxW.exe")
    done = probe(host, ProbeRequest(actions=[CancelReboot(id="c", task=TASK)]))
    assert done.actions[0].status == "ok"
    after = host.snapshot()
    assert {k: v for k, v in after.items() if k != "now"} == {k: v for k, v in before.items() if k != "now"}


def test_a_task_that_is_not_there_is_reported_not_found() -> None:
    host = SimulatedHost.from_image("win10-compliant", {"hostname": "PC1"}, NOW)
    before = host.snapshot()
    done = probe(host, ProbeRequest(actions=[CancelReboot(id="c", task=TASK)]))
    assert (done.actions[0].status, done.actions[0].error) == ("skipped", MSG_REBOOT_NOT_FOUND)
    assert host.snapshot() == before
