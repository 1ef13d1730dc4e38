"""A mutable registry tree: what the simulator's HKLM and user hives are made of.

Names compare case-insensitively and keep their spelling, as Windows does.
:mod:`fleetcheck.sim.image` builds trees from an image, :mod:`fleetcheck.sim.regimport`
from real ``.reg`` exports and hives.
"""

from __future__ import annotations

from fleetcheck.agent.contract import RegKey, RegValue


def split_path(path: str) -> list[str]:
    """``'A\\\\B\\\\'`` -> ``['A', 'B']``; empty parts (doubled or edge backslashes) dropped."""
    return [part for part in path.split("\\") if part]


class KeyNode:
    """A mutable registry key: case-insensitive names, original spelling kept."""

    __slots__ = ("subkeys", "values")

    def __init__(self) -> None:
        self.values: dict[str, tuple[str, RegValue]] = {}
        self.subkeys: dict[str, tuple[str, KeyNode]] = {}

    def find(self, path: str | list[str]) -> KeyNode | None:
        node: KeyNode | None = self
        for part in split_path(path) if isinstance(path, str) else path:
            entry = node.subkeys.get(part.lower()) if node is not None else None
            if entry is None:
                return None
            node = entry[1]
        return node

    def ensure(self, path: str | list[str]) -> KeyNode:
        node = self
        for part in split_path(path) if isinstance(path, str) else path:
            entry = node.subkeys.get(part.lower())
            if entry is None:
                entry = (part, KeyNode())
                node.subkeys[part.lower()] = entry
            node = entry[1]
        return node

    def detach(self, path: str) -> KeyNode | None:
        """Remove the key at ``path`` (and its tree); return it, or None when absent."""
        parts = split_path(path)
        if not parts:
            return None
        parent = self.find(parts[:-1])
        if parent is None:
            return None
        entry = parent.subkeys.pop(parts[-1].lower(), None)
        return entry[1] if entry else None

    def get(self, name: str) -> RegValue | None:
        entry = self.values.get(name.lower())
        return entry[1] if entry else None

    def set(self, name: str, value: RegValue) -> None:
        old = self.values.get(name.lower())
        self.values[name.lower()] = (old[0] if old else name, value)

    def delete(self, name: str) -> RegValue | None:
        entry = self.values.pop(name.lower(), None)
        return entry[1] if entry else None

    def to_regkey(self, depth: int, skip: frozenset[tuple[int, str]] = frozenset()) -> RegKey:
        """This key as the contract's RegKey, subkeys down to ``depth``.

        ``skip`` holds (id of parent node, lower-case name) links not to follow:
        the WOW6432Node alias when persisting, so the shared tree is written once.
        """
        values = {name: value for name, value in self.values.values()}
        if depth <= 0:
            return RegKey(values=values, truncated=bool(self.subkeys))
        subkeys = {
            name: node.to_regkey(depth - 1, skip)
            for low, (name, node) in self.subkeys.items()
            if (id(self), low) not in skip
        }
        # As agent.ps1: a tree is truncated when any key below it is, so a
        # partial tree never passes for a complete one at the top.
        truncated = any(sub.truncated for sub in subkeys.values())
        return RegKey(values=values, subkeys=subkeys, truncated=truncated)

    def count(self, depth: int) -> int:
        """How many keys ``to_regkey(depth)`` opens (for the cost model)."""
        if depth <= 0:
            return 1
        return 1 + sum(node.count(depth - 1) for _name, node in self.subkeys.values())

    @classmethod
    def from_regkey(cls, key: RegKey) -> KeyNode:
        node = cls()
        for name, value in key.values.items():
            node.values[name.lower()] = (name, value)
        for name, sub in key.subkeys.items():
            node.subkeys[name.lower()] = (name, cls.from_regkey(sub))
        return node


