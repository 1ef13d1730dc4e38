"""Templates run within budgets (issue 13 finding 4).

``{% for i in range(99999999) %}`` turned every host into "not probed" and
``'a' * 5e9``-style expressions took gigabytes; now every breach is a
TemplateError — an error finding of the checks using that template, the
host's other checks evaluated — and ``policy lint`` renders each template
against the inventory's or a representative variable set.
"""

from __future__ import annotations

import datetime as dt
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "checks"))

from case_facts import build_facts, compliant_host

from fleetcheck.cli import main
from fleetcheck.evaluate import compile_request, evaluate_host
from fleetcheck.findings import FindingStatus
from fleetcheck.policy.loader import load_policy, load_policy_text
from fleetcheck.resources import policies_dir
from fleetcheck.templating import TemplateError, render, render_problem

NOW = dt.datetime(2025, 6, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))

EXPLOSIVE = {
    "range": "{% for i in range(99999999) %}x{% endfor %}",
    "repeat": "{{ 'a' * 5000000000 }}",
    "nested-loops": "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
    "power": "{{ 9 ** 99999999 }}",
    "percent-width": "{{ '%999999999s' % 'a' }}",
    "star-width": "{{ '%*s' % (999999999, 'a') }}",
    "brace-width": "{{ '{:999999999}'.format(1) }}",
    "nested-brace-width": "{{ '{:{}}'.format(1, 999999999) }}",
    "center-filter": "{{ 'a'|center(999999999) }}",
    "ljust-method": "{{ 'a'.ljust(999999999) }}",
    "replace": "{{ ('a' * 100000).replace('a', 'aaaaa') }}",
    "join": "{{ (['a' * 100000] * 100000)|join }}",
    "doubling": "{% set ns = namespace(x='ab') %}{% for i in range(60) %}{% set ns.x = ns.x ~ ns.x %}{% endfor %}",
    "recursion": "{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}",
    "fork-bomb": "{% macro f(n) %}{{ f(n) }}{{ f(n) }}{% endmacro %}{{ f(1) }}",
    "indent": "{{ ('x' * 100000)|indent(100000) }}",
    "mutation": "{{ [].append(1) }}",
    "lipsum": "{{ lipsum(100000) }}",
    "overflow": "{{ 10.0 ** 400 }}",
    "division": "{{ 1 / 0 }}",
}


@pytest.mark.parametrize("name", sorted(EXPLOSIVE))
def test_every_breach_is_a_template_error_within_budget(name: str) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(TemplateError) as caught:
            render(EXPLOSIVE[name], {"cn": "PC-1"})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 100 * 1024 * 1024, f"{name} peaked at {peak / 1e6:.0f} MB"
    assert caught.value.message.zh and caught.value.message.en


def test_ordinary_templates_still_render() -> None:
    variables = {"gateway_cert": "F00504Y0007#0", "ports": [1, 2]}
    assert render("{{ host.gateway_cert }}", variables) == "F00504Y0007#0"
    assert render("{{ host.gateway_cert|lower ~ '-' ~ 'x' * 3 }}", variables) == "f00504y0007#0-xxx"
    assert render("{% for p in host.ports %}{{ loop.index }}:{{ p }} {% endfor %}", variables) == "1:1 2:2 "
    assert render("{{ '%05d'|format(42) }} {{ '{}-{}'.format('a', 1) }}", variables) == "00042 a-1"
    assert render("{{ range(5)|join(',') }}", variables) == "0,1,2,3,4"


def _policy_with(template: str) -> Any:
    text = (policies_dir() / "sccc-gateway-cert.yaml").read_text(encoding="utf-8")
    assert text.count('cn: "{{ host.gateway_cert }}"') >= 1
    return load_policy_text(text.replace('cn: "{{ host.gateway_cert }}"', f"cn: {template!r}", 1), "p.yaml")


def test_breach_is_an_error_finding_only_for_the_checks_using_the_template() -> None:
    good = load_policy(policies_dir() / "sccc-gateway-cert.yaml")
    policy = _policy_with(EXPLOSIVE["range"])
    facts = build_facts(compile_request([good]), compliant_host(), NOW)
    result = evaluate_host([policy], facts, host_vars={"gateway_cert": "F00504Y0007#0"}, now=NOW)
    broken = next(f for f in result.findings if f.check_id == "gateway-cert-present")
    assert broken.status is FindingStatus.error
    assert "range of length over 10,000" in broken.message.en
    others = [f for f in result.findings if f.check_id != "gateway-cert-present"]
    assert others and any(f.status is FindingStatus.passed for f in others)


def test_render_problem_uses_a_representative_set_without_variables() -> None:
    assert render_problem("{{ host.gateway_cert }}") is None
    problem = render_problem(EXPLOSIVE["repeat"])
    assert problem is not None and "a result of length" in problem.en
    undefined = render_problem("{{ host.gateway_cert }}", {})
    assert undefined is not None and "host.gateway_cert" in undefined.en


POLICY = """\
id: t1
title: t
version: 1
checks:
  - id: c1
    title: c
    type: certificate
    cn: "{% for i in range(99999999) %}x{% endfor %}"
    kind: any
  - id: c2
    title: c
    type: certificate
    cn: "{{ host.gateway_cert }}"
    kind: any
"""


def test_policy_lint_renders_templates(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(POLICY, encoding="utf-8")
    result = CliRunner().invoke(main, ["--lang", "en", "policy", "lint", str(policy)])
    assert result.exit_code == 2, result.output
    assert "p.yaml:8:9: template" in result.output
    assert "range of length over 10,000" in result.output
    assert "p.yaml:13" not in result.output  # the representative set defines every host.*


def test_policy_lint_with_inventory_names_the_host_lacking_a_variable(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text(POLICY, encoding="utf-8")
    inventory = tmp_path / "inv.yaml"
    inventory.write_text(
        "all:\n  hosts:\n    PC-1: {ansible_host: 127.0.0.1, gateway_cert: 'A#0',"
        " ansible_password: {env: FC_LINT_UNSET_VAR}}\n    PC-2: {ansible_host: 127.0.0.2}\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(main, ["--lang", "en", "policy", "lint", str(policy), "-i", str(inventory)])
    assert result.exit_code == 2, result.output
    assert "p.yaml:8:9: host PC-1: template" in result.output
    assert "p.yaml:13:9: host PC-2: template {{ host.gateway_cert }} uses host.gateway_cert" in result.output


def test_policy_lint_of_the_shipped_pack_is_clean() -> None:
    result = CliRunner().invoke(main, ["--lang", "en", "policy", "lint", str(policies_dir())])
    assert result.exit_code == 0, result.output


def test_a_template_that_keeps_timing_out_is_not_rendered_again(monkeypatch: pytest.MonkeyPatch) -> None:
    from fleetcheck import templating

    slow = "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}{{ 'only-this-test' }}"
    for _ in range(3):
        with pytest.raises(TemplateError) as caught:
            render(slow, {})
        assert "rendering took longer than 1 s" in caught.value.message.en

    def no_compile(source: str) -> None:
        raise AssertionError("rendered again")

    monkeypatch.setattr(templating, "_compile", no_compile)  # refused at once, not after another second
    with pytest.raises(TemplateError) as caught:
        render(slow, {})
    assert "not rendered again" in caught.value.message.en


def test_evaluate_facts_shows_the_breach_as_an_error_finding_not_a_traceback(tmp_path: Path) -> None:
    import json

    good = load_policy(policies_dir() / "sccc-gateway-cert.yaml")
    facts = build_facts(compile_request([good]), compliant_host(), NOW)
    facts_path = tmp_path / "facts.json"
    facts_path.write_text(facts.model_dump_json(), encoding="utf-8")
    text = (policies_dir() / "sccc-gateway-cert.yaml").read_text(encoding="utf-8")
    policy = tmp_path / "p.yaml"
    policy.write_text(text.replace('cn: "{{ host.gateway_cert }}"', f"cn: {EXPLOSIVE['range']!r}", 1), encoding="utf-8")
    result = CliRunner().invoke(main, [
        "--lang", "en", "evaluate", "--facts", str(facts_path), "--policy", str(policy),
        "--now", "2025-06-01T10:00:00+08:00", "--format", "json",
    ])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    doc = json.loads(result.output)
    by_id = {f["check_id"]: f for f in doc["findings"]}
    assert by_id["gateway-cert-present"]["status"] == "error"
    assert "range of length over 10,000" in json.dumps(by_id["gateway-cert-present"], ensure_ascii=False)


def test_representative_set_reports_only_budget_breaches() -> None:
    # sample texts do not fit arithmetic; with real variables the same template is checked fully
    assert render_problem("{{ host.port + 1 }}") is None
    problem = render_problem("{{ host.port + 1 }}", {"port": "x"})
    assert problem is not None and "cannot be rendered" in problem.en
    assert render_problem("{{ host.port + 1 }}", {"port": 5985}) is None
