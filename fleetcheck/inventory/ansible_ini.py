"""Ansible's INI inventory format, read into a :class:`~fleetcheck.inventory.tree.Tree`.

Rules as Ansible's ``ini`` inventory plugin applies them (docs.ansible.com,
*How to build your inventory*, and the ``ansible.builtin.ini`` plugin page):

* ``#`` and ``;`` start a comment line; blank lines are skipped;
* hosts before any section belong to ``ungrouped``;
* ``[group]`` lists hosts, one per line: ``PATTERN [key=value ...]`` (shell-like
  quoting; a pattern may be a range such as ``PC-SZ-[001:020]``, and may end in
  ``:PORT``, which sets ``ansible_port``: see :mod:`fleetcheck.inventory.hostport`);
* ``[group:vars]`` holds ``key=value`` lines, ``[group:children]`` child group names;
* a value is a Python literal when it reads as one (``5985`` is a number,
  ``True`` a boolean, ``'a b'`` a string), else the text itself.
"""

from __future__ import annotations

import ast
import re
import shlex
from typing import Any

from fleetcheck.inventory.tree import Pos, Tree, TreeHost
from fleetcheck.yamlfile import SECRET_KEY

MAX_LITERAL_CHARS = 1_000  # ast.literal_eval only on short values (bounded work)
_SECTION = re.compile(r"^\[([^\[\]]+)\]\s*(?:[#;].*)?$")
_GROUP_NAME = re.compile(r"^[^\s:\[\]=]+$")


def looks_like_ini(text: str) -> bool:
    """Whether the first line with content is an INI ``[section]`` header."""
    for raw in text.splitlines()[:10_000]:
        line = raw.strip().lstrip("\ufeff")
        if not line or line.startswith(("#", ";")):
            continue
        return bool(_SECTION.match(line)) and "," not in line
    return False


def has_section_line(text: str) -> bool:
    """Whether some line is an INI ``[section]`` header (at the start of the line)."""
    return any(_SECTION.match(line.rstrip()) and "," not in line for line in text.splitlines()[:100_000])


def parse_value(text: str) -> Any:
    """A Python literal when ``text`` is one (as Ansible's INI plugin does), else the text."""
    if len(text) > MAX_LITERAL_CHARS:
        return text
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return text
    return value if isinstance(value, (str, int, float, bool, list, dict, tuple)) else text


def _col_of(line: str, needle: str, default: int) -> int:
    at = line.find(needle)
    return at + 1 if at >= 0 else default


def _host_line(tree: Tree, group: str, line: str, number: int) -> None:
    indent = len(line) - len(line.lstrip())
    try:
        tokens = shlex.split(line, comments=True)
    except ValueError:
        tree.problem((number, indent + 1), "引号不成对", "unbalanced quotes")
        return
    if not tokens:
        return
    host = TreeHost(tokens[0], (number, indent + 1))
    for token in tokens[1:]:
        key, eq, value = token.partition("=")
        col = _col_of(line, key + "=" if eq else token, indent + 1)
        if not eq or not key:
            if SECRET_KEY.search(line):  # the stray word may be half of a password with a space in it
                tree.problem((number, col), "应为“名称=值”形式的主机变量（含空格的值请加引号）",
                             "expected a key=value host variable (quote a value that has spaces)")
            else:
                tree.problem((number, col), f"应为“名称=值”形式的主机变量，而不是 {token!r}",
                             f"expected a key=value host variable, got {token!r}")
            continue
        host.vars[key] = (parse_value(value), (number, col + len(key) + 1))
    tree.group(group, (number, 1)).hosts.append(host)


def _vars_line(tree: Tree, group: str, line: str, number: int) -> None:
    key, eq, value = line.partition("=")
    col = len(line) - len(line.lstrip()) + 1
    if not eq or not key.strip():
        tree.problem((number, col), f"[{group}:vars] 中应为“名称=值”", f"expected key=value in [{group}:vars]")
        return
    value_col = len(key) + 2 + (len(value) - len(value.lstrip()))
    tree.group(group, (number, 1)).vars[key.strip()] = (parse_value(value.strip()), (number, value_col))


def _section(tree: Tree, header: str, number: int) -> tuple[str, str] | None:
    name, _, kind = header.strip().partition(":")
    name, kind = name.strip(), kind.strip() or "hosts"
    if kind not in ("hosts", "vars", "children") or not _GROUP_NAME.match(name):
        tree.problem((number, 1), f"无效的小节 [{header}]（应为 [组]、[组:vars] 或 [组:children]）",
                     f"invalid section [{header}] (expected [group], [group:vars] or [group:children])")
        return None
    return name, kind


def parse_ini(text: str) -> Tree:
    """The groups, hosts and variables of an INI inventory; problems kept in ``tree.problems``."""
    tree = Tree(host_ports=True)
    tree.group("all", (1, 1))
    current: tuple[str, str] | None = ("ungrouped", "hosts")
    vars_sections: list[tuple[str, Pos]] = []
    declared = {"all", "ungrouped"}
    for number, raw in enumerate(text.lstrip("\ufeff").splitlines(), start=1):
        line = raw.rstrip()
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", ";")):
            continue
        match = _SECTION.match(stripped)
        if match:
            current = _section(tree, match.group(1), number)
            if current is not None and current[1] != "vars":
                tree.group(current[0], (number, 2))
                declared.add(current[0])
            elif current is not None:
                vars_sections.append((current[0], (number, 2)))
            continue
        if current is None:
            continue  # lines of an invalid section: already reported at its header
        group, kind = current
        if kind == "hosts":
            _host_line(tree, group, line, number)
        elif kind == "vars":
            _vars_line(tree, group, stripped, number)
        elif not _GROUP_NAME.match(stripped):
            tree.problem((number, 1), f"[{group}:children] 中的组名 {stripped!r} 无效",
                         f"invalid group name {stripped!r} in [{group}:children]")
        else:
            declared.add(stripped)
            tree.group(group, (number, 1)).children.append((stripped, (number, len(line) - len(line.lstrip()) + 1)))
    for group, pos in vars_sections:
        if group not in declared:  # Ansible: "Section [g:vars] not valid for undefined group"
            tree.problem(pos, f"[{group}:vars] 所属的组 {group} 未定义", f"[{group}:vars] is for group {group}, which is not defined")
    return tree
