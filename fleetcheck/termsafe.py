"""Make text safe to print on a terminal: host-supplied strings can hold escapes.

A certificate CN, an operator name or a registry value comes from a PC that
may be compromised or simply odd. Printed raw, ``ESC [ 2 J`` clears the
operator's screen, ``ESC ] 0 ; … BEL`` retitles the window, and an OSC 8
hyperlink can disguise a URL. :func:`safe_terminal` shows every such
character visibly instead:

* C0 controls (U+0000–U+001F) except tab, DEL (U+007F) and C1 controls
  (U+0080–U+009F, e.g. the one-character CSI U+009B) as ``\\xNN``;
* newline and carriage return as ``\\n`` / ``\\r`` unless ``keep_newlines``
  (a host string must not forge extra output lines; multi-line text the
  program itself composed keeps its line breaks);
* Unicode bidirectional overrides and isolates (U+202A–U+202E,
  U+2066–U+2069) and line/paragraph separators as ``\\u202e`` etc., so a name
  cannot display reversed;
* with ``markup=True``, rich markup (``[bold]``) is escaped too, for text
  printed through rich with markup enabled.

Tab is kept: it moves the cursor but cannot change terminal state.

>>> safe_terminal("PC-1\\x1b]0;owned\\x07")
'PC-1\\\\x1b]0;owned\\\\x07'
>>> safe_terminal("a\\nb"), safe_terminal("a\\nb", keep_newlines=True)
('a\\\\nb', 'a\\nb')

Pure: no I/O.
"""

from __future__ import annotations

import re

__all__ = ["safe_terminal"]

_UNSAFE = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_UNSAFE_KEEP_NL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\n": "\\n", "\r": "\\r"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def safe_terminal(text: object, *, keep_newlines: bool = False, markup: bool = False) -> str:
    """``text`` with every terminal control character shown as a visible escape."""
    value = text if isinstance(text, str) else str(text)
    # unpaired surrogates cannot be encoded for the terminal: show their code unit
    if any("\ud800" <= c <= "\udfff" for c in value):
        value = "".join(f"\\u{ord(c):04x}" if "\ud800" <= c <= "\udfff" else c for c in value)
    value = (_UNSAFE_KEEP_NL if keep_newlines else _UNSAFE).sub(_escape, value)
    if markup:
        from rich.markup import escape

        value = escape(value)
    return value
