"""A private CA and server certificates for the simulator's HTTPS listeners.

The CA is made once per state directory (``ca.pem`` + ``ca-key.pem``, key
file mode 0600) and reused, so a client configured with
``ansible_winrm_ca_trust_path: <state>/ca.pem`` keeps validating across
restarts. Each office start issues one server certificate whose subject
alternative names hold every simulated address (IP SANs) plus ``localhost``:
one certificate, one TLS context, however many PCs. Keys are ECDSA P-256 so
that TLS handshakes stay cheap with hundreds of hosts.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_CERT_NAME = "ca.pem"
CA_KEY_NAME = "ca-key.pem"
SERVER_CERT_NAME = "server.pem"
SERVER_KEY_NAME = "server-key.pem"


@dataclass(frozen=True)
class ServerCredentials:
    """PEM paths of the CA (for clients) and of the server certificate (for listeners)."""

    ca_pem: Path
    cert_pem: Path
    key_pem: Path

    def ssl_context(self) -> ssl.SSLContext:
        """A server-side TLS context (TLS 1.2+) presenting the server certificate."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(str(self.cert_pem), str(self.key_pem))
        return ctx

    def certificate_der(self) -> bytes:
        """The server certificate, DER (for NTLM channel bindings over HTTPS)."""
        cert = x509.load_pem_x509_certificate(self.cert_pem.read_bytes())
        return cert.public_bytes(serialization.Encoding.DER)


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def load_or_create_ca(state_dir: Path, now: dt.datetime | None = None) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """The state directory's CA, created on first use (valid 10 years)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = state_dir / CA_CERT_NAME, state_dir / CA_KEY_NAME
    if cert_path.is_file() and key_path.is_file():
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if isinstance(key, ec.EllipticCurvePrivateKey):
            return cert, key
    now = now or dt.datetime.now(dt.timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "fleetcheck simulator"),
            x509.NameAttribute(NameOID.COMMON_NAME, "fleetcheck simulator CA"),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_private(key_path, _key_pem(key))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert, key


def issue_server_credentials(
    state_dir: Path, addresses: list[str], *, now: dt.datetime | None = None, out_dir: Path | None = None
) -> ServerCredentials:
    """Issue a server certificate for ``addresses`` (IP SANs) signed by the state's CA.

    >>> creds = issue_server_credentials(Path(tmp), ["127.0.1.1"])  # doctest: +SKIP
    >>> creds.ca_pem.name
    'ca.pem'
    """
    ca_cert, ca_key = load_or_create_ca(state_dir, now)
    now = now or dt.datetime.now(dt.timezone.utc)
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = [x509.DNSName("localhost")]
    seen: set[str] = set()
    for addr in addresses:
        if addr not in seen:
            seen.add(addr)
            sans.append(x509.IPAddress(ipaddress.ip_address(addr)))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fleetcheck simulated office")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=825))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    # ``out_dir``: where the server certificate goes (another certificate of the same CA).
    out = out_dir or state_dir
    out.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = out / SERVER_CERT_NAME, out / SERVER_KEY_NAME
    _write_private(key_path, _key_pem(key))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return ServerCredentials(state_dir / CA_CERT_NAME, cert_path, key_path)
