"""The operator's Personal store read straight from a probe's facts. Pure.

Renewal must see every certificate with the PFX's CN whatever the policy's
certificate checks are configured to look at (``cn`` templated from the
inventory, ``cn_pattern``, or no certificate check at all), so its probes add
the two store queries below and parse the answers itself with
:func:`fleetcheck.certinfo.parse_store_blob`: the registry store
(``HKU\\<SID>\\...\\My\\Certificates\\<thumbprint>`` ``Blob``) and the roaming
``%APPDATA%`` store, the same thumbprint counted once. Unreadable entries are
skipped (the certificate check reports them).
"""

from __future__ import annotations

from fleetcheck.agent.contract import ProbeResponse, Query
from fleetcheck.certinfo import CertInfo, CertParseError, parse_store_blob
from fleetcheck.checks.base import dir_query, reg_query
from fleetcheck.checks.certificate import FILE_STORE, REG_STORE
from fleetcheck.renew.validate import InstalledCertificate

__all__ = ["STORE_QUERIES", "installed_in_store", "operator_store"]

STORE_QUERIES: tuple[Query, ...] = (reg_query("HKU", REG_STORE, depth=1),
                                    dir_query(FILE_STORE, per_user=True, content=True))


def operator_store(facts: ProbeResponse, sid: str) -> list[CertInfo]:
    """Every readable certificate in the Personal store of ``sid`` (empty when not answered)."""
    reg_q, dir_q = STORE_QUERIES
    blobs: list[bytes] = []
    reg = facts.answer(reg_q.id, sid)
    if reg is not None and reg.status == "ok" and reg.key is not None:
        for sub in reg.key.subkeys.values():
            value = sub.value("Blob")
            if value is not None and value.t == "BINARY":
                blobs.append(value.as_bytes())
    files = facts.answer(dir_q.id, sid)
    if files is not None and files.status == "ok":
        blobs += [data for f in files.files if not f.content_truncated and (data := f.content_bytes()) is not None]
    found: dict[str, CertInfo] = {}
    for blob in blobs:
        try:
            info = parse_store_blob(blob)
        except CertParseError:
            continue
        found.setdefault(info.thumbprint, info)
    return list(found.values())


def installed_in_store(facts: ProbeResponse, sid: str, cn: str, host: str) -> InstalledCertificate | None:
    """The certificate named ``cn`` the operator holds (latest NotAfter when several), or None."""
    want = cn.strip().casefold()
    named = [c for c in operator_store(facts, sid) if c.subject_cn.strip().casefold() == want]
    if not named:
        return None
    best = max(named, key=lambda c: c.not_after)
    return InstalledCertificate(host=host, cn=best.subject_cn, thumbprint=best.thumbprint, not_after=best.not_after,
                                issuer=best.issuer, has_private_key=best.has_private_key, source="probe")


def holds(facts: ProbeResponse, sid: str, thumbprint: str) -> CertInfo | None:
    """The certificate with ``thumbprint`` in the operator's store, or None."""
    want = thumbprint.upper()
    return next((c for c in operator_store(facts, sid) if c.thumbprint == want), None)
