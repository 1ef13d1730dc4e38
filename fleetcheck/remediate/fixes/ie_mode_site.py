"""Fix planner for ``ie_mode_site``: fleetcheck's own site list and the Edge policy pointing at it. Pure.

The list (an Enterprise Mode site list v2, built with ElementTree so every
value is escaped by the library) is written at ``PlanOptions.site_list_path``,
keeping the ``<site>`` entries of a readable v2 list that was configured
before, plus ``InternetExplorerIntegrationLevel=1`` and
``InternetExplorerIntegrationSiteList``.
"""

from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

from fleetcheck.agent.contract import RegKey, RegValue, WriteFile
from fleetcheck.checks import edge_policy, ie_mode_site
from fleetcheck.checks.facts import answer_of
from fleetcheck.i18n import T
from fleetcheck.remediate.fixes.writes import Writes, dword_value
from fleetcheck.remediate.proposal import FixContext, Proposal

__all__ = ["kept_sites", "plan_ie_mode_site", "site_list_xml"]

_DOCTYPE = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


def site_list_xml(hosts: list[str], keep: list[ET.Element] | None = None) -> bytes:
    """An Enterprise Mode site list (v2) opening ``hosts`` in IE11 mode, escaped by ElementTree.

    >>> b"<open-in>IE11</open-in>" in site_list_xml(["biz.sccc.com"])
    True
    """
    root = ET.Element("site-list", {"version": "1"})
    created = ET.SubElement(root, "created-by")
    ET.SubElement(created, "tool").text = "fleetcheck"
    ET.SubElement(created, "version").text = "1"
    for element in keep or []:
        root.append(element)
    for host in hosts:
        site = ET.SubElement(root, "site", {"url": host})
        ET.SubElement(site, "compat-mode").text = "Default"
        ET.SubElement(site, "open-in").text = "IE11"
    ET.indent(root)
    data: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return data + b"\n"


def kept_sites(data: bytes | None, hosts: set[str]) -> list[ET.Element]:
    """``<site>`` elements of an existing v2 list that are not about ``hosts`` (refusing DOCTYPE/ENTITY)."""
    if not data or _DOCTYPE.search(data):
        return []
    try:
        root = ET.fromstring(data)
    except ET.ParseError:
        return []
    if root.tag.lower() != "site-list":
        return []
    kept = []
    for site in root.iter("site"):
        url = (site.get("url") or "").strip()
        host = (urlsplit(url if "://" in url else f"//{url}").hostname or "").lower()
        if host and host not in hosts:
            kept.append(site)
    return kept


def plan_ie_mode_site(spec: ie_mode_site.Spec, fctx: FixContext) -> Proposal:
    """The site list file (unless it already is what would be written) and the two Edge policy values."""
    ans = answer_of(fctx.ctx, ie_mode_site.policy_query())
    key: RegKey | None = ans.key if ans is not None else None
    level = key.value(ie_mode_site.LEVEL) if key is not None else None
    listed = key.value(ie_mode_site.SITE_LIST) if key is not None else None
    hosts = sorted({(urlsplit(u).hostname or "").lower() for u in spec.urls if urlsplit(u).hostname})
    old_path = listed.as_str() if listed is not None else None
    followed = ans.followed.get(ie_mode_site.SITE_LIST) if ans is not None else None
    old_data = followed.content_bytes() if followed is not None and followed.exists else None
    keep = kept_sites(old_data, set(hosts))
    content = site_list_xml(hosts, keep)
    path = fctx.options.site_list_path
    w = Writes(fctx)
    same_file = old_path is not None and old_path.strip().lower() == path.lower()
    if not (same_file and old_data == content):
        kept = f"，保留原列表中的 {len(keep)} 个站点" if keep else ""
        kept_en = f", keeping {len(keep)} sites of the previous list" if keep else ""
        w.add(WriteFile(id=w.next_id(), path=path, content=base64.b64encode(content).decode("ascii")),
              T(f"{path}: {'旧内容' if same_file and old_data else '(不存在 absent)'} → 站点列表（{', '.join(hosts)} 以 IE11 打开{kept}）",
                f"{path}: {'old content' if same_file and old_data else '(absent)'} → site list ({', '.join(hosts)} open in IE11{kept_en})"))
    w.set("HKLM", edge_policy.EDGE, ie_mode_site.LEVEL, dword_value(1), level)
    w.set("HKLM", edge_policy.EDGE, ie_mode_site.SITE_LIST, RegValue(t="SZ", v=path), listed)
    return w.proposal()
