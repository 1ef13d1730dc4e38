"""YAML syntax errors speak the user's language (issue 19: ruamel's English in Chinese mode).

The common ruamel problems become plain bilingual messages at their
position; an unknown problem keeps ruamel's own text, still positioned.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from fleetcheck.yamlfile import parse_text, syntax_message

# (YAML, line, col, words of the English message, words of the Chinese one)
SYNTAX = {
    "tab": ("a:\n\tb: 1\n", 2, 1, "indent YAML with spaces, never tabs", "不能用 Tab"),
    "mapping-values": ("title: a: b\n", 1, 9, 'quote values that contain a colon', "请加引号"),
    "document-start": ("'a' b\n", 1, 5, "more content after a complete value", "顶层已经是一个完整的值"),
    "block-end": ("a:\n  b: 1\n c: 2\n", 3, 2, "wrong indentation", "缩进不对"),
    "unclosed-bracket": ("a: [1, 2\n", 2, 1, "an unclosed '['", "'[' 没有闭合"),
    "unclosed-quote": ('a: "abc\n', 2, 1, "an unclosed quote", "引号没有闭合"),
    "undefined-alias": ("a: *x\n", 1, 4, "the alias *x is not defined", "别名 *x 没有定义"),
    "bad-start-char": ("a: @x\n", 1, 4, "the character '@' cannot start a value", "字符 '@' 不能作为值的开头"),
    "bad-escape": ('a: "\\q"\n', 1, 6, "unknown escape '\\q'", "未知的转义 '\\q'"),
    "two-documents": ("a: 1\n---\nb: 2\n", 2, 1, "a single YAML document", "只能包含一个 YAML 文档"),
    "missing-colon": ("a: b\nc\nd: e\n", 3, 1, "expected ':'", "缺少 ':'"),
}


@pytest.mark.parametrize("name", sorted(SYNTAX))
def test_common_syntax_errors_are_plain_in_both_languages(name: str) -> None:
    text, line, col, en, zh = SYNTAX[name]
    doc = parse_text(text, "f.yaml")
    assert not doc.loaded
    [issue] = doc.issues
    assert (issue.line, issue.col) == (line, col)
    assert issue.message.en.startswith("YAML syntax error: ") and en in issue.message.en
    assert issue.message.zh.startswith("YAML 语法错误：") and zh in issue.message.zh
    # ruamel's own English stays out of the Chinese message
    for phrase in ("while parsing", "while scanning", "expected", "found", "mapping values", "cannot start any token"):
        assert phrase not in issue.message.zh, issue.message.zh
    assert issue.format("zh").startswith(f"f.yaml:{line}:{col}: YAML 语法错误：")


def test_an_unknown_problem_keeps_ruamels_text_in_both_languages() -> None:
    message = syntax_message("while doing something new", "found a brand-new problem")
    assert message.en == "YAML syntax error: while doing something new found a brand-new problem"
    assert message.zh == "YAML 语法错误：while doing something new found a brand-new problem"


def test_policy_lint_in_chinese_shows_the_chinese_syntax_message(tmp_path: Path) -> None:
    from fleetcheck.cli import main

    path = tmp_path / "p.yaml"
    path.write_text("id: x\ntitle: t\nchecks:\n\t- id: a\n", encoding="utf-8")
    for lang, words in (("zh", "这里有 Tab 字符"), ("en", "a tab character here")):
        result = CliRunner().invoke(main, ["--lang", lang, "policy", "lint", str(path)])
        assert result.exit_code == 2, result.output
        assert "p.yaml:4:1: " in result.output and words in result.output, result.output
        if lang == "zh":
            assert "cannot start any token" not in result.output


def test_a_long_leading_comment_keeps_every_position() -> None:
    """Leading comment lines are emptied before ruamel scans them (it walks them one character at a
    time); the lines stay, so an error below is still reported at its own line and column."""
    text = "# " + "x" * 200_000 + "\n# second\n\nall:\n  hosts: [a\n"
    doc = parse_text(text, "inv.yaml")
    (issue,) = doc.issues
    assert issue.file == "inv.yaml" and issue.line is not None and issue.line >= 5
    good = parse_text("# title\nall: {hosts: {PC-1: {}}}\n", "ok.yaml")
    assert good.issues == [] and good.data["all"]["hosts"] == {"PC-1": {}}
