"""Issue 17 acceptance 1: the CLI's ``fix`` and the dashboard's Fix run the same campaign code.

One simulated office, two PCs with the operator's zone flags wrong. The CLI
fixes one, the dashboard's :meth:`Fleet.fix` (the job body behind its Fix
button) the other. A spy wraps :meth:`Campaign.run`: each path must go
through it exactly once for its own host, and what each path reports must be
what that campaign's outcome says. If either path stopped using the
campaign (its own copy of probe → plan → guard → apply), the spy would not
see it and the test fails.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from xdist_support import worker_address

from fleetcheck.cli import main
from fleetcheck.inventory.model import HostSpec
from fleetcheck.remediate.campaign import Campaign, CampaignOutcome
from fleetcheck.sim.office import OfficeSpec, RunningOffice, start_office
from fleetcheck.store import Store
from fleetcheck.store.audit import AuditLog
from fleetcheck.web.fleet import Fleet, FleetSettings
from fleetcheck.web.jobs import Job

pytestmark = pytest.mark.sim

AT_1630 = datetime(2026, 3, 4, 8, 30, tzinfo=timezone.utc)  # Wed 16:30 Shanghai, after the close


@pytest.fixture
def office(tmp_path: Path) -> Iterator[tuple[RunningOffice, Path]]:
    spec = OfficeSpec.model_validate({
        "defaults": {"credentials": {"user": "TRADE\\fcadmin", "password": "Shared-2026"},
                     "faults": {"latency_ms": 0, "agent_ms": 0},
                     "vars": {"gateway_cert": "F00504Y${index:04}#0", "cert_kind": "file"}},
        "groups": [{"name": "zones", "image": "win10-zone-flags-wrong", "count": 2, "vars": {"hostname": "SH-${n:02}"}},
                   {"name": "nobody", "image": "win10-no-operator", "count": 1, "vars": {"hostname": "SH-03"}}],
    })
    with start_office(spec, tmp_path / "state", first_address=worker_address("127.0.171.1"),
                      now=datetime(2026, 3, 1, tzinfo=timezone.utc)) as running:
        yield running, running.write_inventory(tmp_path / "inventory.yaml")


def test_cli_fix_and_dashboard_fix_both_run_the_campaign(office: tuple[RunningOffice, Path], tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    _, inventory = office
    db = str(tmp_path / "shared.db")
    runs: list[tuple[list[str], CampaignOutcome]] = []
    real_run = Campaign.run

    def spy(self: Campaign, hosts: Sequence[HostSpec]) -> CampaignOutcome:
        outcome = real_run(self, hosts)
        runs.append(([h.name for h in hosts], outcome))
        return outcome

    monkeypatch.setattr(Campaign, "run", spy)

    cli = CliRunner().invoke(main, ["--lang", "en", "fix", "SH-01", "-i", str(inventory), "--apply", "--db", db,
                                    "--now", AT_1630.isoformat()], catch_exceptions=False)
    assert cli.exit_code == 0, cli.output
    assert [names for names, _ in runs] == [["SH-01"]]
    cli_outcome = runs[0][1]
    assert cli_outcome.applied and cli_outcome.hosts["SH-01"].fix is not None
    assert cli_outcome.hosts["SH-01"].fix.status == "fixed"
    assert f"fix run {cli_outcome.run_id} " in cli.output  # the CLI renders the campaign's own outcome

    fleet = Fleet(FleetSettings(db_url=db, inventory=inventory, clock=lambda: AT_1630, literal_passwords_ok=True))
    try:
        job = Job(id=uuid.uuid4().hex, kind="fix", hosts=["SH-02"], user="admin", created=AT_1630)
        fleet.fix(job, "SH-02", "web:admin")
    finally:
        fleet.close()
    assert [names for names, _ in runs] == [["SH-01"], ["SH-02"]]
    web_outcome = runs[1][1]
    web_host = web_outcome.hosts["SH-02"]
    assert web_host.category == "change" and web_host.fix is not None and web_host.fix.status == "fixed"
    assert job.state == "done", [t.en for t in job.progress]
    assert job.result["fix_run"] == web_outcome.run_id  # the job reports the campaign's run

    with Store.open(db) as store:
        entries = AuditLog(store).entries()
    by_run: dict[str | None, set[tuple[str, str]]] = {}
    for e in entries:
        by_run.setdefault(e.run_id, set()).add((e.host, e.who))
    assert {h for h, _ in by_run[cli_outcome.run_id]} == {"SH-01"}
    assert by_run[web_outcome.run_id] == {("SH-02", "web:admin")}


def test_the_dashboard_fix_of_a_host_nobody_is_logged_on_to_says_not_evaluated(
        office: tuple[RunningOffice, Path], tmp_path: Path) -> None:
    _, inventory = office
    fleet = Fleet(FleetSettings(db_url=str(tmp_path / "web.db"), inventory=inventory, clock=lambda: AT_1630,
                                literal_passwords_ok=True))
    try:
        job = Job(id=uuid.uuid4().hex, kind="fix", hosts=["SH-03"], user="admin", created=AT_1630)
        fleet.fix(job, "SH-03", "web:admin")
    finally:
        fleet.close()
    assert job.state == "done" and job.outcome is not None and job.result["category"] == "not_evaluated"
    assert job.outcome.en.startswith("nothing to change in what was checked, but ")
    assert " not evaluated: " in job.outcome.en and "未评估" in job.outcome.zh
