"""Chinese mode (issue 19): lint's list of choices, evaluate's severity and observed values follow --lang."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "checks"))

from case_facts import build_facts

from fleetcheck.cli import main
from fleetcheck.commands.tables import observed_text
from fleetcheck.evaluate import compile_request
from fleetcheck.policy.loader import load_policy_text

NOW = dt.datetime(2025, 6, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))

POLICY = """\
version: 1
id: lang-test
title: {zh: 语言测试, en: language test}
checks:
  - id: wanted-value
    type: registry_value
    severity: high
    title: {zh: "需要的值 [bold]x[/bold]", en: "wanted value [bold]x[/bold]"}
    hive: HKLM
    path: SOFTWARE\\\\fleetcheck-lang-test
    name: Wanted
    equals: 1
"""


def _lint_bad_severity(tmp_path: Path, lang: str) -> str:
    path = tmp_path / "bad.yaml"
    path.write_text(POLICY.replace("severity: high", "severity: urgent"), encoding="utf-8")
    result = CliRunner().invoke(main, ["--lang", lang, "policy", "lint", str(path)])
    assert result.exit_code == 2, result.output
    return result.output


def test_lint_lists_the_allowed_severities_in_chinese(tmp_path: Path) -> None:
    chinese = _lint_bad_severity(tmp_path, "zh")
    assert "'urgent' 不是允许的值（可选：critical、high、medium、low、info）" in chinese
    assert " or " not in chinese
    english = _lint_bad_severity(tmp_path, "en")
    assert "'urgent' is not allowed here (choose from: critical, high, medium, low or info)" in english


@pytest.fixture
def absent_facts(tmp_path: Path) -> tuple[Path, Path]:
    policy_path = tmp_path / "p.yaml"
    policy_path.write_text(POLICY, encoding="utf-8")
    facts = build_facts(compile_request([load_policy_text(POLICY)]), None, NOW)
    facts_path = tmp_path / "facts.json"
    facts_path.write_text(facts.model_dump_json(), encoding="utf-8")
    return policy_path, facts_path


@pytest.mark.parametrize(("lang", "severity", "absent", "other"), [("zh", "高", "不存在", "absent"),
                                                                   ("en", "high", "absent", "不存在")])
def test_evaluate_shows_severity_and_absent_in_the_chosen_language(
        absent_facts: tuple[Path, Path], lang: str, severity: str, absent: str, other: str) -> None:
    policy_path, facts_path = absent_facts
    result = CliRunner().invoke(main, ["--lang", lang, "evaluate", "--facts", str(facts_path),
                                       "-p", str(policy_path), "--now", "2025-06-01T10:00:00+08:00"])
    assert result.exit_code == 1, result.output
    row = next(line for line in result.output.splitlines() if "[bold]x[/bold]" in line)  # markup shown as text
    cells = [c.strip() for c in row.split("│")]
    assert severity in cells and absent in cells
    assert other not in result.output


def test_observed_text_splits_the_bilingual_markers() -> None:
    assert observed_text("不存在 absent", "en") == "absent"
    assert observed_text("Wanted 不存在 absent", "zh") == "Wanted 不存在"
    assert observed_text("(不存在 absent)", "en") == "(absent)"
    assert observed_text("未安装（可选）not installed (optional)", "zh") == "未安装（可选）"
    assert observed_text(None, "en") == ""
    assert observed_text("3 (DWORD)", "zh") == "3 (DWORD)"


def test_an_unreadable_facts_file_is_said_without_python_s_repr(tmp_path: Path) -> None:
    missing = tmp_path / "none.json"
    chinese = CliRunner().invoke(main, ["evaluate", "--facts", str(missing)])
    assert chinese.exit_code == 2
    assert chinese.stderr.strip() == f"无法读取事实文件 {missing}（No such file or directory）"
    binary = tmp_path / "bin.json"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    english = CliRunner().invoke(main, ["--lang", "en", "evaluate", "--facts", str(binary)])
    assert english.exit_code == 2
    assert english.stderr.strip() == f"cannot read the facts file {binary}: not UTF-8 text"


def test_a_bad_image_is_explained_in_the_chosen_language(tmp_path: Path) -> None:
    image = tmp_path / "bad-image.yaml"
    image.write_text("os: {build: many}\n", encoding="utf-8")
    out = tmp_path / "x.reg"
    chinese = CliRunner().invoke(main, ["sim", "image", "to-reg", str(image), "--out", str(out)])
    assert chinese.exit_code == 2
    assert chinese.stderr.startswith("镜像有误：") and f"{image}:1:13: 'many' 不是整数" in chinese.stderr
    assert "whole number" not in chinese.stderr and "missing required" not in chinese.stderr
    english = CliRunner().invoke(main, ["--lang", "en", "sim", "image", "to-reg", str(image), "--out", str(out)])
    assert english.exit_code == 2 and f"{image}:1:13: 'many' is not a whole number" in english.stderr
    assert not out.exists()
