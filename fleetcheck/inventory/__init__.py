"""The inventory: which PCs to sweep and how to reach them (Ansible-compatible YAML)."""

from fleetcheck.inventory.load import (
    PasswordSources,
    load_host_vars,
    load_inventory,
    parse_inventory,
)
from fleetcheck.inventory.model import HostSpec, HostVarsError, Inventory, InventoryError
from fleetcheck.inventory.patterns import PatternError, select_hosts

__all__ = [
    "HostSpec",
    "HostVarsError",
    "Inventory",
    "InventoryError",
    "PasswordSources",
    "PatternError",
    "load_host_vars",
    "load_inventory",
    "parse_inventory",
    "select_hosts",
]
