"""Fault injection for simulated PCs: what can go wrong between fleetcheck and a Windows host.

An office file gives each group of hosts a ``faults:`` mapping (all keys
optional, unknown keys rejected):

==================  =========================================================================
key                 effect (what the client sees)
==================  =========================================================================
latency_ms: 20      added to every HTTP exchange (auth legs included), as a slow network does
agent_ms: 300       charged once per process started, like PowerShell's start-up time
refuse: true        nothing listens: connection refused
hang: true          the connection is accepted and never answered (ends when the server stops)
wsman_500: true     every SOAP request gets HTTP 500 with a WSMan ``w:InternalError`` fault
unauthorized: true  every authentication fails: HTTP 401 (pywinrm: InvalidCredentialsError)
agent_exit: 1       the agent exits with this code and an error on stderr, stdout empty
garbage: true       stdout is not JSON (a PowerShell error text)
truncated: true     stdout is the agent's JSON cut in half
gbk_on_utf8: true   stdout is encoded GBK although the shell asked for 65001; the text
                    contains Chinese, so the bytes are not valid UTF-8
huge: true          stdout is at least 5 MiB (the JSON document followed by padding
                    whitespace); Receive delivers it in many envelopes
reset_mid_receive   the TCP connection is closed in the middle of the first Receive answer
  : true            that carries output (the client sees a connection error)
slow_agent_s: 3     the agent takes this many seconds; Receive answers w:TimedOut faults
                    (the client polls) until it is done
access_denied       the account is not an administrator: Create answers WinRM's
  : true            w:AccessDenied fault (WSManFault code 5, "Access is denied.")
token_filtering     UAC remote restrictions (LocalAccountTokenFilterPolicy absent or 0):
  : true            a LOCAL account other than the built-in Administrator gets a
                    filtered token, so Create answers the same w:AccessDenied fault;
                    domain accounts are not filtered
shells_in_use: 30   shells of the same user already open (leaked by other clients);
                    they count toward MaxShellsPerUser (w:QuotaLimit when reached)
powershell_missing  powershell.exe cannot be started: Command answers the provider fault
  : true            "The system cannot find the file specified." (0x80070002)
constrained_language PowerShell runs in ConstrainedLanguage mode (AppLocker/WDAC/
  : true            __PSLockdownPolicy): the agent stops at its first .NET method call,
                    stderr says so, exit code 1
tls_name_mismatch   the HTTPS listener presents a certificate of the office CA whose
  : true            names do not include the PC's address
==================  =========================================================================

:func:`shape_output` turns a process's text output into the bytes the shell
delivers, applying the code page and the output faults.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field

HUGE_BYTES = 5 * 1024 * 1024 + 4096


class FaultSpec(BaseModel):
    """The faults of one simulated PC (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    latency_ms: int = Field(default=0, ge=0, le=60_000)
    agent_ms: int = Field(default=0, ge=0, le=600_000)
    refuse: bool = False
    hang: bool = False
    wsman_500: bool = False
    unauthorized: bool = False
    agent_exit: int = Field(default=0, ge=-2**31, le=2**32 - 1)
    garbage: bool = False
    truncated: bool = False
    gbk_on_utf8: bool = False
    huge: bool = False
    reset_mid_receive: bool = False
    slow_agent_s: float = Field(default=0.0, ge=0, le=3600)
    access_denied: bool = False
    token_filtering: bool = False
    shells_in_use: int = Field(default=0, ge=0, le=10_000)
    powershell_missing: bool = False
    constrained_language: bool = False
    tls_name_mismatch: bool = False

    def merged(self, other: FaultSpec | None) -> FaultSpec:
        """This spec with every field ``other`` set explicitly taking precedence."""
        if other is None:
            return self
        data = self.model_dump()
        data.update(other.model_dump(exclude_unset=True))
        return FaultSpec.model_validate(data)

    def active(self) -> list[str]:
        """Names of the faults switched on (for summaries)."""
        return [name for name, value in self.model_dump().items() if value]


@dataclass(frozen=True)
class HostOutput:
    """A finished process, as text (before the console code page applies)."""

    stdout: str
    stderr: str
    exit_code: int


GARBAGE_STDOUT = (
    "Windows PowerShell\r\n"
    "版权所有 (C) Microsoft Corporation。保留所有权利。\r\n\r\n"
    "Get-WmiObject : 拒绝访问。 (异常来自 HRESULT:0x80070005 (E_ACCESSDENIED))\r\n"
    "At line:1 char:14\r\n"
)

# What PowerShell writes when a script in ConstrainedLanguage mode calls a method
# of a type that is not a core type (about_Language_Modes); the agent's first
# registry read does.
CONSTRAINED_LANGUAGE_STDERR = (
    "Cannot invoke method. Method invocation is supported only on core types in this language mode.\r\n"
    "At line:1 char:1\r\n"
    "    + CategoryInfo          : InvalidOperation: (:) [], RuntimeException\r\n"
    "    + FullyQualifiedErrorId : MethodInvocationNotSupportedInConstrainedLanguage\r\n"
)

AGENT_EXIT_STDERR = (
    "agent.ps1 : 拒绝访问。 Access is denied.\r\n"
    "    + CategoryInfo          : PermissionDenied: (:) [], UnauthorizedAccessException\r\n"
    "    + FullyQualifiedErrorId : fleetcheck.agent\r\n"
)


def _with_chinese(stdout: str) -> str:
    """The agent's JSON with \\uXXXX escapes written as characters, guaranteed to hold Chinese."""
    try:
        doc = json.loads(stdout)
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        text = json.dumps(doc, ensure_ascii=False)
        if text.isascii():
            errors = list(doc.get("errors") or [])
            errors.append("模拟故障：输出使用 GBK 编码")
            doc["errors"] = errors
            text = json.dumps(doc, ensure_ascii=False)
        return text
    return stdout + "\r\n模拟故障：输出使用 GBK 编码"


# --------------------------------------------------------------------------- code pages


def encode_for_codepage(text: str, codepage: int) -> bytes:
    """Bytes a Windows console with ``codepage`` produces for ``text``.

    Characters the code page lacks become ``?``, as Windows' best-fit-less
    conversion does.

    >>> encode_for_codepage("深圳 ok", 437)
    b'?? ok'
    >>> encode_for_codepage("深圳", 936)
    b'\\xc9\\xee\\xdb\\xda'
    """
    if codepage == 65001:
        return text.encode("utf-8", errors="replace")
    codec = {936: "gbk", 437: "cp437"}.get(codepage, f"cp{codepage}")
    try:
        return text.encode(codec, errors="replace")
    except LookupError:
        return text.encode("cp437", errors="replace")


# --------------------------------------------------------------------------- output


def shape_output(output: HostOutput, codepage: int, faults: FaultSpec) -> tuple[bytes, bytes, int]:
    """(stdout bytes, stderr bytes, exit code) as the shell delivers them.

    >>> shape_output(HostOutput("{}", "", 0), 65001, FaultSpec(truncated=True))[0]
    b'{'
    """
    stdout, stderr, code = output.stdout, output.stderr, output.exit_code
    if faults.constrained_language:
        stdout, stderr, code = "", CONSTRAINED_LANGUAGE_STDERR, 1
    if faults.agent_exit:
        stdout, stderr, code = "", AGENT_EXIT_STDERR, faults.agent_exit
    if faults.garbage:
        stdout = GARBAGE_STDOUT
    if faults.truncated:
        stdout = stdout[: max(1, len(stdout) // 2)]
    if faults.gbk_on_utf8:
        out_bytes = _with_chinese(stdout).encode("gbk", errors="replace")
    else:
        out_bytes = encode_for_codepage(stdout, codepage)
    if faults.huge and len(out_bytes) < HUGE_BYTES:
        # Whitespace after the document keeps it valid JSON while the client reads ~5 MiB.
        line = b" " * 1022 + b"\r\n"
        out_bytes += line * ((HUGE_BYTES - len(out_bytes)) // len(line) + 1)
    return out_bytes, encode_for_codepage(stderr, codepage), code
