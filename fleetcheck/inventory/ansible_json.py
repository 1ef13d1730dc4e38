"""``ansible-inventory --list`` JSON (and inventory-script JSON), read into a :class:`~fleetcheck.inventory.tree.Tree`.

The shape (docs.ansible.com, *Developing dynamic inventory*, "Inventory script
conventions")::

    {"_meta": {"hostvars": {"PC-1": {"ansible_host": "10.0.0.1"}}},
     "all": {"children": ["ungrouped", "sz"]},
     "sz": {"hosts": ["PC-1"], "vars": {"branch": "深圳"}, "children": []}}

A group may also be a plain list of host names. The file is parsed by the one
YAML loader (JSON is YAML), so every item keeps its line and column.
"""

from __future__ import annotations

from typing import Any

from fleetcheck.inventory.tree import Pos, Tree, TreeHost, Vars


def _pos(node: Any, key: Any, *, value: bool = False) -> Pos:
    try:
        line, col = node.lc.value(key) if value else node.lc.key(key)
        return line + 1, col + 1
    except (AttributeError, KeyError, TypeError):
        try:
            return node.lc.line + 1, node.lc.col + 1
        except AttributeError:
            return 1, 1


def _item_pos(node: Any, index: int) -> Pos:
    try:
        line, col = node.lc.item(index)
        return line + 1, col + 1
    except (AttributeError, KeyError, TypeError, IndexError):
        return _pos(node, None)


def is_list_json(data: Any) -> bool:
    """Whether a parsed mapping is the ``--list`` / script shape (not a YAML inventory)."""
    if "_meta" in data:
        return True
    for value in data.values():
        if isinstance(value, list):
            return True
        if isinstance(value, dict) and isinstance(value.get("hosts"), list):
            return True
        if isinstance(value, dict) and isinstance(value.get("children"), list):
            return True
    return False


def _vars(tree: Tree, node: Any, where: Pos, what: tuple[str, str]) -> Vars:
    if node is None:
        return {}
    if not isinstance(node, dict):
        tree.problem(where, f"{what[0]} 必须是“名称: 值”的映射", f"{what[1]} must be a mapping of name: value")
        return {}
    return {str(k): (node[k], _pos(node, k, value=True)) for k in node}


def _names(tree: Tree, owner: Any, key: str) -> list[tuple[str, Pos]]:
    node = owner.get(key)
    if node is None:
        return []
    if not isinstance(node, list) or not all(isinstance(n, str) for n in node):
        tree.problem(_pos(owner, key, value=True), f"{key} 必须是名称列表", f"{key} must be a list of names")
        return []
    return [(str(n), _item_pos(node, i)) for i, n in enumerate(node)]


def _group(tree: Tree, data: Any, key: Any, hostvars: Any) -> None:
    """The group under ``key`` (as parsed: YAML may give a null or a number; its name is ``str(key)``)."""
    node = data[key]
    name = str(key)
    group = tree.group(name, _pos(data, key))
    if isinstance(node, list):  # the old script shape: "group": ["host", ...]
        members = [(str(n), _item_pos(node, i)) for i, n in enumerate(node)]
    elif isinstance(node, dict):
        for field in node:
            if field not in ("hosts", "children", "vars"):
                tree.problem(_pos(node, field), f"组 {name} 中有未知的键 {field!r}（只允许 hosts、children、vars）",
                             f"unknown key {field!r} in group {name} (allowed: hosts, children, vars)")
        members = _names(tree, node, "hosts")
        group.children.extend(_names(tree, node, "children"))
        group.vars.update(_vars(tree, node.get("vars"), _pos(node, "vars", value=True), ("vars", "vars")))
    else:
        tree.problem(_pos(data, key, value=True), f"组 {name} 必须是映射或主机名列表",
                     f"group {name} must be a mapping or a list of host names")
        return
    for host, pos in members:
        host_node = hostvars.get(host) if isinstance(hostvars, dict) else None
        where = _pos(hostvars, host, value=True) if host_node is not None else pos
        group.hosts.append(TreeHost(host, pos, _vars(tree, host_node, where, (f"主机 {host} 的变量", f"the variables of host {host}"))))


def read_list_json(data: Any) -> Tree:
    """The groups, hosts and variables of ``ansible-inventory --list`` output."""
    tree = Tree()
    meta = data.get("_meta")
    hostvars = meta.get("hostvars") if isinstance(meta, dict) else None
    if meta is not None and not isinstance(hostvars, (dict, type(None))):
        tree.problem(_pos(meta, "hostvars", value=True), "_meta.hostvars 必须是“主机名: 变量”的映射",
                     "_meta.hostvars must be a mapping of host name: variables")
        hostvars = None
    if "all" in data:
        _group(tree, data, "all", hostvars)
    for key in data:
        if not isinstance(key, str):  # YAML allows a null, number or date as a key; a group has a name
            tree.problem(_pos(data, key), f"组名必须是文字，而不是 {key!r}", f"a group name must be text, not {key!r}")
        elif key not in ("_meta", "all"):
            _group(tree, data, key, hostvars)
    return tree
