"""Click's own usage errors in the user's language.

Click writes "Usage: …", "Try 'fleetcheck scan -h' for help." and "Error: No
such option: --x" in English. In Chinese mode (the default) the root group
(:class:`fleetcheck.cli.FleetcheckGroup`) re-raises every :class:`click.UsageError`
as a :class:`LocalizedUsageError`, which shows the same three parts in Chinese;
exit code 2 as before. English mode prints exactly what Click prints.

Click's messages are translated by pattern (:data:`PATTERNS`): the option
names and values in them are the user's own and stay as they are; a message
no pattern knows is shown as Click wrote it, under the Chinese labels.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence
from typing import IO, Any

import click
from click.exceptions import NoArgsIsHelpError

from fleetcheck.i18n import Lang

__all__ = ["PATTERNS", "LocalizedUsageError", "lang_from_args", "translate_click_message"]

#: (Click's English, Chinese) — applied in order to each line of the message; ``\1``… keep the user's words.
PATTERNS: tuple[tuple[str, str], ...] = (
    (r"^No such option: (\S+)", r"没有这个选项：\1"),
    (r"^No such option '(.+?)'\.", r"没有这个选项 '\1'。"),
    (r"^No such command '(.+?)'\.", r"没有这个命令 '\1'。"),
    (r"^Missing command\.", "缺少命令。"),
    (r"^Missing argument (.+)\.$", r"缺少参数 \1。"),
    (r"^Missing option (.+)\.$", r"缺少选项 \1。"),
    (r"^Missing parameter: (.+)", r"缺少参数：\1"),
    (r"^Option (.+?) requires an argument\.", r"选项 \1 需要一个值。"),
    (r"^Option (.+?) requires (\d+) arguments\.", r"选项 \1 需要 \2 个值。"),
    (r"^Option (.+?) does not take a value\.", r"选项 \1 不接受值。"),
    (r"^Got unexpected extra arguments? \((.*)\)", r"多余的参数（\1）"),
    (r"^Invalid value for (.+?): ", r"\1 的值无效："),
    (r"^Invalid value: ", "值无效："),
    (r"\(Did you mean one of: (.+?)\?\)", r"（是否想用以下之一：\1？）"),
    (r"\(Did you mean (.+?)\?\)", r"（是否想用 \1？）"),
    (r"[Dd]id you mean (.+?)\?", r"是否想用 \1？"),
    (r"\(Possible options: (.+)\)", r"（可能的选项：\1）"),
    # The value part of "Invalid value for …": the types' own messages.
    (r"(.+?) is not in the range (.+?)\.$", r"\1 不在范围 \2 内。"),
    (r"(.+?) is not a valid integer( range)?\.$", r"\1 不是有效的整数。"),
    (r"(.+?) is not a valid float( range)?\.$", r"\1 不是有效的数字。"),
    (r"(.+?) is not a valid boolean\.$", r"\1 不是有效的布尔值。"),
    (r"(.+?) is not one of (.+?)\.$", r"\1 不是 \2 之一。"),
    (r"(.+?) is not (.+?)\.$", r"\1 不是 \2。"),
    (r"(?:File|Directory|Path) (.+?) does not exist\.$", r"\1 不存在。"),
    (r"(?:File|Directory|Path) (.+?) is a directory\.$", r"\1 是目录。"),
    (r"(?:File|Directory|Path) (.+?) is a file\.$", r"\1 是文件。"),
    (r"(?:File|Directory|Path) (.+?) is not readable\.$", r"\1 不可读。"),
    (r"(?:File|Directory|Path) (.+?) is not writable\.$", r"\1 不可写。"),
    (r"'(.+?)' is not a valid ISO 8601 time", r"'\1' 不是有效的 ISO 8601 时间"),
)
_COMPILED = tuple((re.compile(pattern), chinese) for pattern, chinese in PATTERNS)


def translate_click_message(message: str) -> str:
    """One of Click's English messages in Chinese; unknown parts stay as Click wrote them."""
    lines = []
    for line in message.splitlines() or [""]:
        out = line
        for pattern, chinese in _COMPILED:
            out = pattern.sub(chinese, out)
        lines.append(out.replace("。 （", "。（"))
    return "\n".join(lines)


def lang_from_args(args: Sequence[str]) -> Lang:
    """The language ``--lang``/``FLEETCHECK_LANG`` asks for, read before Click parsed anything."""
    chosen = os.environ.get("FLEETCHECK_LANG", "zh")
    words = list(args)
    for index, word in enumerate(words):
        if word == "--":
            break
        if word == "--lang" and index + 1 < len(words):
            chosen = words[index + 1]
        elif word.startswith("--lang="):
            chosen = word.split("=", 1)[1]
    return "en" if chosen == "en" else "zh"


class LocalizedUsageError(click.UsageError):
    """A Click usage error shown in ``lang`` (exit 2, like Click's own)."""

    def __init__(self, original: click.UsageError, lang: Lang) -> None:
        super().__init__(original.format_message(), original.ctx)
        self.original = original
        self.lang = lang  # exit code: UsageError's 2, like Click's own

    def show(self, file: IO[Any] | None = None) -> None:
        if self.lang == "en" or isinstance(self.original, NoArgsIsHelpError):
            self.original.show(file)  # a group run without a command shows its help, like Click
            return
        file = file or sys.stderr
        ctx = self.ctx
        color = ctx.color if ctx is not None else None
        if ctx is not None:
            usage = re.sub(r"^Usage: ?", "用法：", ctx.get_usage())
            hint = ""
            if ctx.command.get_help_option(ctx) is not None:
                names = ctx.command.get_help_option_names(ctx)
                hint = f"用 '{ctx.command_path} {max(names, key=len)}' 查看帮助。\n"
            click.echo(f"{usage}\n{hint}", file=file, color=color)
        click.echo(f"错误：{translate_click_message(self.original.format_message())}", file=file, color=color)
