"""Real X.509 certificates for simulated PCs, made with ``cryptography``.

A simulated office needs hundreds of gateway certificates, and RSA key
generation is the slow part (~50-200 ms per RSA-2048 key). So:

* a small process-wide pool of RSA-2048 leaf keys (:data:`POOL_SIZE`),
  generated lazily on first use and then reused round-robin: many simulated
  certificates share a key, which nobody can observe through the agent
  contract (only public certificates and blobs cross it);
* one simulated issuing CA, "SCCC Gateway CA (simulated)", with its own key;
  other issuer names (an image may say ``issuer: Some Other CA``) get their own
  simulated CA, keyed from the pool;
* signing a leaf certificate is fast (about a millisecond).

Time is always passed in (``now``); nothing here reads the clock, so a test
can say "10 days left" and get exactly that.

Example::

    >>> from datetime import datetime, timezone
    >>> now = datetime(2026, 3, 1, tzinfo=timezone.utc)
    >>> cert = leaf_certificate(LeafSpec(cn="F00504Y0007#0", days_left=200), now)
    >>> (cert.not_valid_after_utc - now).days
    200
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from fleetcheck.certstore import KeyProvInfo, build_element

DEFAULT_CA_NAME = "SCCC Gateway CA (simulated)"
SOFTWARE_CSP = "Microsoft Enhanced Cryptographic Provider v1.0"
TOKEN_CSP = "EnterSafe ePass2003 CSP v1.0"
POOL_SIZE = 4

# A fixed, wide validity for simulated CAs: it keeps CA certificates identical
# whatever ``now`` an image is instantiated at (tests compare issuers).
_CA_NOT_BEFORE = datetime(2015, 1, 1, tzinfo=timezone.utc)
_CA_NOT_AFTER = datetime(2045, 12, 31, tzinfo=timezone.utc)

_lock = threading.Lock()
_pool: list[rsa.RSAPrivateKey] = []
_cas: dict[str, tuple[rsa.RSAPrivateKey, x509.Certificate]] = {}

# Subject attribute names an image may use, mapped to X.509 OIDs.
SUBJECT_ATTRIBUTES: dict[str, x509.ObjectIdentifier] = {
    "C": NameOID.COUNTRY_NAME,
    "ST": NameOID.STATE_OR_PROVINCE_NAME,
    "L": NameOID.LOCALITY_NAME,
    "O": NameOID.ORGANIZATION_NAME,
    "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "E": NameOID.EMAIL_ADDRESS,
}


def pool_key(index: int) -> rsa.RSAPrivateKey:
    """The pool key ``index % POOL_SIZE``, generating the pool lazily (thread-safe)."""
    with _lock:
        while len(_pool) < POOL_SIZE:
            _pool.append(rsa.generate_private_key(public_exponent=65537, key_size=2048))
        return _pool[index % POOL_SIZE]


def _stable_index(text: str) -> int:
    return int.from_bytes(hashlib.sha1(text.encode("utf-8")).digest()[:4], "big")


def certificate_authority(
    name: str = DEFAULT_CA_NAME,
) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """The simulated CA called ``name`` (created once per process)."""
    with _lock:
        found = _cas.get(name)
    if found is not None:
        return found
    if name == DEFAULT_CA_NAME:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        key = pool_key(_stable_index(name))
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "CN"),
            x509.NameAttribute(
                NameOID.ORGANIZATION_NAME, "Shenzhen Securities Communication (simulated)"
            ),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(_stable_index("ca:" + name) or 1)
        .not_valid_before(_CA_NOT_BEFORE)
        .not_valid_after(_CA_NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    with _lock:
        return _cas.setdefault(name, (key, cert))


def ca_pem(name: str = DEFAULT_CA_NAME) -> bytes:
    """The simulated CA certificate as PEM (for renewal tests: "expected issuer")."""
    return certificate_authority(name)[1].public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class LeafSpec:
    """What an image says about one gateway certificate (see ``fleetcheck.sim.image``)."""

    cn: str
    days_left: float = 200
    issuer: str = DEFAULT_CA_NAME
    subject: dict[str, str] = field(default_factory=dict)  # O, OU, C, ST, L, E
    validity_days: int = 365


def _leaf_name(spec: LeafSpec) -> x509.Name:
    attrs = []
    for short in ("C", "ST", "L", "O", "OU", "E"):
        if short in spec.subject:
            attrs.append(x509.NameAttribute(SUBJECT_ATTRIBUTES[short], spec.subject[short]))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, spec.cn))
    return x509.Name(attrs)


def leaf_certificate(
    spec: LeafSpec, now: datetime, key: rsa.RSAPrivateKey | None = None
) -> x509.Certificate:
    """A gateway certificate signed by the simulated CA, expiring ``days_left`` after ``now``.

    Negative ``days_left`` gives an expired certificate. The serial number is
    derived from the spec and ``now`` so one image instantiation is reproducible.
    """
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    ca_key, ca_cert = certificate_authority(spec.issuer)
    if key is None:
        key = pool_key(_stable_index(spec.cn))
    not_after = (now + timedelta(days=spec.days_left)).replace(microsecond=0)
    not_before = not_after - timedelta(days=spec.validity_days)
    if not_before > now:
        not_before = now - timedelta(days=1)
    serial_seed = f"{spec.cn}|{spec.issuer}|{not_after.isoformat()}|{sorted(spec.subject.items())}"
    serial = int.from_bytes(hashlib.sha256(serial_seed.encode("utf-8")).digest()[:15], "big") | 1
    return (
        x509.CertificateBuilder()
        .subject_name(_leaf_name(spec))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(not_before.replace(microsecond=0))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )


def thumbprint(der: bytes) -> str:
    """Windows' certificate thumbprint: SHA-1 of the DER, upper-case hex."""
    return hashlib.sha1(der).hexdigest().upper()


def key_container(der: bytes) -> str:
    """A GUID-shaped key container name, stable for one certificate (as CSPs name them)."""
    return "{" + str(uuid.UUID(bytes=hashlib.md5(der).digest())).upper() + "}"


def store_blob(der: bytes, kind: str = "file", private_key: bool = True) -> bytes:
    """The serialized store element Windows writes for this certificate.

    ``kind="file"``: key in the software CSP; ``kind="hardware"``: key on the
    Feitian token (its CSP); ``private_key=False``: no key-provider property at all.
    """
    prov: KeyProvInfo | None = None
    if private_key:
        provider = TOKEN_CSP if kind == "hardware" else SOFTWARE_CSP
        prov = KeyProvInfo(container=key_container(der), provider=provider)
    return build_element(der, prov)


def make_pfx(
    spec: LeafSpec, now: datetime, password: str, friendly_name: str | None = None
) -> tuple[bytes, x509.Certificate]:
    """A password-protected PFX holding a new gateway certificate and its key.

    What the portal's "文件证书下载" hands out; used by tests and the demo.
    """
    key = pool_key(_stable_index(spec.cn + "|pfx"))
    cert = leaf_certificate(spec, now, key=key)
    ca_cert = certificate_authority(spec.issuer)[1]
    data = pkcs12.serialize_key_and_certificates(
        name=(friendly_name or spec.cn).encode("utf-8"),
        key=key,
        cert=cert,
        cas=[ca_cert],
        encryption_algorithm=serialization.BestAvailableEncryption(password.encode("utf-8")),
    )
    return data, cert
