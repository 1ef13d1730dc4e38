"""Internet Explorer security zones: which value IE really uses, and which zone a URL is in.

This is the domain logic behind the ``zone_action`` and ``trusted_site`` check
types (docs/requirements.md "Effective values, not raw values"). Pure; the agent
only ships raw keys.

Effective zone action value, highest precedence first::

    machine policy   HKLM\\SOFTWARE\\Policies\\Microsoft\\Windows\\CurrentVersion\\Internet Settings\\Zones\\<z>
    user policy      HKU\\<SID>\\Software\\Policies\\...\\Internet Settings\\Zones\\<z>
    user preference  HKU\\<SID>\\Software\\Microsoft\\Windows\\CurrentVersion\\Internet Settings\\Zones\\<z>
    machine pref.    HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Internet Settings\\Zones\\<z>

With ``Security_HKLM_only`` = 1 under the machine policy key only the two HKLM
layers count (policy, then preference).

32-bit view (docs/windows-semantics.md, WOW64 rules): the portal's controls are
32-bit, so the IE process that matters on 64-bit Windows is 32-bit, and its
non-policy ``HKLM\\SOFTWARE\\...\\Internet Settings`` (``Zones``, ``ZoneMap``) is
redirected to ``HKLM\\SOFTWARE\\WOW6432Node\\...``; the policy keys and the whole
user hive are shared. Both physical keys are queried (one request serves x86 and
x64 PCs) and :func:`fleetcheck.checks.wow64.ie32_path` picks the one IE reads.

Zone of a URL (:func:`url_zone`), first source that maps the site decides
(docs/windows-semantics.md; Aaron Margosis, "Internet Explorer's Explicit
Security Zone Mappings": of five ZoneMap locations only one or two are in
effect, computer policy over user policy):

1. per policy hive, machine then user (the user one not under
   ``Security_HKLM_only``): the "Site to Zone Assignment List" (``ZoneMapKey``),
   then the policy zone map ``Software\\Policies\\...\\ZoneMap\\Domains``;
2. the user's ``ZoneMap\\Domains`` -- ignored when any policy list or map is set
   (users may not choose their own assignments then) and under ``Security_HKLM_only``;
3. the machine ``ZoneMap\\Domains`` (32-bit view);
4. nothing matched: the Internet zone (3).

Matching within one source: the exact host beats a ``*`` subkey (any
subdomain) beats a parent domain's key; a deeper key beats a shallower one;
the protocol's own value beats ``*``. A key may spell several labels
(``Domains\\biz.sccc.com``) or one per level (``Domains\\sccc.com\\biz``). Two
entries of equal rank that disagree resolve to the more restrictive zone
(Trusted < Intranet < Internet < Restricted): an ambiguous map never makes a
site trusted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from urllib.parse import urlsplit

from fleetcheck.agent.contract import RegistryQuery, RegKey, RegValue
from fleetcheck.checks.base import EvalContext, reg_query
from fleetcheck.checks.facts import dword, reg_location, registry_key
from fleetcheck.checks.wow64 import ie32_path, ie32_paths

POLICY_IS = r"SOFTWARE\Policies\Microsoft\Windows\CurrentVersion\Internet Settings"
PREF_IS = r"SOFTWARE\Microsoft\Windows\CurrentVersion\Internet Settings"
USER_POLICY_IS = r"Software\Policies\Microsoft\Windows\CurrentVersion\Internet Settings"
USER_PREF_IS = r"Software\Microsoft\Windows\CurrentVersion\Internet Settings"

ZONE_NAMES = {
    0: "本地计算机 Local Machine",
    1: "本地 Intranet Local intranet",
    2: "受信任的站点 Trusted sites",
    3: "Internet",
    4: "受限制的站点 Restricted sites",
}

LAYER_MACHINE_POLICY = "计算机策略 machine policy"
LAYER_USER_POLICY = "用户策略 user policy"
LAYER_USER_PREF = "用户首选项 user preference"
LAYER_MACHINE_PREF = "计算机首选项 machine preference"

DOMAINS_DEPTH = 4


@cache  # queries are frozen; building them is the hot path
def policy_root_query() -> RegistryQuery:
    """The machine Internet Settings policy key (``Security_HKLM_only`` lives here)."""
    return reg_query("HKLM", POLICY_IS)


@cache  # queries are frozen; building them is the hot path
def zone_queries(zone: int) -> tuple[RegistryQuery, ...]:
    """Every key the effective value of an action in ``zone`` depends on (both views)."""
    return (
        policy_root_query(),
        reg_query("HKLM", f"{POLICY_IS}\\Zones\\{zone}"),
        reg_query("HKU", f"{USER_POLICY_IS}\\Zones\\{zone}"),
        reg_query("HKU", f"{USER_PREF_IS}\\Zones\\{zone}"),
        *(reg_query("HKLM", p) for p in ie32_paths("HKLM", f"{PREF_IS}\\Zones\\{zone}")),
    )


def machine_pref_path(ctx: EvalContext, rel: str = "") -> str:
    """The physical ``HKLM\\SOFTWARE\\...\\Internet Settings[\\<rel>]`` key 32-bit IE reads on this host."""
    return ie32_path("HKLM", f"{PREF_IS}\\{rel}" if rel else PREF_IS, ctx.facts.os.arch)


def machine_zone_query(ctx: EvalContext, zone: int) -> RegistryQuery:
    """The machine preference ``Zones\\<zone>`` key in the view IE uses on this host."""
    return reg_query("HKLM", machine_pref_path(ctx, f"Zones\\{zone}"))


@cache  # queries are frozen; building them is the hot path
def zonemap_queries() -> tuple[RegistryQuery, ...]:
    """Every key URL-to-zone resolution depends on (both views)."""
    return (
        policy_root_query(),
        reg_query("HKLM", f"{POLICY_IS}\\ZoneMapKey"),
        reg_query("HKU", f"{USER_POLICY_IS}\\ZoneMapKey"),
        reg_query("HKU", f"{USER_PREF_IS}\\ZoneMap\\Domains", depth=DOMAINS_DEPTH),
        *(
            reg_query("HKLM", p, depth=DOMAINS_DEPTH)
            for p in ie32_paths("HKLM", f"{PREF_IS}\\ZoneMap\\Domains")
        ),
        reg_query("HKLM", f"{POLICY_IS}\\ZoneMap\\Domains", depth=DOMAINS_DEPTH),
        reg_query("HKU", f"{USER_POLICY_IS}\\ZoneMap\\Domains", depth=DOMAINS_DEPTH),
    )


def policy_map_queries() -> tuple[tuple[str, RegistryQuery, RegistryQuery, bool], ...]:
    """(layer, ZoneMapKey list, policy ZoneMap\\Domains, per user), machine first."""
    q = zonemap_queries()
    return (
        (LAYER_MACHINE_POLICY, q[1], q[-2], False),
        (LAYER_USER_POLICY, q[2], q[-1], True),
    )


def machine_domains_query(ctx: EvalContext) -> RegistryQuery:
    """The machine ``ZoneMap\\Domains`` tree in the view IE uses on this host."""
    return reg_query("HKLM", machine_pref_path(ctx, r"ZoneMap\Domains"), depth=DOMAINS_DEPTH)


def hklm_only(ctx: EvalContext) -> bool:
    """True when ``Security_HKLM_only`` = 1: IE ignores every per-user zone setting."""
    key = registry_key(ctx, policy_root_query())
    val = key.value("Security_HKLM_only") if key is not None else None
    return dword(val) == 1


@dataclass(frozen=True)
class EffectiveValue:
    """The value IE uses for one zone action and where it came from."""

    value: int | None  # None: no layer sets a REG_DWORD
    layer: str | None
    source: str | None
    raw: RegValue | None = None
    hklm_only: bool = False
    user_layers_skipped: bool = False  # no operator: only HKLM layers were looked at
    # Values of another type (e.g. REG_SZ "0") in a layer: IE does not read them
    # as the number they spell; that layer counts as not set. (source, value)
    ignored: tuple[tuple[str, RegValue], ...] = ()


def effective_zone_action(ctx: EvalContext, zone: int, action: str) -> EffectiveValue:
    """The value of ``action`` (e.g. "1803") in ``zone`` that IE actually applies.

    Raises FactError when a layer that counts could not be read.
    """
    _, mpol, upol, upref = zone_queries(zone)[:4]
    mpref = machine_zone_query(ctx, zone)
    only_hklm = hklm_only(ctx)
    layers: list[tuple[str, RegistryQuery, bool]] = [(LAYER_MACHINE_POLICY, mpol, False)]
    skipped = False
    if not only_hklm:
        if ctx.operator is not None:
            layers += [(LAYER_USER_POLICY, upol, True), (LAYER_USER_PREF, upref, True)]
        else:
            skipped = True
    layers.append((LAYER_MACHINE_PREF, mpref, False))
    ignored: list[tuple[str, RegValue]] = []
    for layer, query, user in layers:
        key = registry_key(ctx, query, user=user)
        val = key.value(action) if key is not None else None
        if val is None:
            continue
        sid = ctx.operator.sid if (user and ctx.operator) else None
        source = f"{layer}: {reg_location(query.hive, query.path, sid)} [{action}]"
        number = dword(val)
        if number is None:
            ignored.append((source, val))
            continue
        return EffectiveValue(number, layer, source, val, only_hklm, skipped, tuple(ignored))
    return EffectiveValue(None, None, None, None, only_hklm, skipped, tuple(ignored))


# --------------------------------------------------------------------------- URL -> zone


@dataclass(frozen=True)
class ZoneMatch:
    zone: int
    layer: str
    source: str


# Security levels of the default zone templates, least to most restrictive (KB 182569):
# 0 My Computer, 2 Trusted, 1 Intranet, 3 Internet, 4 Restricted; other numbers strictest.
_STRICTNESS = {0: 0, 2: 1, 1: 2, 3: 3, 4: 4}


def _stricter(a: int, b: int) -> bool:
    return _STRICTNESS.get(a, 5) > _STRICTNESS.get(b, 5)


def _zone_number(val: RegValue) -> int | None:
    """A "Site to Zone Assignment List" entry: REG_SZ digits (as the ADMX list writes them) or a DWORD."""
    if val.t in ("SZ", "EXPAND_SZ") and isinstance(val.v, str):
        text = val.v.strip()
        return int(text) if re.fullmatch("[0-9]{1,3}", text) else None  # ASCII digits only
    return dword(val)


def _zonemapkey_match(key: RegKey | None, scheme: str, host: str) -> tuple[str, int] | None:
    """The best Site-to-Zone entry for ``scheme://host``: (value name, zone)."""
    best: tuple[int, str, int] | None = None
    for name, val in (key.values if key is not None else {}).items():
        zone = _zone_number(val)
        if zone is None or not name:
            continue
        pattern, site_scheme = name.strip().lower(), None
        if "://" in pattern:
            site_scheme, pattern = pattern.split("://", 1)
        pattern = pattern.split("/", 1)[0].split(":", 1)[0].rstrip(".")
        if site_scheme not in (None, "*", scheme):
            continue
        if pattern == host:
            rank = 3
        elif pattern.startswith("*.") and host.endswith(pattern[1:]):
            rank = 2
        elif pattern and host.endswith("." + pattern):
            rank = 1  # a bare domain covers its subdomains
        else:
            continue
        score = rank * 2 + (1 if site_scheme == scheme else 0)
        if best is None or score > best[0] or (score == best[0] and _stricter(zone, best[2])):
            best = (score, name, zone)
    return (best[1], best[2]) if best else None


def _domains_match(domains: RegKey | None, scheme: str, host: str) -> tuple[str, int] | None:
    """The best ``Domains`` entry for the host: (relative key path [value], zone)."""
    if domains is None or not host:
        return None
    labels = host.split(".")
    best: tuple[tuple[int, int, int], str, int] | None = None
    for cut in range(1, len(labels) + 1):
        top_name = ".".join(labels[-cut:])
        top = domains.subkey(top_name)
        if top is None:
            continue
        nodes: list[tuple[int, RegKey, str]] = [(cut, top, top_name)]
        node, covered, path = top, cut, top_name
        for label in reversed(labels[:-cut]):
            child = node.subkey(label)
            if child is None:
                break
            covered, node, path = covered + 1, child, f"{path}\\{label}"
            nodes.append((covered, node, path))
        candidates: list[tuple[int, int, RegKey, str]] = []
        for n, key, where in nodes:
            if n == len(labels):
                candidates.append((3, n, key, where))
                continue
            candidates.append((1, n, key, where))
            star = key.subkey("*")
            if star is not None:
                candidates.append((2, n, star, f"{where}\\*"))
        for rank, n, key, where in candidates:
            for proto, own in ((scheme, 1), ("*", 0)):
                zone = dword(key.value(proto))
                if zone is None:
                    continue
                order = (rank, n, own)
                if best is None or order > best[0] or (order == best[0] and _stricter(zone, best[2])):
                    best = (order, f"{where} [{proto}]", zone)
                break
    return (best[1], best[2]) if best else None


def policy_active(ctx: EvalContext) -> bool:
    """A policy site list or zone map is in effect: the user's own zone map is ignored."""
    for _layer, lst_q, map_q, user in policy_map_queries():
        if user and (ctx.operator is None or hklm_only(ctx)):
            continue
        lst = registry_key(ctx, lst_q, user=user)
        pmap = registry_key(ctx, map_q, user=user)
        if (lst is not None and lst.values) or (pmap is not None and pmap.subkeys):
            return True
    return False


def url_zone(ctx: EvalContext, url: str) -> ZoneMatch:
    """The zone IE puts ``url`` in, with the layer and key that decided it."""
    parts = urlsplit(url if "://" in url else f"https://{url}")
    scheme, host = (parts.scheme or "https").lower(), (parts.hostname or "").lower().rstrip(".")
    only_hklm = hklm_only(ctx)
    user_ok = ctx.operator is not None and not only_hklm
    sid = ctx.operator.sid if ctx.operator is not None else None
    active = False
    for layer, lst_q, map_q, user in policy_map_queries():
        if user and not user_ok:
            continue
        hive_sid = sid if user else None
        lst = registry_key(ctx, lst_q, user=user)
        if lst is not None and lst.values:
            active = True
            hit = _zonemapkey_match(lst, scheme, host)
            if hit:
                where = reg_location(lst_q.hive, lst_q.path, hive_sid)
                return ZoneMatch(hit[1], layer, f"{layer}: {where} [{hit[0]}]")
        pmap = registry_key(ctx, map_q, user=user)
        if pmap is not None and pmap.subkeys:
            active = True
            found = _domains_match(pmap, scheme, host)
            if found:
                where = reg_location(map_q.hive, map_q.path, hive_sid)
                return ZoneMatch(found[1], layer, f"{layer}: {where}\\{found[0]}")
    if user_ok and not active:
        udom = zonemap_queries()[3]
        found = _domains_match(registry_key(ctx, udom, user=True), scheme, host)
        if found:
            where = reg_location("HKU", udom.path, sid)
            return ZoneMatch(found[1], LAYER_USER_PREF, f"{LAYER_USER_PREF}: {where}\\{found[0]}")
    mdom = machine_domains_query(ctx)
    found = _domains_match(registry_key(ctx, mdom), scheme, host)
    if found:
        where = reg_location("HKLM", mdom.path)
        return ZoneMatch(found[1], LAYER_MACHINE_PREF, f"{LAYER_MACHINE_PREF}: {where}\\{found[0]}")
    why = "zone-map policy active; user entries ignored" if active else "no ZoneMap entry"
    return ZoneMatch(3, "default", f"默认 Internet 区域 default Internet zone ({why})")
