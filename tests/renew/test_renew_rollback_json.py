"""``renew --rollback RUN --format json``: the rollback outcome as one document (schema, both languages).

One simulated PC: a renewal is applied, then undone with ``--format json``
(state ``rolled_back``, one item per certificate, text in both languages,
the store as before); undoing it again gives ``already_rolled_back`` with the
time, the same bytes in zh and en; a run id that is no renewal run gives
``not_a_renewal_run`` and exit 2.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from jsonschema import Draft202012Validator
from xdist_support import worker_address

from fleetcheck.cli import main
from fleetcheck.resources import templates_dir
from fleetcheck.sim import certgen
from fleetcheck.sim.office import OfficeSpec, RunningOffice, start_office

pytestmark = pytest.mark.sim

NOW = datetime.now(timezone.utc)
HOST = "RJ-OK-1"
PFX_PASSWORD = "Pfx-RbJson-7q!z"
IMAGE = """\
description: Windows 10 compliant, operator logged on, no trading client running (renewal tests)
extends: win10-compliant
processes:
  - {name: msedge.exe, user: '${operator}'}
"""


@dataclass
class Office:
    running: RunningOffice
    inventory: Path
    root: Path
    cn: str


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Office]:
    root = tmp_path_factory.mktemp("renew-json")
    (root / "renew-ok.yaml").write_text(IMAGE, encoding="utf-8")
    spec = OfficeSpec.model_validate({
        "defaults": {"credentials": {"user": "TRADE\\fcadmin", "password": "Renew-Json-WinRM-1"}, "scheme": "http",
                     "faults": {"latency_ms": 0, "agent_ms": 1}},
        "groups": [{"name": "ok", "image": str(root / "renew-ok.yaml"), "count": 1,
                    "vars": {"hostname": "RJ-OK-${n}", "operator": "TRADE\\交易员${index:02}",
                             "operator_name": "交易员${index:02}",
                             "operator_sid": "S-1-5-21-1004336348-1177238915-682003330-${index:04}",
                             "gateway_cert": "F00504Y${index:04}#0", "cert_days_left": 20}}],
    })
    (root / "calendar.yaml").write_text("sessions: []\n", encoding="utf-8")  # the clock never blocks
    with start_office(spec, root / "sim", first_address=worker_address("127.0.178.1"), now=NOW) as running:
        inventory = running.write_inventory(root / "inventory.yaml")
        yield Office(running, inventory, root, str(running.hosts[HOST].plan.vars["gateway_cert"]))


def _renew(office: Office, lang: str, *args: str) -> Result:
    result = CliRunner().invoke(main, ["--lang", lang, "renew", "-i", str(office.inventory),
                                       "--db", str(office.root / "history.db"), "--calendar",
                                       str(office.root / "calendar.yaml"), "--timeout", "30", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def _schema() -> Draft202012Validator:
    document = json.loads((templates_dir() / "renew-rollback.schema.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(document)
    return Draft202012Validator(document)


def test_rollback_json_is_the_outcome_as_one_document(office: Office) -> None:
    folder = office.root / "drop"
    folder.mkdir()
    data, _cert = certgen.make_pfx(certgen.LeafSpec(cn=office.cn, days_left=385), NOW, PFX_PASSWORD)
    (folder / f"{office.cn}.pfx").write_bytes(data)
    secrets = office.root / "passwords.yaml"
    secrets.write_text(f'"{office.cn}": "{PFX_PASSWORD}"\n', encoding="utf-8")
    secrets.chmod(0o600)
    before = office.running.hosts[HOST].host.snapshot()
    applied = _renew(office, "en", "--drop", str(folder), "--passwords", str(secrets), "--apply", "--remove-old",
                     "--format", "json")
    assert applied.exit_code == 0, applied.output
    run_id = json.loads(applied.stdout)["run_id"]

    undone = _renew(office, "en", "--rollback", "latest", "--format", "json")
    assert undone.exit_code == 0, undone.output
    document = json.loads(undone.stdout)  # stdout holds the document only
    assert not [e.message for e in _schema().iter_errors(document)]
    assert document["run_id"] == run_id and document["state"] == "rolled_back"
    assert document["state_label"] == {"zh": "已回滚", "en": "rolled back"} and document["already_rolled_back_at"] is None
    [item] = document["items"]
    assert item["host"] == HOST and item["cn"] == office.cn and item["ok"] is True
    assert item["message"]["en"] == f"{HOST}: the certificate store is as before the renewal"
    assert item["message"]["zh"].startswith(HOST) and item["removed_old"] and item["new_thumbprint"]
    assert office.running.hosts[HOST].host.snapshot() == before  # it was really undone
    assert PFX_PASSWORD not in undone.output

    again = [_renew(office, lang, "--rollback", run_id, "--format", "json") for lang in ("zh", "en")]
    assert [r.exit_code for r in again] == [0, 0] and again[0].stdout_bytes == again[1].stdout_bytes
    repeated = json.loads(again[0].stdout)
    assert not [e.message for e in _schema().iter_errors(repeated)]
    assert repeated["state"] == "already_rolled_back" and repeated["items"] == []
    assert repeated["already_rolled_back_at"].endswith("+00:00")


def test_rollback_json_of_a_run_that_is_no_renewal(office: Office) -> None:
    result = _renew(office, "en", "--rollback", "fix-20260101-000000-abcd", "--format", "json")
    assert result.exit_code == 2
    document = json.loads(result.stdout)
    assert not [e.message for e in _schema().iter_errors(document)]
    assert document["state"] == "not_a_renewal_run" and document["items"] == []
