"""``fleetcheck policy lint|explain|schema`` through click's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from fleetcheck.cli import main

from .conftest import DATA, INVALID

FIXTURE = str(DATA / "fixture-policy.yaml")


@pytest.fixture()
def runner() -> CliRunner:
    return CliRunner()


def test_lint_clean_policy_exits_0_with_summary(runner: CliRunner) -> None:
    result = runner.invoke(main, ["policy", "lint", FIXTURE])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "✓ 1 个策略文件、1 个策略、3 项检查，没有发现问题"
    result = runner.invoke(main, ["--lang", "en", "policy", "lint", str(DATA)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "✓ 1 policy file(s), 1 policies, 3 checks: no problems"


def test_lint_reports_every_issue_and_exits_2(runner: CliRunner) -> None:
    bad = str(INVALID / "unknown-key-and-bad-version.yaml")
    clsid = str(INVALID / "misprinted-clsid.yaml")
    result = runner.invoke(main, ["--lang", "en", "policy", "lint", bad, clsid, FIXTURE])
    assert result.exit_code == 2
    out = result.stdout
    assert f"{bad}:9:5: unknown key 'colour'" in out
    assert f"{bad}:10:14: '=>2.0' is not a version spec" in out
    assert f"{bad}:15:14: '2.0.4.8' is not a version spec" in out
    assert f"{clsid}:9:12: CLSID {{BOEF56AD-D711-412D-BE74-A751595F3633}} is not hexadecimal" in out
    assert "✗ 4 problem(s) found" in result.stderr
    assert "Traceback" not in result.output


def test_lint_whole_invalid_directory_exits_2_without_traceback(runner: CliRunner) -> None:
    result = runner.invoke(main, ["policy", "lint", str(INVALID)])
    assert result.exit_code == 2
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "发现" in result.stderr


def test_lint_checks_waivers_against_policies(runner: CliRunner, tmp_path: Path) -> None:
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text(
        "waivers:\n  - check: no-such-check\n    hosts: [PC1]\n    reason: r\n"
        "    approver: a\n    expires: 2099-12-31\n",
        encoding="utf-8",
    )
    result = runner.invoke(
        main, ["--lang", "en", "policy", "lint", FIXTURE, "--waivers", str(waivers)]
    )
    assert result.exit_code == 2
    assert f"{waivers}:2:12: waiver names unknown check 'no-such-check'" in result.stdout
    waivers.write_text(waivers.read_text().replace("no-such-check", "certenroll-control"))
    result = runner.invoke(
        main, ["--lang", "en", "policy", "lint", FIXTURE, "--waivers", str(waivers)]
    )
    assert result.exit_code == 0, result.output
    assert "1 waiver(s) valid" in result.output


def test_explain_in_chinese_and_english(runner: CliRunner) -> None:
    zh = runner.invoke(main, ["policy", "explain", "certenroll-control", "--policy", FIXTURE])
    assert zh.exit_code == 0, zh.output
    assert zh.output.splitlines()[0] == "certenroll-control — CertEnroll 控件版本为 2.0.4.8"
    assert r"HKLM\SOFTWARE\Classes\CLSID\{33BBBFD1-0A97-4339-9032-F68F19CB3030}\InprocServer32" in zh.output
    assert "期望值: version ==2.0.4.8" in zh.output
    assert "严重程度: 严重" in zh.output
    assert "指南章节: 一.4" in zh.output
    assert "修复方式: 手动" in zh.output
    assert "修复建议: 删除旧控件注册后重启" in zh.output
    en = runner.invoke(
        main, ["policy", "explain", "fixture-policy/certenroll-control", "--policy", FIXTURE, "--lang", "en"]
    )
    assert en.exit_code == 0, en.output
    assert en.output.splitlines()[0] == "certenroll-control — CertEnroll Control is version 2.0.4.8"
    assert "Severity: critical" in en.output
    assert "Scope: machine" in en.output
    assert "Fix mode: manual" in en.output
    assert "Applies when: os_family ∈ {win7, win10, win11}, arch ∈ {x86, x64}" in en.output


def test_explain_real_check_type(runner: CliRunner) -> None:
    result = runner.invoke(
        main, ["--lang", "en", "policy", "explain", "portal-trusted-site", "--policy", FIXTURE]
    )
    assert result.exit_code == 0, result.output
    assert "Check type: trusted_site" in result.output
    assert "Scope: user (the operator's profile)" in result.output


def test_explain_unknown_check_lists_close_matches(runner: CliRunner) -> None:
    result = runner.invoke(
        main, ["--lang", "en", "policy", "explain", "certenrol-control", "--policy", FIXTURE]
    )
    assert result.exit_code == 2
    assert "unknown check 'certenrol-control'. Close matches: certenroll-control" in result.stderr


def test_explain_with_broken_policy_exits_2(runner: CliRunner) -> None:
    result = runner.invoke(
        main, ["policy", "explain", "x", "--policy", str(INVALID / "duplicate-id.yaml")]
    )
    assert result.exit_code == 2
    assert "duplicate-id.yaml:13:9:" in result.stderr


def test_schema_is_valid_json_schema(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(main, ["policy", "schema"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert schema["$schema"].startswith("https://json-schema.org/")
    assert "fixture_control" in json.dumps(schema)
    out = tmp_path / "policy.schema.json"
    result = runner.invoke(main, ["policy", "schema", "--out", str(out)])
    assert result.exit_code == 0
    assert json.loads(out.read_text(encoding="utf-8")) == schema


def test_schema_accepts_the_fixture_policy_and_rejects_unknown_keys() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    from ruamel.yaml import YAML

    from fleetcheck.policy.schema import policy_schema

    schema = policy_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    data = YAML(typ="safe").load(Path(FIXTURE).read_text(encoding="utf-8"))
    assert list(validator.iter_errors(data)) == []
    data["checks"][0]["colour"] = "red"
    assert list(validator.iter_errors(data))


def test_validator_messages_follow_the_language(runner: CliRunner) -> None:
    # Check-type validators (CLSID, version spec, cn/cn_pattern) speak Chinese by default too,
    # not an English sentence behind a Chinese prefix.
    clsid = str(INVALID / "misprinted-clsid.yaml")
    bad = str(INVALID / "unknown-key-and-bad-version.yaml")
    zh = runner.invoke(main, ["policy", "lint", bad, clsid]).stdout
    assert "不是版本条件" in zh and "不是十六进制" in zh and "字母 O" in zh
    assert "is not a version spec" not in zh and "is not hexadecimal" not in zh
    en = runner.invoke(main, ["--lang", "en", "policy", "lint", bad, clsid]).stdout
    assert "is not a version spec" in en and "is not hexadecimal" in en and "不是" not in en
