"""The simulator and agent.ps1 implement one contract twice. These checks tie the
simulator's texts and limits to the shipped agent.ps1, so that a change on one
side that is not made on the other fails here, naming what drifted."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fleetcheck.agent import agent_script
from fleetcheck.sim import executor

AGENT = agent_script().decode("utf-8")


@pytest.mark.parametrize(
    "fragment",
    [
        "has no interactive session (no explorer.exe): import not possible now",
        "is not loaded (user not logged on)",
        "import in the user session failed: ",
        "the PFX holds no certificate with a private key",
        "installer not found: ",
        "installer still running after ",
        "installer exit code ",
        "a fleetcheck reboot is already scheduled (",
        "installer on a network share cannot be read from this WinRM session: ",
        "an NTLM or Basic logon has no network credentials); copy the installer to the PC first",
        "shell, so it did not ",
        "complete; give it a longer timeout or install by hand",
        "is too large to back up (at most ",
        "bytes of backups per request, ",
        "the import task did not finish within ",
        "no connection within ",
        "refusing to delete or replace a hive root (empty path)",
        "levels: not deleted (backup would be incomplete)",
        "tree to restore is too deep",
        "sid is required for HKU",
        "{profile} needs per_user=true",
    ],
)
def test_simulator_messages_are_the_agents(fragment: str) -> None:
    assert fragment in AGENT, (
        f"agent.ps1 no longer says {fragment!r}: update fleetcheck.sim.executor"
    )
    simulator_source = Path(executor.__file__).read_text(encoding="utf-8")
    assert fragment.split("{", maxsplit=1)[0].strip() in simulator_source


def test_limits_are_the_agents() -> None:
    depth = re.search(r"^\$MaxTreeDepth = (\d+)", AGENT, re.MULTILINE)
    backup = re.search(r"^\$MaxBackupBytes = (\d+)", AGENT, re.MULTILINE)
    assert depth and int(depth.group(1)) == executor.MAX_TREE_DEPTH
    assert backup and int(backup.group(1)) == executor.MAX_BACKUP_BYTES
    stale = re.search(r"^\$StaleTaskMinutes = (\d+)", AGENT, re.MULTILINE)
    stale_reboot = re.search(r"^\$StaleRebootMinutes = 2 \* 24 \* 60", AGENT, re.MULTILINE)
    assert stale and int(stale.group(1)) == executor.STALE_TASK_MINUTES
    assert stale_reboot and executor.STALE_REBOOT_MINUTES == 2 * 24 * 60


def test_agent_version_is_the_agents() -> None:
    found = re.search(r"^\$AgentVersion = '([^']*)'", AGENT, re.MULTILINE)
    assert found and found.group(1) == executor.AGENT_VERSION


def test_reboot_markers_are_the_ones_the_agent_reads() -> None:
    for marker in executor.REBOOT_MARKERS:
        assert marker in AGENT
    assert "PendingFileRenameOperations" in AGENT
