"""``fleetcheck schedule show|install`` end to end, with a fake crontab and a temporary unit directory."""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from fleetcheck import schedule as sched
from fleetcheck.cli import main

# A controller in the office's own zone: cron lines carry the office time unchanged.
IN_OFFICE = ["--machine-tz", "Asia/Shanghai"]


def test_show_prints_all_three_targets(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["schedule", "show", "--at", "07:30", "--days", "mon-fri", "--workdir", str(tmp_path),
               *IN_OFFICE, "--", "scan", "-i", "清单 1.yaml", "--notify", "notify.yaml"],
    )
    assert result.exit_code == 0, result.output
    out = result.output
    cron = next(line for line in out.splitlines() if line.startswith("30 7 * * 1-5 "))
    assert "'清单 1.yaml' --notify notify.yaml" in cron and "flock -n" in cron
    assert "Type=oneshot" in out and "OnCalendar=Mon..Fri *-*-* 07:30:00 Asia/Shanghai" in out
    assert "systemctl --user enable --now fleetcheck-scan.timer" in out
    assert "<MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>" in out
    assert "schtasks /Create /TN \"fleetcheck\\fleetcheck-scan\"" in out
    assert "# cron：用 crontab -e 加入这一行" in out


def test_show_windows_xml_out_is_utf16_and_well_formed(tmp_path: Path) -> None:
    xml_file = tmp_path / "task.xml"
    result = CliRunner().invoke(
        main, ["--lang", "en", "schedule", "show", "--at", "18:05", "--days", "daily", "--target", "windows",
               "--windows-executable", "D:\\工具\\fleetcheck.exe", "--xml-out", str(xml_file), "--", "scan", "-i", "a b.yaml"],
    )
    assert result.exit_code == 0, result.output
    assert xml_file.read_bytes()[:2] in (b"\xff\xfe", b"\xfe\xff")  # UTF-16 with BOM, as schtasks expects
    root = ET.fromstring(xml_file.read_bytes())
    ns = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}
    days = root.find("t:Triggers/t:CalendarTrigger/t:ScheduleByWeek/t:DaysOfWeek", ns)
    assert days is not None and len(days) == 7
    args = root.findtext("t:Actions/t:Exec/t:Arguments", namespaces=ns)
    assert args is not None and '"D:\\工具\\fleetcheck.exe" "scan" "-i" "a b.yaml"' in args
    assert "placeholders" in result.output


def test_show_with_a_percent_sign_still_prints_cron_and_systemd(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["schedule", "show", "--at", "07:30", "--workdir", str(tmp_path), *IN_OFFICE,
                                       "--", "scan", "--note", "100%"])
    assert result.exit_code == 0
    cron = next(line for line in result.output.splitlines() if line.startswith("30 7 "))
    assert " --note 100\\% >> " in cron  # cron's own escape for %
    assert "--note 100%%\n" in result.output  # systemd's escape for %
    assert "Windows 任务计划：未生成" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--at", "7h30", "--", "scan"], "HH:MM"),
        (["--at", "07:30", "--days", "weekdays", "--", "scan"], "--days"),
        (["--at", "07:30"], "-- scan -i inventory.yaml"),
        (["--at", "07:30", "--", "fleetcheck", "scan"], "不要重复程序名"),
        (["--at", "07:30", "--name", "a b", "--", "scan"], "任务名"),
    ],
)
def test_show_usage_errors_exit_2_without_traceback(args: list[str], message: str) -> None:
    result = CliRunner().invoke(main, ["schedule", "show", *args])
    assert result.exit_code == 2 and message in result.output
    assert "Traceback" not in result.output


def test_install_cron_is_idempotent_and_keeps_other_lines(tmp_path: Path, fake_crontab: tuple[Path, Path]) -> None:
    program, table = fake_crontab
    table.write_text("MAILTO=ops@example.com\n0 1 * * * /usr/bin/backup\n", encoding="utf-8")
    args = ["schedule", "install", "--cron", "--yes", "--crontab", str(program), *IN_OFFICE, "--at", "07:30",
            "--workdir", str(tmp_path), "--", "scan", "-i", "inv.yaml"]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    args[args.index("07:30")] = "08:15"
    second = CliRunner().invoke(main, args)
    assert second.exit_code == 0, second.output
    lines = table.read_text(encoding="utf-8").splitlines()
    assert lines[:2] == ["MAILTO=ops@example.com", "0 1 * * * /usr/bin/backup"]
    ours = [ln for ln in lines if ln.endswith("# fleetcheck-schedule:fleetcheck-scan")]
    assert len(ours) == 1 and ours[0].startswith("15 8 * * 1-5 ")


def test_install_cron_starts_a_crontab_when_there_is_none(tmp_path: Path, fake_crontab: tuple[Path, Path]) -> None:
    program, table = fake_crontab
    result = CliRunner().invoke(main, ["schedule", "install", "--cron", "-y", "--crontab", str(program), *IN_OFFICE,
                                       "--at", "06:00", "--days", "sat", "--workdir", str(tmp_path), "--", "scan", "-i", "x"])
    assert result.exit_code == 0, result.output
    assert table.read_text(encoding="utf-8").startswith("0 6 * * 6 cd ")


def test_install_cron_asks_first_and_no_means_no_change(tmp_path: Path, fake_crontab: tuple[Path, Path]) -> None:
    program, table = fake_crontab
    result = CliRunner().invoke(main, ["schedule", "install", "--cron", "--crontab", str(program), "--at", "07:30",
                                       "--workdir", str(tmp_path), "--", "scan"], input="n\n")
    assert result.exit_code != 0 and "修改 crontab？" in result.output
    assert not table.exists()


def test_install_systemd_writes_units_and_prints_next_step(tmp_path: Path) -> None:
    unit_dir = tmp_path / "systemd" / "user"
    result = CliRunner().invoke(main, ["schedule", "install", "--systemd", "--yes", "--unit-dir", str(unit_dir),
                                       "--name", "fc-morning", "--at", "07:30", "--workdir", str(tmp_path),
                                       "--", "scan", "-i", "清单.yaml"])
    assert result.exit_code == 0, result.output
    assert (unit_dir / "fc-morning.service").read_text(encoding="utf-8").count("Type=oneshot") == 1
    assert "OnCalendar=Mon..Fri *-*-* 07:30:00" in (unit_dir / "fc-morning.timer").read_text(encoding="utf-8")
    assert "systemctl --user daemon-reload && systemctl --user enable --now fc-morning.timer" in result.output


def test_install_needs_a_target() -> None:
    result = CliRunner().invoke(main, ["schedule", "install", "--at", "07:30", "--", "scan"])
    assert result.exit_code == 2 and "--systemd" in result.output


def test_install_systemd_enable_runs_systemctl_through_the_injected_runner(tmp_path: Path) -> None:
    calls: list[list[str]] = []

    def run(argv: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        calls.append(argv)
        return subprocess.CompletedProcess(argv, 0, "", "")

    spec = sched.ScheduleSpec("fc", sched.parse_at("07:30"), (0,), tmp_path, tmp_path / "l", tmp_path / "k", ["/x"])
    outcome = sched.install_systemd(sched.render_systemd(spec), tmp_path / "u", enable=True,
                                    systemctl="/usr/bin/systemctl", run=run)
    assert calls == [["/usr/bin/systemctl", "--user", "daemon-reload"],
                     ["/usr/bin/systemctl", "--user", "enable", "--now", "fc.timer"]]
    assert outcome.next_steps == [] and len(outcome.written) == 2


def test_failing_systemctl_is_a_clear_error(tmp_path: Path) -> None:
    def run(argv: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(argv, 1, "", "Failed to connect to bus")

    spec = sched.ScheduleSpec("fc", sched.parse_at("07:30"), (0,), tmp_path, tmp_path / "l", tmp_path / "k", ["/x"])
    with pytest.raises(sched.ScheduleError) as info:
        sched.install_systemd(sched.render_systemd(spec), tmp_path / "u", enable=True, systemctl="systemctl", run=run)
    assert "Failed to connect to bus" in info.value.text.zh and "单元文件已写入" in info.value.text.zh


def test_missing_crontab_program_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["schedule", "install", "--cron", "-y", "--crontab", str(tmp_path / "nope"),
                                       "--at", "07:30", "--workdir", str(tmp_path), "--", "scan"])
    assert result.exit_code == 2 and "请安装 cron" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("args,needle", [
    (["scna", "-i", "inv.yaml"], "no subcommand 'scna'"),
    (["--lnag", "en", "scan"], "has no option --lnag"),
    (["inventory", "chek"], "fleetcheck inventory has no subcommand 'chek'"),
    (["--lang", "en"], "needs a subcommand"),
])
def test_show_rejects_an_unknown_scheduled_command(tmp_path: Path, args: list[str], needle: str) -> None:
    show = ["schedule", "show", "--at", "07:30", "--workdir", str(tmp_path), "--", *args]
    result = CliRunner().invoke(main, ["--lang", "en", *show])
    assert result.exit_code == 2, result.output
    assert needle in result.output and "command to schedule" in result.output
    zh = CliRunner().invoke(main, show)
    assert zh.exit_code == 2 and "要定时运行的命令" in zh.output


def test_show_accepts_global_options_before_the_subcommand(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        main, ["schedule", "show", "--at", "07:30", "--workdir", str(tmp_path), "--target", "cron",
               "--", "--lang=en", "inventory", "check", "-i", "inv.yaml"],
    )
    assert result.exit_code == 0, result.output
    assert "--lang=en inventory check -i inv.yaml" in result.output
