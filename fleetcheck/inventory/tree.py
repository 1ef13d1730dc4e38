"""The shape every inventory format is read into before variables are merged.

YAML inventories are walked directly; INI inventories and ``ansible-inventory
--list`` JSON are first turned into a :class:`Tree` (groups with their hosts,
children and variables, every item with its 1-based ``(line, col)``), which the
loader then walks like a YAML one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Pos = tuple[int, int]
Vars = dict[str, tuple[Any, Pos]]


@dataclass
class TreeHost:
    pattern: str  # a name or an Ansible range (PC-[01:20])
    pos: Pos
    vars: Vars = field(default_factory=dict)


@dataclass
class TreeGroup:
    name: str
    pos: Pos
    hosts: list[TreeHost] = field(default_factory=list)
    children: list[tuple[str, Pos]] = field(default_factory=list)
    vars: Vars = field(default_factory=dict)


@dataclass
class TreeProblem:
    pos: Pos
    zh: str
    en: str


@dataclass
class Tree:
    """Groups in file order (``all`` first when present); problems found while reading."""

    groups: dict[str, TreeGroup] = field(default_factory=dict)
    problems: list[TreeProblem] = field(default_factory=list)
    host_ports: bool = False  # host patterns may end in :PORT (INI: yes; --list JSON: no)

    def group(self, name: str, pos: Pos) -> TreeGroup:
        if name not in self.groups:
            self.groups[name] = TreeGroup(name, pos)
        return self.groups[name]

    def problem(self, pos: Pos, zh: str, en: str) -> None:
        self.problems.append(TreeProblem(pos, zh, en))
