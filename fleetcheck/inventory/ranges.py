"""Host ranges as Ansible expands them: ``PC-SZ-[001:003]`` is three hosts.

Ansible's rules ("Adding ranges of hosts", docs.ansible.com, *How to build your
inventory*; ``expand_hostname_range`` in ``ansible/plugins/inventory/__init__.py``):

* ``[begin:end]`` is inclusive; ``[begin:end:step]`` takes every step-th value;
* a begin with a leading zero (``001``) keeps that width, and then the end must
  be written with the same width (``[001:003]``, not ``[001:3]``);
* an empty begin is 0 (``[:3]``);
* letters range over ``a-z`` then ``A-Z`` (``[a:f]``, ``[A:C]``), with an optional step;
* several ranges in one name multiply, the leftmost varying slowest
  (``r[1:2]-[a:b]`` -> ``r1-a r1-b r2-a r2-b``).

Stricter than Ansible (a range that cannot mean what was written is refused
instead of giving no host): ``begin > end``, a step of 0, a range mixing letters
and digits, an unclosed ``[``/``]``, and more than :data:`MAX_EXPANDED` hosts from
one name.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

from fleetcheck.i18n import T, Text

MAX_EXPANDED = 10_000  # hosts one name may expand to (a typo like [1:1000000] must not eat memory)
_RANGE = re.compile(r"\[([^\[\]]*)\]")
_LETTERS = string.ascii_letters  # Ansible's order: a-z, then A-Z


class RangeError(Exception):
    """Internal: a host range that cannot be expanded (the loader turns it into a positioned issue)."""

    def __init__(self, text: Text) -> None:
        super().__init__(text.en)
        self.text = text


@dataclass(frozen=True)
class _Part:
    values: tuple[str, ...]


def has_range(name: str) -> bool:
    """Whether ``name`` is a host pattern with ``[...]`` (Ansible's ``detect_range``)."""
    return "[" in name or "]" in name


def _bounds(spec: str, name: str) -> tuple[str, str, int]:
    parts = spec.split(":")
    if len(parts) not in (2, 3):
        raise RangeError(T(f"主机范围 [{spec}]（{name}）应写成 [起:止] 或 [起:止:步长]",
                           f"host range [{spec}] in {name} must be [begin:end] or [begin:end:step]"))
    begin, end = parts[0].strip() or "0", parts[1].strip()
    step_text = parts[2].strip() if len(parts) == 3 else "1"
    if not end:
        raise RangeError(T(f"主机范围 [{spec}]（{name}）缺少结束值", f"host range [{spec}] in {name} has no end value"))
    if not step_text.isdigit() or int(step_text) == 0:
        raise RangeError(T(f"主机范围 [{spec}]（{name}）的步长必须是正整数",
                           f"host range [{spec}] in {name}: the step must be a whole number above 0"))
    return begin, end, int(step_text)


def _values(spec: str, name: str) -> tuple[str, ...]:
    begin, end, step = _bounds(spec, name)
    if len(begin) == 1 and len(end) == 1 and begin in _LETTERS and end in _LETTERS:
        first, last = _LETTERS.index(begin), _LETTERS.index(end)
        if first > last:
            raise RangeError(T(f"主机范围 [{spec}]（{name}）的起始字母在结束字母之后",
                               f"host range [{spec}] in {name}: begin comes after end"))
        return tuple(_LETTERS[first:last + 1:step])
    if not (begin.isdigit() and end.isdigit() and begin.isascii() and end.isascii()):
        raise RangeError(T(f"主机范围 [{spec}]（{name}）只能是数字范围（如 [01:20]）或单个字母范围（如 [a:f]）",
                           f"host range [{spec}] in {name} must be numbers (like [01:20]) or single letters (like [a:f])"))
    width = len(begin) if begin.startswith("0") and len(begin) > 1 else 0
    if width and len(end) != width:
        raise RangeError(T(f"主机范围 [{spec}]（{name}）：起始值有前导零时，结束值必须同样位数（如 [001:020]）",
                           f"host range [{spec}] in {name}: with leading zeros, begin and end must have "
                           "the same number of digits (like [001:020])"))
    first, last = int(begin), int(end)
    if first > last:
        raise RangeError(T(f"主机范围 [{spec}]（{name}）的起始值大于结束值",
                           f"host range [{spec}] in {name}: begin is greater than end"))
    count = (last - first) // step + 1
    if count > MAX_EXPANDED:
        raise _too_many(name)
    return tuple(str(n).zfill(width) for n in range(first, last + 1, step))


def _too_many(name: str) -> RangeError:
    return RangeError(T(f"主机范围 {name} 展开超过 {MAX_EXPANDED} 台主机",
                        f"host range {name} expands to more than {MAX_EXPANDED} hosts"))


def expand_host_range(name: str) -> list[str]:
    """Every host name a pattern stands for, in Ansible's order; a name without ``[`` is itself.

    >>> expand_host_range("PC-SZ-[001:003]")
    ['PC-SZ-001', 'PC-SZ-002', 'PC-SZ-003']
    >>> expand_host_range("r[0:4:2]-[a:b]")
    ['r0-a', 'r0-b', 'r2-a', 'r2-b', 'r4-a', 'r4-b']

    Raises :class:`RangeError` (internal) for a range that cannot be expanded.
    """
    if not has_range(name):
        return [name]
    pieces: list[str | _Part] = []
    at = 0
    for match in _RANGE.finditer(name):
        pieces.append(name[at:match.start()])
        pieces.append(_Part(_values(match.group(1), name)))
        at = match.end()
    pieces.append(name[at:])
    if any(isinstance(p, str) and has_range(p) for p in pieces):
        raise RangeError(T(f"主机名 {name} 中的方括号不成对（范围写作 [起:止]）",
                           f"unbalanced brackets in host name {name} (a range is written [begin:end])"))
    total = 1
    for piece in pieces:
        if isinstance(piece, _Part):
            total *= len(piece.values)
            if total > MAX_EXPANDED:
                raise _too_many(name)
    names = [""]
    for piece in pieces:
        if isinstance(piece, str):
            names = [n + piece for n in names]
        else:
            names = [n + v for n in names for v in piece.values]
    return names
