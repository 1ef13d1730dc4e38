"""``--limit``: Ansible-like host patterns.

``PC-SZ-001`` (a host), ``shenzhen`` (a group), ``PC-SZ-*`` (a glob over host
and group names), ``~PC-SZ-0[0-4].*`` (a regular expression), ``a:b`` or
``a,b`` (union), ``&g`` (intersection), ``!x`` (exclusion). As in Ansible,
the union of the plain parts is taken first, then the intersections, then
the exclusions, whatever their order in the pattern. The result keeps
inventory order.

Ansible's two implicit groups work in every inventory format: ``all`` (or
``*``) is every host; ``ungrouped`` is every host in no group but ``all``
(docs.ansible.com, *How to build your inventory*, "Default groups": "ungrouped
contains all hosts that don't have another group aside from all"). A host an
inventory lists under ``ungrouped`` and also in another group is not
ungrouped (Ansible's ``reconcile_inventory`` takes it out).
"""

from __future__ import annotations

import fnmatch
import re

from fleetcheck.errors import FleetcheckError
from fleetcheck.i18n import T, Text
from fleetcheck.inventory.model import Inventory


class PatternError(FleetcheckError):
    """A ``--limit`` host pattern that cannot be used (unknown name, bad regex)."""


def ungrouped_hosts(inv: Inventory) -> list[str]:
    """The hosts of Ansible's implicit ``ungrouped`` group, in inventory order."""
    return [name for name, spec in inv.hosts.items() if set(spec.groups) <= {"ungrouped"}]


def _match_one(inv: Inventory, term: str) -> set[str]:
    if term == "ungrouped" and term not in inv.hosts:
        return set(ungrouped_hosts(inv))
    if term == "all" and term not in inv.hosts:
        return set(inv.hosts)
    if term in inv.groups:
        return set(inv.groups[term])
    if term in inv.hosts:
        return {term}
    if term.startswith("~"):
        try:
            regex = re.compile(term[1:])
        except re.error as exc:
            raise PatternError(T(f"--limit 中的正则表达式 {term!r} 无效：{exc}",
                                 f"invalid regular expression {term!r} in --limit: {exc}")) from None
        names = {h for h in inv.hosts if regex.match(h)}
        for group, members in inv.groups.items():
            if regex.match(group):
                names.update(members)
        return names
    names = {h for h in inv.hosts if fnmatch.fnmatchcase(h, term)}
    for group, members in inv.groups.items():
        if fnmatch.fnmatchcase(group, term):
            names.update(members)
    return names


def select_hosts(inv: Inventory, pattern: str | None) -> tuple[list[str], list[Text]]:
    """Host names matched by ``pattern`` (all hosts for None/empty), and warnings.

    A term that matches nothing is a warning (as in Ansible); an empty result
    is an error, because sweeping nothing is never what the user meant.

    >>> # select_hosts(inv, "shenzhen:&win7:!PC-SZ-003")
    """
    if not pattern or not pattern.strip():
        return list(inv.hosts), []
    terms = [t.strip() for t in re.split(r"[:,]", pattern) if t.strip()]
    union: set[str] = set()
    intersect: list[set[str]] = []
    exclude: set[str] = set()
    warnings: list[Text] = []
    has_plain = False
    for term in terms:
        kind, name = (term[0], term[1:]) if term[0] in "!&" else ("", term)
        matched = _match_one(inv, name)
        if not matched:
            warnings.append(T(f"--limit：{name!r} 没有匹配任何主机或组", f"--limit: {name!r} matches no host or group"))
        if kind == "!":
            exclude |= matched
        elif kind == "&":
            intersect.append(matched)
        else:
            has_plain = True
            union |= matched
    selected = union if has_plain else set(inv.hosts)
    for part in intersect:
        selected &= part
    selected -= exclude
    if not selected:
        raise PatternError(T(
            f"{pattern!r} 没有选中任何主机：请检查主机名或分组名（fleetcheck inventory check 可列出清单中的主机和分组）",
            f"{pattern!r} selects no host: check the host or group name "
            "(fleetcheck inventory check lists the inventory's hosts and groups)",
        ))
    return [h for h in inv.hosts if h in selected], warnings
