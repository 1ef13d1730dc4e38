"""Helpers shared by the command modules: language, bilingual output, error exits."""

from __future__ import annotations

import sys
from typing import NoReturn

import click

from fleetcheck.i18n import Lang, Text, tr

EXIT_OK = 0
EXIT_NONCOMPLIANT = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3


def lang_of(ctx: click.Context | None = None) -> Lang:
    ctx = ctx or click.get_current_context(silent=True)
    while ctx is not None:
        if isinstance(ctx.obj, dict) and "lang" in ctx.obj:
            return "en" if ctx.obj["lang"] == "en" else "zh"
        ctx = ctx.parent
    return "zh"


def say(text: Text | str, *, err: bool = False) -> None:
    click.echo(tr(text, lang_of()), err=err)


def fail(text: Text | str, code: int = EXIT_USAGE) -> NoReturn:
    """Print a clear error (no traceback) and exit."""
    click.echo(tr(text, lang_of()), err=True)
    sys.exit(code)
