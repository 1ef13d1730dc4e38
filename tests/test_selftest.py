"""``fleetcheck selftest`` against simulated PCs: every item passes on a faithful agent,
and a host that mangles answers is caught by name."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from fleetcheck.agent.contract import ProbeRequest, ProbeResponse, RegValue
from fleetcheck.cli import main
from fleetcheck.selftest import SCRATCH_KEY, run_selftest
from fleetcheck.sim.executor import execute
from fleetcheck.sim.image import instantiate
from fleetcheck.sim.office import OfficeSpec, start_office

NOW = datetime(2026, 11, 25, 8, 30, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def office(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, object]]:
    spec = OfficeSpec.model_validate({
        "defaults": {"credentials": {"user": "TRADE\\fcadmin", "password": "Selftest-2026!"}},
        "groups": [
            {"name": "w10", "image": "win10-compliant", "count": 1, "vars": {"hostname": "PC-W10"}},
            {"name": "w7", "image": "win7-x86-compliant", "count": 1, "vars": {"hostname": "PC-W7"}},
        ],
    })
    state = tmp_path_factory.mktemp("selftest-office")
    with start_office(spec, state, first_address="127.0.95.1", now=NOW) as running:
        yield running.write_inventory(state / "inventory.yaml"), running


@pytest.mark.parametrize("host", ["PC-W10", "PC-W7"])
def test_every_item_passes_and_the_scratch_key_is_gone(office: tuple[Path, object], host: str) -> None:
    inventory, running = office
    result = CliRunner().invoke(main, ["--lang", "en", "selftest", host, "-i", str(inventory), "--write"])
    assert result.exit_code == 0, result.output
    assert "✗" not in result.output
    assert "registry round trip (every type, Chinese, edge values): 8 values identical" in result.output
    assert "restored key equals the original: every value identical" in result.output
    image = running.hosts[host].host.image  # type: ignore[attr-defined]
    snapshot = running.hosts[host].host.snapshot()  # type: ignore[attr-defined]
    assert SCRATCH_KEY.lower() not in repr(snapshot).lower(), "scratch key left behind"
    assert image is not None


def test_read_only_by_default(office: tuple[Path, object]) -> None:
    inventory, _ = office
    result = CliRunner().invoke(main, ["selftest", "PC-W10", "-i", str(inventory)])
    assert result.exit_code == 0, result.output
    assert "代理按契约应答" in result.output and "注册表往返" not in result.output


def test_a_mangling_agent_fails_the_round_trip_item() -> None:
    """An agent that hands DWORD 0xFFFFFFFF back as -1 (the classic .NET Int32 slip) is named."""
    image = instantiate("win10-compliant", {"hostname": "PC-X"}, NOW)

    def mangling_probe(request: ProbeRequest) -> ProbeResponse:
        response, _ = execute(image, request)
        answers = []
        for answer in response.answers:
            if answer.key is not None and "dword_max" in answer.key.values:
                values = {**answer.key.values, "dword_max": RegValue(t="DWORD", v=-1)}
                answer = answer.model_copy(update={"key": answer.key.model_copy(update={"values": values})})
            answers.append(answer)
        return response.model_copy(update={"answers": answers})

    items = run_selftest(mangling_probe, write=True)
    failed = [item.name.en for item in items if not item.ok]
    # Both reads of the scratch key go through the mangled path; nothing else fails.
    assert failed == ["registry round trip (every type, Chinese, edge values)", "restored key equals the original"]
    detail = next(item.detail.en for item in items if not item.ok)
    assert "dword_max: wrote DWORD 4294967295, read DWORD -1" in detail


def test_unknown_host_is_a_usage_error(office: tuple[Path, object]) -> None:
    inventory, _ = office
    result = CliRunner().invoke(main, ["selftest", "PC-NOPE", "-i", str(inventory)])
    assert result.exit_code == 2 and "Traceback" not in result.output
