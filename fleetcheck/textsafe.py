"""Strings from hosts made safe to serialize: no unpaired UTF-16 surrogate survives. Pure.

agent.ps1 writes every UTF-16 code unit of a Windows string as ``\\uXXXX``;
Windows strings (a registry value, a process name, a file name) may hold an
unpaired surrogate, and JSON ``"\\ud800"`` then parses to a lone surrogate in
Python, which UTF-8 cannot encode (pydantic, ``json.dumps(ensure_ascii=False)``
and SQLite all refuse it). Decision: each lone surrogate becomes U+FFFD
followed by the code unit written out, ``\\ud800`` as six ASCII characters,
so the evidence still shows what the PC held:

>>> clean_text("Tdx\\ud800W.exe")
'Tdx\\ufffd\\\\ud800W.exe'
>>> clean_text("通达信")
'通达信'

A pair (``\\ud83d\\ude00``) is one character after ``json.loads`` and is kept.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["LONE_SURROGATE", "clean", "clean_text", "has_lone_surrogate"]

LONE_SURROGATE = re.compile("[\ud800-\udfff]")
MAX_DEPTH = 200  # clean() refuses deeper documents (callers bound depth before)


def _replace(match: re.Match[str]) -> str:
    return f"\ufffd\\u{ord(match.group()):04x}"


def has_lone_surrogate(text: str) -> bool:
    return LONE_SURROGATE.search(text) is not None


def clean_text(text: str) -> str:
    """``text`` with every lone surrogate replaced visibly (see the module docstring)."""
    return LONE_SURROGATE.sub(_replace, text) if LONE_SURROGATE.search(text) else text


def clean(value: Any, _depth: int = 0) -> Any:
    """A copy of a JSON-like ``value`` (dicts, lists, strings; keys too) with :func:`clean_text` applied.

    Values without a lone surrogate come back as they are (the same object).
    """
    if _depth > MAX_DEPTH:
        raise ValueError("document nested too deeply")
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, dict):
        return {(clean_text(k) if isinstance(k, str) else k): clean(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v, _depth + 1) for v in value]
    return value
