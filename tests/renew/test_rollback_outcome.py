"""The renewal-rollback outcome (fleetcheck.renew.rollback): exit codes and lines, without printing."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from fleetcheck.i18n import T
from fleetcheck.renew.apply import RollbackResult
from fleetcheck.renew.rollback import RenewalRollback


def _result(cn: str, ok: bool) -> RollbackResult:
    record: Any = SimpleNamespace(cn=cn)
    return RollbackResult(record=record, ok=ok, message=T("已恢复", "restored"))


def test_every_certificate_restored_is_exit_0_with_one_line_each() -> None:
    outcome = RenewalRollback("renew-1", (_result("A#0", True), _result("B#0", True)))
    assert outcome.exit_code == 0
    assert [line.en for line in outcome.lines()] == ["  ✓ A#0  restored", "  ✓ B#0  restored"]


def test_a_failed_restore_is_exit_1_and_marked() -> None:
    outcome = RenewalRollback("renew-1", (_result("A#0", True), _result("B#0", False)))
    assert outcome.exit_code == 1
    assert outcome.lines()[1].zh == "  ✗ B#0  已恢复"


def test_already_rolled_back_is_exit_0_in_office_time() -> None:
    outcome = RenewalRollback("renew-1", (), already_rolled_back_at="2026-03-04T02:00:00+00:00")
    assert outcome.exit_code == 0
    (line,) = outcome.lines()
    assert "2026-03-04 10:00" in line.en and "Asia/Shanghai" in line.en and "already rolled back" in line.en
    assert "已于" in line.zh


def test_nothing_imported_is_exit_2() -> None:
    outcome = RenewalRollback("renew-1", ())
    assert outcome.exit_code == 2
    assert "imported no certificate" in outcome.lines()[0].en
