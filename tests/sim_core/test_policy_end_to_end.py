"""The shipped images mean what their names say: the shipped SCCC policy, compiled
into one request, executed against each image and evaluated, fails exactly the
requirements (R1-R15 of docs/requirements.md) the image was built to break — and every
compliant image passes all of them. This holds the images to the requirements and
the simulator to the evaluator's reading of the contract."""

from __future__ import annotations

import pytest

from fleetcheck.agent.contract import ProbeRequest
from fleetcheck.evaluate import compile_request, evaluate_host
from fleetcheck.policy.loader import load_policies, shipped_policy_paths
from fleetcheck.sim.executor import execute
from fleetcheck.sim.image import instantiate, load_spec, shipped_images

from .conftest import NOW

# image -> requirements that must fail (status fail); everything else must pass
# or be not_applicable.
EXPECTED_FAILURES: dict[str, set[str]] = {
    "win10-compliant": set(),
    "win11-compliant": set(),
    "win7-compliant": set(),
    "win7-x86-compliant": set(),
    "win10-hardware-cert": set(),
    "win10-appdata-cert": set(),
    "win10-appdata-redirected": set(),
    "win10-token-moved-ports": set(),
    "win10-pending-reboot": set(),
    "win10-trading-client-running": set(),
    "win10-no-trusted-site": {"R2"},
    "win10-trading-no-trusted-site": {"R2"},
    "win10-zone-flags-wrong": {"R3", "R4", "R5"},  # R1's zone part is the same value as R5
    "win7-no-2200": {"R6"},
    "win10-no-ie-mode": {"R7", "R8"},
    "win10-certenroll-old": {"R10"},
    "win10-activex-disabled": {"R10"},
    "win10-no-feitian-driver": {"R9"},
    "win10-two-tokens": {"R11"},
    "win10-cert-expiring": {"R14"},
    "win10-cert-expired": {"R14"},
    "win10-hardware-cert-hash0": {"R13"},
    "win10-no-cert": {"R12", "R13", "R14"},
    "win10-cert-no-key": {"R12"},
    "win10-portal-unreachable": {"R15"},
    "win10-machine-policy": {"R2", "R4", "R5"},
    "win10-security-hklm-only": {"R2", "R3", "R4"},
    "win10-download-restricted": {"R1"},
}


@pytest.fixture(scope="module")
def policies():  # type: ignore[no-untyped-def]
    return load_policies(shipped_policy_paths())


@pytest.fixture(scope="module")
def request_(policies) -> ProbeRequest:  # type: ignore[no-untyped-def]
    return compile_request(policies)


def test_every_shipped_image_has_an_expectation() -> None:
    assert set(shipped_images()) - {"win10-no-operator"} == set(EXPECTED_FAILURES)


@pytest.mark.parametrize("name", sorted(EXPECTED_FAILURES))
def test_image_fails_exactly_its_requirements(name: str, policies, request_: ProbeRequest) -> None:  # type: ignore[no-untyped-def]
    image = instantiate(name, now=NOW)
    response, work = execute(image, request_)
    gateway_cert = str(load_spec(name).vars["gateway_cert"])
    evaluation = evaluate_host(
        policies, response, host_vars={"gateway_cert": gateway_cert}, now=NOW
    )
    assert evaluation.operator is not None and evaluation.operator.user == "TRADE\\交易员01"
    requirement = {check.id: check.requirement for policy in policies for check in policy.checks}
    failed = {
        f.requirement or requirement[f.check_id]
        for f in evaluation.findings
        if f.status.value == "fail"
    }
    others = {
        (f.check_id, f.status.value)
        for f in evaluation.findings
        if f.status.value not in ("pass", "fail", "not_applicable")
    }
    assert failed == EXPECTED_FAILURES[name]
    assert others == set()
    if name != "win10-portal-unreachable":
        assert response.elapsed_ms < 1000, work.summary()


def test_no_operator_means_user_checks_are_not_evaluated(policies, request_: ProbeRequest) -> None:  # type: ignore[no-untyped-def]
    response, _ = execute(instantiate("win10-no-operator", now=NOW), request_)
    evaluation = evaluate_host(
        policies, response, host_vars={"gateway_cert": "F00504Y0007#0"}, now=NOW
    )
    statuses = {f.status.value for f in evaluation.findings}
    assert evaluation.operator is None
    assert "not_evaluated" in statuses and "fail" not in statuses
