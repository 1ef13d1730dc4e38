"""The agent: a fixed bootstrap, a static agent.ps1, and how a request travels to it.

Wire format (the simulator accepts exactly this and nothing else):

* command line: ``powershell.exe -NoProfile -NonInteractive -ExecutionPolicy
  Bypass -EncodedCommand <base64(UTF-16LE(bootstrap.ps1))>``;
* stdin: two ASCII lines, ``base64(agent.ps1 bytes as sent)`` (:func:`agent_wire`) then
  ``base64(UTF-8 JSON of ProbeRequest)``, each ending in ``\\n``;
* stdout: one JSON document (a ProbeResponse), ASCII only: the agent escapes
  every non-ASCII character as ``\\uXXXX``, so the shell's code page cannot
  damage it;
* exit code 0; anything else is an agent failure, with stderr saying why.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from functools import cache
from typing import Any

from pydantic import ValidationError

from fleetcheck.agent.contract import ProbeRequest, ProbeResponse
from fleetcheck.resources import agent_dir
from fleetcheck.textsafe import clean

POWERSHELL = "powershell.exe"
POWERSHELL_ARGS = ("-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-EncodedCommand")


@cache
def agent_script() -> bytes:
    """agent.ps1 exactly as shipped (the simulator compares byte for byte)."""
    return (agent_dir() / "agent.ps1").read_bytes()


def minify_powershell(text: str) -> str:
    """PowerShell source without full-line comments, blank lines and indentation.

    Here-string bodies (``@'`` ... ``'@``, ``@"`` ... ``"@``) are kept byte for byte.
    The result is the same program token for token (tests/agent/test_agent_wire.py
    parses both with tree-sitter-powershell and compares every non-comment token),
    so it is a transport optimisation only: the agent's source stays readable.
    """
    out: list[str] = []
    here: str | None = None
    for number, line in enumerate(text.split("\n"), 1):
        stripped = line.strip()
        if here is None and stripped.endswith("`"):
            # A line continuation followed by a removed comment line would join other lines.
            raise ValueError(f"line {number}: a backtick line continuation cannot be minified safely")
        if here is not None:
            out.append(line)
            if stripped.startswith(here):
                here = None
            continue
        if not stripped or (stripped.startswith("#") and not stripped.startswith("#>")):
            continue
        out.append(line.lstrip())
        if stripped.endswith(("@'", '@"')):
            here = stripped[-1] + "@"
    return "\n".join(out) + "\n"


@cache
def agent_wire() -> bytes:
    """agent.ps1 as it travels to the host (and as the simulator expects it): :func:`minify_powershell`.

    About a third smaller than the commented source, which is most of what each
    sweep sends per host (measured with benchmarks/sweep.py).
    """
    raw = agent_script()
    bom = b"\xef\xbb\xbf" if raw.startswith(b"\xef\xbb\xbf") else b""
    return bom + minify_powershell(raw[len(bom):].decode("utf-8")).encode("utf-8")


@cache
def bootstrap_script() -> str:
    return (agent_dir() / "bootstrap.ps1").read_text(encoding="utf-8")


@cache
def encoded_bootstrap() -> str:
    """The bootstrap as PowerShell's -EncodedCommand wants it: base64 of UTF-16LE."""
    return base64.b64encode(bootstrap_script().encode("utf-16-le")).decode("ascii")


def command_line() -> tuple[str, list[str]]:
    """(executable, arguments) for WinRM's Command; well below cmd.exe's 8191 chars."""
    return POWERSHELL, [*POWERSHELL_ARGS, encoded_bootstrap()]


@cache
def _agent_line() -> bytes:
    return base64.b64encode(agent_wire()) + b"\n"


def build_payload(request: ProbeRequest) -> bytes:
    """The stdin bytes for one run: agent line + request line."""
    body = request.model_dump_json(exclude_defaults=False).encode("utf-8")
    return _agent_line() + base64.b64encode(body) + b"\n"


class PayloadError(ValueError):
    """stdin that is not an agent payload (the simulator answers it like Windows would).

    Internal to the simulator's side: never shown to a user as an error of theirs.
    """


def parse_payload(data: bytes) -> tuple[bytes, ProbeRequest]:
    """Split stdin into (agent script bytes, request). Used by the simulator."""
    lines = [line.strip() for line in data.split(b"\n") if line.strip()]
    if len(lines) < 2:
        raise PayloadError(f"expected 2 base64 lines on stdin, got {len(lines)}")
    try:
        agent = base64.b64decode(lines[0], validate=True)
        body = base64.b64decode(lines[1], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PayloadError(f"stdin is not base64: {exc}") from None
    try:
        request = ProbeRequest.model_validate_json(body)
    except ValidationError as exc:
        raise PayloadError(f"request does not match the contract: {exc.error_count()} errors") from None
    return agent, request


UTF8_BOM = b"\xef\xbb\xbf"


class AgentOutputError(ValueError):
    """The agent's stdout is not a valid response; ``reason`` is short and safe to show.

    Internal: the transport turns it into ``BadOutput`` (a host result), ``evaluate``
    into its own message about the facts file.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


MAX_OUTPUT_BYTES = 16 * 1024 * 1024  # as the transport's limit on what it reads
MAX_DEPTH = 64  # JSON nesting; a key tree of depth 8 is about 20 levels
MAX_NODES = 2_000_000
MAX_INT = 2**63 - 1  # what SQLite and the report can hold
_ESCAPED_SURROGATE = re.compile(r"\\u[dD][89abcdefABCDEF]")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _bounded_int(text: str) -> int:
    """json.loads' ``parse_int``: an integer out of 64 bits is refused while parsing."""
    if len(text) > 20:
        raise ValueError("integer out of range (more than 64 bits)")
    value = int(text)
    if not -MAX_INT - 1 <= value <= MAX_INT:
        raise ValueError("integer out of range (more than 64 bits)")
    return value


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_JSON_BRACKET = re.compile(r"[\[\]{}]")


def _check_text_bounds(text: str) -> None:
    """Depth and size of a JSON text before it is parsed (fast: strings removed, brackets scanned).

    The same bounds :func:`_check_bounds` applies to a parsed document; integers are
    bounded by :func:`_bounded_int` during parsing.
    """
    bare = _JSON_STRING.sub('""', text)
    if bare.count(",") + bare.count("[") + bare.count("{") > MAX_NODES:
        raise AgentOutputError(f"output holds more than {MAX_NODES} values")
    depth = 0
    for match in _JSON_BRACKET.finditer(bare):
        if match.group() in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise AgentOutputError(f"output is nested more than {MAX_DEPTH} levels deep")
        else:
            depth -= 1


def _check_bounds(doc: Any) -> None:
    """Depth, size and integer range of a parsed answer; AgentOutputError when out of bounds. Iterative."""
    stack: list[tuple[Any, int]] = [(doc, 1)] if isinstance(doc, (dict, list)) else []
    nodes = 0
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise AgentOutputError(f"output is nested more than {MAX_DEPTH} levels deep")
        items = value.values() if isinstance(value, dict) else value
        nodes += len(items)
        if nodes > MAX_NODES:
            raise AgentOutputError(f"output holds more than {MAX_NODES} values")
        for item in items:
            if isinstance(item, (dict, list)):
                stack.append((item, depth + 1))
            elif type(item) is int and not -MAX_INT - 1 <= item <= MAX_INT:
                raise AgentOutputError("output holds an integer out of range (more than 64 bits)")


def bounded_answer(doc: Any) -> Any:
    """``doc`` (a parsed answer) checked for depth, size and integer range, lone surrogates made visible.

    Raises AgentOutputError; for answers read from elsewhere (``evaluate --facts``).
    """
    _check_bounds(doc)
    return clean(doc)


def parse_output(stdout: bytes) -> ProbeResponse:
    """Validate the agent's stdout as a ProbeResponse.

    Raises AgentOutputError with a plain reason (not UTF-8, not JSON, truncated,
    schema mismatch); never echoes the output itself, which may be huge.
    """
    text_bytes = stdout.strip()
    # A UTF-8 byte-order mark may precede the JSON: PowerShell writes one when
    # its [Console]::OutputEncoding is a UTF8Encoding that emits it (code page
    # 65001 on some hosts), and json.loads rejects it. Strip any number of them.
    while text_bytes.startswith(UTF8_BOM):
        text_bytes = text_bytes[len(UTF8_BOM):].lstrip()
    if not text_bytes:
        raise AgentOutputError("the agent printed nothing")
    try:
        text = text_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AgentOutputError(
            f"output is not UTF-8 (byte 0x{text_bytes[exc.start]:02x} at offset {exc.start}); "
            "is the shell code page 65001?"
        ) from None
    if len(text_bytes) > MAX_OUTPUT_BYTES:
        raise AgentOutputError(f"output larger than {MAX_OUTPUT_BYTES // 2**20} MB")
    _check_text_bounds(text)
    try:
        doc = json.loads(text, parse_constant=_no_constant, parse_int=_bounded_int)
    except json.JSONDecodeError as exc:
        where = "truncated" if exc.pos >= len(text) - 1 else f"invalid at offset {exc.pos}"
        raise AgentOutputError(f"output is not JSON ({where}: {exc.msg})") from None
    except RecursionError:
        raise AgentOutputError(f"output is nested more than {MAX_DEPTH} levels deep") from None
    except ValueError as exc:  # an integer of more than 4,300 digits; NaN / Infinity
        raise AgentOutputError(f"output holds an impossible number ({str(exc)[:80]})") from None
    if not isinstance(doc, dict):
        raise AgentOutputError("output is JSON but not an object")
    if _ESCAPED_SURROGATE.search(text):
        # A Windows string may hold an unpaired UTF-16 surrogate: kept visibly (fleetcheck.textsafe).
        doc = clean(doc)
    version = doc.get("schema_version")
    if version != 1:
        raise AgentOutputError(f"unsupported response schema_version {version!r} (expected 1)")
    try:
        return ProbeResponse.model_validate(doc)
    except RecursionError:
        raise AgentOutputError(f"output is nested more than {MAX_DEPTH} levels deep") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise AgentOutputError(
            f"response does not match the contract ({exc.error_count()} errors; first at {loc}: {first['msg']})"
        ) from None
