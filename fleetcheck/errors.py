"""The one root of every error a user can cause, and the exit codes they map to.

Every error that reaches the user — a bad file, an unusable option, a store
that cannot be opened, a host that cannot be reached — is a
:class:`FleetcheckError`. It carries a bilingual :class:`~fleetcheck.i18n.Text`
(Chinese first) and the process exit code the command line gives it. The CLI
maps the root to its exit code in one place (``fleetcheck.cli``); library code
raises, never prints.

``str(exc)`` is the English text, so logs and ``pytest.raises(match=...)`` read
it; :meth:`FleetcheckError.format` gives the user's language. Messages are built
from our own text and the user's values only — never from secrets, so a
password cannot leak through ``str(exc)``.

>>> from fleetcheck.i18n import T
>>> err = FleetcheckError(T("清单无效", "the inventory is not valid"))
>>> str(err), err.format("zh"), err.exit_code
('the inventory is not valid', '清单无效', 2)
"""

from __future__ import annotations

from typing import ClassVar

from fleetcheck.i18n import DEFAULT_LANG, Lang, Text

# Stable exit codes, documented in the README.
EXIT_OK = 0
EXIT_NONCOMPLIANT = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3


class FleetcheckError(Exception):
    """Base class of every user-caused error. ``text`` is the bilingual message."""

    exit_code: ClassVar[int] = EXIT_USAGE

    def __init__(self, text: Text) -> None:
        super().__init__(text.en)
        self.text = text

    def format(self, lang: Lang = DEFAULT_LANG) -> str:
        """The message in ``lang`` (subclasses with several issues format them all)."""
        return self.text.get(lang)
