"""SimulatedHost: runs only the shipped bootstrap + agent, answers like Windows
otherwise, persists fixes in state_dir, and offers login/usb/snapshot helpers."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from fleetcheck.agent import agent_script, build_payload, command_line, parse_output
from fleetcheck.agent.contract import (
    DeleteKey,
    ImportPfx,
    PnpQuery,
    ProbeRequest,
    RegistryQuery,
    RegValue,
    RestoreKey,
    SetValue,
)
from fleetcheck.sim import certgen
from fleetcheck.sim.executor import MSG_NO_SESSION, MSG_NO_SESSION_MARK
from fleetcheck.sim.host import STATE_FILE, SimulatedHost
from fleetcheck.sim.image import ImageError

from .conftest import NOW, OPERATOR_SID

ZONES = r"Software\Microsoft\Windows\CurrentVersion\Internet Settings\Zones\2"


def probe(host: SimulatedHost, request: ProbeRequest):  # type: ignore[no-untyped-def]
    exe, args = command_line()
    result = host.run(exe, args, build_payload(request))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.isascii()
    return parse_output(result.stdout.encode("ascii"))


@pytest.fixture
def host() -> SimulatedHost:
    return SimulatedHost.from_image("win10-compliant", {"hostname": "TRADE-PC09"}, NOW)


def test_runs_the_shipped_bootstrap_and_agent(host: SimulatedHost) -> None:
    response = probe(
        host, ProbeRequest(queries=[RegistryQuery(id="z", hive="HKU", path=ZONES, per_user=True)])
    )
    assert response.os.hostname == "TRADE-PC09"
    assert response.os.caption == "Microsoft Windows 10 专业版"  # escaped as \uXXXX on the wire
    assert response.answer("z", OPERATOR_SID).key.value("1803").v == 0  # type: ignore[union-attr]
    assert host.last_work is not None and response.elapsed_ms == round(host.last_work.total_ms)


def test_stdout_is_compact_ascii_json(host: SimulatedHost) -> None:
    exe, args = command_line()
    result = host.run(exe, args, build_payload(ProbeRequest()))
    assert "\\u4e13\\u4e1a\\u7248" in result.stdout  # 专业版
    assert ", " not in result.stdout.split('"caption"')[0]
    assert result.agent_ms == json.loads(result.stdout)["elapsed_ms"]


def test_a_modified_agent_byte_is_refused(host: SimulatedHost) -> None:
    exe, args = command_line()
    agent = bytearray(agent_script())
    agent[len(agent) // 2] ^= 0x01
    body = base64.b64encode(ProbeRequest().model_dump_json().encode())
    payload = base64.b64encode(bytes(agent)) + b"\n" + body + b"\n"
    result = host.run(exe, args, payload)
    assert result.exit_code == 2 and result.stdout == ""
    assert "differs from the shipped agent.ps1" in result.stderr


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"", "expected 2 base64 lines"),
        (b"not base64!\nnope\n", "not base64"),
        (
            base64.b64encode(b"x") + b"\n" + base64.b64encode(b'{"schema_version": 7}') + b"\n",
            "contract",
        ),
    ],
)
def test_payload_errors_exit_2(host: SimulatedHost, payload: bytes, message: str) -> None:
    exe, args = command_line()
    result = host.run(exe, args, payload)
    assert result.exit_code == 2 and message in result.stderr


@pytest.mark.parametrize(
    ("exe", "args", "word"),
    [
        ("ipconfig", [], "ipconfig"),
        ("cmd", ["/c", "dir"], "dir"),
        ("whoami.exe", ["/all"], "whoami.exe"),
    ],
)
def test_other_commands_get_cmds_not_recognized(
    host: SimulatedHost, exe: str, args: list[str], word: str
) -> None:
    result = host.run(exe, args, b"")
    assert result.exit_code == 1 and result.stdout == ""
    assert result.stderr == (
        f"'{word}' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n"
    )


def test_powershell_with_other_arguments_is_refused(host: SimulatedHost) -> None:
    result = host.run("powershell.exe", ["-Command", "Get-Process"], b"")
    assert result.exit_code == 1 and "only the shipped fleetcheck bootstrap" in result.stderr


def test_fixes_persist_across_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "pc09"
    first = SimulatedHost.from_image(
        "win10-zone-flags-wrong", {"hostname": "TRADE-PC09"}, NOW, state_dir=state
    )
    assert (state / STATE_FILE).is_file()
    fix = SetValue(
        id="f",
        hive="HKU",
        sid=OPERATOR_SID,
        path=ZONES,
        name="1004",
        value=RegValue(t="DWORD", v=0),
    )
    probe(first, ProbeRequest(actions=[fix]))
    second = SimulatedHost.from_image(
        "win10-zone-flags-wrong", {"hostname": "other"}, NOW, state_dir=state
    )
    response = probe(
        second, ProbeRequest(queries=[RegistryQuery(id="z", hive="HKU", path=ZONES, per_user=True)])
    )
    assert response.os.hostname == "TRADE-PC09"  # the state wins over a fresh instantiation
    assert response.answer("z", OPERATOR_SID).key.value("1004").v == 0  # type: ignore[union-attr]
    assert second.snapshot() == first.snapshot()


def test_reads_do_not_rewrite_the_state(tmp_path: Path) -> None:
    host = SimulatedHost.from_image("win10-compliant", now=NOW, state_dir=tmp_path)
    stamp = (tmp_path / STATE_FILE).stat().st_mtime_ns
    probe(host, ProbeRequest(queries=[PnpQuery(id="p", vendor_id="096E")]))
    assert (tmp_path / STATE_FILE).stat().st_mtime_ns == stamp


def test_a_damaged_state_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / STATE_FILE).write_text("{not json", encoding="utf-8")
    with pytest.raises(ImageError, match="delete it to start afresh"):
        SimulatedHost.from_image("win10-compliant", now=NOW, state_dir=tmp_path)


def test_a_state_that_is_not_one_names_its_file_in_both_languages(tmp_path: Path) -> None:
    (tmp_path / STATE_FILE).write_text('{"format": "something else"}', encoding="utf-8")
    with pytest.raises(ImageError) as caught:
        SimulatedHost.from_image("win10-compliant", now=NOW, state_dir=tmp_path)
    path = tmp_path / STATE_FILE
    assert str(caught.value) == (
        f"{path}: not a simulator state document (expected format fleetcheck-sim-state/1); "
        "delete it to start afresh"
    )
    assert caught.value.format("zh") == (
        f"{path}: 不是模拟器状态文档（应为格式 fleetcheck-sim-state/1）；删除它即可重新开始"
    )


def test_rollback_gives_an_identical_snapshot(host: SimulatedHost) -> None:
    before = host.snapshot()
    path = r"SOFTWARE\Classes\WOW6432Node\CLSID\{707C7D52-85A8-4584-8954-573EFCE77488}"
    deleted = probe(
        host, ProbeRequest(actions=[DeleteKey(id="d", hive="HKLM", path=path)])
    ).actions[0]
    assert host.snapshot() != before
    probe(
        host,
        ProbeRequest(
            actions=[RestoreKey(id="r", hive="HKLM", path=path, tree=deleted.before_tree)]
        ),
    )  # type: ignore[arg-type]
    assert host.snapshot() == before


def test_login_logout_and_pending_import(tmp_path: Path) -> None:
    host = SimulatedHost.from_image("win10-no-operator", now=NOW, state_dir=tmp_path)
    password = "P@ss-2026-口令"
    data, _cert = certgen.make_pfx(
        certgen.LeafSpec(cn="F00504Y0007#0", days_left=500), NOW, password
    )
    action = ImportPfx(
        id="i", sid=OPERATOR_SID, pfx=base64.b64encode(data).decode(), password=password
    )
    pending = probe(host, ProbeRequest(actions=[action]))
    assert pending.actions[0].error == MSG_NO_SESSION.format(sid=OPERATOR_SID)
    assert MSG_NO_SESSION_MARK in (pending.actions[0].error or "")
    assert not any(p.console for p in pending.profiles)
    host.login("TRADE\\交易员01")
    done = probe(host, ProbeRequest(actions=[action]))
    assert done.actions[0].status == "ok" and done.actions[0].thumbprint
    assert [p.user for p in done.profiles if p.console and p.interactive] == ["TRADE\\交易员01"]
    state_text = (tmp_path / STATE_FILE).read_text(encoding="utf-8")
    assert password not in state_text and done.actions[0].thumbprint in state_text  # type: ignore[operator]
    host.logout(OPERATOR_SID)
    after = probe(
        host, ProbeRequest(queries=[RegistryQuery(id="z", hive="HKU", path=ZONES, per_user=True)])
    )
    assert after.answer("z", OPERATOR_SID) is None  # hive unloaded: no answer for that user
    with pytest.raises(KeyError):
        host.login("TRADE\\nobody")


def test_plug_and_unplug_tokens(host: SimulatedHost) -> None:
    first = "USB\\VID_096E&PID_0807\\5&2A3F1C0&0&2"
    second = "USB\\VID_096E&PID_0807\\5&99&0&4"
    second_child = "USB\\VID_096E&PID_0807&MI_00\\6&77&0&0000"
    host.plug_usb(second)
    host.plug_usb(second_child)
    query = ProbeRequest(queries=[PnpQuery(id="p", vendor_id="096E")])
    assert len(probe(host, query).answer("p").devices) == 4  # type: ignore[union-attr]
    host.unplug(first)
    devices = probe(host, query).answer("p").devices  # type: ignore[union-attr]
    # the first token's child went with it
    assert [d.device_id for d in devices] == [second, second_child]
    host.unplug(second)
    assert probe(host, query).answer("p").devices == []  # type: ignore[union-attr]


def test_snapshot_is_a_deep_copy(host: SimulatedHost) -> None:
    snap = host.snapshot()
    snap["usb_devices"].clear()
    assert host.snapshot()["usb_devices"]


def test_reboot_clears_the_schedule_and_keeps_the_session(host: SimulatedHost) -> None:
    from fleetcheck.agent.contract import ScheduleReboot

    scheduled = probe(host, ProbeRequest(actions=[ScheduleReboot(id="r", delay_s=60)]))
    assert scheduled.actions[0].status == "ok" and host.image.scheduled_reboots
    assert scheduled.os.pending_reboot is False  # a task that reboots later sets no pending-reboot marker
    host.reboot()
    after = probe(host, ProbeRequest())
    assert after.os.pending_reboot is False and host.image.scheduled_reboots == []
    assert [p.user for p in after.profiles if p.console] == ["TRADE\\交易员01"]
    again = probe(host, ProbeRequest(actions=[ScheduleReboot(id="r", delay_s=60)]))
    assert again.actions[0].status == "ok"
