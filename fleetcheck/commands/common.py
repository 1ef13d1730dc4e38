"""Helpers shared by the command modules: language, bilingual output, error exits, loading targets.

The options several commands share are in :mod:`fleetcheck.commands.options`.
"""

from __future__ import annotations

import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import NoReturn

import click
from pydantic import SecretStr

from fleetcheck.errors import (
    EXIT_NONCOMPLIANT,
    EXIT_OK,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    FleetcheckError,
)
from fleetcheck.i18n import Lang, T, Text, tr
from fleetcheck.inventory import (
    Inventory,
    PasswordSources,
    select_hosts,
)
from fleetcheck.inventory.load import credential_error, load_inventory_deferring_credentials
from fleetcheck.logsetup import is_quiet
from fleetcheck.officetime import Clock, OfficeZoneError, office_zone, set_office_zone, utc_now
from fleetcheck.remediate.guard import Guard

__all__ = [
    "EXIT_NONCOMPLIANT",
    "EXIT_OK",
    "EXIT_UNREACHABLE",
    "EXIT_USAGE",
    "InventoryZoneError",
    "clock_of",
    "fail",
    "lang_of",
    "load_targets",
    "say",
    "use_inventory_zone",
]


def lang_of(ctx: click.Context | None = None) -> Lang:
    ctx = ctx or click.get_current_context(silent=True)
    while ctx is not None:
        if isinstance(ctx.obj, dict) and "lang" in ctx.obj:
            return "en" if ctx.obj["lang"] == "en" else "zh"
        ctx = ctx.parent
    return "zh"


def say(text: Text | str, *, err: bool = False) -> None:
    click.echo(tr(text, lang_of()), err=err)


def clock_of(now_text: str | None) -> Clock:
    """The clock ``--now`` asks for: that instant (UTC when it names no zone), else the real time."""
    if now_text is None:
        return utc_now
    try:
        when = datetime.fromisoformat(now_text)
    except ValueError:
        fail(T(f"--now {now_text!r} 不是 ISO 8601 时间（如 2026-03-04T10:00+08:00）",
               f"--now {now_text!r} is not an ISO 8601 time (e.g. 2026-03-04T10:00+08:00)"))
    fixed = when if when.tzinfo else when.replace(tzinfo=timezone.utc)
    return lambda: fixed


def fail(text: Text | str, code: int = EXIT_USAGE) -> NoReturn:
    """Print a clear error (no traceback) and exit."""
    click.echo(tr(text, lang_of()), err=True)
    sys.exit(code)


def load_targets(path: Path, pattern: str | None, *, ask_pass: bool = False,
                 sources: PasswordSources | None = None) -> tuple[Inventory, list[str]]:
    """The inventory and the host names ``pattern`` selects; warnings printed, errors exit 2.

    ``ask_pass`` prompts once (hidden) for hosts whose inventory gives no password.
    """
    sources = sources or PasswordSources()
    if ask_pass:
        sources.prompted = SecretStr(click.prompt(tr(T("WinRM 密码", "WinRM password"), lang_of()),
                                                  hide_input=True, err=True))
    # A bad inventory or pattern is a FleetcheckError: the CLI root prints it, exit 2.
    inventory, credential_issues = load_inventory_deferring_credentials(path, sources)
    names, warnings = select_hosts(inventory, pattern)
    # Credentials matter only for the hosts selected (an unset {env: …} elsewhere is not an error).
    error = credential_error(credential_issues, names)
    if error is not None:
        raise error
    for text in [] if is_quiet() else [*inventory.warnings, *warnings]:  # -q: only errors
        say(text, err=True)
    use_inventory_zone(inventory)
    return inventory, names


def use_inventory_zone(inventory: Inventory) -> None:
    """The inventory's ``office_timezone`` (a variable of ``all``: every host has it) becomes the office
    zone, unless ``--office-tz`` was given. One zone per process: hosts disagreeing is a warning, and
    the default zone stays."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None and (ctx.find_root().obj or {}).get("office_tz_given"):
        return
    zones = {str(h.host_vars["office_timezone"]) for h in inventory.hosts.values() if h.host_vars.get("office_timezone")}
    if not zones:
        return
    if len(zones) > 1:
        say(T(f"警告：{inventory.source} 的主机 office_timezone 不一致（{'、'.join(sorted(zones))}）；"
              f"一次只能用一个时区，仍用 {office_zone().key}。请拆分清单或用 --office-tz。",
              f"warning: the hosts of {inventory.source} disagree on office_timezone ({', '.join(sorted(zones))}); "
              f"one zone per run, {office_zone().key} is kept. Split the inventory or pass --office-tz.").get(lang_of()),
            err=True)
        return
    (name,) = zones
    try:
        set_office_zone(name)
    except OfficeZoneError:
        raise InventoryZoneError(T(
            f"{inventory.source}：office_timezone {name!r} 不是 IANA 时区名（例如 Asia/Shanghai、Asia/Hong_Kong）",
            f"{inventory.source}: office_timezone {name!r} is not an IANA time zone (e.g. Asia/Shanghai, "
            "Asia/Hong_Kong)")) from None


class InventoryZoneError(FleetcheckError):
    """The inventory's ``office_timezone`` names no time zone (exit 2)."""


def warn_calendar(guard: Guard) -> None:
    """Say once, on stderr, when the trading calendar does not know this year's exchange holidays."""
    warning = guard.calendar.coverage_warning(guard.clock())
    if warning is not None:
        say(T("警告：", "warning: ").get(lang_of()) + warning.get(lang_of()), err=True)
