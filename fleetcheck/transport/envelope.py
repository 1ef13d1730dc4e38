"""WinRS SOAP envelopes built from templates: pywinrm's ``Protocol`` with cheaper messages.

pywinrm builds every envelope as nested dicts serialised by ``xmltodict``,
which validates every element name character by character: about a third of
the controller's CPU per host in the sweep benchmark. :class:`AgentProtocol`
keeps pywinrm's transport, authentication, encryption and fault handling
(``send_message``) and only writes the six messages a probe uses (Create,
Command, Send, Receive, Signal, Delete) as strings, element for element the
same XML pywinrm produces (same namespaces, header order and options).

Every value placed in XML is escaped (``xml.sax.saxutils``): ids come from the
server, the command line is the fixed bootstrap, stdin is base64.
"""

from __future__ import annotations

import base64
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from xml.sax.saxutils import escape, quoteattr

from winrm.protocol import Protocol

SHELL_URI = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/cmd"
_SHELL_NS = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"
_TRANSFER = "http://schemas.xmlsoap.org/ws/2004/09/transfer"
_TERMINATE = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/signal/terminate"

_ENVELOPE_OPEN = (
    '<?xml version="1.0" encoding="utf-8"?>\n'
    '<env:Envelope xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
    'xmlns:env="http://www.w3.org/2003/05/soap-envelope" '
    'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
    'xmlns:b="http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd" '
    'xmlns:n="http://schemas.xmlsoap.org/ws/2004/09/enumeration" '
    'xmlns:x="http://schemas.xmlsoap.org/ws/2004/09/transfer" '
    'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" '
    'xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd" '
    'xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell" '
    'xmlns:cfg="http://schemas.microsoft.com/wbem/wsman/1/config">'
)


def envelope(action: str, body: str, *, operation_timeout_s: int, shell_id: str | None = None,
             options: Iterable[tuple[str, str]] = (), message_id: str | None = None) -> str:
    """One WS-Management request, as pywinrm's ``build_wsman_header`` + xmltodict would write it.

    >>> "<a:Action" in envelope(_TRANSFER + "/Delete", "", operation_timeout_s=20, shell_id="S")
    True
    """
    parts = [
        _ENVELOPE_OPEN,
        "<env:Header><a:To>http://windows-host:5985/wsman</a:To>",
        ('<a:ReplyTo><a:Address mustUnderstand="true">'
         "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>"),
        '<w:MaxEnvelopeSize mustUnderstand="true">153600</w:MaxEnvelopeSize>',
        f"<a:MessageID>uuid:{message_id or uuid.uuid4()}</a:MessageID>",
        '<w:Locale mustUnderstand="false" xml:lang="en-US"></w:Locale>',
        '<p:DataLocale mustUnderstand="false" xml:lang="en-US"></p:DataLocale>',
        f"<w:OperationTimeout>PT{int(operation_timeout_s)}S</w:OperationTimeout>",
        f'<w:ResourceURI mustUnderstand="true">{SHELL_URI}</w:ResourceURI>',
        f'<a:Action mustUnderstand="true">{escape(action)}</a:Action>',
    ]
    if shell_id is not None:
        parts.append(f'<w:SelectorSet><w:Selector Name="ShellId">{escape(shell_id)}</w:Selector></w:SelectorSet>')
    option_list = list(options)
    if option_list:
        parts.append("<w:OptionSet>")
        parts.extend(f"<w:Option Name={quoteattr(name)}>{escape(value)}</w:Option>" for name, value in option_list)
        parts.append("</w:OptionSet>")
    parts.append(f"</env:Header><env:Body>{body}</env:Body></env:Envelope>")
    return "".join(parts)


def _find_text(root: ET.Element, suffix: str) -> str:
    node = next(n for n in root.iter() if n.tag.endswith(suffix))
    return node.text or ""


class AgentProtocol(Protocol):
    """pywinrm's Protocol with template-built envelopes for the calls a probe makes."""

    # The positional parameters are pywinrm's Protocol.open_shell, which this overrides
    # (its callers may pass them positionally): the signature is not ours to bundle.
    def open_shell(self, i_stream: str = "stdin", o_stream: str = "stdout stderr",  # noqa: PLR0917
                   working_directory: str | None = None, env_vars: dict[str, str] | None = None,
                   noprofile: bool = False, codepage: int = 437, lifetime: None = None,
                   idle_timeout: str | int | None = None) -> str:
        if working_directory or env_vars or idle_timeout:  # not used by probes: pywinrm's own path
            return super().open_shell(i_stream, o_stream, working_directory, env_vars, noprofile, codepage,
                                      lifetime, idle_timeout)
        body = (f"<rsp:Shell><rsp:InputStreams>{escape(i_stream)}</rsp:InputStreams>"
                f"<rsp:OutputStreams>{escape(o_stream)}</rsp:OutputStreams></rsp:Shell>")
        options = (("WINRS_NOPROFILE", str(noprofile).upper()), ("WINRS_CODEPAGE", str(codepage)))
        res = self.send_message(envelope(_TRANSFER + "/Create", body, operation_timeout_s=self.operation_timeout_sec,
                                         options=options))
        root = ET.fromstring(res)
        return next(n for n in root.iter() if n.get("Name") == "ShellId").text or ""

    def run_command(self, shell_id: str, command: str, arguments: Iterable[str | bytes] = (),
                    console_mode_stdin: bool = True, skip_cmd_shell: bool = False) -> str:
        args = " ".join(a if isinstance(a, str) else a.decode("utf-8") for a in arguments)
        body = f"<rsp:CommandLine><rsp:Command>{escape(command)}</rsp:Command>"
        if args:
            body += f"<rsp:Arguments>{escape(args)}</rsp:Arguments>"
        body += "</rsp:CommandLine>"
        options = (("WINRS_CONSOLEMODE_STDIN", str(console_mode_stdin).upper()),
                   ("WINRS_SKIP_CMD_SHELL", str(skip_cmd_shell).upper()))
        res = self.send_message(envelope(_SHELL_NS + "/Command", body, operation_timeout_s=self.operation_timeout_sec,
                                         shell_id=shell_id, options=options))
        return _find_text(ET.fromstring(res), "CommandId")

    def send_command_input(self, shell_id: str, command_id: str, stdin_input: str | bytes, end: bool = False) -> None:
        data = stdin_input.encode("437") if isinstance(stdin_input, str) else stdin_input
        body = (f'<rsp:Send><rsp:Stream CommandId={quoteattr(command_id)} Name="stdin" '
                f'End="{"true" if end else "false"}" xmlns:rsp="{_SHELL_NS}">'
                f"{base64.b64encode(data).decode('ascii')}</rsp:Stream></rsp:Send>")
        self.send_message(envelope(_SHELL_NS + "/Send", body, operation_timeout_s=self.operation_timeout_sec,
                                   shell_id=shell_id))

    def get_command_output_raw(self, shell_id: str, command_id: str) -> tuple[bytes, bytes, int, bool]:
        body = (f"<rsp:Receive><rsp:DesiredStream CommandId={quoteattr(command_id)}>stdout stderr"
                "</rsp:DesiredStream></rsp:Receive>")
        res = self.send_message(envelope(_SHELL_NS + "/Receive", body, operation_timeout_s=self.operation_timeout_sec,
                                         shell_id=shell_id))
        root = ET.fromstring(res)
        stdout: list[bytes] = []
        stderr: list[bytes] = []
        return_code = -1
        done = False
        for node in root.iter():
            if node.tag.endswith("}Stream") and node.text:
                target = stdout if node.get("Name") == "stdout" else stderr if node.get("Name") == "stderr" else None
                if target is not None:
                    target.append(base64.b64decode(node.text.encode("ascii")))
            elif node.get("State", "").endswith("CommandState/Done"):
                done = True
            elif node.tag.endswith("}ExitCode") and node.text:
                return_code = int(node.text)
        return b"".join(stdout), b"".join(stderr), return_code, done

    def cleanup_command(self, shell_id: str, command_id: str) -> None:
        body = f"<rsp:Signal CommandId={quoteattr(command_id)}><rsp:Code>{_TERMINATE}</rsp:Code></rsp:Signal>"
        self.send_message(envelope(_SHELL_NS + "/Signal", body, operation_timeout_s=self.operation_timeout_sec,
                                   shell_id=shell_id))

    def close_shell(self, shell_id: str, close_session: bool = True) -> None:
        try:
            self.send_message(envelope(_TRANSFER + "/Delete", "", operation_timeout_s=self.operation_timeout_sec,
                                       shell_id=shell_id))
        finally:
            if close_session:
                self.transport.close_session()
