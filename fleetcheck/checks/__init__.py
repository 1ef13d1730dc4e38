"""Check types: one module each; importing this package registers them all."""

from __future__ import annotations

import importlib
import pkgutil

from fleetcheck.checks.base import REGISTRY, CheckBase, EvalContext, Outcome, register

__all__ = ["REGISTRY", "CheckBase", "EvalContext", "Outcome", "load_all", "register"]

_NOT_TYPES = {"base", "conditions", "common"}


def load_all() -> None:
    """Import every check-type module so each registers itself."""
    for info in pkgutil.iter_modules(__path__):
        if info.name not in _NOT_TYPES and not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")


load_all()
