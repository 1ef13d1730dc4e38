"""The local collection kit: ``collect.cmd`` + ``collect.ps1`` carrying the agent and one compiled request.

The kit runs on a PC where WinRM is not allowed. ``collect.ps1`` starts
``powershell.exe`` with the same fixed bootstrap WinRM runs
(:func:`fleetcheck.agent.command_line`) and hands it the same two stdin lines
(:func:`fleetcheck.agent.build_payload`), so the answer file is byte for byte
what a WinRM sweep would have read from the agent's stdout. The three values
fleetcheck writes into the script are base64 text (``[A-Za-z0-9+/=]``), placed
inside single-quoted literals at the top: data that cannot become code.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from fleetcheck.agent import build_payload, command_line
from fleetcheck.agent.contract import ProbeRequest

KIT_SCRIPT = "collect.ps1"
KIT_WRAPPER = "collect.cmd"
_TEMPLATE_DIR = Path(__file__).resolve().parent
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_PLACEHOLDERS = {"AGENT_LINE": "@AGENT_LINE@", "REQUEST_LINE": "@REQUEST_LINE@", "BOOTSTRAP": "@BOOTSTRAP@"}
_DATA_LINE = re.compile(r"^\$(AgentLine|RequestLine|BootstrapCommand) = '([A-Za-z0-9+/=]*)'\r?$", re.MULTILINE)


class KitTemplateError(RuntimeError):
    """Internal: the shipped kit template lacks a placeholder (a packaging bug, never a user's)."""


@cache
def _template(name: str) -> bytes:
    return (_TEMPLATE_DIR / name).read_bytes()


def base64_literal(value: str) -> str:
    """``value`` checked to be base64 text, the only thing ever written into the script."""
    if not _BASE64.fullmatch(value):
        raise ValueError("kit data must be base64 text")
    return value


def render_script(request: ProbeRequest) -> bytes:
    """``collect.ps1`` for ``request``: the template with the three base64 data lines filled in."""
    agent_line, request_line = build_payload(request).decode("ascii").splitlines()
    encoded = command_line()[1][-1]
    text = _template(KIT_SCRIPT).decode("utf-8-sig")
    values = {"AGENT_LINE": agent_line, "REQUEST_LINE": request_line, "BOOTSTRAP": encoded}
    for key, marker in _PLACEHOLDERS.items():
        if text.count(marker) != 1:
            raise KitTemplateError(f"{KIT_SCRIPT} template must hold {marker} exactly once")
        text = text.replace(marker, base64_literal(values[key]))
    # A UTF-8 byte-order mark: PowerShell 2.0 reads a script without one as ANSI,
    # and the script's bilingual messages are not ASCII.
    return b"\xef\xbb\xbf" + text.encode("utf-8")


@dataclass(frozen=True)
class KitFiles:
    """What :func:`write_kit` wrote."""

    script: Path
    wrapper: Path


def write_kit(out_dir: Path, request: ProbeRequest) -> KitFiles:
    """Write ``collect.ps1`` and ``collect.cmd`` into ``out_dir`` (created); OSError when it cannot."""
    out_dir.mkdir(parents=True, exist_ok=True)
    script = out_dir / KIT_SCRIPT
    wrapper = out_dir / KIT_WRAPPER
    script.write_bytes(render_script(request))
    wrapper.write_bytes(_template(KIT_WRAPPER))
    return KitFiles(script=script, wrapper=wrapper)


@dataclass(frozen=True)
class KitPayload:
    """What a kit hands the agent: powershell.exe's arguments and its stdin bytes."""

    arguments: list[str]
    stdin: bytes


def kit_payload(script: bytes) -> KitPayload:
    """Read back from a written ``collect.ps1`` what it runs (for tests and for checking a kit).

    Raises ValueError when the script does not hold the three data lines.
    """
    text = script.decode("utf-8-sig")
    found = dict(_DATA_LINE.findall(text))
    if set(found) != {"AgentLine", "RequestLine", "BootstrapCommand"}:
        raise ValueError("not a fleetcheck collection script (data lines missing)")
    base64.b64decode(found["RequestLine"], validate=True)
    arguments = [*command_line()[1][:-1], found["BootstrapCommand"]]
    stdin = (found["AgentLine"] + "\n" + found["RequestLine"] + "\n").encode("ascii")
    return KitPayload(arguments=arguments, stdin=stdin)
