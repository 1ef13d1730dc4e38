"""Pure PFX validation, host matching and the passwords file (no network)."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from fleetcheck.findings import Finding, FindingStatus, HostResult, HostStatus, RunResult, Severity
from fleetcheck.i18n import T
from fleetcheck.renew.match import match_host
from fleetcheck.renew.passwords import PasswordFileError, PfxPassword, load_password_file
from fleetcheck.renew.validate import InstalledCertificate, RenewalPfx, check_renewal, open_pfx
from fleetcheck.sim import certgen

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)
CN = "F00504Y0007#0"
PW = PfxPassword("Unit-Pfx-Secret-91")


def _valid(cn: str = CN, days: float = 400, issuer: str = certgen.DEFAULT_CA_NAME) -> bytes:
    return certgen.make_pfx(certgen.LeafSpec(cn=cn, days_left=days, issuer=issuer), NOW, PW.reveal())[0]


def _codes(result: object) -> list[str]:
    assert isinstance(result, list), result
    return [r.code for r in result]


def test_valid_pfx_opens_with_its_facts() -> None:
    pfx = open_pfx(f"{CN}.pfx", _valid(), PW, NOW)
    assert isinstance(pfx, RenewalPfx)
    assert pfx.cn == CN and pfx.issuer == certgen.DEFAULT_CA_NAME and len(pfx.thumbprint) == 40
    assert (pfx.not_after - NOW).days == 400 and len(pfx.sha256) == 64


@pytest.mark.parametrize(("make", "password", "code"), [
    (_valid, PfxPassword("not-it"), "wrong_password"),
    (lambda: b"\x30\x03\x02\x01\x03", PW, "unreadable"),
    (lambda: b"hello, not a pfx", PW, "unreadable"),
    (lambda: _valid(cn="F00504Y0007"), PW, "not_file_certificate"),
    (lambda: _valid(days=-1), PW, "expired"),
])
def test_stage_one_refusals(make: object, password: PfxPassword, code: str) -> None:
    name = "F00504Y0007.pfx" if code == "not_file_certificate" else f"{CN}.pfx"
    assert code in _codes(open_pfx(name, make(), password, NOW))  # type: ignore[operator]


def test_key_mismatch_and_missing_key() -> None:
    cert = certgen.leaf_certificate(certgen.LeafSpec(cn=CN, days_left=400), NOW, key=certgen.pool_key(0))
    enc = serialization.BestAvailableEncryption(PW.reveal().encode())
    mismatched = pkcs12.serialize_key_and_certificates(b"x", certgen.pool_key(1), None, [cert], enc)
    assert _codes(open_pfx(f"{CN}.pfx", mismatched, PW, NOW)) == ["key_mismatch"]
    keyless = pkcs12.serialize_key_and_certificates(b"x", None, None, [cert], enc)
    assert _codes(open_pfx(f"{CN}.pfx", keyless, PW, NOW)) == ["no_private_key"]
    ca_only = pkcs12.serialize_key_and_certificates(b"x", None, None, [certgen.certificate_authority()[1]], enc)
    assert _codes(open_pfx(f"{CN}.pfx", ca_only, PW, NOW)) == ["no_certificate"]


def test_file_name_must_be_the_cn_and_not_yet_valid() -> None:
    assert _codes(open_pfx("renamed.pfx", _valid(), PW, NOW)) == ["name_mismatch"]
    key = certgen.pool_key(2)
    ca_key, ca = certgen.certificate_authority()
    future = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, CN)]))
              .issuer_name(ca.subject).public_key(key.public_key()).serial_number(7)
              .not_valid_before(NOW + timedelta(days=3)).not_valid_after(NOW + timedelta(days=400))
              .sign(ca_key, hashes.SHA256()))
    data = pkcs12.serialize_key_and_certificates(b"x", key, future, None,
                                                 serialization.BestAvailableEncryption(PW.reveal().encode()))
    assert _codes(open_pfx(f"{CN}.pfx", data, PW, NOW)) == ["not_yet_valid"]


def test_several_refusals_are_all_reported() -> None:
    codes = _codes(open_pfx("other.pfx", _valid(cn="F00504Y0007", days=-5), PW, NOW))
    assert set(codes) == {"not_file_certificate", "name_mismatch", "expired"}


def _installed(days: int, issuer: str = certgen.DEFAULT_CA_NAME) -> InstalledCertificate:
    return InstalledCertificate("PC-1", CN, "AB" * 20, NOW + timedelta(days=days), issuer, True, "probe")


def test_stage_two_not_later_and_issuer() -> None:
    pfx = open_pfx(f"{CN}.pfx", _valid(days=100), PW, NOW)
    assert isinstance(pfx, RenewalPfx)
    assert check_renewal(pfx, _installed(30), certgen.DEFAULT_CA_NAME) == []
    assert [r.code for r in check_renewal(pfx, _installed(100), certgen.DEFAULT_CA_NAME)] == ["not_later"]
    assert [r.code for r in check_renewal(pfx, _installed(30), "Other CA")] == ["wrong_issuer"]
    assert [r.code for r in check_renewal(pfx, None, None)] == ["issuer_unknown"]
    assert check_renewal(pfx, None, certgen.DEFAULT_CA_NAME.upper()) == []  # case-insensitive CN
    assert check_renewal(pfx, None, pfx.issuer_dn) == []  # a full DN works too
    reason = check_renewal(pfx, _installed(100), "Other CA")
    assert all(r.reason.zh and r.reason.en for r in reason)


# --------------------------------------------------------------------------- matching


def _cert_host(name: str, cn: str, status: HostStatus = HostStatus.ok) -> HostResult:
    finding = Finding(policy_id="p", check_id="gateway-cert-present", check_type="certificate",
                      status=FindingStatus.passed, severity=Severity.high, title=T("t", "t"),
                      details={"subject_cn": cn, "thumbprint": "CD" * 20, "not_after": NOW.isoformat(),
                               "issuer": "X", "has_private_key": True})
    return HostResult(host=name, status=status, findings=[finding], operator="TRADE\\t")


def test_match_prefers_one_host_and_refuses_ambiguity() -> None:
    run = RunResult(run_id="r", started=NOW, hosts=[_cert_host("PC-1", CN.lower())])
    found = match_host(CN, run, {"PC-1": {}, "PC-2": {}})
    assert found.host == "PC-1" and found.evidence == "scan" and found.installed is not None
    assert match_host(CN, None, {"PC-2": {"gateway_cert": f" {CN} "}}).evidence == "inventory"
    clash = match_host(CN, run, {"PC-1": {}, "PC-2": {"gateway_cert": CN}})
    assert clash.host is None and clash.refusal is not None and clash.refusal.code == "ambiguous_host"
    assert "PC-1, PC-2" in clash.refusal.reason.en
    none = match_host(CN, run, {"PC-3": {"gateway_cert": "F00504Y0008#0"}})  # PC-1 is not in the inventory
    assert none.refusal is not None and none.refusal.code == "no_host"
    agreed = match_host(CN, run, {"PC-1": {"gateway_cert": CN}})
    assert agreed.host == "PC-1" and agreed.evidence == "scan"


# --------------------------------------------------------------------------- passwords


def test_password_masked_everywhere() -> None:
    secret = PfxPassword("Very-Secret-1")
    assert "Very-Secret-1" not in f"{secret} {secret!r} {[secret]} {({'p': secret})}"
    assert secret.reveal() == "Very-Secret-1"
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(secret)


def test_password_file_format_and_errors(tmp_path: Path) -> None:
    good = tmp_path / "pw.yaml"
    good.write_text('F00504Y0007#0: "a#b c"\n"F00504Y0008#0": \'x:y\'\n', encoding="utf-8")
    good.chmod(0o600)
    found, warnings = load_password_file(good)
    assert {k: v.reveal() for k, v in found.items()} == {"F00504Y0007#0": "a#b c", "F00504Y0008#0": "x:y"}
    assert warnings == []
    good.chmod(0o644)
    assert "chmod 600" in load_password_file(good)[1][0].en
    number = tmp_path / "num.yaml"
    number.write_text("X#0: ok\nF00504Y0009#0: 123456\n", encoding="utf-8")
    with pytest.raises(PasswordFileError) as err:
        load_password_file(number)
    assert f"{number}:2" in err.value.text.en and "quoted string" in err.value.text.en
    assert "123456" not in err.value.text.en + err.value.text.zh
    broken = tmp_path / "broken.yaml"
    broken.write_text('X#0: "Leaky-Secret-77\n  - [\n', encoding="utf-8")
    with pytest.raises(PasswordFileError) as err:
        load_password_file(broken)
    assert "Leaky-Secret-77" not in str(err.value) + err.value.text.zh
    with pytest.raises(PasswordFileError):
        load_password_file(tmp_path / "missing.yaml")
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n- b\n", encoding="utf-8")
    with pytest.raises(PasswordFileError):
        load_password_file(listed)
    assert os.path.exists(good)


def _impostor_pfx(cn: str = CN) -> bytes:
    """A PFX whose issuer *name* is the real CA's, signed by a key that merely borrows the name."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    fake_ca_key = ec.generate_private_key(ec.SECP256R1())
    leaf_key = certgen.pool_key(2)
    real_ca = certgen.certificate_authority()[1]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(real_ca.subject)
        .public_key(leaf_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=400))
        .sign(fake_ca_key, hashes.SHA256())
    )
    enc = serialization.BestAvailableEncryption(PW.reveal().encode())
    return pkcs12.serialize_key_and_certificates(cn.encode(), leaf_key, cert, None, enc)


def test_ca_file_catches_a_look_alike_issuer_the_name_check_cannot() -> None:
    real_ca = certgen.certificate_authority()[1]
    impostor = _impostor_pfx()
    by_name = open_pfx(f"{CN}.pfx", impostor, PW, NOW)
    assert isinstance(by_name, RenewalPfx) and check_renewal(by_name, None, certgen.DEFAULT_CA_NAME) == []
    refused = open_pfx(f"{CN}.pfx", impostor, PW, NOW, trusted_cas=[real_ca])
    assert _codes(refused) == ["untrusted_issuer"]
    genuine = open_pfx(f"{CN}.pfx", _valid(), PW, NOW, trusted_cas=[real_ca])
    assert isinstance(genuine, RenewalPfx)


def test_load_ca_file_reads_pem_and_rejects_junk(tmp_path: Path) -> None:
    from fleetcheck.renew.validate import load_ca_file

    pem = tmp_path / "ca.pem"
    pem.write_bytes(certgen.certificate_authority()[1].public_bytes(serialization.Encoding.PEM))
    assert len(load_ca_file(pem)) == 1
    junk = tmp_path / "junk.pem"
    junk.write_bytes(b"not a certificate")
    with pytest.raises(ValueError, match="not a PEM or DER"):
        load_ca_file(junk)
