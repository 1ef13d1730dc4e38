"""Internet Explorer security zones: which value IE really uses, and which zone a URL is in.

This is the domain logic behind the ``zone_action`` and ``trusted_site`` check
types (REQUIREMENTS.md "Effective values, not raw values"). Pure; the agent
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

Zone of a URL (:func:`url_zone`), first match wins:

1. the machine policy "Site to Zone Assignment List" (``ZoneMapKey`` under the
   HKLM policy key), then the user policy one (HKU);
2. when either ZoneMapKey list exists, user ZoneMap entries are ignored (that is
   what the policy does to the Internet Options dialog); otherwise the user's
   ``ZoneMap\\Domains`` tree (skipped under ``Security_HKLM_only``);
3. the machine ``ZoneMap\\Domains`` tree;
4. nothing matched: the Internet zone (3).

Decision: between the user and machine ``Domains`` trees the user's is looked
at first, mirroring the precedence of zone actions (user preference over
machine preference); within a tree the most specific entry wins.
"""

from __future__ import annotations

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


def _split_site(site: str) -> tuple[str, str]:
    """(scheme or "*", host pattern) of a ZoneMapKey name such as ``https://*.sccc.com``."""
    text = site.strip().lower()
    scheme = "*"
    if "://" in text:
        scheme, text = text.split("://", 1)
    host = text.split("/", 1)[0].split(":", 1)[0]
    return scheme or "*", host


def _site_matches(site: str, scheme: str, host: str) -> int:
    """How specifically a ZoneMapKey site names ``scheme://host`` (0 = not at all)."""
    s_scheme, pattern = _split_site(site)
    if s_scheme not in ("*", scheme):
        return 0
    bonus = 1 if s_scheme == scheme else 0
    if pattern == host:
        return 1000 + bonus
    if pattern.startswith("*."):
        base = pattern[2:]
        if host.endswith("." + base):
            return 10 * base.count(".") + 10 + bonus
        return 0
    # A bare domain covers its subdomains too, less specifically than an exact host.
    if host.endswith("." + pattern):
        return 10 * pattern.count(".") + 5 + bonus
    return 0


def _zone_number(val: RegValue) -> int | None:
    """A "Site to Zone Assignment List" entry: REG_SZ digits (as the ADMX list writes them) or a DWORD."""
    if val.t in ("SZ", "EXPAND_SZ") and isinstance(val.v, str):
        text = val.v.strip()
        return int(text) if text.isdigit() and len(text) < 4 else None
    return dword(val)


def _zonemapkey_match(key: RegKey | None, scheme: str, host: str) -> tuple[str, int] | None:
    best: tuple[int, str, int] | None = None
    for name, val in (key.values if key is not None else {}).items():
        zone = _zone_number(val)
        score = _site_matches(name, scheme, host)
        if zone is None or score == 0:
            continue
        if best is None or score > best[0]:
            best = (score, name, zone)
    return (best[1], best[2]) if best else None


def _domains_match(domains: RegKey | None, scheme: str, host: str) -> tuple[str, int] | None:
    """The most specific ``Domains`` entry for the host: (relative key path [value], zone)."""
    if domains is None:
        return None
    labels = host.split(".")
    best: tuple[float, str, int] | None = None
    for top_name, top in domains.subkeys.items():
        top_l = top_name.lower()
        if host == top_l:
            rest: list[str] = []
        elif host.endswith("." + top_l):
            rest = host[: -len(top_l) - 1].split(".")
        else:
            continue
        found = _walk(top, list(reversed(rest)), scheme, float(top_l.count(".") + 1), top_name)
        if found and (best is None or found[0] > best[0]):
            best = found
    del labels
    return (best[1], best[2]) if best else None


def _walk(
    node: RegKey, rest: list[str], scheme: str, score: float, path: str
) -> tuple[float, str, int] | None:
    """Descend ``rest`` (labels right to left), also through ``*`` wildcard subkeys."""
    best: tuple[float, str, int] | None = None
    for proto, bonus in ((scheme, 0.1), ("*", 0.0)):
        val = node.value(proto)
        zone = dword(val)
        if zone is not None:
            best = (score + bonus, f"{path} [{proto}]", zone)
            break
    if rest:
        for name, weight in ((rest[0], 1.0), ("*", 0.5)):
            child = node.subkey(name) if name != "*" else node.subkeys.get("*")
            if child is None:
                continue
            found = _walk(child, rest[1:], scheme, score + weight, f"{path}\\{name}")
            if found and (best is None or found[0] > best[0]):
                best = found
    return best


def url_zone(ctx: EvalContext, url: str) -> ZoneMatch:
    """The zone IE puts ``url`` in, with the layer and key that decided it."""
    parts = urlsplit(url if "://" in url else f"https://{url}")
    scheme, host = (parts.scheme or "https").lower(), (parts.hostname or "").lower()
    _, mpol, upol, udom = zonemap_queries()[:4]
    mdom = machine_domains_query(ctx)
    only_hklm = hklm_only(ctx)
    user_ok = ctx.operator is not None and not only_hklm
    sid = ctx.operator.sid if ctx.operator is not None else None

    mpol_key = registry_key(ctx, mpol)
    hit = _zonemapkey_match(mpol_key, scheme, host)
    if hit:
        where = reg_location("HKLM", mpol.path)
        return ZoneMatch(hit[1], LAYER_MACHINE_POLICY, f"{LAYER_MACHINE_POLICY}: {where} [{hit[0]}]")
    upol_key = registry_key(ctx, upol, user=True) if user_ok else None
    hit = _zonemapkey_match(upol_key, scheme, host)
    if hit:
        where = reg_location("HKU", upol.path, sid)
        return ZoneMatch(hit[1], LAYER_USER_POLICY, f"{LAYER_USER_POLICY}: {where} [{hit[0]}]")
    policy_list = bool(mpol_key is not None and mpol_key.values) or bool(
        upol_key is not None and upol_key.values
    )
    if user_ok and not policy_list:
        found = _domains_match(registry_key(ctx, udom, user=True), scheme, host)
        if found:
            where = reg_location("HKU", udom.path, sid)
            return ZoneMatch(found[1], LAYER_USER_PREF, f"{LAYER_USER_PREF}: {where}\\{found[0]}")
    found = _domains_match(registry_key(ctx, mdom), scheme, host)
    if found:
        where = reg_location("HKLM", mdom.path)
        return ZoneMatch(found[1], LAYER_MACHINE_PREF, f"{LAYER_MACHINE_PREF}: {where}\\{found[0]}")
    why = "ZoneMapKey policy active; user entries ignored" if policy_list else "no ZoneMap entry"
    return ZoneMatch(3, "default", f"默认 Internet 区域 default Internet zone ({why})")
