"""The WinRM enablement kit: scripts that open a PC to the fleetcheck controller, and only to it.

:func:`write_kit` writes ``enable-winrm.ps1`` + ``enable-winrm.cmd`` (run once
as administrator), ``undo-winrm.ps1`` + ``undo-winrm.cmd`` (restore the values
recorded before the change) and ``group-policy.md`` (the same settings for a
domain, by Group Policy). The scripts are fixed templates; the only values
written into ``enable-winrm.ps1`` are the controller, the transport and the
certificate thumbprint, each validated here (:func:`controller_address`,
:func:`thumbprint`) and placed as a single-quoted literal in one block at the
top, never spliced into code.

HTTPS certificates: PowerShell 2.0 (Windows 7) cannot make a certificate, so
``--https`` without ``--cert-thumbprint`` makes a self-signed one with
``New-SelfSignedCertificate`` on Windows 8.1 and later and stops with a
message on Windows 7; there, give the thumbprint of a certificate already in
``Cert:\\LocalMachine\\My`` (best: one issued by the office's CA, which the
controller then validates).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from fleetcheck.errors import FleetcheckError
from fleetcheck.i18n import T, Text
from fleetcheck.winrmsetup.policy import group_policy_markdown

TEMPLATE_DIR = Path(__file__).resolve().parent
ENABLE_SCRIPT = "enable-winrm.ps1"
UNDO_SCRIPT = "undo-winrm.ps1"
KIT_FILES = ("enable-winrm.ps1", "enable-winrm.cmd", "undo-winrm.ps1", "undo-winrm.cmd", "group-policy.md")
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_THUMBPRINT = re.compile(r"[0-9A-Fa-f]{40}")
# netsh advfirewall's remoteip keywords: never a controller (and never a wildcard).
_NETSH_KEYWORDS = {"any", "localsubnet", "dns", "dhcp", "wins", "defaultgateway", "intranet", "internet",
                   "rmtintranet", "ply2renet"}


class SetupError(FleetcheckError):
    """A controller address or certificate thumbprint that cannot go into the kit (exit 2)."""


class SetupTemplateError(RuntimeError):
    """Internal: a shipped template lacks a placeholder (a packaging bug, never a user's)."""


def controller_address(text: str) -> str:
    """``text`` as a controller: an IPv4/IPv6 address of one host, or a host name by RFC 1123 rules.

    Refused (SetupError): ranges, subnets, wildcards, netsh keywords, the
    unspecified/multicast/broadcast addresses, names with characters beyond
    letters, digits, ``-`` and ``.``, labels over 63 or names over 253 characters.
    """
    value = text
    if not value.isascii() or not value or any(c.isspace() or c in "%'\"`$;,/*" for c in value):
        raise _bad(text, T("只能是 ASCII 的 IP 地址或主机名", "only an ASCII IP address or host name"))
    if ":" in value or value.replace(".", "").isdigit():
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            raise _bad(text, T("不是 IP 地址", "not an IP address")) from None
        if address.is_unspecified or address.is_multicast or str(address) == "255.255.255.255":
            raise _bad(text, T("不是一台主机的地址", "not the address of one host"))
        return str(address)
    name = value.removesuffix(".")
    if len(name) > 253 or not all(_LABEL.fullmatch(label) for label in name.split(".")):
        raise _bad(text, T("不是有效的主机名（字母、数字、- 和 .，每段最多 63 个字符）",
                           "not a valid host name (letters, digits, - and ., labels of at most 63 characters)"))
    if name.lower() in _NETSH_KEYWORDS or name.split(".")[-1].isdigit():
        raise _bad(text, T("是保留字或数字结尾，不是主机名", "is a keyword or ends in a number, not a host name"))
    return name


def thumbprint(text: str) -> str:
    """A certificate's SHA-1 thumbprint: 40 hex digits (spaces and colons allowed), upper case."""
    value = text.replace(" ", "").replace(":", "")
    if not _THUMBPRINT.fullmatch(value):
        raise SetupError(T(f"证书指纹 {text!r} 不是 40 位十六进制数", f"certificate thumbprint {text!r} is not 40 hex digits"))
    return value.upper()


def _bad(text: str, why: Text) -> SetupError:
    return SetupError(T(f"控制机地址 {text!r} 无效：{why.zh}", f"controller address {text!r} is not valid: {why.en}"))


def ps_literal(value: str) -> str:
    """``value`` as a PowerShell single-quoted literal's body (every quote doubled, as PowerShell reads it).

    PowerShell also takes the typographic quotes U+2018/U+2019/U+201A/U+201B as
    single quotes, so they are doubled too. Validated values hold none; this is
    the second wall.
    """
    return re.sub(r"(['\u2018\u2019\u201a\u201b])", r"\1\1", value)


@dataclass(frozen=True)
class SetupOptions:
    """What the kit is for: the controller (validated), HTTPS or HTTP, a certificate thumbprint or none."""

    controller: str
    https: bool = False
    cert_thumbprint: str | None = None

    @classmethod
    def parse(cls, controller: str, *, https: bool = False, cert_thumbprint: str | None = None) -> SetupOptions:
        if cert_thumbprint is not None and not https:
            raise SetupError(T("--cert-thumbprint 需要与 --https 一起使用", "--cert-thumbprint needs --https"))
        return cls(controller=controller_address(controller), https=https,
                   cert_thumbprint=thumbprint(cert_thumbprint) if cert_thumbprint is not None else None)

    @property
    def port(self) -> int:
        return 5986 if self.https else 5985


@cache
def _template(name: str) -> str:
    return (TEMPLATE_DIR / name).read_text(encoding="utf-8-sig")


def render_enable(options: SetupOptions) -> str:
    """``enable-winrm.ps1`` with the three data literals filled in."""
    text = _template(ENABLE_SCRIPT)
    values = {"@CONTROLLER@": options.controller, "@TRANSPORT@": "HTTPS" if options.https else "HTTP",
              "@THUMBPRINT@": options.cert_thumbprint or ""}
    for marker, value in values.items():
        if text.count(f"'{marker}'") != 1:
            raise SetupTemplateError(f"{ENABLE_SCRIPT} must hold '{marker}' exactly once")
        text = text.replace(f"'{marker}'", "'" + ps_literal(value) + "'")
    return text


def render_kit(options: SetupOptions) -> dict[str, bytes]:
    """Every file of the kit: name -> bytes (scripts UTF-8 with a BOM, CRLF, as PowerShell 2.0 wants)."""
    bom = b"\xef\xbb\xbf"
    return {
        "enable-winrm.ps1": bom + render_enable(options).encode("utf-8"),
        "enable-winrm.cmd": (TEMPLATE_DIR / "enable-winrm.cmd").read_bytes(),
        "undo-winrm.ps1": bom + _template(UNDO_SCRIPT).encode("utf-8"),
        "undo-winrm.cmd": (TEMPLATE_DIR / "undo-winrm.cmd").read_bytes(),
        "group-policy.md": group_policy_markdown(options.controller, options.https, options.port).encode("utf-8"),
    }


def write_kit(out_dir: Path, options: SetupOptions) -> list[Path]:
    """Write the kit into ``out_dir`` (created); OSError when it cannot."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in render_kit(options).items():
        path = out_dir / name
        path.write_bytes(data)
        written.append(path)
    return written


__all__ = [
    "KIT_FILES",
    "SetupError",
    "SetupOptions",
    "controller_address",
    "ps_literal",
    "render_enable",
    "render_kit",
    "thumbprint",
    "write_kit",
]
