"""The agent's write actions and the simulator's model of them, as Windows behaves
(issue 12, findings 5, 6, 7, 8 and 11).

Each test names the Windows rule it holds the simulator (and, where a static
reading can, the shipped agent.ps1) to; the sources are listed in
docs/windows-semantics.md.
"""

from __future__ import annotations

import base64
import json
import math
import re
from datetime import timedelta
from pathlib import Path

import pytest
from xdist_support import run_octet

from fleetcheck.agent import agent_script, parse_output
from fleetcheck.agent.budget import action_wait_ms, explain_action_error
from fleetcheck.agent.contract import (
    DirQuery,
    FileQuery,
    ImportPfx,
    ProbeRequest,
    ProbeResponse,
    RegistryQuery,
    RemoveCert,
    RunInstaller,
    ScheduleReboot,
    WriteFile,
)
from fleetcheck.sim import certgen, executor
from fleetcheck.sim.executor import (
    MAX_BACKUP_BYTES,
    agent_json,
    execute,
    start_import_task,
    task_launch,
)
from fleetcheck.sim.host import SimulatedHost
from fleetcheck.sim.image import HostImage, SimFile, instantiate
from fleetcheck.transport.session import MAX_OUTPUT_BYTES

from .conftest import NOW, OPERATOR_SID

AGENT = agent_script().decode("utf-8")
PFX_PASSWORD = "Renew-2026!口令"
TEMP = "C:\\Windows\\Temp"
UNINSTALL = r"SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\SlowTool"


def run(image: HostImage, *queries: object, actions: tuple[object, ...] = (), delegated: bool = False) -> ProbeResponse:
    request = ProbeRequest(queries=list(queries), actions=list(actions))  # type: ignore[arg-type]
    response, _work = execute(image, request, delegated=delegated)
    return ProbeResponse.model_validate_json(response.model_dump_json())


def overlay(text: str) -> HostImage:
    return instantiate("extends: win10-compliant\n" + text, now=NOW)


def function_body(name: str) -> str:
    start = AGENT.index(f"function {name} {{")
    end = AGENT.find("\nfunction ", start + 1)
    return AGENT[start : end if end > 0 else len(AGENT)]


def here_string(name: str) -> str:
    found = re.search(rf"^\${name} = @'\r?\n(.*?)\r?\n'@", AGENT, re.MULTILINE | re.DOTALL)
    assert found, f"agent.ps1 has no here-string ${name}"
    return found.group(1)


def fleetcheck_leftovers(image: HostImage) -> list[str]:
    temp = TEMP.lower() + "\\fleetcheck-"
    return sorted(
        [d for d in image.dirs if d.startswith(temp)]
        + [f for f in image.files if f.startswith(temp)]
        + list(image.scheduled_tasks)
    )


def pfx_b64() -> str:
    data, _cert = certgen.make_pfx(certgen.LeafSpec(cn="F00504Y0007#0", days_left=565), NOW, PFX_PASSWORD)
    return base64.b64encode(data).decode()


# --------------------------------------------------------------------------- 5. execution policy


def test_the_import_task_runs_its_script_as_an_encoded_command() -> None:
    """A Group Policy execution policy overrides -ExecutionPolicy for -File, not for -EncodedCommand."""
    body = "\n".join(line for line in function_body("New-ImportTaskXml").splitlines() if not line.lstrip().startswith("#"))
    assert "-EncodedCommand" in body and "-File" not in body
    assert task_launch("New-ImportTaskXml") == "encoded"
    # The script is fixed text, not request data, and fits any command line.
    script = here_string("ImportTaskScript").replace("\r\n", "\n").replace("\n", "\r\n")
    encoded = base64.b64encode(script.encode("utf-16-le")).decode()
    arguments = "-NoProfile -NonInteractive -WindowStyle Hidden -EncodedCommand " + encoded
    assert len("powershell.exe " + arguments) < 32767  # CreateProcess lpCommandLine
    assert len(encoded) < 8191  # and, with room to spare, under cmd.exe's limit too
    assert "Get-Field" not in script and "$Action" not in script  # no request data in the script


@pytest.mark.parametrize("policy", ["AllSigned", "Restricted"])
def test_a_group_policy_execution_policy_stops_a_file_script_but_not_an_encoded_command(
    policy: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = overlay(f"execution_policy_gpo: {policy}\n")
    action = ImportPfx(id="i", sid=OPERATOR_SID, pfx=pfx_b64(), password=PFX_PASSWORD, timeout_ms=5000)
    ok = run(image, actions=(action,)).actions[0]
    assert (ok.status, ok.changed) == ("ok", True)  # the shipped agent: -EncodedCommand
    # The agent as it was (task started with -File import.ps1): the script never runs.
    old = AGENT.replace(
        "-EncodedCommand ' + (Get-EncodedCommand $ImportTaskScript)", "-File ' + (ConvertTo-CommandLineArgument $ScriptPath)"
    )
    assert old != AGENT
    monkeypatch.setattr(executor, "agent_source", lambda: old)
    again = overlay(f"execution_policy_gpo: {policy}\n")
    failed = run(again, actions=(action,)).actions[0]
    assert (failed.status, failed.error) == ("error", "the import task did not finish within 5000 ms")
    assert fleetcheck_leftovers(again) == []  # the agent's finally: task and folder gone


def test_remote_signed_does_not_stop_a_script_written_on_the_pc(monkeypatch: pytest.MonkeyPatch) -> None:
    """RemoteSigned asks for a signature only on files from the internet (mark of the web)."""
    old = AGENT.replace("-EncodedCommand ' + (Get-EncodedCommand $ImportTaskScript)", "-File ' + $x")
    monkeypatch.setattr(executor, "agent_source", lambda: old)
    image = overlay("execution_policy_gpo: RemoteSigned\n")
    action = ImportPfx(id="i", sid=OPERATOR_SID, pfx=pfx_b64(), password=PFX_PASSWORD)
    assert run(image, actions=(action,)).actions[0].status == "ok"


# --------------------------------------------------------------------------- 6. installers


SLOW_INSTALLER = """installers:
  'C:\\Windows\\Temp\\SlowTool-Setup.exe':
    duration_ms: 200000
    uninstall: {SlowTool: {DisplayName: Slow Tool, DisplayVersion: "1.0"}}
  'C:\\Windows\\Temp\\QuickTool-Setup.exe':
    duration_ms: 2000
    uninstall: {QuickTool: {DisplayName: Quick Tool, DisplayVersion: "1.0"}}
"""


def uninstall_entry(image: HostImage, name: str) -> bool:
    query = RegistryQuery(id="u", hive="HKLM", path=UNINSTALL.replace("SlowTool", name))
    answer = run(image, query).answer("u")
    return answer is not None and answer.status == "ok"


def test_an_installer_outliving_the_wait_is_ended_with_the_shell_and_changes_nothing() -> None:
    """WinRM ends a shell's processes when the shell is deleted: effects only when it completed."""
    image = overlay(SLOW_INSTALLER)
    slow = run(image, actions=(RunInstaller(id="s", path=TEMP + "\\SlowTool-Setup.exe", timeout_ms=90000),))
    result = slow.actions[0]
    assert result.status == "error" and "WinRM ends it with this command's shell" in (result.error or "")
    assert not uninstall_entry(image, "SlowTool")
    quick = run(image, actions=(RunInstaller(id="q", path=TEMP + "\\QuickTool-Setup.exe", timeout_ms=90000),))
    assert quick.actions[0].status == "ok" and uninstall_entry(image, "QuickTool")


def test_an_installer_on_a_share_needs_delegated_credentials() -> None:
    """NTLM/Basic logons have no network credentials (the second hop); CredSSP/Kerberos delegation do."""
    image = instantiate("win10-no-feitian-driver", now=NOW)
    action = RunInstaller(id="i", path=r"\\fileserver\soft\ePass2003-Setup.exe", args=["/S"])
    denied = run(image, actions=(action,)).actions[0]
    assert denied.status == "error" and not denied.changed
    assert "second hop" in (denied.error or "") and "copy the installer to the PC first" in (denied.error or "")
    text = explain_action_error(denied.error or "")
    assert "第二跳" in text.zh and "复制到该电脑本地" in text.zh and "CredSSP" in text.en
    assert run(image, actions=(action,), delegated=True).actions[0].status == "ok"


def test_files_on_a_share_read_as_absent_without_delegation() -> None:
    image = overlay("files:\n  '\\\\fileserver\\soft\\sites.xml': {content: '<site-list/>'}\n")
    query = FileQuery(id="f", path=r"\\fileserver\soft\sites.xml", content=True)
    assert run(image, query).answer("f").status == "absent"  # type: ignore[union-attr]
    seen = run(image, query, delegated=True).answer("f")
    assert seen is not None and seen.status == "ok" and seen.file is not None and seen.file.content_bytes() == b"<site-list/>"
    folder = DirQuery(id="d", path=r"\\fileserver\soft")
    assert run(image, folder).answer("d").status == "absent"  # type: ignore[union-attr]
    assert run(image, folder, delegated=True).answer("d").status == "ok"  # type: ignore[union-attr]


def test_the_simulated_winrm_service_never_delegates() -> None:
    host = SimulatedHost.from_image("win10-no-feitian-driver", {"hostname": "PC1"}, NOW)
    from fleetcheck.agent import build_payload, command_line

    exe, args = command_line()
    action = RunInstaller(id="i", path=r"\\fileserver\soft\ePass2003-Setup.exe")
    out = host.run(exe, args, build_payload(ProbeRequest(actions=[action])))
    assert "second hop" in (parse_output(out.stdout.encode()).actions[0].error or "")
    host.delegated_credentials = True  # as a CredSSP session would be
    out = host.run(exe, args, build_payload(ProbeRequest(actions=[action])))
    assert parse_output(out.stdout.encode()).actions[0].status == "ok"


def test_the_agents_wait_ends_inside_the_host_deadline() -> None:
    assert action_wait_ms(120, 600_000) == 90_000
    assert action_wait_ms(3600, 600_000) == 600_000
    assert action_wait_ms(5, 60_000) == 5000


def test_the_agent_says_second_hop_instead_of_not_found() -> None:
    body = function_body("Invoke-RunInstaller")
    assert "StartsWith('\\\\')" in body and "second hop" in body
    assert body.index("second hop") < body.index("'installer not found: '")


# --------------------------------------------------------------------------- 7. backups


def test_the_backup_cap_fits_the_transport_output_cap() -> None:
    base64_size = 4 * math.ceil(MAX_BACKUP_BYTES / 3)
    assert base64_size + 4 * 1024 * 1024 <= MAX_OUTPUT_BYTES  # 4 MiB left for everything else
    assert re.search(rf"^\$MaxBackupBytes = {MAX_BACKUP_BYTES}$", AGENT, re.MULTILINE)


@pytest.mark.parametrize(("size", "accepted"), [(MAX_BACKUP_BYTES, True), (MAX_BACKUP_BYTES + 1, False)])
def test_a_backup_just_under_the_cap_travels_and_one_just_over_is_refused_first(size: int, accepted: bool) -> None:
    image = overlay("")
    path = r"C:\ProgramData\fleetcheck\big.bin"
    old = bytes(range(256)) * (size // 256) + b"\x07" * (size % 256)
    image.put_file(SimFile(path, old))
    response = run(image, actions=(WriteFile(id="w", path=path, content=base64.b64encode(b"new").decode()),))
    result = response.actions[0]
    stored = image.file(path)
    assert stored is not None
    if accepted:
        assert result.status == "ok" and result.before_file is not None
        assert result.before_file.content_bytes() == old and stored.read() == b"new"
        assert len(agent_json(response)) <= MAX_OUTPUT_BYTES
    else:
        assert result.status == "error" and stored.read() == old  # nothing changed
        assert (result.error or "").startswith(f"file of {size} bytes is too large to back up")
        assert "8 MiB" in explain_action_error(result.error or "").en


def test_the_backups_of_one_request_share_the_cap() -> None:
    image = overlay("")
    half = MAX_BACKUP_BYTES // 2 + 1
    for name in ("a", "b"):
        image.put_file(SimFile(rf"C:\data\{name}.bin", b"x" * half))
    actions = tuple(WriteFile(id=n, path=rf"C:\data\{n}.bin", content="", delete=True) for n in ("a", "b"))
    first, second = run(image, actions=actions).actions
    assert first.status == "ok" and image.file(r"C:\data\a.bin") is None
    assert second.status == "error" and image.file(r"C:\data\b.bin") is not None


def test_the_agent_streams_its_answer_and_checks_the_size_before_reading() -> None:
    write = function_body("Write-Response")
    assert "ConvertTo-JsonText" not in write and "Send-JsonText" in write
    assert "Send-LongAscii" in function_body("Add-JsonString")
    body = function_body("Invoke-WriteFile")
    assert body.index("Use-BackupBudget") < body.index("Get-FileFacts")
    assert "Use-BackupBudget" in function_body("Invoke-RemoveCert")


def test_a_remove_cert_backup_counts_too() -> None:
    image = instantiate("win10-compliant", now=NOW)
    prof = image.profile(OPERATOR_SID)
    assert prof is not None
    thumb = "AB" * 20
    image.put_file(SimFile(prof.path + r"\AppData\Roaming\Microsoft\SystemCertificates\My\Certificates\\" + thumb,
                           b"\x00" * 1000))
    big = r"C:\data\big.bin"
    image.put_file(SimFile(big, b"y" * (MAX_BACKUP_BYTES - 500)))
    actions = (WriteFile(id="w", path=big, content=""), RemoveCert(id="r", sid=OPERATOR_SID, thumbprint=thumb))
    write, remove = run(image, actions=actions).actions
    assert write.status == "ok" and remove.status == "error" and "too large to back up" in (remove.error or "")


# --------------------------------------------------------------------------- 8. reboots


def test_the_agent_never_reboots_with_a_timeout_above_zero() -> None:
    """shutdown /t N with N > 0 implies /f; the reboot task uses /t 0 without /f."""
    schedule = function_body("Invoke-ScheduleReboot")
    assert "shutdown.exe" not in schedule and "'/t'" not in schedule
    script = here_string("RebootTaskScript")
    assert "'/r /t 0 /d p:4:1'" in script and "/f" not in script
    assert "GetProcesses()" in script and "SKIPPED" in script
    xml = function_body("New-RebootTaskXml")
    assert "-EncodedCommand" in xml and "<UserId>S-1-5-18</UserId>" in xml
    # StartWhenAvailable applies only to a trigger with an end boundary (Task Scheduler docs).
    assert "<StartWhenAvailable>true</StartWhenAvailable>" in xml and "<EndBoundary>" in xml


def reboot_at(host: SimulatedHost, delay_s: int, guard: list[str]) -> None:
    exe, args = _cmd()
    from fleetcheck.agent import build_payload

    request = ProbeRequest(actions=[ScheduleReboot(id="r", delay_s=delay_s, guard_processes=guard)])
    out = parse_output(host.run(exe, args, build_payload(request)).stdout.encode())
    assert out.actions[0].status == "ok", out.actions[0].error


def _cmd() -> tuple[str, list[str]]:
    from fleetcheck.agent import command_line

    return command_line()


def test_a_guarded_process_running_at_reboot_time_stops_the_reboot() -> None:
    host = SimulatedHost.from_image("win10-compliant", {"hostname": "PC1"}, NOW)
    reboot_at(host, 3600, ["TdxW.exe"])
    host.start_process("TdxW.exe", "TRADE\\交易员01")  # the operator opens the client after the guard looked
    assert host.time_reaches(NOW + timedelta(minutes=30)) == []  # not due yet
    [(task, line)] = host.time_reaches(NOW + timedelta(hours=1))
    assert line.startswith("SKIPPED") and "TdxW.exe" in line
    folder = next(t["folder"] for name, t in host.image.scheduled_tasks.items() if name == task)
    stored = host.image.file(folder + "\\result.txt")
    assert stored is not None and b"guarded process running: TdxW.exe" in stored.read()
    assert any(p.name == "TdxW.exe" for p in host.image.processes)  # not closed
    assert host.image.scheduled_reboots == []  # over: a later fix may schedule again
    reboot_at(host, 60, ["tdxw"])


def test_with_no_guarded_process_the_reboot_happens() -> None:
    host = SimulatedHost.from_image("win10-compliant", {"hostname": "PC1"}, NOW)
    reboot_at(host, 600, ["TdxW.exe"])
    assert host.image.scheduled_reboots and not host.image.os.pending_reboot  # no marker until it happens
    [(_task, line)] = host.time_reaches(NOW + timedelta(minutes=10))
    assert line.startswith("REBOOTING")
    assert host.image.scheduled_reboots == [] and not host.image.os.pending_reboot


def test_a_reboot_in_between_makes_the_task_skip() -> None:
    host = SimulatedHost.from_image("win10-compliant", {"hostname": "PC1"}, NOW)
    reboot_at(host, 600, [])
    host.reboot()  # someone restarted the PC meanwhile: the task must not reboot it again
    [(_task, line)] = host.time_reaches(NOW + timedelta(minutes=10))
    assert line.startswith("SKIPPED") and "restarted since" in line
    reboot_at(host, 600, [])  # and it no longer counts as waiting


def test_fix_passes_the_guarded_processes_and_a_wait_inside_its_deadline(tmp_path: Path) -> None:
    from fleetcheck.i18n import T
    from fleetcheck.remediate.apply import Remediator
    from fleetcheck.remediate.guard import Guard, TradingCalendar
    from fleetcheck.remediate.plan import FixStep
    from fleetcheck.store import Store
    from fleetcheck.store.audit import AuditLog, ChangeLog

    store = Store.open(f"sqlite:///{tmp_path / 'fix.db'}")
    guard = Guard(TradingCalendar(), trading_processes=("TdxW.exe", "xiadan.exe"))
    fixer = Remediator([], AuditLog(store), ChangeLog(store), guard, who="tester", timeout_s=120)
    step = FixStep("p", "c", T("标题", "title"), (
        RunInstaller(id="i", path=r"C:\Windows\Temp\setup.exe"),  # the contract's 10-minute default
        ScheduleReboot(id="r", delay_s=600),
    ), ())
    request = fixer.apply_request([step], [["a1", "a2"]])
    store.close()
    installer, reboot = request.actions
    assert isinstance(installer, RunInstaller) and installer.timeout_ms == 90_000  # 120 s deadline - 30 s
    assert isinstance(reboot, ScheduleReboot) and reboot.guard_processes == ["TdxW.exe", "xiadan.exe"]


# --------------------------------------------------------------------------- 11. folders, BOM, leftovers


def test_an_empty_folder_exists() -> None:
    """Directory.Exists is true for an empty folder; deleting the last file keeps the folder."""
    image = overlay("dirs: ['C:\\ProgramData\\Empty']\n")
    empty = run(image, DirQuery(id="d", path=r"C:\ProgramData\Empty")).answer("d")
    assert empty is not None and (empty.status, empty.files) == ("ok", [])
    path = r"C:\ProgramData\Vendor\only.txt"
    run(image, actions=(WriteFile(id="w", path=path, content=base64.b64encode(b"x").decode()),))
    run(image, actions=(WriteFile(id="d", path=path, content="", delete=True),))
    left = run(image, DirQuery(id="d", path=r"C:\ProgramData\Vendor")).answer("d")
    assert left is not None and (left.status, left.files) == ("ok", [])
    gone = run(image, DirQuery(id="d", path=r"C:\ProgramData\Nowhere")).answer("d")
    assert gone is not None and gone.status == "absent"


def test_empty_folders_survive_the_state_file() -> None:
    image = overlay("dirs: ['C:\\ProgramData\\Empty']\n")
    again = HostImage.from_state(json.loads(json.dumps(image.to_state())))
    assert again.dir_exists(r"c:\programdata\empty")


def test_a_bom_before_the_answer_is_stripped() -> None:
    image = overlay("")
    text = agent_json(run(image)).encode("ascii")
    assert parse_output(b"\xef\xbb\xbf" + text).os.hostname == image.os.hostname
    assert parse_output(b"\xef\xbb\xbf\xef\xbb\xbf\r\n" + text + b"\r\n").agent_version == "1"


@pytest.mark.parametrize("password", [PFX_PASSWORD, "wrong-guess"])
def test_an_import_leaves_nothing_behind_whatever_happens(password: str) -> None:
    image = overlay("")
    action = ImportPfx(id="i", sid=OPERATOR_SID, pfx=pfx_b64(), password=password)
    result = run(image, actions=(action,)).actions[0]
    assert result.status == ("ok" if password == PFX_PASSWORD else "error")
    assert fleetcheck_leftovers(image) == []


def test_the_task_script_deletes_the_secret_and_the_pfx_in_every_path() -> None:
    script = here_string("ImportTaskScript")
    final = script[script.index("\nfinally {") :]
    assert "$secretPath, $pfxPath" in final and "[System.IO.File]::Delete($leftover)" in final


def test_what_an_aborted_import_left_is_removed_by_the_next_run_with_actions() -> None:
    host = SimulatedHost.from_image("win10-compliant", {"hostname": "PC1"}, NOW)
    image = host.image
    old_folder, old_task = start_import_task(image, OPERATOR_SID, b"0\x82pfx", b"secret", NOW - timedelta(hours=2))
    young_folder, young_task = start_import_task(image, OPERATOR_SID, b"0\x82pfx", b"secret", NOW - timedelta(minutes=5))
    assert image.file(old_folder + "\\password.bin") is not None and old_task in image.scheduled_tasks
    exe, args = _cmd()
    from fleetcheck.agent import build_payload

    reads_only = ProbeRequest(queries=[FileQuery(id="f", path=old_folder + "\\password.bin")])
    assert parse_output(host.run(exe, args, build_payload(reads_only)).stdout.encode()).answer("f").status == "ok"  # type: ignore[union-attr]
    with_action = ProbeRequest(actions=[WriteFile(id="w", path=r"C:\ProgramData\x.txt", content="")])
    host.run(exe, args, build_payload(with_action))
    assert image.file(old_folder + "\\password.bin") is None and image.file(old_folder + "\\cert.pfx") is None
    assert not image.dir_exists(old_folder) and old_task not in image.scheduled_tasks
    # An import younger than the bound may still be running: left alone.
    assert image.dir_exists(young_folder) and young_task in image.scheduled_tasks
    # Persisted: a restarted simulator sees the same.
    again = HostImage.from_state(json.loads(json.dumps(image.to_state())))
    assert again.dir_exists(young_folder) and not again.dir_exists(old_folder)


def test_a_task_whose_folder_is_gone_is_removed_too() -> None:
    image = overlay("")
    folder, task = start_import_task(image, OPERATOR_SID, b"p", b"s", NOW - timedelta(hours=3))
    image.remove_dir(folder)
    run(image, actions=(WriteFile(id="w", path=r"C:\x.txt", content=""),))
    assert task not in image.scheduled_tasks


def test_the_agent_clears_stale_tasks_before_its_actions() -> None:
    main = function_body("Invoke-Agent")
    assert main.index("Remove-StaleTasks") < main.index("Invoke-Action $action $state")
    stale = function_body("Remove-StaleTasks")
    assert "'fleetcheck-*'" in stale and "'/Delete'" in stale and "GetCreationTimeUtc" in stale
    assert re.search(r"^\$StaleTaskMinutes = 60$", AGENT, re.MULTILINE)


def test_a_backup_at_the_cap_comes_back_over_winrm(tmp_path: Path) -> None:
    """End to end: pywinrm, NTLM, the 16 MiB output cap. At the old 16 MiB cap the answer was dropped."""
    from fleetcheck.inventory import PasswordSources, load_inventory
    from fleetcheck.sim.office import OfficeSpec, start_office
    from fleetcheck.transport import Deadline, probe_host

    spec = OfficeSpec.model_validate({
        "defaults": {"credentials": {"user": "TRADE\\fcadmin", "password": "Backup-Pw-1"}, "scheme": "http"},
        "groups": [{"name": "g", "image": "win10-compliant", "count": 1, "vars": {"hostname": "PC-big"}}],
    })
    path = r"C:\ProgramData\Vendor\big.bin"
    old = bytes(range(256)) * (MAX_BACKUP_BYTES // 256)
    with start_office(spec, tmp_path / "state", first_address=f"127.{run_octet(200, 50)}.97.1") as office:
        host = next(iter(office.hosts.values())).host
        with host._lock:
            host.image.put_file(SimFile(path, old))
        office.write_inventory(tmp_path / "inv.yaml")
        inventory = load_inventory(tmp_path / "inv.yaml", PasswordSources(literal_ok=True))
        request = ProbeRequest(actions=[WriteFile(id="w", path=path, content=base64.b64encode(b"new").decode())],
                               want_processes=False)
        response = probe_host(next(iter(inventory.hosts.values())), request, Deadline.after(120))
    result = response.actions[0]
    assert result.status == "ok" and result.before_file is not None
    assert result.before_file.content_bytes() == old
