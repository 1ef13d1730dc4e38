"""Over WS-Management (NTLM, the real pywinrm client): a simulated PC with an
unpaired UTF-16 surrogate in a user registry value answers like any other PC,
in the agent's ASCII JSON with ``\\uXXXX`` escapes, whatever the shell code page."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fleetcheck.agent import parse_output
from fleetcheck.agent.contract import ProbeRequest, RegistryQuery

from .conftest import protocol, run_agent

OPERATOR_SID = "S-1-5-21-1004336348-1177238915-682003330-1105"
IMAGE = """
extends: win10-compliant
profiles:
  - sid: ${operator_sid}
    registry:
      'Software\\\\fleetcheck-test':
        Lone: {t: SZ, v: "a\\ud800b"}  # a YAML escape: one lone surrogate
"""


@pytest.mark.parametrize("codepage", [65001, 936])
def test_a_lone_surrogate_in_a_user_value_is_answered_over_winrm(
    make_office: Any, tmp_path: Path, codepage: int
) -> None:
    image = tmp_path / "lone-surrogate.yaml"
    image.write_text(IMAGE, encoding="utf-8")
    office = make_office([{"name": "g", "image": str(image), "count": 1, "vars": {"hostname": "LONE-${n}"}}])
    name = next(iter(office.hosts))
    request = ProbeRequest(queries=[RegistryQuery(id="k", hive="HKU", path="Software\\fleetcheck-test", per_user=True)])
    out, err, rc, _ = run_agent(protocol(office, name), codepage=codepage, request=request)
    assert rc == 0, err
    assert out.isascii() and b"a\\ud800b" in out
    raw = json.loads(out)
    answer = next(a for a in raw["answers"] if a["id"] == "k" and a["sid"] == OPERATOR_SID)
    assert answer["status"] == "ok" and answer["key"]["values"]["Lone"]["v"] == "a\ud800b"
    parsed = parse_output(out)  # the controller's parser takes it (see fleetcheck.textsafe)
    value = parsed.answer("k", OPERATOR_SID).key.value("Lone").v  # type: ignore[union-attr]
    assert isinstance(value, str) and value.startswith("a") and value.endswith("b")
