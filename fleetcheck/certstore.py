"""Windows serialized certificate-store elements: the ``Blob`` of a registry store
entry and the content of a ``%APPDATA%\\...\\SystemCertificates\\My\\Certificates``
file.

Format (what ``CertSerializeCertificateStoreElement`` writes): a sequence of
properties, each ``DWORD prop_id, DWORD reserved (1), DWORD length, bytes``,
little-endian. The DER certificate is property 0x20 (CERT_CERT_PROP_ID); the
key-provider info is property 2 (CERT_KEY_PROV_INFO_PROP_ID), a
CRYPT_KEY_PROV_INFO whose pointers are stored as offsets from the start of
the property data::

    DWORD container_offset, DWORD provider_offset, DWORD prov_type, DWORD flags,
    DWORD prov_param_count, DWORD prov_param_offset, DWORD key_spec,
    then the UTF-16LE NUL-terminated strings.

Pure functions; the agent only ships the bytes, Python reads them.
Both the evaluator (parse) and the simulator (build) use this one module.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

CERT_CERT_PROP_ID = 0x20
CERT_KEY_PROV_INFO_PROP_ID = 0x02
CERT_FRIENDLY_NAME_PROP_ID = 0x0B

_HEADER = struct.Struct("<III")
_KPI = struct.Struct("<IIIIIII")

# Key providers that keep the private key in a file on disk (a "file certificate").
# Anything else (a smart-card / USB-token CSP or KSP) makes a hardware certificate.
SOFTWARE_PROVIDERS = frozenset(
    name.lower()
    for name in (
        "Microsoft Base Cryptographic Provider v1.0",
        "Microsoft Enhanced Cryptographic Provider v1.0",
        "Microsoft Strong Cryptographic Provider",
        "Microsoft Enhanced RSA and AES Cryptographic Provider",
        "Microsoft Enhanced RSA and AES Cryptographic Provider (Prototype)",
        "Microsoft RSA SChannel Cryptographic Provider",
        "Microsoft Base DSS Cryptographic Provider",
        "Microsoft Base DSS and Diffie-Hellman Cryptographic Provider",
        "Microsoft Enhanced DSS and Diffie-Hellman Cryptographic Provider",
        "Microsoft DH SChannel Cryptographic Provider",
        "Microsoft Software Key Storage Provider",
    )
)


class CertBlobError(ValueError):
    """A blob that is not a serialized store element; the message says where it broke.

    Internal: host data, not the user's; callers turn it into a finding about that entry.
    """


@dataclass(frozen=True)
class KeyProvInfo:
    container: str
    provider: str
    prov_type: int = 1  # PROV_RSA_FULL; 0 for CNG key storage providers
    flags: int = 0
    key_spec: int = 1  # AT_KEYEXCHANGE

    @property
    def is_software(self) -> bool:
        return self.provider.strip().lower() in SOFTWARE_PROVIDERS


@dataclass(frozen=True)
class StoreElement:
    der: bytes
    key_prov: KeyProvInfo | None
    properties: dict[int, bytes]


def _utf16z(text: str) -> bytes:
    return text.encode("utf-16-le") + b"\x00\x00"


def encode_key_prov_info(info: KeyProvInfo) -> bytes:
    container = _utf16z(info.container)
    provider = _utf16z(info.provider)
    container_off = _KPI.size
    provider_off = container_off + len(container)
    head = _KPI.pack(container_off, provider_off, info.prov_type, info.flags, 0, 0, info.key_spec)
    return head + container + provider


def _read_utf16z(data: bytes, offset: int) -> str:
    if offset == 0:
        return ""
    if offset >= len(data):
        raise CertBlobError(f"key-provider string offset {offset} past the end ({len(data)} bytes)")
    end = offset
    while end + 1 < len(data) and data[end : end + 2] != b"\x00\x00":
        end += 2
    return data[offset:end].decode("utf-16-le", errors="replace")


def decode_key_prov_info(data: bytes) -> KeyProvInfo:
    if len(data) < _KPI.size:
        raise CertBlobError(f"key-provider info is {len(data)} bytes, shorter than its header")
    c_off, p_off, prov_type, flags, _count, _params, key_spec = _KPI.unpack_from(data)
    return KeyProvInfo(
        container=_read_utf16z(data, c_off),
        provider=_read_utf16z(data, p_off),
        prov_type=prov_type,
        flags=flags,
        key_spec=key_spec,
    )


def build_element(der: bytes, key_prov: KeyProvInfo | None = None, friendly_name: str | None = None) -> bytes:
    """Serialize a certificate (and its key-provider info) like Windows does."""
    props: list[tuple[int, bytes]] = []
    if key_prov is not None:
        props.append((CERT_KEY_PROV_INFO_PROP_ID, encode_key_prov_info(key_prov)))
    if friendly_name:
        props.append((CERT_FRIENDLY_NAME_PROP_ID, _utf16z(friendly_name)))
    props.append((CERT_CERT_PROP_ID, der))  # Windows writes the certificate last
    return b"".join(_HEADER.pack(pid, 1, len(data)) + data for pid, data in props)


def parse_element(blob: bytes) -> StoreElement:
    """Read a serialized element; raise CertBlobError when malformed.

    >>> el = parse_element(build_element(b"0\\x00", KeyProvInfo("c", "Microsoft Strong Cryptographic Provider")))
    >>> el.key_prov.is_software
    True
    """
    props: dict[int, bytes] = {}
    pos = 0
    for _ in range(1024):  # bounded: real elements have a handful of properties
        if pos >= len(blob):
            break
        if pos + _HEADER.size > len(blob):
            raise CertBlobError(f"truncated property header at offset {pos}")
        prop_id, _reserved, length = _HEADER.unpack_from(blob, pos)
        pos += _HEADER.size
        if pos + length > len(blob):
            raise CertBlobError(f"property 0x{prop_id:x} claims {length} bytes, {len(blob) - pos} remain")
        props[prop_id] = blob[pos : pos + length]
        pos += length
    der = props.get(CERT_CERT_PROP_ID)
    if der is None:
        raise CertBlobError("no certificate (property 0x20) in the blob")
    kpi = props.get(CERT_KEY_PROV_INFO_PROP_ID)
    return StoreElement(der=der, key_prov=decode_key_prov_info(kpi) if kpi else None, properties=props)
