"""Terminal tables shared by the store-reading commands (history, diff, certs).

Host data is never read as rich markup (``[bold]``…) nor passed through as
terminal escapes: every cell goes through :func:`add_row`.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text as RichText

from fleetcheck.i18n import Lang
from fleetcheck.report.model import FINDING_STATUS_LABELS, HOST_STATUS_LABELS
from fleetcheck.termsafe import safe_terminal

__all__ = ["add_row", "bold", "console", "status_text"]


def console() -> Console:
    """The console to print tables on: wide when not a terminal, so tables in logs and pipes are not wrapped."""
    found = Console()
    return found if found.is_terminal else Console(width=200)


def add_row(table: Table, *cells: str) -> None:
    """Add a row of plain text: host data must never be read as rich markup (``[bold]``…)."""
    table.add_row(*(RichText(safe_terminal(c)) for c in cells))  # and no terminal escapes


def bold(text: str) -> RichText:
    """A table title."""
    return RichText(text, style="bold")


def status_text(status: str | None, lang: Lang) -> str:
    """A stored finding or host status (``fail``, ``unreachable``…) as its label in ``lang``; ``—`` for none."""
    if status is None:
        return "—"
    for table in (FINDING_STATUS_LABELS, HOST_STATUS_LABELS):
        for key, text in table.items():
            if key.value == status:
                return text.get(lang)
    return status
