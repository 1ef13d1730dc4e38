"""``fleetcheck inventory import``: a spreadsheet export (CSV) to an inventory YAML.

Office IT keeps the PC list in Excel; "Save as CSV" gives UTF-8 with a BOM
(newer Excel), plain UTF-8, or GBK (older Chinese Excel). The encoding is
detected: a BOM wins, then strict UTF-8, then GB18030 (a superset of GBK).
The delimiter (comma, semicolon, tab) is sniffed.

Recognised columns (case-insensitive, Chinese or English):
主机名/计算机名/hostname/host/name, IP/地址/address/ansible_host,
分组/组/group, 营业部/branch, 操作员/operator/user, 证书/gateway_cert,
证书类型/cert_kind, 端口/port. Every other non-empty column becomes a host
variable under its header. A row without a host name, with a duplicate host
name, a bad port or a malformed address is reported with its line number.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from fleetcheck.errors import FleetcheckError
from fleetcheck.i18n import T, Text
from fleetcheck.inventory.address import address_problem

_ALIASES: dict[str, tuple[str, ...]] = {
    "name": ("主机名", "计算机名", "机器名", "hostname", "host", "name", "computer"),
    "ansible_host": ("ip", "ip地址", "地址", "address", "ansible_host"),
    "group": ("分组", "组", "group", "groups"),
    "branch": ("营业部", "分支机构", "branch"),
    "operator": ("操作员", "用户", "operator", "user"),
    "gateway_cert": ("证书", "证书名", "网关证书", "gateway_cert", "certificate"),
    "cert_kind": ("证书类型", "cert_kind"),
    "ansible_port": ("端口", "port", "ansible_port"),
}
_ADDRESS_RE = re.compile(r"^[A-Za-z0-9.\-:\[\]]+$")
_GROUP_RE = re.compile(r"^[^\s:,!&~*?\[\]]+$")


class CsvImportError(FleetcheckError):
    """A CSV host list that cannot be imported; ``issues`` holds one message per problem."""

    def __init__(self, issues: list[Text]) -> None:
        super().__init__(T("\n".join(i.zh for i in issues), "\n".join(i.en for i in issues)))
        self.issues = issues


@dataclass
class CsvImport:
    """The parsed rows: hosts by group (``None`` = ungrouped), and bad rows."""

    encoding: str
    groups: dict[str | None, dict[str, dict[str, Any]]] = field(default_factory=dict)
    bad_rows: list[Text] = field(default_factory=list)

    @property
    def host_count(self) -> int:
        return sum(len(h) for h in self.groups.values())


def decode_spreadsheet(data: bytes) -> tuple[str, str]:
    """(text, encoding name): BOM → utf-8-sig, valid UTF-8 → utf-8, else gb18030.

    >>> decode_spreadsheet("主机名\\n".encode("gbk"))[1]
    'gb18030'
    """
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8"), "utf-8-sig"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError as exc:
        raise CsvImportError([T(f"无法识别文件编码（既不是 UTF-8 也不是 GBK），位置 {exc.start}",
                                f"unknown encoding (neither UTF-8 nor GBK) at byte {exc.start}")]) from None


_SAVE_AS_CSV = T("请在表格软件中“另存为 CSV（UTF-8 或 GBK）”后再导入。",
                 "Save the sheet as CSV (UTF-8 or GBK) in the spreadsheet program and import that.")


def _not_csv(source: str, why: Text) -> CsvImportError:
    return CsvImportError([T(f"{source}: {why.zh}。{_SAVE_AS_CSV.zh}", f"{source}: {why.en}. {_SAVE_AS_CSV.en}")])


def _column_roles(header: list[str]) -> dict[int, str]:
    roles: dict[int, str] = {}
    for index, raw in enumerate(header):
        key = raw.strip().lower().replace(" ", "")
        role = next((r for r, names in _ALIASES.items() if key in names), None)
        roles[index] = role if role and role not in roles.values() else (raw.strip() or f"column{index + 1}")
    return roles


def parse_spreadsheet(data: bytes, source: str) -> CsvImport:
    """Parse a CSV export; raises CsvImportError when no host-name column exists."""
    # An .xlsx, an image or any binary file: NUL bytes never occur in a CSV export.
    if b"\x00" in data[:65536]:
        raise _not_csv(source, T("不是文本文件（CSV）", "not a text (CSV) file"))
    try:
        text, encoding = decode_spreadsheet(data)
    except CsvImportError as exc:
        raise _not_csv(source, exc.issues[0]) from None
    try:
        dialect: Any = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    try:
        rows = list(csv.reader(io.StringIO(text), dialect))
    except csv.Error as exc:
        raise _not_csv(source, T(f"无法按 CSV 解析（{exc}）", f"cannot be read as CSV ({exc})")) from None
    result = CsvImport(encoding=encoding)
    if not rows:
        raise CsvImportError([T(f"{source}: 文件为空", f"{source}: the file is empty")])
    roles = _column_roles(rows[0])
    if "name" not in roles.values():
        raise CsvImportError([T(f"{source}:1: 找不到主机名列（主机名/hostname）；第一行应为表头",
                                f"{source}:1: no host-name column (主机名/hostname); the first row must be the header")])
    seen: dict[str, int] = {}
    for line, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        record = {roles[i]: cell.strip() for i, cell in enumerate(row) if i in roles and cell.strip()}
        problem = _row_problem(record, seen)
        if problem is not None:
            result.bad_rows.append(T(f"{source}:{line}: {problem.zh}", f"{source}:{line}: {problem.en}"))
            continue
        name = record.pop("name")
        seen[name] = line
        group = record.pop("group", None)
        host_vars: dict[str, Any] = dict(record)
        if "ansible_port" in host_vars:
            host_vars["ansible_port"] = int(host_vars["ansible_port"])
        result.groups.setdefault(group, {})[name] = host_vars
    return result


def _row_problem(record: dict[str, str], seen: dict[str, int]) -> Text | None:
    name = record.get("name")
    if not name:
        return T("缺少主机名", "no host name")
    if any(c.isspace() for c in name):
        return T(f"主机名 {name!r} 含空白", f"host name {name!r} contains spaces")
    if not name.isprintable():
        return T(f"主机名 {name!r} 含控制字符", f"host name {name!r} contains control characters")
    if name in seen:
        return T(f"主机名 {name} 重复（首次出现在第 {seen[name]} 行）", f"duplicate host {name} (first on line {seen[name]})")
    address = record.get("ansible_host")
    if address is not None and (not _ADDRESS_RE.match(address) or address_problem(address) is not None):
        return T(f"地址 {address!r} 不是有效的 IP 或主机名", f"address {address!r} is not an IP address or host name")
    port = record.get("ansible_port")
    if port is not None and not (port.isdigit() and 1 <= int(port) <= 65535):
        return T(f"端口 {port!r} 无效（1–65535）", f"bad port {port!r} (1-65535)")
    group = record.get("group")
    if group is not None and not _GROUP_RE.match(group):
        return T(f"分组名 {group!r} 不能含空白或 : , ! & ~ * ? [ ]",
                 f"group name {group!r} cannot contain spaces or : , ! & ~ * ? [ ]")
    return None


def inventory_document(parsed: CsvImport) -> dict[str, Any]:
    """The Ansible YAML structure for the parsed rows."""
    doc: dict[str, Any] = {"hosts": {}, "children": {}}
    for group, hosts in parsed.groups.items():
        target = doc["hosts"] if group is None else doc["children"].setdefault(group, {"hosts": {}})["hosts"]
        for name, host_vars in hosts.items():
            target[name] = host_vars or None
    if not doc["hosts"]:
        del doc["hosts"]
    if not doc["children"]:
        del doc["children"]
    return {"all": doc}


def write_inventory_yaml(doc: dict[str, Any], out: io.TextIOBase | Path) -> None:
    yaml = YAML()
    yaml.allow_unicode = True
    yaml.default_flow_style = False
    if isinstance(out, Path):
        with out.open("w", encoding="utf-8") as handle:
            handle.write("# fleetcheck inventory (imported from a spreadsheet)\n")
            yaml.dump(doc, handle)
    else:
        yaml.dump(doc, out)
