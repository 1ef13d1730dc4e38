"""Validate a renewed PFX before anything touches a host. Pure: bytes + password + facts in.

Two stages, each refusal with its own code and bilingual reason:

1. :func:`open_pfx` — the file on its own: the password opens it
   (``wrong_password``), it is a PKCS#12 file at all (``unreadable``), it holds
   a certificate (``no_certificate``) and a private key (``no_private_key``),
   the key belongs to the certificate (``key_mismatch``), the CN ends with
   ``#0`` (``not_file_certificate``: only file certificates are distributed as
   PFX, 三.5), the file is named after its CN (``name_mismatch``: the drop
   folder's ``<CN>.pfx`` convention is how the admin says which certificate
   this is), and it is not expired (``expired``) nor not yet valid
   (``not_yet_valid``).
2. :func:`check_renewal` — against what is installed and expected: NotAfter
   later than the installed certificate with that CN (``not_later``), the
   issuer is the expected one (``wrong_issuer``; expected issuer unknown:
   ``issuer_unknown``).

The leaf certificate is the one the private key belongs to, else the only
non-CA certificate in the file: a PFX often carries the issuing CA too.

Example::

    >>> # opened = open_pfx("F00504Y0007#0.pfx", data, PfxPassword("..."), now)
    >>> # isinstance(opened, RenewalPfx) or [r.code for r in opened]
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12

from fleetcheck.certinfo import common_name
from fleetcheck.i18n import T, Text
from fleetcheck.officetime import office_day
from fleetcheck.renew.passwords import PfxPassword

__all__ = [
    "InstalledCertificate",
    "Refusal",
    "RefusalCode",
    "RenewalPfx",
    "check_renewal",
    "issuer_matches",
    "load_ca_file",
    "open_pfx",
]

RefusalCode = Literal[
    "wrong_password",
    "unreadable",
    "no_certificate",
    "no_private_key",
    "key_mismatch",
    "not_file_certificate",
    "name_mismatch",
    "expired",
    "not_yet_valid",
    "not_later",
    "wrong_issuer",
    "untrusted_issuer",
    "issuer_unknown",
    "no_password",
    "no_host",
    "ambiguous_host",
]
MAX_PFX_BYTES = 1024 * 1024  # a gateway PFX is a few KB; anything this big is not one


@dataclass(frozen=True)
class Refusal:
    """Why a PFX is not distributed: a stable ``code`` and a bilingual ``reason``."""

    code: RefusalCode
    reason: Text


@dataclass(frozen=True)
class RenewalPfx:
    """A PFX that opened, with what matching and the plan need (no key, no password)."""

    file_name: str
    cn: str
    issuer: str  # the issuer's CN (as certinfo and findings report it)
    issuer_dn: str  # the full RFC 4514 issuer name
    not_before: datetime
    not_after: datetime
    thumbprint: str  # SHA-1 of the DER, upper-case hex, as Windows shows it
    serial: str
    sha256: str  # of the PFX file, for records and the audit log


@dataclass(frozen=True)
class InstalledCertificate:
    """The gateway certificate a host's operator holds now (from a probe or the latest scan)."""

    host: str
    cn: str
    thumbprint: str | None
    not_after: datetime | None
    issuer: str | None
    has_private_key: bool | None
    source: Literal["probe", "scan"]


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return cert.subject == cert.issuer  # self-signed without extensions: a root


def _spki(key_or_cert: PrivateKeyTypes | x509.Certificate) -> bytes | None:
    try:
        public = key_or_cert.public_key()
        return public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    except (AttributeError, ValueError, TypeError):
        return None


def _stem(file_name: str) -> str:
    return file_name[:-4] if file_name.lower().endswith(".pfx") else file_name


def open_pfx(file_name: str, data: bytes, password: PfxPassword, now: datetime,
             trusted_cas: Sequence[x509.Certificate] = ()) -> RenewalPfx | list[Refusal]:
    """Open and check one PFX on its own (stage 1); the parsed PFX or every refusal found.

    Refusals that make further checks meaningless (password, unreadable, no
    certificate) are returned alone; the others are all collected. With
    ``trusted_cas`` (``renew --ca-file``), the certificate must also carry a
    valid signature of one of them: the issuer-name check alone cannot tell
    the real CA from a key that merely uses its name.
    """
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    if len(data) > MAX_PFX_BYTES:
        return [Refusal("unreadable", T(
            f"{file_name} 大于 {MAX_PFX_BYTES // 1024} KB，不是网关证书 PFX",
            f"{file_name} is larger than {MAX_PFX_BYTES // 1024} KB: not a gateway certificate PFX"))]
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(data, password.reveal().encode("utf-8"))
    except ValueError as exc:
        # cryptography says "Invalid password or PKCS12 data"; tell the two apart by
        # trying to parse the structure without decrypting (it then fails differently).
        if _looks_like_pkcs12(data) and "password" in str(exc).lower():
            return [Refusal("wrong_password", T(
                f"{file_name}：密码错误，无法打开 PFX（请核对密码文件或重新输入）",
                f"{file_name}: wrong password, the PFX does not open (check the passwords file or retype it)"))]
        return [Refusal("unreadable", T(
            f"{file_name}：不是有效的 PFX（PKCS#12）文件（下载不完整？）",
            f"{file_name}: not a valid PFX (PKCS#12) file (incomplete download?)"))]
    except Exception:  # noqa: BLE001 - any parser failure: a plain answer, never the password
        return [Refusal("unreadable", T(
            f"{file_name}：不是有效的 PFX（PKCS#12）文件", f"{file_name}: not a valid PFX (PKCS#12) file"))]
    leaf = _leaf(key, cert, extra)
    if leaf is None:
        return [Refusal("no_certificate", T(
            f"{file_name}：PFX 中没有终端证书", f"{file_name}: the PFX holds no end-entity certificate"))]
    refusals: list[Refusal] = []
    if key is None:
        refusals.append(Refusal("no_private_key", T(
            f"{file_name}：PFX 中没有私钥，导入后无法使用", f"{file_name}: the PFX holds no private key; it would be useless")))
    elif _spki(key) != _spki(leaf):
        refusals.append(Refusal("key_mismatch", T(
            f"{file_name}：私钥与证书不匹配（不是同一对密钥）",
            f"{file_name}: the private key does not belong to the certificate (key/certificate mismatch)")))
    der = leaf.public_bytes(serialization.Encoding.DER)
    pfx = RenewalPfx(
        file_name=file_name,
        cn=common_name(leaf.subject),
        issuer=common_name(leaf.issuer),
        issuer_dn=leaf.issuer.rfc4514_string(),
        not_before=leaf.not_valid_before_utc,
        not_after=leaf.not_valid_after_utc,
        thumbprint=hashlib.sha1(der).hexdigest().upper(),
        serial=format(leaf.serial_number, "X"),
        sha256=hashlib.sha256(data).hexdigest(),
    )
    if trusted_cas and not any(_signed_by(leaf, ca) for ca in trusted_cas):
        refusals.append(Refusal("untrusted_issuer", T(
            f"{file_name}：证书不是由 --ca-file 给出的 CA 签发的（签名校验失败），颁发者名称为 {pfx.issuer}",
            f"{file_name}: the certificate is not signed by the CA given with --ca-file (signature check "
            f"failed), although its issuer name is {pfx.issuer}")))
    if not pfx.cn.endswith("#0"):
        refusals.append(Refusal("not_file_certificate", T(
            f"{file_name}：证书名 {pfx.cn} 不以“#0”结尾，不是文件证书（三.5）",
            f"{file_name}: certificate name {pfx.cn} does not end with '#0': not a file certificate (guide 三.5)")))
    if _stem(file_name).strip().casefold() != pfx.cn.strip().casefold():
        refusals.append(Refusal("name_mismatch", T(
            f"{file_name}：文件名与证书名 {pfx.cn} 不一致；请命名为 <证书名>.pfx",
            f"{file_name}: the file name does not match the certificate name {pfx.cn}; name it <CN>.pfx")))
    if pfx.not_after <= now:
        refusals.append(Refusal("expired", T(
            f"{file_name}：证书已于 {office_day(pfx.not_after)} 过期",
            f"{file_name}: the certificate expired on {office_day(pfx.not_after)}")))
    elif pfx.not_before > now:
        refusals.append(Refusal("not_yet_valid", T(
            f"{file_name}：证书自 {office_day(pfx.not_before)} 起才生效（检查本机时钟）",
            f"{file_name}: the certificate is valid only from {office_day(pfx.not_before)} (check the clock)")))
    return refusals or pfx


def _signed_by(leaf: x509.Certificate, ca: x509.Certificate) -> bool:
    try:
        leaf.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def load_ca_file(path: Path) -> list[x509.Certificate]:
    """The CA certificates in a PEM (or DER) file; ValueError with a plain reason when unreadable."""
    data = path.read_bytes()
    try:
        cas = x509.load_pem_x509_certificates(data) if b"-----BEGIN" in data else [x509.load_der_x509_certificate(data)]
    except ValueError:
        raise ValueError(f"{path}: not a PEM or DER certificate file") from None
    if not cas:
        raise ValueError(f"{path}: no certificate in the file")
    return cas


def _looks_like_pkcs12(data: bytes) -> bool:
    """A DER SEQUENCE whose first element is INTEGER 3 (PFX version): a PKCS#12 file."""
    if len(data) < 8 or data[0] != 0x30:
        return False
    length_byte = data[1]
    offset = 2 + (length_byte & 0x7F if length_byte & 0x80 else 0)
    return data[offset:offset + 3] == b"\x02\x01\x03"


def _leaf(key: PrivateKeyTypes | None, cert: x509.Certificate | None,
          extra: list[x509.Certificate]) -> x509.Certificate | None:
    if cert is not None:
        return cert
    candidates = [c for c in extra if not _is_ca(c)]
    if key is not None:
        spki = _spki(key)
        for c in candidates:
            if _spki(c) == spki:
                return c
    return candidates[0] if len(candidates) == 1 else None


def issuer_matches(pfx: RenewalPfx, expected: str) -> bool:
    """Expected issuer given as a CN (``SCCC Gateway CA``) or a full RFC 4514 name, case-insensitive."""
    want = expected.strip().casefold()
    return want in (pfx.issuer.strip().casefold(), pfx.issuer_dn.strip().casefold())


def check_renewal(pfx: RenewalPfx, installed: InstalledCertificate | None, expected_issuer: str | None,
                  ) -> list[Refusal]:
    """Stage 2: the PFX against the installed certificate and the expected issuer.

    ``installed`` None means no certificate with this CN is installed (a first
    import): nothing to be later than. ``expected_issuer`` None means no policy,
    option or installed certificate says who should issue it: refused, because
    an unverified issuer is exactly what this check exists to catch.
    """
    refusals: list[Refusal] = []
    if installed is not None and installed.not_after is not None and pfx.not_after <= installed.not_after:
        refusals.append(Refusal("not_later", T(
            f"{pfx.file_name}：到期日 {office_day(pfx.not_after)} 不晚于 {installed.host} 上已安装证书的 "
            f"{office_day(installed.not_after)}（旧证书？）",
            f"{pfx.file_name}: NotAfter {office_day(pfx.not_after)} is not later than the certificate "
            f"installed on {installed.host} ({office_day(installed.not_after)}): an old certificate?")))
    if expected_issuer is None:
        refusals.append(Refusal("issuer_unknown", T(
            f"{pfx.file_name}：无法确定应有的颁发者；请用 --issuer 指定，或在策略的证书检查中设置 issuer",
            f"{pfx.file_name}: the expected issuer is unknown; give --issuer or set issuer in the policy's "
            "certificate check")))
    elif not issuer_matches(pfx, expected_issuer):
        refusals.append(Refusal("wrong_issuer", T(
            f"{pfx.file_name}：颁发者为 {pfx.issuer}，应为 {expected_issuer}",
            f"{pfx.file_name}: issued by {pfx.issuer}, expected {expected_issuer}")))
    return refusals
