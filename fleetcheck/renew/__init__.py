"""Certificate renewal: validate renewed PFX files, match them to hosts, import, verify, roll back.

Modules: :mod:`.passwords` (masked PFX passwords, the passwords file),
:mod:`.validate` (pure PFX checks), :mod:`.match` (which host gets which PFX),
:mod:`.plan` (items, states, rendering), :mod:`.records` (the ``renewals``
table), :mod:`.apply` (the I/O: probe, guard, import, verify, rollback).
``fleetcheck renew`` (fleetcheck/commands/renew.py) is the command line.
"""

from fleetcheck.renew.passwords import PasswordFileError, PfxPassword, load_password_file
from fleetcheck.renew.plan import RenewalItem, RenewalState
from fleetcheck.renew.validate import (
    InstalledCertificate,
    Refusal,
    RenewalPfx,
    check_renewal,
    open_pfx,
)

__all__ = [
    "InstalledCertificate",
    "PasswordFileError",
    "PfxPassword",
    "Refusal",
    "RenewalItem",
    "RenewalPfx",
    "RenewalState",
    "check_renewal",
    "load_password_file",
    "open_pfx",
]
