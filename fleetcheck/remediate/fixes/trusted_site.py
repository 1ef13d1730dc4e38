"""Fix planner for ``trusted_site``: the site mapped to its zone where the mapping is read. Pure.

A policy Site to Zone Assignment List (or policy ``ZoneMap``) in effect makes
the user's own map ignored: the entry goes into the list of the policy hive
that decides (machine before user). Otherwise the ``ZoneMap\\Domains`` entry
of the operator (or of the machine when "Security Zones: Use only machine
settings" is on), in the view 32-bit IE reads.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fleetcheck.agent.contract import Hive, RegValue
from fleetcheck.checks import ie_zones, trusted_site
from fleetcheck.checks.facts import registry_key
from fleetcheck.i18n import T
from fleetcheck.remediate.fixes.writes import Writes, dword_value
from fleetcheck.remediate.proposal import FixContext, Proposal

__all__ = ["domain_key", "plan_trusted_site"]


def domain_key(host: str) -> tuple[str, str | None]:
    """(``Domains`` subkey for the registrable domain, subdomain subkey or None): biz.sccc.com -> (sccc.com, biz).

    >>> domain_key("biz.sccc.com")
    ('sccc.com', 'biz')
    """
    labels = host.split(".")
    if len(labels) <= 2:
        return host, None
    return ".".join(labels[-2:]), ".".join(labels[:-2])


def plan_trusted_site(spec: trusted_site.Spec, fctx: FixContext) -> Proposal:
    """The one write that maps ``spec.url`` to ``spec.zone`` in the list or map that decides."""
    parts = urlsplit(spec.url if "://" in spec.url else f"https://{spec.url}")
    scheme, host = (parts.scheme or "https").lower(), (parts.hostname or "").lower()
    if "*" in host or not host:
        return Proposal(manual=T(f"{spec.url} 含通配符，无法自动加入", f"{spec.url} has a wildcard; add it by hand"))
    match = ie_zones.url_zone(fctx.ctx, spec.url)
    (_, mlist_q, mmap_q, _), (_, ulist_q, umap_q, _) = ie_zones.policy_map_queries()
    mpol = registry_key(fctx.ctx, mlist_q)
    mmap = registry_key(fctx.ctx, mmap_q)
    user_policy_counts = fctx.operator is not None and not ie_zones.hklm_only(fctx.ctx)
    upol = registry_key(fctx.ctx, ulist_q, user=True) if user_policy_counts else None
    umap = registry_key(fctx.ctx, umap_q, user=True) if user_policy_counts else None
    machine_active = bool(mpol is not None and mpol.values) or bool(mmap is not None and mmap.subkeys)
    user_active = bool(upol is not None and upol.values) or bool(umap is not None and umap.subkeys)
    site = f"{scheme}://{host}"
    w = Writes(fctx)
    zone_sz = RegValue(t="SZ", v=str(spec.zone))
    # A policy list or map in effect makes the user's own map ignored: the entry goes into the
    # Site to Zone Assignment List of the policy hive that decides (its list is read before its map).
    if fctx.options.strategy == "machine-policy" or match.layer == ie_zones.LAYER_MACHINE_POLICY or machine_active:
        w.set("HKLM", mlist_q.path, site, zone_sz, mpol.value(site) if mpol is not None else None)
        return w.proposal()
    if user_active or match.layer == ie_zones.LAYER_USER_POLICY:
        w.set("HKU", ulist_q.path, site, zone_sz, upol.value(site) if upol is not None else None)
        return w.proposal()
    domain, sub = domain_key(host)
    rel = f"ZoneMap\\Domains\\{domain}" + (f"\\{sub}" if sub else "")
    hive: Hive = "HKLM" if ie_zones.hklm_only(fctx.ctx) else "HKU"
    # HKLM: the view 32-bit IE reads (WOW6432Node on 64-bit Windows); HKU is shared.
    base = ie_zones.machine_pref_path(fctx.ctx) if hive == "HKLM" else ie_zones.USER_PREF_IS
    domains_q = (
        ie_zones.machine_domains_query(fctx.ctx) if hive == "HKLM" else ie_zones.zonemap_queries()[3]
    )
    tree = registry_key(fctx.ctx, domains_q, user=hive == "HKU")
    node = tree.subkey(rel.split("\\", 2)[2]) if tree is not None else None
    w.set(hive, f"{base}\\{rel}", scheme, dword_value(spec.zone), node.value(scheme) if node is not None else None)
    return w.proposal()
