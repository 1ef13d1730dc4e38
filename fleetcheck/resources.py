"""Where shipped data lives: inside the installed wheel, or beside the package in a checkout."""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def _data_dir(name: str) -> Path:
    installed = _PACKAGE_DIR / name
    if installed.is_dir():
        return installed
    return _PACKAGE_DIR.parent / name


def policies_dir() -> Path:
    """The shipped policy packs (``policies/`` in the repository)."""
    return _data_dir("policies")


def templates_dir() -> Path:
    """The shipped report templates (``reports_templates/`` in the repository)."""
    return _data_dir("reports_templates")


def agent_dir() -> Path:
    """agent.ps1 and the bootstrap."""
    return _PACKAGE_DIR / "agent"


def examples_dir() -> Path:
    """``inventory.example.yaml`` and ``notify.example.yaml``: in the wheel, or the checkout's top level."""
    installed = _PACKAGE_DIR / "examples"
    return installed if installed.is_dir() else _PACKAGE_DIR.parent
