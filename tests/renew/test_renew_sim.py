"""``fleetcheck renew`` end to end against a small simulated office (issue 7 acceptance).

One office, one module; tests run in file order and build on each other:

1. valid renewals for three hosts: the dry run changes nothing; ``--apply``
   imports, a scan then shows each new certificate (later expiry, private key)
   and the certificate-validity finding passes; a second run changes nothing;
2. wrong password, key/certificate mismatch, CN without ``#0``, NotAfter
   earlier than installed, wrong issuer, expired: each refused with its own
   reason, and no host changed (SimulatedHost.snapshot() before/after);
3. a host without a logged-on operator ends ``pending``; after the operator
   logs on, the next run imports it;
4. the guard refuses during a trading session and while a trading client runs;
5. ``--remove-old`` removes the old certificate with a backup, and
   ``--rollback`` restores the store exactly;
6. no PFX password anywhere: output, files written, every store table, the
   audit log.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from xdist_support import worker_address

from fleetcheck.cli import main
from fleetcheck.sim import certgen
from fleetcheck.sim.office import OfficeSpec, RunningOffice, start_office
from fleetcheck.store import Store
from fleetcheck.store.audit import AuditLog

pytestmark = pytest.mark.sim

NOW = datetime.now(timezone.utc)
WINRM_PASSWORD = "Renew-WinRM-4711"
OK_HOSTS = ["RN-OK-1", "RN-OK-2", "RN-OK-3"]
REFUSE_HOSTS = {  # host -> what is wrong with its PFX
    "RN-REF-1": "wrong_password",
    "RN-REF-2": "key_mismatch",
    "RN-REF-3": "not_file_certificate",
    "RN-REF-4": "not_later",
    "RN-REF-5": "wrong_issuer",
    "RN-REF-6": "expired",
}
AWAY_HOST = "RN-AWAY-1"
ROLLBACK_HOST = "RN-RB-1"
INSTALLED_DAYS = 20  # inside the 30-day renewal window: R14 fails before, passes after
RENEWED_DAYS = 385

NO_TRADING_CLIENT_IMAGE = """\
description: Windows 10 compliant, operator logged on, no trading client running (renewal tests)
extends: win10-compliant
processes:
  - {name: msedge.exe, user: '${operator}'}
"""
AWAY_IMAGE = """\
description: Windows 10, operator not logged on (renewal tests)
extends: win10-no-operator
"""
NO_SESSIONS = "sessions: []\n"  # a calendar without sessions: the clock never blocks these tests


@dataclass
class Office:
    running: RunningOffice
    inventory: Path
    root: Path
    db: Path
    calendar: Path
    cns: dict[str, str]  # host -> gateway certificate CN
    outputs: list[str] = field(default_factory=list)  # every stdout/stderr of every CLI run
    passwords: list[str] = field(default_factory=list)

    def host(self, name: str) -> Any:
        return self.running.hosts[name].host

    def snapshots(self) -> dict[str, Any]:
        return {name: self.host(name).snapshot() for name in self.running.hosts}


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Office]:
    root = tmp_path_factory.mktemp("renew")
    (root / "img").mkdir()
    (root / "img" / "renew-ok.yaml").write_text(NO_TRADING_CLIENT_IMAGE, encoding="utf-8")
    (root / "img" / "renew-away.yaml").write_text(AWAY_IMAGE, encoding="utf-8")
    base_vars = {"operator": "TRADE\\交易员${index:02}", "operator_name": "交易员${index:02}",
                 "operator_sid": "S-1-5-21-1004336348-1177238915-682003330-${index:04}",
                 "gateway_cert": "F00504Y${index:04}#0", "cert_days_left": INSTALLED_DAYS}
    groups = [
        {"name": "ok", "image": str(root / "img" / "renew-ok.yaml"), "count": 3,
         "vars": {"hostname": "RN-OK-${n}", **base_vars}},
        {"name": "ref", "image": str(root / "img" / "renew-ok.yaml"), "count": 6,
         "vars": {"hostname": "RN-REF-${n}", **base_vars}},
        {"name": "away", "image": str(root / "img" / "renew-away.yaml"), "count": 1,
         "vars": {"hostname": "RN-AWAY-${n}", **base_vars}},
        {"name": "rb", "image": str(root / "img" / "renew-ok.yaml"), "count": 1,
         "vars": {"hostname": "RN-RB-${n}", **base_vars}},
        {"name": "trading", "image": "win10-trading-client-running", "count": 1,  # TdxW.exe runs here
         "vars": {"hostname": "RN-TRADE-${n}", **base_vars}},
    ]
    spec = OfficeSpec.model_validate({
        "defaults": {"credentials": {"user": "TRADE\\fcadmin", "password": WINRM_PASSWORD}, "scheme": "http",
                     "faults": {"latency_ms": 0, "agent_ms": 1}},
        "groups": groups,
    })
    calendar = root / "calendar.yaml"
    calendar.write_text(NO_SESSIONS, encoding="utf-8")
    with start_office(spec, root / "sim", first_address=worker_address("127.0.93.1"), now=NOW) as running:
        inventory = running.write_inventory(root / "inventory.yaml")
        cns = {name: str(h.plan.vars["gateway_cert"]) for name, h in running.hosts.items()}
        yield Office(running, inventory, root, root / "history.db", calendar, cns)


def _pfx(cn: str, password: str, *, days_left: float = RENEWED_DAYS, issuer: str = certgen.DEFAULT_CA_NAME) -> bytes:
    data, _cert = certgen.make_pfx(certgen.LeafSpec(cn=cn, days_left=days_left, issuer=issuer), NOW, password)
    return data


def _mismatched_pfx(cn: str, password: str) -> bytes:
    """A PFX whose private key is not the certificate's (cryptography refuses to build one directly)."""
    cert = certgen.leaf_certificate(certgen.LeafSpec(cn=cn, days_left=RENEWED_DAYS), NOW, key=certgen.pool_key(0))
    return pkcs12.serialize_key_and_certificates(
        cn.encode(), certgen.pool_key(1), None, [cert, certgen.certificate_authority()[1]],
        serialization.BestAvailableEncryption(password.encode()))


def _drop(office: Office, name: str, pfx: dict[str, tuple[bytes, str]], *, password_override: dict[str, str] | None = None
          ) -> tuple[Path, Path]:
    """A drop folder ``<name>/`` with ``<CN>.pfx`` files and its passwords file (mode 600)."""
    folder = office.root / name
    folder.mkdir()
    lines = []
    for cn, (data, password) in pfx.items():
        (folder / f"{cn}.pfx").write_bytes(data)
        given = (password_override or {}).get(cn, password)
        office.passwords.extend({password, given})
        lines.append(f'"{cn}": "{given}"')
    secrets = office.root / f"{name}-passwords.yaml"
    secrets.write_text("\n".join(lines) + "\n", encoding="utf-8")
    secrets.chmod(0o600)
    return folder, secrets


def _renew(office: Office, *args: str, input: str | None = None) -> Result:
    result = CliRunner().invoke(
        main, ["--lang", "en", "renew", "-i", str(office.inventory), "--db", str(office.db),
               "--calendar", str(office.calendar), "--timeout", "30", *args], input=input)
    office.outputs += [result.stdout, result.stderr]
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def _scan(office: Office, limit: str) -> dict[str, dict[str, Any]]:
    out = office.root / f"scan-{len(office.outputs)}"
    result = CliRunner().invoke(main, ["--lang", "en", "scan", "-i", str(office.inventory), "--limit", limit,
                                       "--out", str(out), "--timeout", "30"])
    office.outputs += [result.stdout, result.stderr]
    doc = json.loads((out / "results.json").read_text(encoding="utf-8"))
    return {h["host"]: h for h in doc["hosts"]}


def _cert_findings(host: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["check_id"]: f for f in host["findings"] if f["check_type"] == "certificate"}


# --------------------------------------------------------------------------- 1. valid renewals


def test_valid_renewals_dry_run_then_apply(office: Office) -> None:
    before_scan = _scan(office, "ok")
    for name in OK_HOSTS:
        validity = _cert_findings(before_scan[name])["gateway-cert-validity"]
        assert validity["status"] == "fail" and validity["details"]["days_left"] < 30
    pfx = {office.cns[h]: (_pfx(office.cns[h], f"Pfx-Ok-{h}-q7#z"), f"Pfx-Ok-{h}-q7#z") for h in OK_HOSTS}
    folder, secrets = _drop(office, "drop-ok", pfx)
    snapshots = office.snapshots()

    dry = _renew(office, "--drop", str(folder), "--passwords", str(secrets), "--limit", "ok")
    assert dry.exit_code == 0, dry.output
    assert dry.stdout.count("planned") >= 3 and "dry run" in dry.stdout
    assert office.snapshots() == snapshots  # a dry run changes nothing

    applied = _renew(office, "--drop", str(folder), "--passwords", str(secrets), "--limit", "ok", "--apply")
    assert applied.exit_code == 0, applied.output
    assert applied.stdout.count("installed") >= 3

    after = _scan(office, "ok")
    for name in OK_HOSTS:
        certs = _cert_findings(after[name])
        present, validity = certs["gateway-cert-present"], certs["gateway-cert-validity"]
        old_days = _cert_findings(before_scan[name])["gateway-cert-validity"]["details"]["days_left"]
        assert present["status"] == "pass" and present["details"]["has_private_key"] is True
        assert validity["status"] == "pass"
        assert validity["details"]["days_left"] >= RENEWED_DAYS - 1 > old_days
        assert present["details"]["subject_cn"] == office.cns[name]
        new_thumb = present["details"]["thumbprint"]
        assert new_thumb != _cert_findings(before_scan[name])["gateway-cert-present"]["details"]["thumbprint"]
        # The old certificate stays (no --remove-old).
        assert any(o["days_left"] == old_days for o in present["details"]["others"])

    again = _renew(office, "--drop", str(folder), "--passwords", str(secrets), "--limit", "ok", "--apply")
    assert again.exit_code == 0 and again.stdout.count("already installed") >= 3, again.output

    # --ask: one hidden prompt per file (sorted by name); input is not echoed.
    typed = "".join(f"{pfx[office.cns[h]][1]}\n" for h in sorted(OK_HOSTS, key=lambda h: office.cns[h]))
    asked = _renew(office, "--drop", str(folder), "--ask", "--limit", "ok", input=typed)
    assert asked.exit_code == 0 and asked.stdout.count("already installed") >= 3, asked.output
    assert "password of F00504Y0001#0.pfx" in asked.stderr


# --------------------------------------------------------------------------- 2. refusals


def test_bad_pfx_files_are_refused_each_with_its_reason(office: Office) -> None:
    cn = {h: office.cns[h] for h in REFUSE_HOSTS}
    pfx: dict[str, tuple[bytes, str]] = {}
    pfx[cn["RN-REF-1"]] = (_pfx(cn["RN-REF-1"], "Pfx-Right-1-k2"), "Pfx-Right-1-k2")
    pfx[cn["RN-REF-2"]] = (_mismatched_pfx(cn["RN-REF-2"], "Pfx-Ref-2-m9"), "Pfx-Ref-2-m9")
    no_hash = cn["RN-REF-3"].removesuffix("#0")
    pfx[no_hash] = (_pfx(no_hash, "Pfx-Ref-3-x1"), "Pfx-Ref-3-x1")
    pfx[cn["RN-REF-4"]] = (_pfx(cn["RN-REF-4"], "Pfx-Ref-4-e5", days_left=INSTALLED_DAYS - 10), "Pfx-Ref-4-e5")
    pfx[cn["RN-REF-5"]] = (_pfx(cn["RN-REF-5"], "Pfx-Ref-5-i3", issuer="Rogue Issuing CA"), "Pfx-Ref-5-i3")
    pfx[cn["RN-REF-6"]] = (_pfx(cn["RN-REF-6"], "Pfx-Ref-6-d8", days_left=-3), "Pfx-Ref-6-d8")
    folder, secrets = _drop(office, "drop-bad", pfx, password_override={cn["RN-REF-1"]: "Pfx-Wrong-1-zz"})
    snapshots = office.snapshots()
    result = _renew(office, "--drop", str(folder), "--passwords", str(secrets), "--apply")
    assert result.exit_code == 1, result.output
    assert office.snapshots() == snapshots  # nothing changed on any host
    out = result.stdout
    expected = {
        "RN-REF-1": "wrong password",
        "RN-REF-2": "key/certificate mismatch",
        "RN-REF-3": "does not end with '#0'",
        "RN-REF-4": "is not later than the certificate installed on RN-REF-4",
        "RN-REF-5": "issued by Rogue Issuing CA, expected SCCC Gateway CA (simulated)",
        "RN-REF-6": "the certificate expired on",
    }
    blocks = _blocks(out)
    for host, phrase in expected.items():
        name = (no_hash if host == "RN-REF-3" else cn[host]) + ".pfx"
        assert phrase in blocks[name], (host, blocks[name])
        assert "refused" in blocks[name]
        others = [p for h, p in expected.items() if h != host]
        assert not any(p in blocks[name] for p in others), (host, blocks[name])
    with Store.open(str(office.db)) as store:
        codes = {e.details["file"]: e.result.split(":")[0] for e in AuditLog(store).entries() if e.event == "refused"}
    assert codes[cn["RN-REF-1"] + ".pfx"] == "wrong_password"
    assert codes[cn["RN-REF-2"] + ".pfx"] == "key_mismatch"
    assert codes[no_hash + ".pfx"] == "not_file_certificate"
    assert codes[cn["RN-REF-4"] + ".pfx"] == "not_later"
    assert codes[cn["RN-REF-5"] + ".pfx"] == "wrong_issuer"
    assert codes[cn["RN-REF-6"] + ".pfx"] == "expired"


def _blocks(stdout: str) -> dict[str, str]:
    """Output lines grouped per PFX file: the item line and its indented reason line."""
    blocks: dict[str, str] = {}
    current = None
    for line in stdout.splitlines():
        if line.startswith("  ") and not line.startswith("      ") and ".pfx" in line:
            current = line.split()[0]
            blocks[current] = line
        elif line.startswith("      ") and current is not None:
            blocks[current] += "\n" + line
    return blocks


# --------------------------------------------------------------------------- 3. pending


def test_operator_not_logged_on_is_pending_then_imported_after_login(office: Office) -> None:
    cn = office.cns[AWAY_HOST]
    folder, secrets = _drop(office, "drop-away", {cn: (_pfx(cn, "Pfx-Away-p4"), "Pfx-Away-p4")})
    snapshot = office.host(AWAY_HOST).snapshot()
    first = _renew(office, "--drop", str(folder), "--passwords", str(secrets), "--limit", AWAY_HOST, "--apply")
    assert first.exit_code == 1 and "pending" in first.stdout and "not logged on" in first.stdout, first.output
    assert office.host(AWAY_HOST).snapshot() == snapshot
    with Store.open(str(office.db)) as store:
        from fleetcheck.renew.records import RenewalLog

        assert [(r.host, r.cn) for r in RenewalLog(store).pending()] == [(AWAY_HOST, cn)]
        audited = [(e.event, e.result) for e in AuditLog(store).entries(host=AWAY_HOST)]
        assert audited == [("skipped", "pending: no operator logged on")]

    office.host(AWAY_HOST).login("TRADE\\交易员10")
    second = _renew(office, "--drop", str(folder), "--passwords", str(secrets), "--limit", AWAY_HOST, "--apply")
    assert second.exit_code == 0, second.output
    assert "installed" in second.stdout and "was pending" in second.stdout and "1 pending renewal" in second.stdout
    with Store.open(str(office.db)) as store:
        from fleetcheck.renew.records import RenewalLog

        assert RenewalLog(store).pending() == []
    present = _cert_findings(_scan(office, AWAY_HOST)[AWAY_HOST])["gateway-cert-present"]
    assert present["status"] == "pass" and present["details"]["days_left"] >= RENEWED_DAYS - 1


# --------------------------------------------------------------------------- 4. guard


def test_guard_refuses_trading_client_and_trading_hours(office: Office) -> None:
    host = "RN-TRADE-1"
    cn = office.cns[host]
    folder, secrets = _drop(office, "drop-trade", {cn: (_pfx(cn, "Pfx-Trade-g1"), "Pfx-Trade-g1")})
    snapshot = office.host(host).snapshot()
    refused = _renew(office, "--drop", str(folder), "--passwords", str(secrets), "--limit", host, "--apply")
    assert refused.exit_code == 1 and "a trading client is running: TdxW.exe" in refused.stdout, refused.output
    assert office.host(host).snapshot() == snapshot
    # A calendar whose session covers every minute of every day: refused by the clock as well.
    always = office.root / "always.yaml"
    days = f"[{NOW.date()}, {(NOW + timedelta(days=1)).date()}]"
    always.write_text(f'sessions: [["00:00", "23:59"]]\nextra_trading_days: {days}\n', encoding="utf-8")
    if datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%H:%M") == "23:59":
        pytest.skip("ran in the only minute such a calendar leaves free")
    clock = CliRunner().invoke(main, ["--lang", "en", "renew", "-i", str(office.inventory), "--db", str(office.db),
                                      "--calendar", str(always), "--drop", str(folder), "--passwords", str(secrets),
                                      "--limit", host, "--apply", "--trading-process", "NoSuchClient.exe"])
    office.outputs += [clock.stdout, clock.stderr]
    assert "inside a trading session" in clock.stdout, clock.output
    assert clock.exit_code == 1 and office.host(host).snapshot() == snapshot
    forced = _renew(office, "--drop", str(folder), "--passwords", str(secrets), "--limit", host, "--apply", "--force")
    assert forced.exit_code == 0 and "forced (--force)" in forced.stdout, forced.output
    with Store.open(str(office.db)) as store:
        entries = [e for e in AuditLog(store).entries(host=host) if e.event == "applied"]
    assert entries and entries[-1].forced is True


# --------------------------------------------------------------------------- 5. remove old + rollback


def test_remove_old_then_rollback_restores_the_store(office: Office) -> None:
    cn = office.cns[ROLLBACK_HOST]
    folder, secrets = _drop(office, "drop-rb", {cn: (_pfx(cn, "Pfx-Rb-r2"), "Pfx-Rb-r2")})
    before = office.host(ROLLBACK_HOST).snapshot()
    old = _cert_findings(_scan(office, ROLLBACK_HOST)[ROLLBACK_HOST])["gateway-cert-present"]["details"]
    applied = _renew(office, "--drop", str(folder), "--passwords", str(secrets), "--limit", ROLLBACK_HOST,
                     "--apply", "--remove-old")
    assert applied.exit_code == 0, applied.output
    present = _cert_findings(_scan(office, ROLLBACK_HOST)[ROLLBACK_HOST])["gateway-cert-present"]["details"]
    assert present["thumbprint"] != old["thumbprint"]
    assert old["thumbprint"] not in {o["thumbprint"] for o in present["others"]}  # removed
    run_id = next(w for w in applied.stdout.split() if w.startswith("renew-"))

    # `fleetcheck rollback --run` knows renewal runs too: a dry run first (nothing changes), then --apply
    # (guarded like fix: calendar from the test).
    dry = CliRunner().invoke(main, ["--lang", "en", "rollback", "--run", run_id, "-i", str(office.inventory),
                                    "--db", str(office.db)])
    assert dry.exit_code == 0 and f"{ROLLBACK_HOST}: would remove the new certificate {cn}" in dry.stdout, dry.output
    assert "dry run: nothing was changed" in dry.stdout and office.host(ROLLBACK_HOST).snapshot() != before
    rolled = CliRunner().invoke(main, ["--lang", "en", "rollback", "--run", run_id, "-i", str(office.inventory),
                                       "--db", str(office.db), "--timeout", "30", "--apply",
                                       "--calendar", str(office.calendar)])
    office.outputs += [rolled.stdout, rolled.stderr]
    assert rolled.exit_code == 0 and "as before the renewal" in rolled.stdout, rolled.output
    assert office.host(ROLLBACK_HOST).snapshot() == before  # exactly the previous store state

    # Again, undone this time with `renew --rollback latest` (guarded, calendar from the test).
    again = _renew(office, "--drop", str(folder), "--passwords", str(secrets), "--limit", ROLLBACK_HOST,
                   "--apply", "--remove-old")
    assert again.exit_code == 0 and office.host(ROLLBACK_HOST).snapshot() != before, again.output
    undone = _renew(office, "--rollback", "latest")
    assert undone.exit_code == 0, undone.output
    assert office.host(ROLLBACK_HOST).snapshot() == before
    with Store.open(str(office.db)) as store:
        entries = AuditLog(store).entries(host=ROLLBACK_HOST)
        assert [e.event for e in entries].count("rolled_back") == 2 and entries[-1].event == "rolled_back"
        assert [e.event for e in entries].count("applied") == 4  # import + remove, twice
        assert AuditLog(store).verify() == []
    nothing = _renew(office, "--rollback", run_id)  # already rolled back: nothing left to undo
    assert nothing.exit_code == 0 and f"the renewal run {run_id} was already rolled back" in nothing.stdout
    assert "(Asia/Shanghai)" in nothing.stdout and "+00:00" not in nothing.stdout  # office time, zone named
    # `rollback --run` of the run `renew --rollback latest` undid says the same (not "no changes recorded").
    latest = next(w for w in again.stdout.split() if w.startswith("renew-"))
    repeated = CliRunner().invoke(main, ["--lang", "en", "rollback", "--run", latest, "-i", str(office.inventory),
                                         "--db", str(office.db), "--timeout", "30"])
    office.outputs += [repeated.stdout, repeated.stderr]
    assert repeated.exit_code == 0, repeated.output
    assert f"the renewal run {latest} was already rolled back" in repeated.stdout
    assert "no changes recorded" not in repeated.output and office.host(ROLLBACK_HOST).snapshot() == before
    zh = CliRunner().invoke(main, ["rollback", "--run", latest, "-i", str(office.inventory), "--db", str(office.db)])
    assert zh.exit_code == 0 and "已于" in zh.stdout and "回滚" in zh.stdout


# --------------------------------------------------------------------------- 6. no password anywhere


def test_pfx_passwords_appear_nowhere(office: Office) -> None:
    assert office.passwords, "earlier tests provide the passwords"
    texts = list(office.outputs)
    for path in office.root.rglob("*"):
        if path.is_file() and not path.name.endswith("-passwords.yaml") and path.suffix != ".pfx":
            texts.append(path.read_bytes().decode("utf-8", "replace"))
    engine = sa.create_engine(f"sqlite:///{office.db}")
    meta = sa.MetaData()
    meta.reflect(engine)
    with engine.connect() as conn:
        for table in meta.sorted_tables:
            texts += [repr(tuple(row)) for row in conn.execute(sa.select(table))]
    engine.dispose()
    with Store.open(str(office.db)) as store:
        entries = AuditLog(store).entries()
    assert any(e.details and e.details.get("renewal") for e in entries)
    texts += [json.dumps(e.__dict__, ensure_ascii=False, default=str) for e in entries]
    assert len(texts) > 20
    for secret in office.passwords:
        assert all(secret not in text for text in texts), secret


def test_now_sets_the_guards_clock_for_renew(office: Office) -> None:
    host = "RN-TRADE-1"
    cn = office.cns[host]
    folder, secrets = _drop(office, "drop-now", {cn: (_pfx(cn, "Pfx-Trade-now", days_left=RENEWED_DAYS + 20),
                                                      "Pfx-Trade-now")})
    snapshot = office.host(host).snapshot()
    # The default calendar; Wednesday 2026-03-04 10:00 Shanghai is inside the morning session.
    result = CliRunner().invoke(main, ["--lang", "en", "renew", "-i", str(office.inventory), "--db", str(office.db),
                                       "--drop", str(folder), "--passwords", str(secrets), "--limit", host,
                                       "--apply", "--trading-process", "NoSuchClient.exe", "--timeout", "30",
                                       "--now", "2026-03-04T10:00+08:00"])
    office.outputs += [result.stdout, result.stderr]
    assert result.exit_code == 1 and "inside a trading session" in result.stdout, result.output
    assert office.host(host).snapshot() == snapshot


# --------------------------------------------------------------------------- 7. --format json (issue 15)


def test_renew_json_matches_its_schema_and_is_the_same_in_every_language(office: Office) -> None:
    import jsonschema

    from fleetcheck.resources import templates_dir

    validator = jsonschema.Draft202012Validator(
        json.loads((templates_dir() / "renew.schema.json").read_text(encoding="utf-8")))
    host, other = OK_HOSTS[0], OK_HOSTS[1]
    cn, good = office.cns[host], office.cns[other]
    folder, secrets = _drop(office, "drop-json", {cn: (_pfx(cn, "Pfx-Json-4k!x"), "Pfx-Json-4k!x"),
                                                  good: (_pfx(good, "Pfx-Json-9m?y", days_left=RENEWED_DAYS + 30), "Pfx-Json-9m?y")},
                            password_override={cn: "wrong-one"})
    outputs = []
    for lang in ("zh", "en"):
        result = CliRunner().invoke(main, ["--lang", lang, "renew", "-i", str(office.inventory), "--db", str(office.db),
                                           "--calendar", str(office.calendar), "--timeout", "30", "--drop", str(folder),
                                           "--passwords", str(secrets), "--limit", f"{host}:{other}",
                                           "--format", "json"])
        office.outputs += [result.stdout, result.stderr]
        assert result.exit_code == 1, result.output  # the PFX is refused (wrong password)
        outputs.append(result.stdout_bytes)
    assert outputs[0] == outputs[1]
    data = json.loads(outputs[0])
    assert not list(validator.iter_errors(data))
    assert data["applied"] is False and data["run_id"] is None
    items = {i["cn"]: i for i in data["items"]}
    item, planned = items[cn], items[good]
    assert item["state"] == "refused" and [r["code"] for r in item["reasons"]] == ["wrong_password"]
    assert set(item["reasons"][0]["text"]) == {"zh", "en"}
    assert planned["state"] == "planned" and planned["host"] == other
    assert planned["new_not_after"].endswith("+00:00") and planned["old_not_after"].endswith("+00:00")
    assert "wrong-one" not in outputs[0].decode("utf-8") and "Pfx-Json-4k!x" not in outputs[0].decode("utf-8")
    # --rollback has its JSON document too (tests/renew/test_renew_rollback_json.py): here, a run id that is no renewal
    unknown = CliRunner().invoke(main, ["--lang", "en", "renew", "-i", str(office.inventory), "--rollback",
                                        "renew-nosuch", "--db", str(office.db), "--format", "json"])
    assert unknown.exit_code == 2 and json.loads(unknown.stdout)["state"] == "not_a_renewal_run"
