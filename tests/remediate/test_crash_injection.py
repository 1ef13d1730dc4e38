"""Crash injection: ``fleetcheck fix --apply`` killed (SIGKILL) at each step of an apply (issue 13).

A real subprocess runs ``fleetcheck fix --apply`` against a simulated PC served
by this test process; ``FLEETCHECK_TEST_CRASH_AT`` (test-only, read by
:mod:`fleetcheck.remediate.apply`) makes it kill itself at one moment:

* ``before-send``  — write-ahead committed, nothing sent;
* ``after-act``    — the PC carried out every action, nothing recorded;
* ``mid-record``   — the first result recorded, the others not;
* ``after-record`` — every result recorded, not verified.

Then ``rollback --run`` must restore the PC exactly (``SimulatedHost.snapshot()``
equals the one before the fix: registry of the machine and every hive, files,
folders, stores, devices, processes, installers, scheduled tasks and reboots:
nothing is left out, rollback cancels the reboot the fix scheduled), ``audit
verify`` must pass, and every change that reached the PC must be in the audit
log. A re-run of ``fix`` after the crash converges instead.

The PC's plan covers each kind of prior state: a value set in a key the fix
creates (the Edge policy key), a site-list XML that existed before and is
overwritten, and a stale CertEnroll registration whose whole CLSID tree is
deleted (plus its reboot).
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from xdist_support import worker_address

from fleetcheck.remediate.apply import CRASH_ENV, CRASH_STEPS
from fleetcheck.sim.office import OfficeSpec, RunningOffice, start_office

pytestmark = pytest.mark.sim

AT_1600 = "2026-03-04T16:00:00+08:00"
NOT_RUNNING = ["--trading-process", "XtItClient.exe"]
OLD_SITE_LIST = ('<?xml version="1.0" encoding="utf-8"?>\n<site-list version="2">\n'
                 '  <site url="intranet.example.cn"><compat-mode>Default</compat-mode><open-in>IE11</open-in></site>\n'
                 '</site-list>\n')
CRASH_IMAGE = f"""\
description: crash-injection PC - no Edge IE-mode policy, an older site list at the fix's path, old CertEnroll
extends: win10-certenroll-old
registry:
  'SOFTWARE\\Policies\\Microsoft\\Edge': null
files:
  'C:\\ProgramData\\fleetcheck\\sccc-sites.xml':
    content: '{OLD_SITE_LIST.replace("'", "''")}'
"""
CLSID = "{33BBBFD1-0A97-4339-9032-F68F19CB3030}"


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningOffice, Path, Path]]:
    root = tmp_path_factory.mktemp("crashoffice")
    image = root / "crash.yaml"
    image.write_text(CRASH_IMAGE, encoding="utf-8")
    spec = OfficeSpec.model_validate({
        "defaults": {
            "credentials": {"user": "TRADE\\fcadmin", "password": "Crash-Secret-2026"},
            "faults": {"latency_ms": 0, "agent_ms": 0},
            "vars": {"operator_name": "交易员${index:02}", "operator": "TRADE\\${operator_name}",
                     "operator_sid": "S-1-5-21-1004336348-1177238915-682003330-1${index:03}",
                     "gateway_cert": "F00504Y${index:04}#0", "cert_kind": "file"},
        },
        "groups": [{"name": "crash", "image": str(image), "count": 1, "vars": {"hostname": "CR-01"}}],
    })
    with start_office(spec, root, first_address=worker_address("127.0.133.1"), now=datetime(2026, 3, 1, tzinfo=timezone.utc)) as running:
        yield running, running.write_inventory(root / "inventory.yaml"), root


def fleetcheck(*args: str, crash_at: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != CRASH_ENV}
    env["FLEETCHECK_LANG"] = "en"
    if crash_at is not None:
        env[CRASH_ENV] = crash_at
    code = "import sys; from fleetcheck.cli import main; sys.exit(main())"
    return subprocess.run([sys.executable, "-c", code, "--lang", "en", *args], env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


def snapshot(running: RunningOffice) -> dict[str, Any]:
    """The PC's whole state: nothing left out (rollback cancels the scheduled reboot too)."""
    return running.hosts["CR-01"].host.snapshot()


def diff(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Which parts of two snapshots differ, by key (files, folders and tasks by name)."""
    out = []
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict) and key != "hklm":
            out += [f"{key}[{k}]" for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
        elif isinstance(old, list) and isinstance(new, list) and key == "dirs":
            out += [f"dirs: {d}" for d in sorted(set(old) ^ set(new))]
        else:
            out.append(key)
    return out


def site_list(snap: dict[str, Any]) -> Any:
    return {k.lower(): v for k, v in snap["files"].items()}.get("c:\\programdata\\fleetcheck\\sccc-sites.xml")


def reboot_rows(db: Path) -> list[tuple[str, str]]:
    """(action id, task name recorded in ``after``) of each schedule_reboot change."""
    import json

    with sqlite3.connect(db) as raw:
        return [(r[0], json.loads(r[1])["task"])
                for r in raw.execute("SELECT action_id, after FROM changes WHERE kind = 'schedule_reboot'")]


def audit_rows(db: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(db) as raw:
        return [(r[0], r[1] or "", r[2]) for r in raw.execute("SELECT event, action_id, result FROM audit_log ORDER BY seq")]


def change_rows(db: Path) -> dict[str, tuple[str, str, Any]]:
    import json

    with sqlite3.connect(db) as raw:
        return {r[0]: (r[1], r[2], json.loads(r[3]) if r[3] else None)
                for r in raw.execute("SELECT action_id, kind, status, before FROM changes")}


def test_the_plan_covers_a_created_key_an_overwritten_file_and_a_deleted_tree(
        office: tuple[RunningOffice, Path, Path]) -> None:
    _, inventory, _ = office
    dry = fleetcheck("fix", "CR-01", "-i", str(inventory), "--now", AT_1600, "--format", "json")
    import json

    plan = json.loads(dry.stdout[dry.stdout.index("{"):])
    kinds = [a["kind"] for s in plan["hosts"]["CR-01"]["steps"] for a in s["actions"]]
    assert {"set_value", "write_file", "delete_key"} <= set(kinds), kinds


@pytest.mark.parametrize("step", CRASH_STEPS)
def test_fix_killed_at_each_step_then_rollback_restores_exactly(
        office: tuple[RunningOffice, Path, Path], tmp_path: Path, step: str) -> None:
    running, inventory, _ = office
    db = tmp_path / "crash.db"
    before = snapshot(running)
    assert site_list(before) is not None  # the XML existed before the fix

    killed = fleetcheck("fix", "CR-01", "-i", str(inventory), "--apply", "--db", str(db), "--now", AT_1600,
                        *NOT_RUNNING, crash_at=step)
    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stdout, killed.stderr)
    crashed = snapshot(running)
    reached = step != "before-send"
    assert (crashed != before) is reached  # the PC acted exactly when the send happened

    # Write-ahead: every change row holds the exact prior state, and the audit has every sent change.
    rows = change_rows(db)
    assert rows
    for action_id, (kind, _status, prior) in rows.items():
        if kind == "schedule_reboot":
            continue  # nothing to back up: the task did not exist; its name is in ``after`` (below)
        assert prior is not None, (action_id, kind)
        if kind == "write_file":
            assert prior["file"]["exists"] and prior["file"]["sha256"], prior
        if kind == "delete_key":
            assert prior["tree"] is not None and prior["tree"]["subkeys"], prior  # the whole CLSID tree
    # The reboot task's name is recorded before the send, so rollback can cancel it after any crash.
    [(reboot_id, task)] = reboot_rows(db)
    assert re.fullmatch(r"\\fleetcheck-reboot-[0-9a-f]{32}", task), task
    assert (task in crashed["scheduled_tasks"]) is reached
    audited = {aid for event, aid, _ in audit_rows(db) if event == "sent"}
    assert audited == set(rows)  # every change that may have reached the PC is in the log
    assert all(r == "outcome unknown until the agent's answer is recorded"
               for e, _, r in audit_rows(db) if e == "sent")

    run_id = next(iter(rows)).split("-", 1)[0]
    undone = fleetcheck("rollback", "--run", run_id, "-i", str(inventory), "--db", str(db), "--apply", "--now", AT_1600,
                        *NOT_RUNNING)
    assert undone.returncode == 0, undone.stdout + undone.stderr
    if step != "after-record":  # results not (all) recorded: rollback read the PC first and says so
        assert "an interrupted fix left" in undone.stdout, undone.stdout
    restored = snapshot(running)
    assert [(k, before[k], restored[k]) for k in before if restored[k] != before[k]] == [], diff(before, restored)
    verified = fleetcheck("audit", "verify", "--db", str(db))
    assert verified.returncode == 0 and "intact" in verified.stdout, verified.stdout
    events = [e for e, _, _ in audit_rows(db)]
    if reached:
        assert "rolled_back" in events
        # The reboot was cancelled, audited like every other undo.
        assert ("rolled_back", reboot_id, "ok") in audit_rows(db)
        assert task not in restored["scheduled_tasks"] and restored["scheduled_reboots"] == []
    if step in ("before-send", "after-act"):
        # Nothing was recorded after the send: rollback confirmed each change by reading the PC first
        # (the reboot by its task's folder).
        outcomes = {aid: r for e, aid, r in audit_rows(db) if e == "confirmed"}
        assert set(outcomes) == set(rows)
        expect = "the change is on the PC" if reached else "the change did not reach the PC"
        assert all(r == expect for r in outcomes.values()), outcomes
    # A second rollback finds nothing left to do and changes nothing.
    again = fleetcheck("rollback", "--run", run_id, "-i", str(inventory), "--db", str(db), "--apply", "--now", AT_1600,
                        *NOT_RUNNING)
    assert again.returncode == 0 and snapshot(running) == before


def test_fix_converges_after_a_crash_and_confirms_the_unknown_changes(
        office: tuple[RunningOffice, Path, Path], tmp_path: Path) -> None:
    running, inventory, _ = office
    db = tmp_path / "converge.db"
    before = snapshot(running)
    killed = fleetcheck("fix", "CR-01", "-i", str(inventory), "--apply", "--db", str(db), "--now", AT_1600,
                        *NOT_RUNNING, crash_at="after-act")
    assert killed.returncode == -signal.SIGKILL
    crash_rows = change_rows(db)
    assert {status for _, status, _ in crash_rows.values()} == {"pending"}
    rerun = fleetcheck("fix", "CR-01", "-i", str(inventory), "--apply", "--db", str(db), "--now", AT_1600,
                       *NOT_RUNNING)
    assert rerun.returncode in (0, 1), rerun.stdout + rerun.stderr
    after = change_rows(db)
    # The next contact decided every write of the crashed run: it is on the PC.
    assert {after[a][1] for a in crash_rows} == {"applied"}
    dry = fleetcheck("fix", "CR-01", "-i", str(inventory), "--now", AT_1600, "--format", "json")
    assert '"actions": 0' in dry.stdout, dry.stdout
    assert fleetcheck("audit", "verify", "--db", str(db)).returncode == 0
    run_id = next(iter(crash_rows)).split("-", 1)[0]
    undone = fleetcheck("rollback", "--run", run_id, "-i", str(inventory), "--db", str(db), "--apply", "--now", AT_1600,
                        *NOT_RUNNING)
    assert undone.returncode == 0, undone.stdout + undone.stderr
    assert snapshot(running) == before
