"""The resolved inventory in the shape ``ansible-inventory --list`` / ``--host`` prints (pure).

``--list``: ``{"_meta": {"hostvars": {host: vars}}, "all": {"children": [...]},
group: {"hosts": [...], "children": [...]}}`` — a group's own hosts and child
groups, empty keys left out, groups in name order after ``all``; each host's
variables after Ansible's precedence. A password is never shown: a resolved one
is :data:`MASK`.
"""

from __future__ import annotations

from typing import Any

from fleetcheck.inventory.model import HostSpec, Inventory

MASK = "********"


def host_vars(spec: HostSpec) -> dict[str, Any]:
    """One host's merged variables, as given (no defaults added), the password masked."""
    found = dict(sorted(spec.host_vars.items()))
    if spec.password is not None:
        found["ansible_password"] = MASK
        found = dict(sorted(found.items()))
    return found


def inventory_list(inventory: Inventory) -> dict[str, Any]:
    """``ansible-inventory --list`` of ``inventory``.

    As in Ansible, a host in no group but ``all`` is listed in ``ungrouped``
    (whether the file put it under ``all.hosts``, before the first INI section
    or in ``ungrouped``), and ``all`` lists child groups only.
    """
    out: dict[str, Any] = {"_meta": {"hostvars": {n: host_vars(s) for n, s in inventory.hosts.items()}}}
    loose = [n for n, spec in inventory.hosts.items() if not spec.groups]
    own = dict(inventory.group_hosts)
    own["all"] = ()
    children = dict(inventory.group_children)
    if loose or "ungrouped" in own:  # a host also in another group is not ungrouped (Ansible's reconcile_inventory)
        own["ungrouped"] = tuple(h for h in (*own.get("ungrouped", ()), *loose)
                                 if h in inventory.hosts and set(inventory.hosts[h].groups) <= {"ungrouped"})
    if loose:
        children["all"] = tuple(sorted({*children.get("all", ()), "ungrouped"}))
    for name in ["all", *sorted({*inventory.groups, *own} - {"all"})]:
        entry: dict[str, Any] = {}
        hosts = [h for h in own.get(name, ()) if h in inventory.hosts]
        if hosts:
            entry["hosts"] = hosts
        kids = list(children.get(name, ()))
        if kids:
            entry["children"] = kids
        if entry or name == "all":
            out[name] = entry
    return out
