"""Global ``-q/--quiet`` and ``-v/--verbose``: standard logging to stderr; ``fleetcheck -q scan``."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from xdist_support import worker_address

from fleetcheck.cli import main
from fleetcheck.i18n import T
from fleetcheck.logsetup import configure_logging, level_for, log_text
from fleetcheck.sim.office import OfficeSpec, start_office

PASSWORD = "Quiet-Secret-2207"


@pytest.fixture(scope="module")
def inventory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Three PCs: one compliant, one without its certificate, one that refuses connections."""
    spec = OfficeSpec.model_validate({
        "defaults": {"credentials": {"user": "TRADE\\fcadmin", "password": PASSWORD}, "scheme": "http",
                     "faults": {"latency_ms": 1, "agent_ms": 5}},
        "groups": [
            {"name": "ok", "image": "win10-compliant", "count": 1, "vars": {"hostname": "PC-OK-${n}"}},
            {"name": "bad", "image": "win10-no-cert", "count": 1, "vars": {"hostname": "PC-BAD-${n}"}},
            {"name": "down", "image": "win10-compliant", "count": 1, "faults": {"refuse": True},
             "vars": {"hostname": "PC-DOWN-${n}"}},
        ],
    })
    state = tmp_path_factory.mktemp("office")
    with start_office(spec, state, first_address=worker_address("127.0.163.1"), now=datetime.now(timezone.utc)) as running:
        yield running.write_inventory(state / "inventory.yaml")


def _scan(inventory: Path, out: Path, *root: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, [*root, "--lang", "en", "scan", "-i", str(inventory), "--out", str(out),
                                       "--timeout", "10", "--db", str(out / "h.db")])
    return result.exit_code, result.stdout, result.stderr


def test_quiet_scan_prints_only_errors_and_the_closing_line(inventory: Path, tmp_path: Path) -> None:
    code, out, err = _scan(inventory, tmp_path / "loud")
    assert code == 3
    assert "top failing checks" in out and "results:" in out  # the usual summary
    assert "[1/3]" in err and "PC-OK-1" in err and "plain-text password" in err  # progress lines, warnings

    code, out, err = _scan(inventory, tmp_path / "quiet", "-q")
    assert code == 3  # the verdict is the same
    [line] = out.splitlines()
    assert line.startswith("sweep finished: 3/3 hosts, compliant ") and ", not probed 1, " in line
    err_lines = err.splitlines()
    assert len(err_lines) == 1 and "PC-DOWN-1" in err_lines[0] and "refused" in err_lines[0]  # the error only
    assert (tmp_path / "quiet" / "results.json").is_file()  # the files are written as ever
    assert PASSWORD not in out + err


def test_verbose_logs_info_in_the_chosen_language(inventory: Path, tmp_path: Path) -> None:
    code, _, err = _scan(inventory, tmp_path / "v", "-v")
    assert code == 3
    assert "info: sweeping 3 hosts" in err
    result = CliRunner().invoke(main, ["-v", "scan", "-i", str(inventory), "--out", str(tmp_path / "zh"),
                                       "--timeout", "10", "--db", str(tmp_path / "zh.db")])
    assert "信息：" not in result.stderr and "信息: 扫描 3 台主机" in result.stderr
    _, _, err = _scan(inventory, tmp_path / "plain")
    assert "sweeping 3 hosts" not in err  # INFO is not shown by default


def test_levels_and_quiet_with_verbose_is_a_usage_error() -> None:
    assert [level_for(v) for v in (-1, 0, 1, 2, 3)] == [
        logging.ERROR, logging.WARNING, logging.INFO, logging.DEBUG, logging.DEBUG]
    result = CliRunner().invoke(main, ["--lang", "en", "-q", "-v", "history"])
    assert result.exit_code == 2 and "-q/--quiet cannot be used with -v/--verbose" in result.stderr
    result = CliRunner().invoke(main, ["-q", "-vv", "history"])
    assert result.exit_code == 2 and "不能与" in result.stderr


def test_the_handler_is_replaced_not_added_and_follows_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    logger = logging.getLogger("fleetcheck.test")
    for _ in range(3):
        configure_logging(2, "zh")
    log_text(logger, logging.DEBUG, T("调试中", "debugging"))
    logger.getChild("x").error("plain %s", "message")
    err = capsys.readouterr().err
    assert err.count("调试中") == 1  # one handler, however often it is configured
    assert "调试 [fleetcheck.test]: 调试中" in err and "错误 [fleetcheck.test.x]: plain message" in err
    configure_logging(-1, "en")
    logger.warning("hidden")
    logger.error("shown")
    err = capsys.readouterr().err
    assert "hidden" not in err and "error: shown" in err
    configure_logging(0, "zh")
