"""Template-built envelopes are the same XML pywinrm's xmltodict path writes."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

import pytest
from winrm.protocol import Protocol

from fleetcheck.agent import command_line
from fleetcheck.transport.envelope import AgentProtocol


class Capture:
    """Records the message instead of sending it and answers like a WinRM service would."""

    def __init__(self, cls: type[Protocol]) -> None:
        self.protocol = cls("http://127.0.0.1:5985/wsman", transport="ntlm", username="u", password="p")
        self.sent: list[str] = []
        self.protocol.send_message = self._send  # type: ignore[method-assign]

    def _send(self, message: str) -> bytes:
        self.sent.append(message)
        msg_id = re.search(r"<a:MessageID>(uuid:[^<]+)</a:MessageID>", message).group(1)  # type: ignore[union-attr]
        return (
            '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" '
            'xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" '
            'xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" '
            'xmlns:rsp="http://schemas.microsoft.com/wbem/wsman/1/windows/shell">'
            f"<s:Header><a:RelatesTo>{msg_id}</a:RelatesTo></s:Header><s:Body>"
            '<w:Selector Name="ShellId">SHELL-1</w:Selector><rsp:CommandId>CMD-1</rsp:CommandId>'
            '<rsp:Stream Name="stdout" CommandId="CMD-1">b2s=</rsp:Stream>'
            '<rsp:Stream Name="stderr" CommandId="CMD-1">ZXJy</rsp:Stream>'
            '<rsp:CommandState CommandId="CMD-1" '
            'State="http://schemas.microsoft.com/wbem/wsman/1/windows/shell/CommandState/Done">'
            "<rsp:ExitCode>7</rsp:ExitCode></rsp:CommandState></s:Body></s:Envelope>"
        ).encode()


def _canonical(message: str) -> str:
    without_id = re.sub(r"uuid:[0-9a-f-]+", "uuid:X", message)
    return ET.canonicalize(without_id.split("?>", 1)[1].strip())


def _session(protocol: Protocol) -> list[Any]:
    shell = protocol.open_shell(codepage=65001, noprofile=True)
    executable, args = command_line()
    command = protocol.run_command(shell, executable, args, console_mode_stdin=False, skip_cmd_shell=True)
    protocol.send_command_input(shell, command, b"line one\n\xe4\xba\xa4", end=False)
    protocol.send_command_input(shell, command, b"<&>", end=True)
    output = protocol.get_command_output_raw(shell, command)
    protocol.cleanup_command(shell, command)
    protocol.close_shell(shell, close_session=False)
    return [shell, command, output]


@pytest.mark.parametrize("step", range(7))
def test_same_xml_as_pywinrm(step: int) -> None:
    ours, theirs = Capture(AgentProtocol), Capture(Protocol)
    assert _session(ours.protocol) == _session(theirs.protocol) == ["SHELL-1", "CMD-1", (b"ok", b"err", 7, True)]
    assert _canonical(ours.sent[step]) == _canonical(theirs.sent[step])
