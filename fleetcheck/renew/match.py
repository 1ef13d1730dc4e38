"""Which host gets which PFX. Pure: the latest scan and the inventory in, a decision out.

The target is the host whose operator holds the old certificate with the
PFX's CN. Evidence, in order of trust:

1. the latest scan in the store: a certificate finding on the host whose
   ``subject_cn`` is the CN (the certificate was seen there);
2. the inventory: the host variable ``gateway_cert`` equals the CN (what the
   admin says; used when the certificate was not seen, e.g. the operator was
   not logged on during the scan).

Names compare case-insensitively with surrounding blanks ignored, as the
certificate check does. Only hosts of the inventory count (fleetcheck needs
their connection settings). Exactly one host → that host. None → refused
(``no_host``). Several (the scan and the inventory disagree, or two PCs hold
the same certificate) → refused (``ambiguous_host``) naming them: importing a
certificate into the wrong operator's store is worse than not importing it.

Example::

    >>> match_host("F00504Y0007#0", None, {"PC-01": {"gateway_cert": "F00504Y0007#0"}}).host
    'PC-01'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from fleetcheck.findings import HostResult, HostStatus, RunResult
from fleetcheck.i18n import T
from fleetcheck.readiness import gateway_certificates
from fleetcheck.renew.validate import InstalledCertificate, Refusal

__all__ = ["HostMatch", "installed_from_result", "match_host"]


def _norm(name: str) -> str:
    return name.strip().casefold()


@dataclass(frozen=True)
class HostMatch:
    """The chosen host (or the refusal), and how it was found."""

    host: str | None
    evidence: Literal["scan", "inventory", "none"]
    refusal: Refusal | None = None
    candidates: tuple[str, ...] = ()
    installed: InstalledCertificate | None = None  # from the latest scan, when it saw the certificate
    notes: list[str] = field(default_factory=list)


def installed_from_result(host: HostResult, cn: str, source: Literal["probe", "scan"]) -> InstalledCertificate | None:
    """The certificate named ``cn`` a host's certificate findings describe, if any.

    Several rows with that CN (several checks, or an old and a new one): the
    latest NotAfter wins, as the certificate check itself judges.
    """
    rows = [r for r in gateway_certificates(host) if r.get("subject_cn") and _norm(str(r["subject_cn"])) == _norm(cn)]
    if not rows:
        return None
    rows.sort(key=lambda r: (r["not_after"] is not None, r["not_after"] or 0), reverse=True)
    best = rows[0]
    return InstalledCertificate(
        host=host.host,
        cn=str(best["subject_cn"]),
        thumbprint=best["thumbprint"],
        not_after=best["not_after"],
        issuer=best["issuer"],
        has_private_key=best["has_private_key"],
        source=source,
    )


def match_host(cn: str, latest: RunResult | None, inventory_vars: Mapping[str, Mapping[str, Any]]) -> HostMatch:
    """The host that should receive the PFX named ``cn`` (see the module docstring).

    ``inventory_vars``: host name → its host variables, for the hosts in scope.
    """
    scanned: dict[str, InstalledCertificate] = {}
    if latest is not None:
        for host in latest.hosts:
            if host.host not in inventory_vars or host.status is not HostStatus.ok:
                continue
            found = installed_from_result(host, cn, "scan")
            if found is not None:
                scanned[host.host] = found
    declared = [name for name, hv in inventory_vars.items()
                if isinstance(hv.get("gateway_cert"), str) and _norm(hv["gateway_cert"]) == _norm(cn)]
    candidates = sorted(set(scanned) | set(declared))
    if not candidates:
        return HostMatch(None, "none", Refusal("no_host", T(
            f"{cn}：清单中没有主机持有此证书（最近一次扫描未见，也没有主机的 gateway_cert 是它）",
            f"{cn}: no host in the inventory holds this certificate (not seen in the latest scan, "
            "and no host has it as gateway_cert)")))
    if len(candidates) > 1:
        names = ", ".join(candidates)
        return HostMatch(None, "none", Refusal("ambiguous_host", T(
            f"{cn}：多台主机都对应此证书（{names}）；请核对清单的 gateway_cert 或用 --limit 指定",
            f"{cn}: several hosts match this certificate ({names}); check the inventory's gateway_cert "
            "or pick one with --limit")), tuple(candidates))
    chosen = candidates[0]
    evidence: Literal["scan", "inventory"] = "scan" if chosen in scanned else "inventory"
    return HostMatch(chosen, evidence, None, (chosen,), scanned.get(chosen))
