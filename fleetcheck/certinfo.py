"""The operator's Personal-store certificates, parsed: what R12–R14 and renewal look at.

Input is what the agent ships raw: ``Blob`` values under
``HKU\\<SID>\\Software\\Microsoft\\SystemCertificates\\My\\Certificates\\<thumbprint>``
and the files of ``%APPDATA%\\Microsoft\\SystemCertificates\\My\\Certificates``,
both serialized store elements (:mod:`fleetcheck.certstore`). Parsing uses
``cryptography``. Pure: no I/O, no clock (days left are computed against the
``now`` passed in).

"file" vs "hardware": a certificate whose key-provider info names a software
CSP/KSP is a file certificate; any other provider (a USB token's CSP) makes it
a hardware certificate. Without key-provider info there is no private key and
the kind is "file" only by default (reported as ``has_private_key: False``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Literal

from cryptography import x509
from cryptography.x509.oid import NameOID

from fleetcheck.certstore import CertBlobError, parse_element

__all__ = ["CertInfo", "CertParseError", "days_left", "parse_store_blob"]

Kind = Literal["file", "hardware"]
Store = Literal["registry", "appdata"]


class CertParseError(ValueError):
    """A store entry that is not a readable certificate; the message says why.

    Internal: host data, not the user's; checks and renewal turn it into their own result.
    """


@dataclass(frozen=True)
class CertInfo:
    subject_cn: str
    issuer: str
    not_before: datetime
    not_after: datetime
    thumbprint: str  # SHA-1 of the DER, upper-case hex, as Windows shows it
    kind: Kind
    has_private_key: bool
    provider: str | None
    serial: str

    def days_left(self, now: datetime) -> int:
        return days_left(self.not_after, now)

    def summary(self, now: datetime, store: str, user: str | None) -> dict[str, Any]:
        """The ``details`` keys reports and renewal code read (names are a contract)."""
        return {
            "subject_cn": self.subject_cn,
            "issuer": self.issuer,
            "not_after": self.not_after.isoformat(),
            "days_left": self.days_left(now),
            "thumbprint": self.thumbprint,
            "kind": self.kind,
            "has_private_key": self.has_private_key,
            "store": store,
            "user": user,
        }


def days_left(not_after: datetime, now: datetime) -> int:
    """Whole days until ``not_after``, negative once expired; naive ``now`` is UTC.

    Truncated toward zero, so 9.9 days left is 9 and 5.1 days past expiry is
    -5 ("expired 5 days ago"), as an admin counts on a calendar.
    """
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    return int((not_after - now).total_seconds() / 86400)


def common_name(name: x509.Name) -> str:
    """The subject's or issuer's CN (Chinese intact), else the whole RFC 4514 name."""
    attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    if attrs:
        value = attrs[0].value
        return value if isinstance(value, str) else value.decode("utf-8", "replace")
    return name.rfc4514_string()


def parse_store_blob(blob: bytes) -> CertInfo:
    """Parse one serialized store element into a :class:`CertInfo`.

    Raises CertParseError (never anything else) when the blob is damaged.
    """
    try:
        element = parse_element(blob)
    except CertBlobError as exc:
        raise CertParseError(f"not a serialized certificate: {exc}") from None
    try:
        cert = x509.load_der_x509_certificate(element.der)
        subject, issuer = common_name(cert.subject), common_name(cert.issuer)
        not_before, not_after = cert.not_valid_before_utc, cert.not_valid_after_utc
        serial = format(cert.serial_number, "X")
    except (ValueError, TypeError) as exc:
        raise CertParseError(f"the certificate inside is not valid DER X.509: {exc}") from None
    kpi = element.key_prov
    return CertInfo(
        subject_cn=subject,
        issuer=issuer,
        not_before=not_before,
        not_after=not_after,
        thumbprint=hashlib.sha1(element.der).hexdigest().upper(),
        kind="hardware" if (kpi is not None and not kpi.is_software) else "file",
        has_private_key=kpi is not None,
        provider=kpi.provider if kpi is not None else None,
        serial=serial,
    )
