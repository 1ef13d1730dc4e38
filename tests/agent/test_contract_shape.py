"""The contract's shared bases keep the wire as it was, and the user-SID rule is the agent's.

The field order of every query and action is pinned: pydantic serialises in
field order, and agent.ps1 and recorded captures were written against it.
"""

from __future__ import annotations

import inspect
import re
from datetime import UTC, datetime

import pytest
from pydantic import BaseModel

from fleetcheck.agent import agent_script
from fleetcheck.agent import contract as c
from fleetcheck.sim.image import instantiate

WIRE_FIELDS: dict[type[BaseModel], list[str]] = {
    c.RegistryQuery: ["kind", "id", "hive", "path", "per_user", "depth", "follow", "follow_content",
                      "follow_wow64", "max_content_bytes"],
    c.FileQuery: ["kind", "id", "path", "per_user", "content", "max_content_bytes"],
    c.DirQuery: ["kind", "id", "path", "per_user", "content", "max_files", "max_content_bytes"],
    c.PnpQuery: ["kind", "id", "vendor_id"],
    c.TcpQuery: ["kind", "id", "host", "port", "timeout_ms"],
    c.SetValue: ["kind", "id", "hive", "sid", "path", "name", "value"],
    c.DeleteValue: ["kind", "id", "hive", "sid", "path", "name"],
    c.DeleteKey: ["kind", "id", "hive", "sid", "path"],
    c.RestoreKey: ["kind", "id", "hive", "sid", "path", "tree"],
    c.WriteFile: ["kind", "id", "path", "content", "delete"],
    c.ImportPfx: ["kind", "id", "sid", "pfx", "password", "timeout_ms"],
    c.RemoveCert: ["kind", "id", "sid", "thumbprint"],
    c.RunInstaller: ["kind", "id", "path", "args", "timeout_ms"],
    c.ScheduleReboot: ["kind", "id", "delay_s", "message", "guard_processes", "token"],
    c.CancelReboot: ["kind", "id", "task"],
}


@pytest.mark.parametrize("model", list(WIRE_FIELDS), ids=lambda m: m.__name__)
def test_field_order_on_the_wire_is_unchanged(model: type[BaseModel]) -> None:
    assert list(model.model_fields) == WIRE_FIELDS[model]
    kind = model.model_fields["kind"].default
    assert isinstance(kind, str) and kind  # each narrows the shared discriminator


def test_repeated_field_groups_live_in_shared_bases() -> None:
    registry_writes = (c.SetValue, c.DeleteValue, c.DeleteKey, c.RestoreKey)
    # hive/sid/path are declared once, on one base, not on each action
    owners = {
        next(k for k in m.__mro__ if "hive" in inspect.get_annotations(k))
        for m in registry_writes
    }
    assert len(owners) == 1
    owners = {
        next(k for k in m.__mro__ if "per_user" in inspect.get_annotations(k))
        for m in (c.FileQuery, c.DirQuery)
    }
    assert len(owners) == 1


def test_a_set_value_dump_is_byte_for_byte_the_old_one() -> None:
    action = c.SetValue(id="a1", hive="HKU", sid="S-1-5-21-1-2-3-1001", path="Software\\X", name="",
                        value=c.RegValue(t="DWORD", v=1))
    assert action.model_dump_json() == (
        '{"kind":"set_value","id":"a1","hive":"HKU","sid":"S-1-5-21-1-2-3-1001",'
        '"path":"Software\\\\X","name":"","value":{"t":"DWORD","v":1}}'
    )


def test_user_sid_prefixes_are_the_agents() -> None:
    script = agent_script().decode("utf-8")
    body = re.search(r"function Test-UserSid \{(.*?)\n\}", script, re.S)
    assert body is not None
    patterns = re.findall(r"\$Sid -like '([^']*)\*'", body.group(1))
    assert tuple(patterns) == c.USER_SID_PREFIXES


def test_the_simulator_answers_for_loaded_real_user_hives_only() -> None:
    image = instantiate(
        "os: {version: 10.0.19045, build: 19045, caption: Windows 10, ps_version: '5.1',"
        " clr_version: '4.0', hostname: PC}\n"
        "profiles:\n"
        "  - {sid: S-1-5-18, loaded: true, path: 'C:\\Windows\\system32\\config\\systemprofile'}\n"
        "  - {sid: S-1-12-1-11-22-33-44, loaded: true, path: 'C:\\Users\\aad'}\n"
        "  - {sid: S-1-5-21-1-2-3-1001, loaded: true, path: 'C:\\Users\\local'}\n"
        "  - {sid: S-1-5-21-1-2-3-1002, loaded: false, path: 'C:\\Users\\away'}\n",
        now=datetime(2026, 12, 1, tzinfo=UTC),
    )
    assert [p.sid for p in image.loaded_user_profiles()] == ["S-1-12-1-11-22-33-44", "S-1-5-21-1-2-3-1001"]
