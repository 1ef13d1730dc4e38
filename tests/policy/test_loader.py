"""Loading valid policies and waivers, cross-file checks, the model's own guarantees."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from fleetcheck.policy.loader import (
    PolicyError,
    WaiverError,
    load_policies,
    load_policy,
    load_policy_text,
    load_waivers,
    shipped_policy_paths,
)
from fleetcheck.policy.models import Policy, policy_model
from fleetcheck.templating import TemplateError, render

from .conftest import DATA

FIXTURE = DATA / "fixture-policy.yaml"


def test_fixture_policy_loads_with_typed_checks() -> None:
    policy = load_policy(FIXTURE)
    assert isinstance(policy, Policy)
    assert policy.id == "fixture-policy"
    assert policy.title.en == "Fixture policy" and policy.title.zh == "测试策略"
    assert [c.id for c in policy.checks] == [
        "portal-trusted-site",
        "certenroll-control",
        "jitvctkex-control",
    ]
    ctl = policy.check("certenroll-control")
    assert ctl is not None and ctl.type == "fixture_control"
    assert ctl.version.matches("2.0.4.8") and not ctl.version.matches("2.0.4.9")  # type: ignore[attr-defined]
    assert ctl.owner == "{{ host.gateway_cert }}"  # type: ignore[attr-defined]
    assert ctl.when is not None and ctl.when.os_family == ["win7", "win10", "win11"]
    # a plain string title is accepted for both languages
    third = policy.check("jitvctkex-control")
    assert third is not None and third.title.zh == third.title.en == "JITVCTKEx Class"
    assert policy.vars == {"gateway_cert": "F00504Y0007#0"}


def test_policy_model_validate_uses_registry() -> None:
    data = {
        "id": "p",
        "title": "t",
        "version": 1,
        "checks": [
            {
                "id": "c",
                "title": "t",
                "type": "fixture_control",
                "clsid": "{33bbbfd1-0a97-4339-9032-f68f19cb3030}",
            }
        ],
    }
    policy = Policy.model_validate(data)
    assert type(policy) is policy_model()
    assert policy.checks[0].clsid == "{33BBBFD1-0A97-4339-9032-F68F19CB3030}"  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="duplicate check id 'c'"):
        Policy.model_validate({**data, "checks": data["checks"] * 2})  # type: ignore[operator]


def test_policy_is_frozen() -> None:
    policy = load_policy(FIXTURE)
    with pytest.raises(ValueError):
        policy.id = "other"  # type: ignore[misc]


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_load_policies_reports_all_files_and_duplicate_policy_ids(tmp_path: Path) -> None:
    good = _write(tmp_path / "a.yaml", "id: same\ntitle: a\nversion: 1\nchecks: []\n")
    _write(tmp_path / "b.yaml", "# copy\nid: same\ntitle: b\nversion: 1\n")
    _write(tmp_path / "c.yml", "id: broken\ntitle: c\nversion: x\n")
    (tmp_path / "notes.txt").write_text("not a policy", encoding="utf-8")
    with pytest.raises(PolicyError) as info:
        load_policies([tmp_path, tmp_path / "missing.yaml"])
    got = {(Path(i.file).name, i.line, i.col): i.message.en for i in info.value.issues}
    assert "policy id 'same' is already used by " + f"{good}:1" in got[("b.yaml", 2, 5)]
    assert got[("c.yml", 3, 10)] == "'x' is not a whole number"
    assert got[("missing.yaml", None, None)] == "file not found"
    assert len(got) == 3
    assert [p.id for p in load_policies([good])] == ["same"]


def test_directory_without_policies_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError) as info:
        load_policies([tmp_path])
    assert "no .yaml policy files" in info.value.format("en")


def test_non_utf8_file_is_a_clear_issue(tmp_path: Path) -> None:
    path = tmp_path / "gbk.yaml"
    path.write_bytes("id: gbk\ntitle: 深证通\n".encode("gbk"))
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    (issue,) = info.value.issues
    assert issue.line == 2 and "not UTF-8" in issue.message.en


def test_text_loader_names_the_source() -> None:
    with pytest.raises(PolicyError) as info:
        load_policy_text("id: x\ntitle: t\nversion: 1\nchecks: 5\n", "inline.yaml")
    (issue,) = info.value.issues
    assert (issue.file, issue.line, issue.col) == ("inline.yaml", 4, 9)
    assert issue.message.en == "expected a list here, not a number"


def test_anchors_and_aliases_are_accepted() -> None:
    text = """
id: anchors
title: t
version: 1
checks:
  - &base
    id: one
    title: t
    type: fixture_control
    clsid: "{33BBBFD1-0A97-4339-9032-F68F19CB3030}"
  - <<: *base
    id: two
"""
    policy = load_policy_text(text)
    assert [c.id for c in policy.checks] == ["one", "two"]


def test_shipped_policies_load_cleanly() -> None:
    paths = shipped_policy_paths()
    # The SCCC pack ships; an empty list would mean the packaging lost it, not "nothing to test".
    assert any(p.name == "sccc-gateway-cert.yaml" for p in paths), paths
    policies = load_policies(paths)
    assert policies and all(p.checks for p in policies)


# --------------------------------------------------------------------------- templates


def test_render_uses_host_vars() -> None:
    assert render("{{ host.gateway_cert }}", {"gateway_cert": "F00504Y0007#0"}) == "F00504Y0007#0"
    assert render("plain {text}", {}) == "plain {text}"


def test_render_missing_variable_and_sandbox() -> None:
    with pytest.raises(TemplateError) as info:
        render("{{ host.gateway_cert }}", {})
    assert info.value.variable == "host.gateway_cert"
    assert "not defined" in info.value.message.en
    with pytest.raises(TemplateError):
        render("{{ host.__class__.__mro__ }}", {})


# --------------------------------------------------------------------------- waivers

WAIVERS = """\
waivers:
  - check: certenroll-control
    hosts: [PC-SZ-014]
    reason: 该机只做查询
    approver: 张三
    expires: 2026-12-31
  - check: fixture-policy/portal-trusted-site
    groups: [shenzhen]
    reason: 分支机构使用组策略
    approver: 李四
    expires: 2027-01-15
"""


def test_waivers_load_and_apply(tmp_path: Path) -> None:
    path = _write(tmp_path / "waivers.yaml", WAIVERS)
    waivers = load_waivers(path, [load_policy(FIXTURE)])
    assert len(waivers) == 2
    first = waivers[0]
    assert first.expires == date(2026, 12, 31)
    assert first.applies("fixture-policy", "certenroll-control", "PC-SZ-014", [], date(2026, 12, 31))
    assert not first.applies("fixture-policy", "certenroll-control", "PC-SZ-014", [], date(2027, 1, 1))
    assert waivers[1].applies("fixture-policy", "portal-trusted-site", "PC-X", ["shenzhen"], date(2026, 1, 1))


def test_waiver_problems_are_positioned(tmp_path: Path) -> None:
    text = """\
waivers:
  - check: certenrol-control
    hosts: [PC-SZ-014]
    reason: r
    approver: a
    expires: 2026-12-31
  - check: portal-trusted-site
    reason: ""
    approver: a
    expires: someday
    colour: red
"""
    path = _write(tmp_path / "waivers.yaml", text)
    with pytest.raises(WaiverError) as info:
        load_waivers(path, [load_policy(FIXTURE)])
    got = {(i.line, i.col): i.message.en for i in info.value.issues}
    assert "waiver names unknown check 'certenrol-control'" in got[(2, 12)]
    assert "certenroll-control" in got[(2, 12)]  # the close match is suggested
    assert got[(8, 13)] == "must not be empty"
    assert got[(10, 14)].startswith("'someday' is not a date")
    assert got[(11, 5)].startswith("unknown key 'colour'")
    assert len(got) == 4
    # without policies the check name is not judged
    text2 = text.replace('reason: ""', "reason: ok").replace("someday", "2026-01-01")
    text2 = text2.replace("    colour: red\n", "    groups: [g]\n")
    waivers = load_waivers(_write(tmp_path / "w2.yaml", text2))
    assert [w.check for w in waivers] == ["certenrol-control", "portal-trusted-site"]


def test_waiver_without_targets(tmp_path: Path) -> None:
    text = "waivers:\n  - check: x\n    reason: r\n    approver: a\n    expires: 2026-12-31\n"
    with pytest.raises(WaiverError) as info:
        load_waivers(_write(tmp_path / "w.yaml", text))
    (issue,) = info.value.issues
    assert (issue.line, issue.col) == (2, 5)
    assert "needs 'hosts' or 'groups'" in issue.message.en


def test_file_named_twice_is_read_once() -> None:
    policies = load_policies([DATA, FIXTURE])
    assert [p.id for p in policies] == ["fixture-policy"]
