"""The simulator's SOAP answers have the structure of real Windows answers (recorded captures).

Captured requests (sent by pypsrp/pywinrm to real Windows) are replayed into
the simulator's WinRS service; each answer is compared with the recorded one:
element names with namespaces, attribute names, namespace prefixes declared
on the envelope, fault code/subcode values and WSManFault codes. Identifiers
and data are not compared.
"""

from __future__ import annotations

import asyncio
import re
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from fleetcheck.sim.faults import FaultSpec
from fleetcheck.sim.wsman import HostProfile, WinRSService

CAPTURES = Path("/work/shared/reference/winrm-captures")
if not CAPTURES.is_dir():  # the repository copy, when the shared folder is not mounted
    CAPTURES = Path(__file__).resolve().parents[2] / "shared" / "reference" / "winrm-captures"

NS_FAULT = "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault"
UUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")


@dataclass
class _Result:
    stdout: str
    stderr: str
    exit_code: int
    agent_ms: int = 0


class StandInHost:
    """Prints something on both streams, like cmd.exe running the captured commands."""

    def run(self, executable: str, arguments: list[str], stdin: bytes) -> _Result:
        return _Result("out \r\n", "err \r\n" if "exit" in " ".join(arguments) else "", 1 if "exit" in arguments else 0)


def structure(elem: ET.Element) -> tuple:
    """(tag, attribute names, significant text, sorted distinct child structures)."""
    significant = ""
    if elem.tag == "{http://www.w3.org/2003/05/soap-envelope}Value":
        significant = (elem.text or "").strip()
    attrs = tuple(sorted(elem.attrib))
    if elem.tag == f"{{{NS_FAULT}}}WSManFault":
        attrs = (*attrs, ("Code", elem.get("Code")))
    children = tuple(sorted({structure(child) for child in elem}, key=repr))
    return (elem.tag, attrs, significant, children)


def prefixes(xml: str) -> set[str]:
    head = xml[: xml.index(">")]
    return set(re.findall(r"xmlns:(\w+)=", head))


def load(name: str) -> list[dict]:
    return YAML(typ="safe").load((CAPTURES / name).read_text(encoding="utf-8"))["messages"]


def replay(name: str, *, faults: FaultSpec | None = None, timeout_override: str | None = None,
           pick: list[int] | None = None):
    """Feed a capture's requests (or the ``pick``ed ones) to a fresh service, mapping captured ids to ours."""
    messages = load(name)
    if pick is not None:
        messages = [messages[i] for i in pick]

    async def run() -> list[tuple[str, str]]:
        executor = ThreadPoolExecutor(2)
        profile = HostProfile(machine="192.168.56.11", endpoint_url="http://192.168.56.11:5985/wsman")
        service = WinRSService(profile, StandInHost, faults or FaultSpec(), executor)
        ids: dict[str, str] = {}
        pairs = []
        for msg in messages:
            request = UUID.sub(lambda m: ids.get(m.group(0).upper(), m.group(0)), msg["request"])
            if timeout_override:
                request = re.sub(r"<wsman:OperationTimeout>[^<]*<", f"<wsman:OperationTimeout>{timeout_override}<", request)
            status, answer, _ = await service.handle(request.encode("utf-8"), "vagrant", "192.168.56.1")
            ours = answer.decode("utf-8")
            expected_status = msg.get("transport_error", {}).get("code", 200)
            assert status == expected_status, (name, ours)
            # Learn the ids the capture used for what we created (ShellId, CommandId).
            for tag in ("ShellId", "CommandId"):
                theirs = re.search(rf"<rsp:{tag}>([^<]+)<", msg["response"])
                mine = re.search(rf"<rsp:{tag}>([^<]+)<", ours)
                if theirs and mine:
                    ids[theirs.group(1).upper()] = mine.group(1)
            pairs.append((msg["response"], ours))
            relates = re.search(r"<wsa:MessageID>([^<]+)<", request).group(1)
            assert f"<a:RelatesTo>{relates}</a:RelatesTo>" in ours
        service.close()
        executor.shutdown()
        return pairs

    return asyncio.run(run())


def drop_activity_id(xml: str) -> str:
    # p:ActivityId appears in some captures only (an ETW correlation id, optional).
    return re.sub(r"<p:ActivityId>[^<]*</p:ActivityId>", "", xml)


@pytest.mark.parametrize(
    "capture",
    ["test_winrs_standard.yml", "test_winrs_send.yml", "test_winrs_stderr_rc.yml", "test_winrs_bad_cmd_id.yml",
     "test_winrs_unicode.yml"],
)
def test_answers_match_capture_structure(capture):
    for recorded, ours in replay(capture):
        theirs = drop_activity_id(recorded)
        assert prefixes(ours) == prefixes(theirs)
        assert structure(ET.fromstring(ours)) == structure(ET.fromstring(theirs)), (capture, ours)


def test_operation_timeout_fault_matches_capture():
    messages = load("test_winrs_operation_timeout.yml")
    expected = ET.fromstring(messages[3]["response"])  # the first TimedOut fault
    pairs = replay("test_winrs_operation_timeout.yml", faults=FaultSpec(slow_agent_s=30), timeout_override="PT0.2S",
                   pick=[0, 1, 3])
    # Create and Command as captured; then the Receive times out as Windows does.
    ours = ET.fromstring(pairs[2][1])
    assert structure(ours) == structure(expected)
    assert prefixes(pairs[2][1]) == prefixes(messages[3]["response"])


def test_receive_answers_fit_the_clients_max_envelope_size():
    """~5 MiB of output comes back in envelopes no bigger than the request's MaxEnvelopeSize."""
    messages = load("test_winrs_standard.yml")

    async def run() -> list[int]:
        executor = ThreadPoolExecutor(1)
        profile = HostProfile(machine="m", endpoint_url="http://m:5985/wsman")
        service = WinRSService(profile, StandInHost, FaultSpec(huge=True), executor)
        _, created, _ = await service.handle(messages[0]["request"].encode(), "vagrant", "c")
        shell = re.search(r"<rsp:ShellId>([^<]+)<", created.decode()).group(1)
        command = messages[1]["request"].replace("4283CBDC-3706-415B-88BD-B385F3E51A53", shell)
        _, started, _ = await service.handle(command.encode(), "vagrant", "c")
        cid = re.search(r"<rsp:CommandId>([^<]+)<", started.decode()).group(1)
        receive = re.sub(r"CommandId=\"[^\"]+\"", f'CommandId="{cid}"', messages[2]["request"])
        receive = receive.replace("4283CBDC-3706-415B-88BD-B385F3E51A53", shell)
        sizes = []
        for _ in range(200):
            status, answer, _ = await service.handle(receive.encode(), "vagrant", "c")
            assert status == 200
            sizes.append(len(answer))
            if b"CommandState/Done" in answer:
                break
        executor.shutdown()
        return sizes

    sizes = asyncio.run(run())
    assert len(sizes) > 30 and max(sizes) <= 153600
