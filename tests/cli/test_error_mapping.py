"""Errors become messages and exit codes in one place (fleetcheck.cli.FleetcheckGroup); Click's usage errors speak Chinese too."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from fleetcheck.cli import main
from fleetcheck.commands.usage import lang_from_args, translate_click_message
from fleetcheck.errors import EXIT_UNREACHABLE, FleetcheckError
from fleetcheck.i18n import T


class _Unreachable(FleetcheckError):
    exit_code = EXIT_UNREACHABLE


@pytest.fixture
def boom() -> Iterator[None]:
    """A throw-away command (and one in a subgroup) that raise a FleetcheckError deep inside."""

    def fail_deep() -> None:
        raise _Unreachable(T("主机 PC-1 无法连接（密码已隐藏）", "host PC-1 cannot be reached (password withheld)"))

    @click.command("boom")
    def boom_cmd() -> None:
        fail_deep()

    @click.group("nest")
    def nest() -> None:
        pass

    @nest.command("inner")
    def inner() -> None:
        raise FleetcheckError(T("内层错误", "inner error"))

    main.add_command(boom_cmd)
    main.add_command(nest)
    try:
        yield
    finally:
        main.commands.pop("boom")
        main.commands.pop("nest")


@pytest.mark.parametrize(("lang", "expected"), [("zh", "主机 PC-1 无法连接（密码已隐藏）"),
                                                ("en", "host PC-1 cannot be reached (password withheld)")])
def test_a_fleetcheck_error_exits_with_its_code_in_the_chosen_language(boom: None, lang: str, expected: str) -> None:
    result = CliRunner().invoke(main, prog_name="fleetcheck", args=["--lang", lang, "boom"])
    assert result.exit_code == EXIT_UNREACHABLE
    assert result.stderr.strip() == expected
    assert result.stdout == ""
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_the_default_language_is_chinese_and_subgroups_map_too(boom: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLEETCHECK_LANG", raising=False)
    result = CliRunner().invoke(main, prog_name="fleetcheck", args=["nest", "inner"])
    assert result.exit_code == 2 and result.stderr.strip() == "内层错误"


@pytest.mark.parametrize(("args", "zh", "en"), [
    (["scan", "--zzz"], "错误：没有这个选项 '--zzz'。", "Error: No such option '--zzz'."),
    (["scan"], "错误：缺少选项 '-i' / '--inventory'。", "Error: Missing option '-i' / '--inventory'."),
    (["diff", "a"], "错误：缺少参数 'RUN_B'。", "Error: Missing argument 'RUN_B'."),
    (["diff", "a", "b", "c"], "错误：多余的参数（c）", "Error: Got unexpected extra argument (c)"),
    (["nosuch"], "错误：没有这个命令 'nosuch'。", "Error: No such command 'nosuch'."),
    (["scan", "-i", "x", "--forks", "0"], "错误：'--forks' 的值无效：0 不在范围 1<=x<=1000 内。",
     "Error: Invalid value for '--forks': 0 is not in the range 1<=x<=1000."),
    (["scan", "-i", "x", "--format", "xml"], "错误：'--format' 的值无效：'xml' 不是 'table', 'json' 之一。",
     "Error: Invalid value for '--format': 'xml' is not one of 'table', 'json'."),
    (["policy", "lint"], "错误：缺少参数 'PATHS...'。", "Error: Missing argument 'PATHS...'."),
])
def test_click_usage_errors_in_both_languages(args: list[str], zh: str, en: str) -> None:
    chinese = CliRunner().invoke(main, prog_name="fleetcheck", args=["--lang", "zh", *args])
    english = CliRunner().invoke(main, prog_name="fleetcheck", args=["--lang", "en", *args])
    assert chinese.exit_code == english.exit_code == 2
    command = " ".join(["fleetcheck", *[a for a in args[:2] if a in ("scan", "diff", "policy", "lint")]])
    assert chinese.stderr.splitlines()[0].startswith(f"用法：{command}")
    assert f"用 '{command} --help' 查看帮助。" in chinese.stderr
    assert chinese.stderr.rstrip().splitlines()[-1] == zh
    assert "Usage:" not in chinese.stderr and "Error:" not in chinese.stderr and "Try '" not in chinese.stderr
    assert english.stderr.splitlines()[0].startswith(f"Usage: {command}")
    assert english.stderr.rstrip().splitlines()[-1] == en


def test_an_option_of_the_root_fails_in_the_language_its_arguments_ask_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLEETCHECK_LANG", raising=False)
    chinese = CliRunner().invoke(main, prog_name="fleetcheck", args=["--zzz"])
    english = CliRunner().invoke(main, prog_name="fleetcheck", args=["--lang", "en", "--zzz"])
    assert chinese.exit_code == english.exit_code == 2
    assert chinese.stderr.rstrip().splitlines()[-1] == "错误：没有这个选项 '--zzz'。"
    assert english.stderr.rstrip().splitlines()[-1] == "Error: No such option '--zzz'."


def test_a_suggestion_is_translated() -> None:
    result = CliRunner().invoke(main, prog_name="fleetcheck", args=["scan", "--limt", "x"])
    assert result.exit_code == 2
    assert "（是否想用以下之一：'--limit', '--timeout'？）" in result.stderr
    assert "Did you mean" not in result.stderr


def test_an_unknown_click_message_is_kept_as_click_wrote_it() -> None:
    assert translate_click_message("Something new from Click.") == "Something new from Click."


def test_lang_from_args_reads_the_flag_and_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLEETCHECK_LANG", "en")
    assert lang_from_args([]) == "en"
    assert lang_from_args(["--lang", "zh"]) == "zh"
    monkeypatch.delenv("FLEETCHECK_LANG")
    assert lang_from_args(["--lang=en", "scan"]) == "en"
    assert lang_from_args(["scan", "--", "--lang", "en"]) == "zh"  # after -- it is the scheduled command's


@pytest.mark.parametrize(("lang", "expected"), [("zh", "无法读取（No such file or directory）"),
                                                ("en", "cannot read (No such file or directory)")])
def test_a_library_error_reaches_the_root_without_a_catch_in_the_command(tmp_path: Path, lang: str,
                                                                        expected: str) -> None:
    """`report --results` no longer catches ResultsFileError itself: the root prints it and exits 2."""
    missing = tmp_path / "results.json"
    result = CliRunner().invoke(main, prog_name="fleetcheck", args=["--lang", lang, "report", "--results", str(missing)])
    assert result.exit_code == 2
    assert expected in result.stderr and str(missing) in result.stderr
    assert "Traceback" not in result.output and result.stdout == ""


@pytest.mark.parametrize(("lang", "expected"), [("zh", "文件不存在"), ("en", "file not found")])
def test_a_bad_inventory_reaches_the_root(tmp_path: Path, lang: str, expected: str) -> None:
    result = CliRunner().invoke(main, ["--lang", lang, "scan", "-i", str(tmp_path / "none.yaml")])
    assert result.exit_code == 2
    assert result.stderr.strip() == f"{tmp_path / 'none.yaml'}: {expected}"


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_group_without_its_command_shows_its_help(lang: str) -> None:
    result = CliRunner().invoke(main, prog_name="fleetcheck", args=["--lang", lang, "policy"])
    assert result.exit_code == 2
    assert "lint" in result.output and "explain" in result.output
    assert "错误：" not in result.output and "Error:" not in result.output
