"""The PFX and its password reach the agent, and nothing else: not repr, str or a traceback."""

from __future__ import annotations

import json

from pydantic import SecretStr

from fleetcheck.agent.contract import ImportPfx, ProbeRequest
from fleetcheck.inventory.model import HostSpec
from fleetcheck.runner import SweepJob

PASSWORD = "Pfx-S3cret-口令"
PFX_B64 = "TUlJS0VRSUJBekNDQ2M4R0NTcUdTSWIzRFFFSEFhQ0NDY0FFZ2duOE1JSUp1RENDQk84R0NTcUdTSWIz"


def test_import_action_keeps_secrets_out_of_repr_but_on_the_wire() -> None:
    action = ImportPfx(id="r1-import", sid="S-1-5-21-1-2-3-1001", pfx=PFX_B64, password=PASSWORD)
    request = ProbeRequest(actions=[action])
    host = HostSpec(name="PC-1", address="127.0.9.9", user="admin", password=SecretStr("WinRM-S3cret"))
    job = SweepJob(host=host, request=request)
    for text in (repr(action), str(action), repr(request), repr(job), str(job)):
        assert PASSWORD not in text and PFX_B64 not in text and "WinRM-S3cret" not in text
    wire = json.loads(request.model_dump_json())
    assert wire["actions"][0]["password"] == PASSWORD and wire["actions"][0]["pfx"] == PFX_B64
