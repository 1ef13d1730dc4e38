"""Terminal tables shared by the store-reading commands (history, diff, certs).

Host data is never read as rich markup (``[bold]``…) nor passed through as
terminal escapes: every cell goes through :func:`add_row`.
"""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text as RichText

from fleetcheck.findings import observed_in
from fleetcheck.i18n import Lang, T, Text
from fleetcheck.report.model import FINDING_STATUS_LABELS, HOST_STATUS_LABELS
from fleetcheck.termsafe import safe_terminal

__all__ = ["SEVERITY_LABELS", "add_row", "bold", "console", "observed_text", "status_text"]

#: A check's severity as the user reads it.
SEVERITY_LABELS: dict[str, Text] = {
    "critical": T("严重", "critical"),
    "high": T("高", "high"),
    "medium": T("中", "medium"),
    "low": T("低", "low"),
    "info": T("信息", "info"),
}

# Observed values the checks record in both languages at once (Finding.observed is one string):
# shown in the chosen language. Longest first, so "(不存在 absent)" is not split by "不存在 absent".
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


def observed_text(observed: str | None, lang: Lang) -> str:
    """A finding's observed value in ``lang`` (see :func:`fleetcheck.findings.observed_in`)."""
    return observed_in(observed, lang)


def status_text(status: str | None, lang: Lang) -> str:
    """A stored finding or host status (``fail``, ``unreachable``…) as its label in ``lang``; ``—`` for none."""
    if status is None:
        return "—"
    for table in (FINDING_STATUS_LABELS, HOST_STATUS_LABELS):
        for key, text in table.items():
            if key.value == status:
                return text.get(lang)
    return status
