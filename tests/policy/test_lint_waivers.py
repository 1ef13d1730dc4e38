"""``policy lint --waivers``: an expired waiver is counted as expired, not valid, and named (issue 14)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from fleetcheck.cli import main

from .conftest import DATA

FIXTURE = str(DATA / "fixture-policy.yaml")
WAIVERS = """\
waivers:
  - check: certenroll-control
    hosts: [PC1]
    reason: r
    approver: a
    expires: 2099-12-31
  - check: certenroll-control
    groups: [shenzhen]
    reason: old
    approver: b
    expires: 2020-01-01
  - check: certenroll-control
    hosts: [PC3]
    reason: old too
    approver: c
    expires: 2021-06-30
"""


def test_lint_counts_expired_waivers_as_expired(tmp_path: Path) -> None:
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text(WAIVERS, encoding="utf-8")
    en = CliRunner().invoke(main, ["--lang", "en", "policy", "lint", FIXTURE, "--waivers", str(waivers)])
    assert en.exit_code == 0, en.output
    assert "1 waiver(s) valid, 2 expired" in en.output
    assert "waiver #2 (certenroll-control, shenzhen) expired on 2020-01-01: no longer honoured" in en.output
    assert "waiver #3 (certenroll-control, PC3) expired on 2021-06-30" in en.output
    assert "waiver #1" not in en.output
    zh = CliRunner().invoke(main, ["policy", "lint", FIXTURE, "--waivers", str(waivers)])
    assert "1 条豁免有效，2 条已过期" in zh.output and "豁免 #2（certenroll-control，shenzhen）已于 2020-01-01 过期" in zh.output
