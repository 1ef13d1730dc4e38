"""Dotted Windows versions ("2.0.24.42", "6.1.7601") and the specs policies use.

A spec is an operator followed by a dotted version: ``==2.0.4.8``,
``>=2.0.24.42``, ``>2.1``, ``<=10.0``, ``<6.2``. Missing trailing parts compare
as zero, so ``2.1 == 2.1.0.0``. Windows file versions sometimes carry text
after the numbers ("2.0.4.8 (build 123)", "10.0.19041.1 (WinBuild.160101.0800)"),
or commas ("2, 0, 4, 8"); :func:`parse_version` reads the leading numbers.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

_OPS: dict[str, Callable[[tuple[int, ...], tuple[int, ...]], bool]] = {
    "==": lambda a, b: a == b,
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    "!=": lambda a, b: a != b,
}
_SPEC_RE = re.compile(r"^\s*(==|>=|<=|!=|>|<)\s*(\d+(?:\.\d+){0,3})\s*$")
_LEADING_RE = re.compile(r"^\s*(\d+(?:\s*[.,]\s*\d+){0,3})")


class VersionError(ValueError):
    """A version or version spec that cannot be read; the message says what is expected.

    Internal: in a policy, pydantic turns it into a positioned issue; in a host's
    facts, the evaluator into that check's error (both catch ValueError).
    """


def parse_version(text: str) -> tuple[int, ...]:
    """The numeric parts of a Windows version string, padded to four.

    >>> parse_version("2, 0, 4, 8")
    (2, 0, 4, 8)
    >>> parse_version("10.0.19041.1 (WinBuild.160101.0800)")
    (10, 0, 19041, 1)
    """
    match = _LEADING_RE.match(text or "")
    if not match:
        raise VersionError(f"not a dotted version: {text!r}")
    parts = [int(p) for p in re.split(r"\s*[.,]\s*", match.group(1))]
    return _pad(tuple(parts))


def _pad(parts: tuple[int, ...]) -> tuple[int, ...]:
    return parts + (0,) * (4 - len(parts))


@dataclass(frozen=True)
class VersionSpec:
    """``op`` and ``version`` of a spec such as ``>=2.0.24.42``."""

    op: str
    version: tuple[int, ...]
    text: str

    @classmethod
    def parse(cls, text: str) -> VersionSpec:
        """Parse a spec; raise VersionError with a plain explanation when malformed.

        >>> VersionSpec.parse(">=2.0.24.42").matches("2.0.25.1")
        True
        """
        if not isinstance(text, str):
            raise VersionError(f"a version spec must be text like '>=2.0.24.42', got {text!r}")
        match = _SPEC_RE.match(text)
        if not match:
            raise VersionError(
                f"{text!r} is not a version spec: write an operator (==, >=, >, <=, <, !=) "
                "followed by up to four dot-separated numbers, e.g. '>=2.0.24.42'"
            )
        parts = tuple(int(p) for p in match.group(2).split("."))
        return cls(match.group(1), _pad(parts), f"{match.group(1)}{match.group(2)}")

    def matches(self, version: str | tuple[int, ...]) -> bool:
        actual = parse_version(version) if isinstance(version, str) else _pad(version)
        return _OPS[self.op](actual, self.version)

    def __str__(self) -> str:
        return self.text
