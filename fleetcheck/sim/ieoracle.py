"""What 32-bit Internet Explorer 11 (and Edge's policy engine) would do on a simulated PC.

An *oracle*: computed from the raw simulated registry and files of a
:class:`~fleetcheck.sim.image.HostImage`, written from Microsoft's documentation
and independent of ``fleetcheck/checks/`` (never imported here). The
differential tests compare the checks' verdicts with it.

For one operator profile (``sid``; None = nobody logged on, so no HKCU):

* :func:`zone_of_url` — the security zone of a URL (MapUrlToZone);
* :func:`url_action` — the effective value of a URL action in a zone;
* :func:`addon_state` — whether an ActiveX control loads, from which file, at
  which version, and what disables it;
* :func:`edge_policy` — the effective value of a Microsoft Edge policy.

Every rule names its source next to it. "Model choice" marks behaviour that
Microsoft does not document, with what the oracle assumes. 32-bit IE reads
HKLM through the 32-bit registry view (:mod:`fleetcheck.sim.wow64`), so on x64
machine ``Internet Settings`` and ``ActiveX Compatibility`` come from
``SOFTWARE\\WOW6432Node``, while ``SOFTWARE\\Policies`` and
``SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies`` are shared keys.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from fleetcheck.agent.contract import RegValue
from fleetcheck.sim import wow64
from fleetcheck.sim.image import HostImage, KeyNode, UserProfile, expand_env

INTERNET_SETTINGS = r"Software\Microsoft\Windows\CurrentVersion\Internet Settings"
POLICY_INTERNET_SETTINGS = r"Software\Policies\Microsoft\Windows\CurrentVersion\Internet Settings"
EXT_POLICY = r"Software\Microsoft\Windows\CurrentVersion\Policies\Ext"
EXT_SETTINGS = r"Software\Microsoft\Windows\CurrentVersion\Ext\Settings"
ACTIVEX_COMPAT = r"SOFTWARE\Microsoft\Internet Explorer\ActiveX Compatibility"
EDGE_POLICY = r"SOFTWARE\Policies\Microsoft\Edge"
KILL_BIT = 0x400
INTERNET_ZONE = 3


# --------------------------------------------------------------------------- registry access


class _Reader:
    """Registry reads as a 32-bit process of the operator's session sees them."""

    def __init__(self, image: HostImage, sid: str | None) -> None:
        self.image = image
        self.arch = image.os.arch
        self.profile: UserProfile | None = None
        if sid is not None:
            prof = image.profile(sid)
            # HKCU exists only for a user whose hive is loaded (logged on).
            if prof is not None and prof.loaded:
                self.profile = prof

    def hklm(self, path: str) -> KeyNode | None:
        return self.image.hklm.find(wow64.physical_path(self.arch, "HKLM", path, 32))

    def hkcu(self, path: str) -> KeyNode | None:
        if self.profile is None:
            return None
        return self.profile.hive.find(wow64.physical_path(self.arch, "HKCU", path, 32))

    def key(self, hive: Literal["HKLM", "HKCU"], path: str) -> KeyNode | None:
        return self.hklm(path) if hive == "HKLM" else self.hkcu(path)


def _dword(value: RegValue | None) -> int | None:
    """A REG_DWORD's number; any other type is not a DWORD setting.

    Model choice: IE reads zone, URL-action and flag settings as REG_DWORD
    (KB 182569 lists them all as DWORD values); a value of another type (e.g.
    REG_SZ "0") is treated as not set. Microsoft does not document what IE does
    with a wrongly typed value; it never reads it as the number it spells.
    """
    if value is not None and value.t == "DWORD" and isinstance(value.v, int):
        return value.v
    return None


def _text(value: RegValue | None) -> str | None:
    if value is not None and value.t in ("SZ", "EXPAND_SZ") and isinstance(value.v, str):
        return value.v
    return None


def security_hklm_only(image: HostImage) -> bool:
    """Group Policy "Security Zones: Use only machine settings".

    KB 182569 "Internet Explorer security zones registry entries for advanced
    users" (https://learn.microsoft.com/en-us/troubleshoot/developer/browsers/
    security-privacy/ie-security-zones-registry-entries), section "Security Zone
    settings": Security_HKLM_only = 1 (DWORD) in
    HKLM\\Software\\Policies\\Microsoft\\Windows\\CurrentVersion\\Internet Settings
    -> "only local computer settings are used and all users have the same
    security settings".
    """
    node = _Reader(image, None).hklm(POLICY_INTERNET_SETTINGS)
    return node is not None and _dword(node.get("Security_HKLM_only")) == 1


def _layers(image: HostImage) -> list[tuple[Literal["HKLM", "HKCU"], str]]:
    """The Internet Settings roots IE consults, first one that decides wins.

    Precedence machine policy > user policy > user preference > machine
    preference. Microsoft states the parts, not the whole order for zones:
    policy keys (Software\\Policies, written by Group Policy) override the
    Internet Options preferences; KB 182569: without Security_HKLM_only
    "computer settings are used along with user settings" and under it "only
    local computer settings are used" (so only the two HKLM roots here). The
    four-layer order (HKLM policy "administrative override", HKCU policy,
    HKCU preference, HKLM preference "system default settings"), and that the
    HKLM ones are read through Wow6432Node by 32-bit IE, is community-sourced:
    libyal winreg-kb "Internet Explorer keys / Policies"
    (https://winreg-kb.readthedocs.io/en/latest/sources/internet-explorer-keys/Policies.html).
    """
    if security_hklm_only(image):
        return [("HKLM", POLICY_INTERNET_SETTINGS), ("HKLM", INTERNET_SETTINGS)]
    return [
        ("HKLM", POLICY_INTERNET_SETTINGS),
        ("HKCU", POLICY_INTERNET_SETTINGS),
        ("HKCU", INTERNET_SETTINGS),
        ("HKLM", INTERNET_SETTINGS),
    ]


# --------------------------------------------------------------------------- (a) zones


@dataclass(frozen=True)
class ZoneAnswer:
    zone: int
    source: str  # e.g. "HKCU ZoneMap\\Domains\\sccc.com\\biz:https", "default"


def _split_url(url: str) -> tuple[str, str]:
    parts = urlsplit(url.strip())
    return parts.scheme.lower(), (parts.hostname or "").lower().rstrip(".")


# Security levels of the default zone templates, least to most restrictive (KB 182569
# "Zones": 0 My Computer, 2 Trusted (Low), 1 Intranet (Medium-low), 3 Internet
# (Medium), 4 Restricted (High)); any other number (a custom zone) counts as strictest.
_STRICTNESS = {0: 0, 2: 1, 1: 2, 3: 3, 4: 4}


def _strictness(zone: int) -> int:
    return _STRICTNESS.get(zone, 5)


def _domains_match(domains: KeyNode, host: str, scheme: str) -> tuple[int, int] | None:
    """(specificity, zone) of the best ZoneMap\\Domains entry for host and scheme.

    KB 182569, section "ZoneMap": Domains holds a key per domain, subdomains as
    keys below it, and DWORD values named by protocol (or ``*`` for all) whose
    data is the zone number. Model choice (matching is not spelt out by
    Microsoft): the deepest key on the host's label path wins (exact host >
    ``*`` subkey standing for any subdomain > a parent domain's key, which covers
    its subdomains); the protocol's own value before ``*``. A key may spell
    several labels (``Domains\\biz.sccc.com``) as well as one per level
    (``Domains\\sccc.com\\biz``); both are read, and on a tie the protocol's own
    value wins. Two spellings of the same host that give different zones (an
    undocumented case) resolve to the more restrictive zone, so that an
    ambiguous map never makes a site count as trusted.
    """
    labels = host.split(".")
    best: tuple[int, int, int, int] | None = None  # (rank, labels covered, own protocol, zone)
    for cut in range(1, len(labels) + 1):
        top = domains.find([".".join(labels[-cut:])])
        if top is None:
            continue
        path_nodes = [(cut, top)]
        current, covered = top, cut
        for label in reversed(labels[:-cut]):
            nxt = current.find([label])
            if nxt is None:
                break
            covered += 1
            path_nodes.append((covered, nxt))
            current = nxt
        candidates: list[tuple[int, int, KeyNode]] = []
        for n, key in path_nodes:
            if n == len(labels):
                candidates.append((3, n, key))
                continue
            candidates.append((1, n, key))
            star = key.find(["*"])
            if star is not None:
                candidates.append((2, n, star))
        for rank, n, key in candidates:
            zone = _dword(key.get(scheme))
            own = 1
            if zone is None:
                zone, own = _dword(key.get("*")), 0
            if zone is None:
                continue
            if (
                best is None
                or (rank, n, own) > best[:3]
                or ((rank, n, own) == best[:3] and _strictness(zone) > _strictness(best[3]))
            ):
                best = (rank, n, own, zone)
    return (best[0], best[3]) if best is not None else None


def _zonemapkey_match(node: KeyNode, host: str, scheme: str) -> tuple[int, int] | None:
    """(specificity, zone) of the best "Site to Zone Assignment List" entry.

    Group Policy "Site to Zone Assignment List" (inetres.admx IZ_Zonemaps, Windows
    Components > Internet Explorer > Internet Control Panel > Security Page,
    Computer and User; its help text is on Microsoft Learn "Policy CSP -
    InternetExplorer", AllowSiteToZoneAssignmentList,
    https://learn.microsoft.com/en-us/windows/client-management/mdm/policy-csp-internetexplorer#allowsitetozoneassignmentlist):
    value name = a host or
    FQDN, optionally with a protocol ("http://www.contoso.com" affects only
    http; "www.contoso.com" all protocols) and a ``*`` wildcard; value data =
    zone number 1-4 (REG_SZ, as the ADMX list writes it). Stored in
    Software\\Policies\\Microsoft\\Windows\\CurrentVersion\\Internet Settings\\ZoneMapKey.
    Same matching model as :func:`_domains_match` (equal entries that disagree,
    e.g. ``biz.sccc.com`` and ``*://biz.sccc.com``: the stricter zone).
    """
    best: tuple[int, int] | None = None
    for name, value in node.values.values():
        text = _text(value)
        zone: int | None
        if text is not None and re.fullmatch("[0-9]{1,3}", text.strip()):  # ASCII digits, as the ADMX writes
            zone = int(text.strip())
        else:
            zone = _dword(value)
        if zone is None or not name:
            continue
        pattern = name.strip().lower()
        pscheme = None
        if "://" in pattern:
            pscheme, pattern = pattern.split("://", 1)
        pattern = pattern.split("/", 1)[0].split(":", 1)[0].rstrip(".")
        if pscheme not in (None, "*", scheme):
            continue
        if pattern == host:
            rank = 3
        elif pattern.startswith("*.") and host.endswith(pattern[1:]):
            rank = 2
        elif pattern and host.endswith("." + pattern):
            rank = 1
        else:
            continue
        score = rank * 2 + (1 if pscheme == scheme else 0)
        if (
            best is None
            or score > best[0]
            or (score == best[0] and _strictness(zone) > _strictness(best[1]))
        ):
            best = (score, zone)
    return best


def zone_of_url(image: HostImage, url: str, sid: str | None) -> ZoneAnswer:
    """The security zone 32-bit IE 11 gives ``url`` for the user ``sid``.

    There are five ZoneMap locations (HKLM policy, HKCU policy, HKCU, HKLM, and
    the Enhanced Security Configuration ones) of which only one or two are in
    effect at a time, computer policy taking precedence over user policy:
    Aaron Margosis, "Internet Explorer's Explicit Security Zone Mappings"
    (Microsoft FDCC blog, 2011, updated 2012; archived on Microsoft Learn,
    https://learn.microsoft.com/en-us/archive/blogs/fdcc/internet-explorers-explicit-security-zone-mappings).
    Sources, in order (first one that maps the site decides):

    1. policy lists, "Site to Zone Assignment List" (ZoneMapKey), machine then
       user (computer policy over user policy); and the policy zone maps
       Software\\Policies\\...\\Internet Settings\\ZoneMap\\Domains.
       The user list is ignored under Security_HKLM_only (KB 182569).
       Open question (not settled by a readable source): whether the machine
       preference map (3.) still applies while a policy list is in effect;
       the oracle keeps it (only the *user's* own map is documented as lost).
    2. the user's ZoneMap\\Domains — ignored when any policy list is set: the
       ADMX help "If you disable or do not configure this policy, users may
       choose their own site-to-zone assignments", i.e. enabled, they may not
       (community: sysadminhell.blogspot.com 2014 "Zone Assignments and GPO
       settings": "their existing zone assignments will be lost"); ignored under
       Security_HKLM_only.
    3. the machine's ZoneMap\\Domains (HKLM, 32-bit view: WOW6432Node on x64).
    4. the protocol default: Internet zone (3) for http/https hosts with a dot
       (KB 182569, ZoneMap\\ProtocolDefaults: http/https -> 3).

    EscDomains (Enhanced Security Configuration, Windows Server only) are not
    modelled: trading PCs are Windows 7/10/11 clients.
    """
    scheme, host = _split_url(url)
    reader = _Reader(image, sid)
    hklm_only = security_hklm_only(image)
    policy_hives: list[Literal["HKLM", "HKCU"]] = ["HKLM"] if hklm_only else ["HKLM", "HKCU"]
    policy_active = False
    for hive in policy_hives:
        listed = reader.key(hive, POLICY_INTERNET_SETTINGS + r"\ZoneMapKey")
        if listed is not None and listed.values:
            policy_active = True
            hit = _zonemapkey_match(listed, host, scheme)
            if hit is not None:
                return ZoneAnswer(hit[1], f"{hive} policy ZoneMapKey")
        pmap = reader.key(hive, POLICY_INTERNET_SETTINGS + r"\ZoneMap\Domains")
        if pmap is not None and pmap.subkeys:
            policy_active = True
            hit = _domains_match(pmap, host, scheme)
            if hit is not None:
                return ZoneAnswer(hit[1], f"{hive} policy ZoneMap")
    if not hklm_only and not policy_active:
        user = reader.hkcu(INTERNET_SETTINGS + r"\ZoneMap\Domains")
        if user is not None:
            hit = _domains_match(user, host, scheme)
            if hit is not None:
                return ZoneAnswer(hit[1], "HKCU ZoneMap")
    machine = reader.hklm(INTERNET_SETTINGS + r"\ZoneMap\Domains")
    if machine is not None:
        hit = _domains_match(machine, host, scheme)
        if hit is not None:
            return ZoneAnswer(hit[1], "HKLM ZoneMap")
    return ZoneAnswer(INTERNET_ZONE, "default")


# --------------------------------------------------------------------------- (b) URL actions


@dataclass(frozen=True)
class ActionAnswer:
    value: int | None  # None: no layer sets it
    layer: str | None


def url_action(image: HostImage, zone: int, action: int | str, sid: str | None) -> ActionAnswer:
    """The effective DWORD of URL action ``action`` (e.g. 1004, 1803, 2200, 2201) in ``zone``.

    Each layer is ``<root>\\Zones\\<zone>`` of :func:`_layers` (KB 182569,
    section "Security Zone settings": Zones\\0-4 hold the URL-action DWORDs; the
    action numbers are the URLACTION_* constants of "URL Action Flags",
    https://learn.microsoft.com/en-us/previous-versions/windows/internet-explorer/ie-developer/platform-apis/ms537178(v=vs.85)).
    The first layer holding a DWORD value decides.
    """
    reader = _Reader(image, sid)
    for hive, root in _layers(image):
        node = reader.key(hive, f"{root}\\Zones\\{zone}")
        if node is None:
            continue
        value = _dword(node.get(str(action)))
        if value is not None:
            kind = "policy" if "Policies" in root else "preference"
            return ActionAnswer(value, f"{hive} {kind}")
    return ActionAnswer(None, None)


# --------------------------------------------------------------------------- (c) add-ons


@dataclass
class AddonAnswer:
    registered: bool = False
    registration: str | None = None  # "HKCU" / "HKLM" (which tree's InprocServer32)
    path: str | None = None  # the file 32-bit IE loads
    exists: bool = False
    version: str | None = None
    disabled_by: list[str] = field(default_factory=list)

    @property
    def loadable(self) -> bool:
        return self.registered and self.exists

    @property
    def enabled(self) -> bool:
        return not self.disabled_by

    @property
    def loads(self) -> bool:
        return self.loadable and self.enabled


def _server_path(reader: _Reader, clsid: str) -> tuple[str | None, str | None]:
    """(InprocServer32 default value, tree) as 32-bit IE's merged HKCR sees it.

    "Merged View of HKEY_CLASSES_ROOT"
    (https://learn.microsoft.com/en-us/windows/win32/sysinfo/merged-view-of-hkey-classes-root):
    HKCR merges HKLM\\Software\\Classes and HKCU\\Software\\Classes, the user's
    entries taking priority. "Registry Keys Affected by WOW64": CLSID is
    redirected in both (Windows 7+), so a 32-bit process sees only the
    Classes\\WOW6432Node\\CLSID trees on x64; a 64-bit registration is invisible.
    """
    sub = f"Software\\Classes\\CLSID\\{clsid}\\InprocServer32"
    for tree, node in (("HKCU", reader.hkcu(sub)), ("HKLM", reader.hklm(sub))):
        if node is None:
            continue
        value = node.get("")
        if value is None or value.t not in ("SZ", "EXPAND_SZ") or not isinstance(value.v, str):
            continue
        text = value.v.strip()
        if not text:
            continue
        return (_expand(reader, text) if value.t == "EXPAND_SZ" else text), tree
    return None, None


def _expand(reader: _Reader, text: str) -> str:
    """%VARS% as the 32-bit IE process of the user sees them.

    "WOW64 Implementation Details", section "Environment Variables": a 32-bit
    process has ProgramFiles=%ProgramFiles(x86)% and
    CommonProgramFiles=%CommonProgramFiles(x86)%. Model choice: only
    REG_EXPAND_SZ data is expanded (RegQueryValueEx/COM expand that type;
    "Registry Value Types", REG_EXPAND_SZ).
    """
    env = reader.image.user_env(reader.profile) if reader.profile else dict(reader.image.env)
    return expand_env(text, wow64.wow32_env(reader.arch, env))


def _on_disk(reader: _Reader, path: str) -> str:
    """The file the 32-bit process really opens (File System Redirector; quotes removed)."""
    text = path.strip()
    match = re.match(r'^"([^"]*)"', text)
    if match:
        text = match.group(1)
    windir = reader.image.env.get("SystemRoot") or reader.image.env.get("windir") or r"C:\Windows"
    if "\\" not in text:  # a bare DLL name: the (32-bit) system folder
        text = windir + "\\System32\\" + text
    return wow64.fs_redirect(reader.arch, text, windir)


def _addon_list(reader: _Reader, hive: Literal["HKLM", "HKCU"]) -> KeyNode | None:
    """The "Add-on List" of one hive when the policy is enabled there.

    IE ADMX (inetres.admx) policy "Add-on List", Windows Components > Internet
    Explorer > Security Features > Add-on Management, Machine and User:
    enabled = ListBox_Support_CLSID (DWORD 1) in
    Software\\Microsoft\\Windows\\CurrentVersion\\Policies\\Ext, list values in
    ...\\Policies\\Ext\\CLSID: name "{CLSID}", data "0" deny, "1" allow, "2" allow
    and "permit the user to manage the add-on through Add-on Manager". Source:
    Microsoft Learn "Policy CSP - InternetExplorer", AllowAddOnList (ADMX
    AddonManagement_AddOnList, Computer and User Configuration, Registry Key
    Software\\Microsoft\\Windows\\CurrentVersion\\Policies\\Ext, value
    ListBox_Support_CLSID; "If you disable this policy setting, the list is
    deleted"),
    https://learn.microsoft.com/en-us/windows/client-management/mdm/policy-csp-internetexplorer#allowaddonlist.
    That a list without ListBox_Support_CLSID=1 is not in effect is the ADMX
    enabled-value reading (model choice). Policies is a shared key (WOW64 table).
    """
    parent = reader.key(hive, EXT_POLICY)
    if parent is None or _dword(parent.get("ListBox_Support_CLSID")) != 1:
        return None
    return reader.key(hive, EXT_POLICY + r"\CLSID")


def _list_entry(node: KeyNode | None, clsid: str) -> str | None:
    if node is None:
        return None
    value = node.get(clsid)
    text = _text(value)
    if text is None and _dword(value) is not None:
        text = str(_dword(value))
    return text.strip() if text is not None else None


def addon_state(image: HostImage, clsid: str, sid: str | None) -> AddonAnswer:
    """Whether 32-bit IE 11 loads the ActiveX control ``clsid`` for user ``sid``.

    Disabled when any of:

    * kill bit: Compatibility Flags & 0x400 (COMPAT_EVIL_DONT_LOAD) in
      HKLM\\SOFTWARE\\Microsoft\\Internet Explorer\\ActiveX Compatibility\\{CLSID}:
      Microsoft Learn "Managing ActiveX Control Loading", section "Blocking
      Specific ActiveX Controls from Loading"
      (https://learn.microsoft.com/en-us/previous-versions/windows/internet-explorer/ie-developer/platform-apis/bb688194(v=vs.85))
      and KB 240797 "How to stop an ActiveX control from running in Internet
      Explorer". The key is below HKLM\\SOFTWARE and not on the WOW64 shared-key
      list, so 32-bit IE reads the Wow6432Node copy (derived from "Registry Keys
      Affected by WOW64"). "Alternate CLSID" redirection is not modelled;
    * Add-on List policy (machine list over user list) says "0";
    * "Deny all add-ons unless specifically allowed in the Add-on List"
      (RestrictToList = 1 DWORD in ...\\Policies\\Ext, HKLM or HKCU; IE ADMX
      "Add-on Management"; the AllowAddOnList help: that policy "defines whether
      add-ons not listed here are assumed to be denied") and the control is not
      allowed ("1"/"2") in an enabled list;
    * the user's Manage Add-ons choice: Flags bit 0x1 in
      HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Ext\\Settings\\{CLSID}
      (community-sourced: no Microsoft page documents the Flags bits), unless
      the list forces the control on with "1" (ADMX: "1" = allowed, the user
      cannot change it).
    """
    reader = _Reader(image, sid)
    answer = AddonAnswer()
    raw, tree = _server_path(reader, clsid)
    if raw is not None:
        answer.registered = True
        answer.registration = tree
        answer.path = _on_disk(reader, raw)
        found = image.file(answer.path)
        answer.exists = found is not None
        answer.version = found.version if found is not None else None
    compat = reader.hklm(ACTIVEX_COMPAT + "\\" + clsid)
    flags = _dword(compat.get("Compatibility Flags")) if compat is not None else None
    if flags is not None and flags & KILL_BIT:
        answer.disabled_by.append("kill bit")
    machine_list = _addon_list(reader, "HKLM")
    user_list = _addon_list(reader, "HKCU")
    entry = _list_entry(machine_list, clsid)
    if entry is None:
        entry = _list_entry(user_list, clsid)
    if entry == "0":
        answer.disabled_by.append("Add-on List policy")
    # "Deny all add-ons unless specifically allowed": computer policy over user policy when
    # both are configured (Group Policy precedence: "Computer policy settings ... take
    # precedence over user settings", Microsoft Learn "Group Policy processing and precedence").
    restrict = False
    for hive in ("HKLM", "HKCU"):
        node = reader.key(hive, EXT_POLICY)
        setting = _dword(node.get("RestrictToList")) if node is not None else None
        if setting is not None:
            restrict = setting == 1
            break
    if restrict and entry not in ("1", "2"):
        answer.disabled_by.append("RestrictToList policy")
    if entry != "1":
        settings = reader.hkcu(EXT_SETTINGS + "\\" + clsid)
        user_flags = _dword(settings.get("Flags")) if settings is not None else None
        if user_flags is not None and user_flags & 0x1:
            answer.disabled_by.append("user (Manage Add-ons)")
    return answer


# --------------------------------------------------------------------------- (d) Edge policies


@dataclass(frozen=True)
class EdgePolicyScope:
    """What Microsoft Learn "Microsoft Edge - Policies" says of one policy, "Supported features"."""

    recommended: bool  # "Can be recommended"
    user: bool = True  # HKCU honoured (the msedge.admx class is Both)


# https://learn.microsoft.com/en-us/deployedge/microsoft-edge-policies#<name>, "Supported features".
EDGE_POLICIES: dict[str, EdgePolicyScope] = {
    # Policy pages .../microsoft-edge-browser-policies/internetexplorerintegrationlevel
    # and .../internetexplorerintegrationsitelist, "Supported features": "Can be
    # mandatory: Yes; Can be recommended: No; Per Profile: Yes"; "Path
    # (Recommended): N/A".
    "InternetExplorerIntegrationLevel": EdgePolicyScope(recommended=False),
    "InternetExplorerIntegrationSiteList": EdgePolicyScope(recommended=False),
    # "Can be mandatory: Yes; Can be recommended: Yes" — from memory of the
    # policy pages, not re-read here: to be checked on Microsoft Learn.
    "InternetExplorerIntegrationReloadInIEModeAllowed": EdgePolicyScope(recommended=True),
    "DownloadRestrictions": EdgePolicyScope(recommended=True),
}


@dataclass(frozen=True)
class EdgeAnswer:
    value: int | str | list[str] | None
    source: str | None


def edge_policy(image: HostImage, name: str, sid: str | None) -> EdgeAnswer:
    """The effective value of Edge policy ``name``.

    Precedence: Microsoft Learn "Configure Microsoft Edge policy settings on
    Windows" (https://learn.microsoft.com/en-us/deployedge/configure-microsoft-edge,
    section "Configure policy settings on Windows"): "If both versions of a
    policy are set, the mandatory setting takes precedence"; mandatory values
    in SOFTWARE\\Policies\\Microsoft\\Edge, recommended ones in ...\\Edge\\Recommended
    (each policy page's "Windows Registry Settings"), Computer or User
    Configuration. Machine over user at the same level: Chromium's policy
    precedence (vendor doc of the engine Edge is built on, Google "Chrome
    policy precedence", support.google.com/chrome/a/answer/9037717 — not a
    Microsoft page). So HKLM mandatory > HKCU mandatory > HKLM recommended >
    HKCU recommended. Not modelled: a recommended value "only takes effect
    when the user has not modified the setting" (same Learn page) — the
    user's own edge://settings choice is not in the registry. A policy that "Can be recommended: No" ignores the Recommended
    keys; a policy without user scope ignores HKCU. Edge is a 64-bit (or
    natively installed) program and Policies is shared, so there is no view
    question. An unknown policy is read with every layer.
    """
    scope = EDGE_POLICIES.get(name, EdgePolicyScope(recommended=True))
    reader = _Reader(image, sid)
    layers: list[tuple[Literal["HKLM", "HKCU"], str]] = [("HKLM", EDGE_POLICY)]
    if scope.user:
        layers.append(("HKCU", EDGE_POLICY))
    if scope.recommended:
        layers.append(("HKLM", EDGE_POLICY + r"\Recommended"))
        if scope.user:
            layers.append(("HKCU", EDGE_POLICY + r"\Recommended"))
    for hive, path in layers:
        node = reader.key(hive, path)
        value = node.get(name) if node is not None else None
        if value is None:
            continue
        kind = "recommended" if path.endswith("Recommended") else "mandatory"
        if value.t in ("DWORD", "QWORD") and isinstance(value.v, int):
            return EdgeAnswer(value.v, f"{hive} {kind}")
        if isinstance(value.v, str) and value.t in ("SZ", "EXPAND_SZ"):
            # Chromium's Windows registry loader accepts an integer policy written as a
            # string of a plain decimal integer (base::StringToInt: no spaces, no hex);
            # community-sourced: chromium components/policy registry_dict.cc.
            if value.t == "SZ" and re.fullmatch("-?[0-9]{1,10}", value.v):
                return EdgeAnswer(int(value.v), f"{hive} {kind}")
            return EdgeAnswer(value.v, f"{hive} {kind}")
    return EdgeAnswer(None, None)
