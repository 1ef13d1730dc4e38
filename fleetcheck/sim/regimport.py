"""Real Windows registry data for the simulator: ``reg export`` files and saved hives.

Two sources, one result (trees of :class:`~fleetcheck.sim.image.KeyNode`):

* **.reg files** as ``reg export`` / regedit write them: "Windows Registry Editor
  Version 5.00" in UTF-16 LE with a BOM, or the older ANSI "REGEDIT4". Key lines
  ``[HKEY_...\\path]`` and ``[-HKEY_...\\path]`` (delete the key and its tree),
  value lines ``"name"="text"`` / ``@=...`` (the default value) / ``"name"=-``
  (delete the value), data ``dword:``, ``hex:`` and ``hex(N):`` with ``\\``
  line continuations, ``\\\\`` and ``\\"`` escapes in quoted text, ``;`` comments.
  :func:`parse_reg` reads one into a :class:`RegFile` (errors name
  ``file:line``); :func:`format_reg` writes one back.
* **hives** (regf files saved with ``reg save`` or copied from a disk image,
  optionally ``.xz``-compressed), read with ``regipy`` (the optional
  ``hives`` extra): :func:`read_hive`.

Values are decoded as the agent (.NET ``RegistryKey.GetValue`` /
``GetValueKind``, read by agent.ps1's ``Read-RegValue``) would see them, not as
a forensic tool would: REG_SZ/EXPAND_SZ lose one trailing NUL (and only one),
an odd byte length gains a zero byte, MULTI_SZ splits at NULs keeping inner
empty strings, a DWORD stored in fewer than 4 bytes is zero-extended, types
.NET does not know are ``NONE`` (their bytes for REG_DWORD_BIG_ENDIAN, none
for REG_LINK, resource lists and device-property types: GetValue returns null
for them). Source: .NET reference source ``mscorlib/microsoft/win32/registrykey.cs``
(``InternalGetValue``, ``GetValueKind``), github.com/microsoft/referencesource.
Everything lossy is counted in the result's ``notes`` (:class:`Notes`).
"""

from __future__ import annotations

import base64
import lzma
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from fleetcheck.agent.contract import RegValue
from fleetcheck.errors import FleetcheckError
from fleetcheck.i18n import T
from fleetcheck.sim.regtree import KeyNode, split_path

REG5_HEADER = "Windows Registry Editor Version 5.00"
REG4_HEADER = "REGEDIT4"
MAX_REG_BYTES = 512 * 1024 * 1024  # a .reg or a decompressed hive bigger than this is refused
MAX_KEYS = 2_000_000
MAX_DEPTH = 512  # Windows allows 512 levels of keys
MAX_WARNINGS = 200

# reg.exe / regedit spellings of the predefined keys -> (where in the simulator, prefix)
_ROOTS: dict[str, tuple[str, str]] = {
    "hkey_local_machine": ("HKLM", ""),
    "hklm": ("HKLM", ""),
    "hkey_current_user": ("HKCU", ""),
    "hkcu": ("HKCU", ""),
    "hkey_users": ("HKU", ""),
    "hku": ("HKU", ""),
    # HKCR is a merged view; regedit's export of it is written back machine-wide.
    "hkey_classes_root": ("HKLM", "SOFTWARE\\Classes"),
    "hkcr": ("HKLM", "SOFTWARE\\Classes"),
    "hkey_current_config": ("HKLM", "SYSTEM\\CurrentControlSet\\Hardware Profiles\\Current"),
    "hkcc": ("HKLM", "SYSTEM\\CurrentControlSet\\Hardware Profiles\\Current"),
}
SID_PATTERN = re.compile(r"^S-1-[0-9-]+$", re.IGNORECASE)


class Notes:
    """Lossy or odd data seen while reading: each kind counted once, with its first place."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.first: dict[str, str] = {}

    def add(self, message: str, where: str) -> None:
        if message not in self.counts and len(self.counts) >= MAX_WARNINGS:
            return
        self.counts[message] = self.counts.get(message, 0) + 1
        self.first.setdefault(message, where)

    def extend(self, other: Notes) -> None:
        for message, count in other.counts.items():
            self.first.setdefault(message, other.first[message])
            self.counts[message] = self.counts.get(message, 0) + count

    def lines(self) -> list[str]:
        return [
            f"{count} x {message} (first: {self.first[message]})"
            for message, count in self.counts.items()
        ]

    def __len__(self) -> int:
        return sum(self.counts.values())


class RegImportError(FleetcheckError):
    """Registry data that cannot be read; ``text`` says where (file:line) and why, bilingual."""


def _err(where: str, zh: str, en: str) -> RegImportError:
    return RegImportError(T(f"{where}: {zh}", f"{where}: {en}"))


# --------------------------------------------------------------------------- value decoding


def _decode_utf16(data: bytes) -> str:
    if len(data) % 2:  # .NET: an odd length gains a zero byte
        data += b"\x00"
    return data.decode("utf-16-le", errors="surrogatepass")


def _net_string(text: str) -> str:
    """.NET drops exactly one trailing NUL of REG_SZ / REG_EXPAND_SZ data."""
    return text.removesuffix("\x00")


def _net_multi(text: str) -> list[str]:
    """.NET's REG_MULTI_SZ split: inner empty strings kept, the final terminator not."""
    if not text.endswith("\x00"):
        text += "\x00"
    parts = text.split("\x00")[:-1]
    if parts and parts[-1] == "":
        parts.pop()
    return parts


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _decode_dword(data: bytes, note: Callable[[str], None]) -> RegValue:
    if len(data) > 8:
        note(f"REG_DWORD of {len(data)} bytes: .NET returns bytes; kept as NONE")
        return RegValue(t="NONE", v=_b64(data))
    if len(data) != 4:
        note(f"REG_DWORD of {len(data)} bytes read as a number")
    return RegValue(t="DWORD", v=int.from_bytes(data, "little") % 2**32)


def _decode_qword(data: bytes, note: Callable[[str], None]) -> RegValue:
    if len(data) > 8:
        note(f"REG_QWORD of {len(data)} bytes: .NET returns bytes; kept as BINARY")
        return RegValue(t="BINARY", v=_b64(data))
    if len(data) != 8:
        note(f"REG_QWORD of {len(data)} bytes zero-extended")
    return RegValue(t="QWORD", v=int.from_bytes(data, "little"))


def _decode_bytes(kind: int, data: bytes, note: Callable[[str], None]) -> RegValue:
    """REG_BINARY, REG_NONE, REG_DWORD_BIG_ENDIAN and the kinds .NET does not know."""
    if kind == 3:
        return RegValue(t="BINARY", v=_b64(data))
    if kind in (0, 5):  # REG_NONE; REG_DWORD_BIG_ENDIAN: kind Unknown, data as bytes
        if kind == 5:
            note("REG_DWORD_BIG_ENDIAN seen by .NET as an unknown kind with bytes: NONE")
        return RegValue(t="NONE", v=_b64(data))
    note(f"registry type 0x{kind:x} is not visible to .NET (GetValue returns null): NONE, no data")
    return RegValue(t="NONE", v="")


def decode_data(
    kind: int, data: bytes, *, ansi: str | None = None, warn: Callable[[str], None] | None = None
) -> RegValue:
    """Raw registry data of type number ``kind`` as the agent would report it.

    ``ansi`` names the code page of REGEDIT4 text data (hex(2)/hex(7) there are
    ANSI bytes); None means UTF-16 LE, as in hives and version 5 files.
    """

    def note(message: str) -> None:
        if warn is not None:
            warn(message)

    def text_of(raw: bytes) -> str:
        if ansi is not None:
            return raw.decode(ansi, errors="replace")
        return _decode_utf16(raw)

    if kind in (1, 2):
        return RegValue(t="SZ" if kind == 1 else "EXPAND_SZ", v=_net_string(text_of(data)))
    if kind == 7:
        return RegValue(t="MULTI_SZ", v=_net_multi(text_of(data)))
    if kind == 4:
        return _decode_dword(data, note)
    if kind == 11:
        return _decode_qword(data, note)
    return _decode_bytes(kind, data, note)


def encode_data(value: RegValue) -> tuple[int, bytes]:
    """(type number, bytes) of a RegValue, as RegSetValueEx stores it (for .reg hex data)."""
    t, v = value.t, value.v
    if t in ("SZ", "EXPAND_SZ"):
        return (1 if t == "SZ" else 2), (str(v) + "\x00").encode("utf-16-le", "surrogatepass")
    if t == "MULTI_SZ":
        items = v if isinstance(v, list) else [str(v)]
        text = "".join(item + "\x00" for item in items) + "\x00"
        return 7, text.encode("utf-16-le", "surrogatepass")
    if t == "DWORD":
        return 4, (int(v) % 2**32).to_bytes(4, "little")  # type: ignore[arg-type]
    if t == "QWORD":
        return 11, (int(v) % 2**64).to_bytes(8, "little")  # type: ignore[arg-type]
    raw = base64.b64decode(str(v)) if v else b""
    return (3 if t == "BINARY" else 0), raw


# --------------------------------------------------------------------------- .reg model


@dataclass
class RegEntry:
    """One ``[key]`` block of a .reg file: the key (or its deletion) and its value lines."""

    path: str  # as written, e.g. HKEY_LOCAL_MACHINE\SOFTWARE\X
    line: int
    delete: bool = False
    values: list[tuple[str, RegValue | None, int]] = field(default_factory=list)  # None: delete


@dataclass
class RegFile:
    name: str
    version: int  # 5 or 4
    entries: list[RegEntry] = field(default_factory=list)
    notes: Notes = field(default_factory=Notes)

    def counts(self) -> tuple[int, int]:
        """(key lines, value lines), deletions included."""
        return len(self.entries), sum(len(e.values) for e in self.entries)


def decode_reg_bytes(raw: bytes, name: str, ansi: str = "gbk") -> str:
    """The text of a .reg file: UTF-16 (BOM) as reg export writes, UTF-8, or ANSI ``ansi``."""
    if len(raw) > MAX_REG_BYTES:
        raise _err(name, "文件过大", f"file too large (over {MAX_REG_BYTES} bytes)")
    if raw.startswith(b"\xff\xfe"):
        return raw[2:].decode("utf-16-le", errors="surrogatepass")
    if raw.startswith(b"\xfe\xff"):
        return raw[2:].decode("utf-16-be", errors="surrogatepass")
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode(ansi, errors="replace")


def _unquote(text: str, start: int, where: str) -> tuple[str, int]:
    """Parse a "quoted" string starting at ``text[start] == '"'``; (value, index after it)."""
    out: list[str] = []
    i = start + 1
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n and text[i + 1] in '\\"':
            out.append(text[i + 1])
            i += 2
            continue
        if ch == '"':
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    raise _err(where, "引号未闭合", 'unterminated quoted string (missing closing ")')


_HEX_PREFIX = re.compile(r"hex(?:\(([0-9A-Fa-f]{1,8})\))?:", re.IGNORECASE)
_DWORD = re.compile(r"dword:([0-9A-Fa-f]{1,8})\s*$", re.IGNORECASE)


def _parse_data(
    data: str, where: str, version: int, ansi: str, warn: Callable[[str, str], None]
) -> RegValue | None:
    stripped = data.strip()
    if stripped == "-":
        return None
    if stripped.startswith('"'):
        value, end = _unquote(stripped, 0, where)
        if stripped[end:].strip():
            raise _err(
                where,
                f"字符串后有多余内容：{stripped[end:].strip()[:40]!r}",
                f"unexpected text after the string: {stripped[end:].strip()[:40]!r}",
            )
        return RegValue(t="SZ", v=value)
    match = _DWORD.match(stripped)
    if match:
        return RegValue(t="DWORD", v=int(match.group(1), 16))
    match = _HEX_PREFIX.match(stripped)
    if match:
        kind = int(match.group(1), 16) if match.group(1) is not None else 3
        body = stripped[match.end() :].replace(" ", "").replace("\t", "")
        try:
            raw = bytes(int(b, 16) for b in body.split(",") if b != "") if body else b""
        except ValueError:
            raise _err(
                where,
                "十六进制数据有误（应为以逗号分隔的两位十六进制数）",
                "bad hex data (expected comma-separated two-digit hex bytes)",
            ) from None
        if any(len(b) > 2 for b in body.split(",")):
            raise _err(where, "十六进制数据有误", "bad hex data (a byte has more than 2 digits)")
        return decode_data(
            kind,
            raw,
            ansi=ansi if version == 4 and kind in (1, 2, 7) else None,
            warn=lambda m: warn(m, where),
        )
    raise _err(
        where,
        f"无法识别的值数据：{stripped[:40]!r}（应为 \"文本\"、dword:、hex: 或 -）",
        f"unrecognised value data {stripped[:40]!r} (expected \"text\", dword:, hex: or -)",
    )


def _reg_version(lines: list[str], name: str) -> tuple[int, int]:
    """(format version 5 or 4, index of the header line) of a .reg file's lines."""
    first = 0
    while first < len(lines) and not lines[first].strip():
        first += 1
    header = lines[first].strip().lstrip("\ufeff") if first < len(lines) else ""
    if header == REG5_HEADER:
        return 5, first
    if header == REG4_HEADER:
        return 4, first
    raise _err(
        f"{name}:{first + 1}",
        f"不是 .reg 文件：第一行应为 “{REG5_HEADER}” 或 “{REG4_HEADER}”",
        f"not a .reg file: the first line must be '{REG5_HEADER}' or '{REG4_HEADER}'",
    )


def _key_entry(stripped: str, where: str, lineno: int) -> RegEntry:
    """A ``[KEY]`` or ``[-KEY]`` line."""
    if not stripped.endswith("]"):
        raise _err(where, "键名行缺少 “]”", "key line without a closing ']'")
    path = stripped[1:-1]
    delete = path.startswith("-")
    if delete:
        path = path[1:]
    if not path.strip():
        raise _err(where, "键名为空", "empty key name")
    return RegEntry(path=path, line=lineno, delete=delete)


def _value_head(stripped: str, where: str) -> tuple[str, str]:
    """(value name, data text after ``=``) of a ``"name"=data`` or ``@=data`` line."""
    if stripped.startswith("@"):
        value_name, rest = "", stripped[1:]
    elif stripped.startswith('"'):
        value_name, end = _unquote(stripped, 0, where)
        rest = stripped[end:]
    else:
        raise _err(
            where,
            f"无法识别的行：{stripped[:40]!r}（应为 [键]、\"名称\"=数据 或 @=数据）",
            f"unrecognised line {stripped[:40]!r} (expected [KEY], \"name\"=data or @=data)",
        )
    rest = rest.lstrip()
    if not rest.startswith("="):
        raise _err(where, "值名称后缺少 “=”", "missing '=' after the value name")
    return value_name, rest[1:].strip()


def _join_continuation(data: str, lines: list[str], i: int, where: str) -> tuple[str, int]:
    """hex data continued with ``\\`` on the following lines; (whole data, next line index)."""
    guard = 0
    while data.endswith("\\") and i < len(lines) and lines[i].strip() and guard < 10**7:
        data = data[:-1] + lines[i].strip()
        i += 1
        guard += 1
    if data.endswith("\\"):
        raise _err(
            where,
            "续行符 “\\” 后没有数据行",
            "nothing follows the '\\' continuation (a blank line or the end of the file)",
        )
    return data, i


def parse_reg(text: str, name: str = "<reg>", ansi: str = "gbk") -> RegFile:
    """Parse the text of a .reg file; RegImportError names ``name:line`` of a malformed line."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    version, first = _reg_version(lines, name)
    result = RegFile(name=name, version=version)
    warn = result.notes.add
    current: RegEntry | None = None
    i = first + 1
    while i < len(lines):
        lineno = i + 1
        stripped = lines[i].strip()
        i += 1
        if not stripped or stripped.startswith(";"):
            continue
        where = f"{name}:{lineno}"
        if stripped.startswith("["):
            current = _key_entry(stripped, where, lineno)
            result.entries.append(current)
            continue
        value_name, data = _value_head(stripped, where)
        if _HEX_PREFIX.match(data):
            data, i = _join_continuation(data, lines, i, where)
        if current is None:
            raise _err(where, "值出现在任何 [键] 之前", "a value before any [KEY] line")
        if current.delete:
            raise _err(
                where, "已删除的键下不能再写值", "a value under a key that this file deletes ([-KEY])"
            )
        current.values.append((value_name, _parse_data(data, where, version, ansi, warn), lineno))
    return result


def read_reg_file(path: Path, ansi: str = "gbk") -> RegFile:
    """Read and parse a .reg file; OSError becomes a RegImportError."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_REG_BYTES + 1)
    except OSError as exc:
        raise _err(str(path), f"无法读取（{exc.strerror}）", f"cannot read ({exc.strerror})") from None
    return parse_reg(decode_reg_bytes(raw, str(path), ansi), str(path), ansi)


# --------------------------------------------------------------------------- .reg -> trees


@dataclass
class Location:
    """Where a .reg key lands: ``hive`` HKLM or USER (with ``sid``; None for HKCU)."""

    hive: str
    sid: str | None
    path: str  # below the hive root


def locate(path: str, where: str) -> Location | None:
    """The simulator location of a .reg key path; None when the simulator has no such hive."""
    parts = split_path(path)
    if not parts:
        raise _err(where, "键名为空", "empty key name")
    root = _ROOTS.get(parts[0].lower())
    if root is None:
        raise _err(
            where,
            f"未知的根键 {parts[0]}（应为 HKEY_LOCAL_MACHINE、HKEY_CURRENT_USER、HKEY_USERS…）",
            f"unknown root key {parts[0]} (expected HKEY_LOCAL_MACHINE, HKEY_CURRENT_USER, "
            "HKEY_USERS, HKEY_CLASSES_ROOT or HKEY_CURRENT_CONFIG)",
        )
    hive, prefix = root
    rest = parts[1:]
    if hive == "HKLM":
        return Location("HKLM", None, "\\".join(split_path(prefix) + rest))
    if hive == "HKCU":
        return Location("USER", None, "\\".join(rest))
    if not rest:
        return None  # HKEY_USERS itself
    sid = rest[0]
    classes = sid.lower().endswith("_classes")
    if classes:
        sid = sid[: -len("_classes")]
    if not SID_PATTERN.match(sid):
        return None  # .DEFAULT and the like: not a user profile
    below = (["Software", "Classes"] if classes else []) + rest[1:]
    return Location("USER", sid.upper(), "\\".join(below))


@dataclass
class Trees:
    """Registry trees built from imports: HKLM, and one hive per user SID ('' = HKCU)."""

    hklm: KeyNode = field(default_factory=KeyNode)
    users: dict[str, KeyNode] = field(default_factory=dict)
    notes: Notes = field(default_factory=Notes)

    def user(self, sid: str) -> KeyNode:
        return self.users.setdefault(sid.upper(), KeyNode())


def apply_reg(
    reg: RegFile,
    trees: Trees,
    hkcu_sid: str | None = None,
    *,
    known_sids: set[str] | None = None,
) -> None:
    """Apply a parsed .reg file (in order, deletions included) to ``trees``.

    HKEY_CURRENT_USER lands in the hive of ``hkcu_sid`` (an error when the file
    has HKCU keys and none is given). ``known_sids`` (upper case), when given,
    is the set of profiles HKEY_USERS\\<SID> may name.
    """
    skipped: set[str] = set()
    for entry in reg.entries:
        where = f"{reg.name}:{entry.line}"
        loc = locate(entry.path, where)
        if loc is None:
            head = "\\".join(split_path(entry.path)[:2])
            if head not in skipped:
                skipped.add(head)
                trees.notes.add(f"{head} is not a user profile hive; its keys are skipped", where)
            continue
        if loc.hive == "HKLM":
            root = trees.hklm
        else:
            sid = loc.sid or hkcu_sid
            if sid is None:
                raise _err(
                    where,
                    "文件含 HKEY_CURRENT_USER 的键，但未指定它属于哪个用户（profile: SID）",
                    "the file has HKEY_CURRENT_USER keys but no user profile is given (profile: SID)",
                )
            if known_sids is not None and sid.upper() not in known_sids:
                raise _err(
                    where,
                    f"镜像中没有 SID 为 {sid} 的用户配置文件；请在 profiles: 中添加",
                    f"the image has no profile with SID {sid}; add it under profiles:",
                )
            root = trees.user(sid)
        if entry.delete:
            if loc.path:
                root.detach(loc.path)
            else:
                root.subkeys.clear()
                root.values.clear()
            continue
        node = root.ensure(loc.path)
        for value_name, value, _line in entry.values:
            if value is None:
                node.delete(value_name)
            else:
                node.set(value_name, value)
    trees.notes.extend(reg.notes)


# --------------------------------------------------------------------------- trees -> .reg


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _hex_lines(prefix: str, data: bytes) -> list[str]:
    """regedit's layout: comma-separated bytes, wrapped before column 80 with ``,\\``."""
    if not data:
        return [prefix]
    lines: list[str] = []
    current = prefix
    items = [f"{b:02x}" for b in data]
    for index, item in enumerate(items):
        last = index == len(items) - 1
        piece = item if last else item + ","
        if len(current) + len(piece) > 77 and current.strip():
            lines.append(current + "\\")
            current = "  "
        current += piece
    lines.append(current)
    return lines


def format_value(name: str, value: RegValue) -> list[str]:
    """The line(s) of one value in a version 5 .reg file."""
    head = "@=" if name == "" else f'"{_escape(name)}"='
    if value.t == "SZ" and isinstance(value.v, str) and not re.search(r"[\x00\r\n]", value.v):
        return [f'{head}"{_escape(value.v)}"']
    if value.t == "DWORD" and isinstance(value.v, int):
        return [f"{head}dword:{value.v % 2**32:08x}"]
    kind, data = encode_data(value)
    tag = "hex:" if kind == 3 else f"hex({kind:x}):"
    return _hex_lines(head + tag, data)


def walk(
    node: KeyNode, path: str, depth: int, seen: tuple[int, ...]
) -> Iterator[tuple[str, KeyNode]]:
    """(full path, key) of ``node`` and every key below it, sorted, never looping, at most MAX_DEPTH deep."""
    yield path, node
    if depth >= MAX_DEPTH:
        return
    for _low, (name, sub) in sorted(node.subkeys.items()):
        if id(sub) in seen:  # a link back up the tree: never loop
            continue
        yield from walk(sub, f"{path}\\{name}", depth + 1, (*seen, id(sub)))


def format_reg(roots: list[tuple[str, KeyNode]]) -> str:
    """Version 5 .reg text (CRLF lines) of each (full root path, tree): every key, every value."""
    out = [REG5_HEADER, ""]
    for root_path, node in roots:
        for path, key in walk(node, root_path, 0, (id(node),)):
            out.append(f"[{path}]")
            entries = sorted(key.values.values(), key=lambda nv: (nv[0] != "", nv[0].lower()))
            for name, value in entries:
                out.extend(format_value(name, value))
            out.append("")
    return "\r\n".join(out) + "\r\n"


def encode_reg_text(text: str) -> bytes:
    """What ``reg export`` writes: UTF-16 LE with a BOM."""
    return b"\xff\xfe" + text.encode("utf-16-le", errors="surrogatepass")


def flatten(node: KeyNode, prefix: str = "") -> dict[str, dict[str, RegValue]]:
    """Every key of a tree (lower-case path) -> its values (lower-case name); for comparisons."""
    result: dict[str, dict[str, RegValue]] = {}
    for path, key in walk(node, prefix, 0, (id(node),)):
        result[path.lower()] = {low: value for low, (_n, value) in key.values.items()}
    return result


def count_tree(node: KeyNode) -> tuple[int, int]:
    """(keys, values) of a tree, the root included; a node linked twice counts once."""
    keys = values = 0
    stack = [node]
    seen = {id(node)}
    while stack and keys <= MAX_KEYS:
        current = stack.pop()
        keys += 1
        values += len(current.values)
        for _name, sub in current.subkeys.values():
            if id(sub) not in seen:
                seen.add(id(sub))
                stack.append(sub)
    return keys, values


def clone(node: KeyNode) -> KeyNode:
    """A deep copy of a tree (values are immutable and shared)."""
    root = KeyNode()
    stack = [(node, root)]
    while stack:
        source, target = stack.pop()
        target.values = dict(source.values)
        for low, (name, sub) in source.subkeys.items():
            copy = KeyNode()
            target.subkeys[low] = (name, copy)
            stack.append((sub, copy))
    return root


# --------------------------------------------------------------------------- hives


@dataclass
class Hive:
    """A saved hive read into a tree; ``root_name`` is the name its root key was saved with."""

    name: str
    root: KeyNode
    root_name: str
    keys: int
    values: int
    notes: Notes


def _hive_bytes(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_REG_BYTES + 1)
        if raw[:6] == b"\xfd7zXZ\x00":
            decomp = lzma.LZMADecompressor()
            raw = decomp.decompress(raw, max_length=MAX_REG_BYTES + 1)
    except OSError as exc:
        raise _err(str(path), f"无法读取（{exc.strerror}）", f"cannot read ({exc.strerror})") from None
    except lzma.LZMAError as exc:
        raise _err(str(path), f"xz 解压失败（{exc}）", f"cannot decompress xz ({exc})") from None
    if len(raw) > MAX_REG_BYTES:
        raise _err(str(path), "文件过大", f"hive too large (over {MAX_REG_BYTES} bytes)")
    if raw[:4] != b"regf":
        raise _err(
            str(path),
            "不是注册表配置单元文件（缺少 regf 签名）",
            "not a registry hive file (no 'regf' signature)",
        )
    return raw


def _key_name(nk: Any) -> str:
    raw: bytes = nk.header.key_name_string
    if nk.header.flags.KEY_COMP_NAME:
        return raw.decode("latin-1")  # "compressed": UTF-16 code units below 256, one byte each
    return raw.decode("utf-16-le", errors="surrogatepass")


def _iter_hive_values(nk: Any, warn: Callable[[str], None]) -> Iterator[tuple[str, int, bytes]]:
    """(name, type number, raw data) of each value of a key record, decoded from the VK cells."""
    from regipy.registry import NKRecord
    from regipy.structs import REGF_HEADER_SIZE, VALUE_KEY

    stream = nk._stream
    stream.seek(REGF_HEADER_SIZE + 4 + nk.header.values_list_offset)
    table = stream.read(4 * nk.values_count)
    offsets = [int.from_bytes(table[i : i + 4], "little") for i in range(0, len(table) - 3, 4)]
    for offset in offsets:
        stream.seek(REGF_HEADER_SIZE + 4 + offset)
        vk = VALUE_KEY.parse_stream(stream)
        if vk.name_size == 0:
            name = ""
        elif vk.flags.VALUE_COMP_NAME:
            name = vk.name.decode("latin-1")
        else:
            name = vk.name.decode("utf-16-le", errors="surrogatepass")
        size = int(vk.data_size)
        if size >= 0x80000000:  # small data kept in the offset field itself
            data = int(vk.data_offset).to_bytes(4, "little")[: size - 0x80000000]
        elif size == 0:
            data = b""
        else:
            record = NKRecord.read_value(vk, stream)  # type: ignore[no-untyped-call]
            data = record.value
            if size > 0x3FD8 and data[:2] == b"db":
                data = nk._parse_indirect_block(stream, record)
            if len(data) < size:
                warn("value data shorter than its declared size")
        yield name, int(vk.data_type), bytes(data)


def _parse_hive(raw: bytes, name: str) -> Hive:
    try:
        from regipy.registry import RegistryHive
    except ImportError:  # pragma: no cover - depends on the environment
        raise _err(
            name,
            "读取配置单元需要 regipy：pip install 'fleetcheck[hives]'",
            "reading a hive needs regipy: pip install 'fleetcheck[hives]'",
        ) from None
    notes = Notes()

    with tempfile.TemporaryDirectory(prefix="fleetcheck-hive-") as tmp:
        file = Path(tmp) / "hive"
        file.write_bytes(raw)
        try:
            hive = RegistryHive(str(file))  # type: ignore[no-untyped-call]
        except Exception as exc:  # noqa: BLE001 - regipy raises many kinds on a bad file
            raise _err(
                name,
                f"配置单元已损坏，无法读取（{type(exc).__name__}）",
                f"damaged hive, cannot be read ({type(exc).__name__}: {exc})",
            ) from None
    root = KeyNode()
    keys = values = 0
    stack: list[tuple[Any, KeyNode, str, int]] = [(hive.root, root, "", 0)]
    try:
        while stack:
            nk, node, path, depth = stack.pop()
            keys += 1
            if keys > MAX_KEYS:
                raise _err(name, "键过多", f"more than {MAX_KEYS} keys")
            if nk.values_count:
                where = path or "(root)"

                def key_note(message: str, where: str = where) -> None:
                    notes.add(message, where)

                for value_name, kind, data in _iter_hive_values(nk, key_note):

                    def value_note(message: str, at: str = f"{where}: {value_name!r}") -> None:
                        notes.add(message, at)

                    node.set(value_name, decode_data(kind, data, warn=value_note))
                    values += 1
            if nk.subkey_count and depth < MAX_DEPTH:
                for sub in nk.iter_subkeys():
                    if not hasattr(sub, "header"):
                        continue
                    sub_name = _key_name(sub)
                    child = KeyNode()
                    if sub_name.lower() in node.subkeys:
                        notes.add("duplicate subkey ignored", f"{path}\\{sub_name}")
                        continue
                    node.subkeys[sub_name.lower()] = (sub_name, child)
                    stack.append((sub, child, f"{path}\\{sub_name}", depth + 1))
    except RegImportError:
        raise
    except Exception as exc:  # noqa: BLE001 - construct / regipy errors on damaged cells
        raise _err(
            name,
            f"配置单元已损坏，无法读取（{type(exc).__name__}）",
            f"damaged hive, cannot be read ({type(exc).__name__}: {exc})",
        ) from None
    return Hive(name, root, _key_name(hive.root), keys, values, notes)


@lru_cache(maxsize=16)
def _cached_hive(path: str, mtime_ns: int, size: int) -> Hive:
    return _parse_hive(_hive_bytes(Path(path)), path)


def read_hive(path: Path) -> Hive:
    """A saved hive (regf, optionally .xz) as a fresh tree; RegImportError when it is not one.

    Parsed hives are cached by path, size and modification time; each call
    returns its own copy of the tree.
    """
    try:
        stat = os.stat(path)
    except OSError as exc:
        raise _err(str(path), f"无法读取（{exc.strerror}）", f"cannot read ({exc.strerror})") from None
    cached = _cached_hive(str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    return Hive(
        str(path),
        clone(cached.root),
        cached.root_name,
        cached.keys,
        cached.values,
        cached.notes,
    )


# --------------------------------------------------------------------------- image imports


def link_current_control_set(system: KeyNode) -> None:
    """Add ``CurrentControlSet`` to a SYSTEM tree saved without it, as Windows does at boot.

    A saved SYSTEM hive has ControlSet001 (002...) and ``Select``; the running
    system's CurrentControlSet is a link to the set ``Select\\Current`` names.
    The simulator makes it the same node, so both paths read and write one tree.
    """
    if system.find("CurrentControlSet") is not None:
        return
    select = system.find("Select")
    current = select.get("Current") if select is not None else None
    number = current.v if current is not None and isinstance(current.v, int) else 1
    entry = system.subkeys.get(f"controlset{number:03d}")
    if entry is not None:
        system.subkeys["currentcontrolset"] = ("CurrentControlSet", entry[1])


def _mount(trees: Trees, mount: str, sid: str | None, tree: KeyNode, where: str) -> None:
    parts = split_path(mount)
    head = parts[0].lower() if parts else ""
    if head in ("user", "classes"):
        if sid is None:
            raise _err(
                where,
                f"mount: {mount} 需要 profile:（用户 SID）",
                f"mount: {mount} needs profile: (the user's SID)",
            )
        below = (["Software", "Classes"] if head == "classes" else []) + parts[1:]
        if not below:
            trees.users[sid.upper()] = tree
            return
        root = trees.user(sid)
    elif head in ("hklm", "hkey_local_machine") and len(parts) > 1:
        root, below = trees.hklm, parts[1:]
    else:
        raise _err(
            where,
            f"mount: {mount!r} 无效；应为 user、classes、user\\<键> 或 HKLM\\<键>",
            f"invalid mount: {mount!r}; use user, classes, user\\<key> or HKLM\\<key>",
        )
    parent = root.ensure(below[:-1])
    parent.subkeys[below[-1].lower()] = (below[-1], tree)
    if head.startswith("hk") and len(below) == 1 and below[0].lower() == "system":
        link_current_control_set(tree)


def build_trees(imports: list[Any], profile_sids: list[str]) -> Trees:
    """Apply an image's ``registry_import`` entries (RegistryImportSpec) in order.

    A problem names the entry (``registry_import[1]: ...``) or the .reg line; the
    image loader puts the image's name in front.
    """
    known = {sid.upper() for sid in profile_sids}
    trees = Trees()
    for index, spec in enumerate(imports):
        where = f"registry_import[{index}]"
        if (spec.file is None) == (spec.hive is None):
            raise _err(where, "应给出 file:（.reg）或 hive:（配置单元）之一", "give one of file: (.reg) or hive:")
        sid = spec.profile
        if sid is not None and sid.upper() not in known:
            raise _err(
                where,
                f"镜像中没有 SID 为 {sid} 的用户配置文件；请在 profiles: 中添加",
                f"the image has no profile with SID {sid}; add it under profiles:",
            )
        if spec.file is not None:
            if spec.mount is not None:
                raise _err(where, ".reg 文件不用 mount:（键路径写在文件里）",
                           "a .reg file takes no mount: (its key paths say where)")
            reg = read_reg_file(Path(spec.file))
            apply_reg(reg, trees, sid, known_sids=known)
            continue
        if spec.mount is None:
            raise _err(where, "hive: 需要 mount:", "hive: needs mount: (user, classes or HKLM\\<key>)")
        hive = read_hive(Path(spec.hive))
        tree = hive.root
        if getattr(spec, "key", None):
            found = hive.root.find(spec.key)
            if found is None:
                raise _err(
                    where,
                    f"配置单元 {spec.hive} 中没有键 {spec.key}",
                    f"the hive {spec.hive} has no key {spec.key}",
                )
            tree = found
        _mount(trees, spec.mount, sid, tree, where)
        trees.notes.extend(hive.notes)
    return trees
