"""Where Ansible finds ``group_vars/`` and ``host_vars/`` beside an inventory file.

Ansible's ``host_group_vars`` plugin (docs.ansible.com, *How to build your
inventory*, "Organizing host and group variables"): for a group or host NAME,
``group_vars/NAME`` / ``host_vars/NAME`` with no extension or ``.yml``,
``.yaml``, ``.json`` are read, in that order; when such a path is a folder,
every file in it (and its subfolders) is read in name order, skipping hidden
files and editor backups (``~``). The files are YAML (JSON is YAML).

This module only finds the files (I/O); :mod:`fleetcheck.inventory.load` reads
them through the one YAML loader and applies Ansible's precedence.
"""

from __future__ import annotations

from pathlib import Path

VARS_EXTENSIONS = ("", ".yml", ".yaml", ".json")
MAX_VARS_FILES = 1_000  # per group or host: a folder of thousands of files is a mistake, not variables
MAX_DIR_DEPTH = 8


def _safe_name(name: str) -> bool:
    """A name that stays inside its folder (a host called ``../x`` reads nothing)."""
    return bool(name) and not name.startswith(".") and "/" not in name and "\\" not in name and "\0" not in name


def _folder_files(folder: Path, depth: int, found: list[Path]) -> None:
    if depth > MAX_DIR_DEPTH:
        return
    for entry in sorted(folder.iterdir(), key=lambda p: p.name):
        if len(found) >= MAX_VARS_FILES:
            return
        if entry.name.startswith(".") or entry.name.endswith("~"):
            continue
        if entry.is_dir():
            _folder_files(entry, depth + 1, found)
        elif entry.is_file() and entry.suffix.lower() in VARS_EXTENSIONS:
            found.append(entry)


def vars_files(base_dir: Path, kind: str, name: str) -> list[Path]:
    """The variable files of group or host ``name`` (``kind``: ``group_vars`` or ``host_vars``), in read order."""
    root = base_dir / kind
    if not _safe_name(name) or not root.is_dir():
        return []
    found: list[Path] = []
    for ext in VARS_EXTENSIONS:
        path = root / f"{name}{ext}"
        if path.is_dir():
            _folder_files(path, 0, found)
        elif path.is_file():
            found.append(path)
    return found[:MAX_VARS_FILES]
