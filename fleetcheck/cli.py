"""The command line. Thin: parse options, call the library, print. Nothing imports this.

Every user-facing message is bilingual; Chinese by default, ``--lang en`` or
``FLEETCHECK_LANG=en`` for English.

How much is printed: ``-q/--quiet`` (only errors and a command's closing
line), ``-v``/``-vv`` (INFO/DEBUG logs) — standard :mod:`logging` to stderr,
configured once here (:mod:`fleetcheck.logsetup`).

Exit codes (stable, documented in README): 0 compliant, 1 non-compliant,
2 usage/configuration error, 3 some hosts unreachable.

Errors are mapped to exit codes in one place, :class:`FleetcheckGroup`: a
:class:`~fleetcheck.errors.FleetcheckError` raised anywhere inside a command is
printed in the chosen language (no traceback) and exits with its ``exit_code``;
Click's own usage errors are shown in the chosen language too (exit 2).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from typing import Any

import click

from fleetcheck import __version__
from fleetcheck.commands.common import lang_of
from fleetcheck.commands.usage import LocalizedUsageError, lang_from_args
from fleetcheck.errors import FleetcheckError
from fleetcheck.i18n import Lang, T
from fleetcheck.logsetup import QUIET, configure_logging
from fleetcheck.officetime import ZONE_ENV, OfficeZoneError, office_zone, set_office_zone

#: The command registry: command name → (module, attribute). Each module is
#: fleetcheck/commands/<name>.py and defines the click command (or group) named
#: here; a missing module or attribute is an ImportError when the CLI starts.
COMMANDS: Mapping[str, tuple[str, str]] = {
    "audit": ("fleetcheck.commands.audit", "audit"),
    "certs": ("fleetcheck.commands.certs", "certs_cmd"),
    "collect": ("fleetcheck.commands.collect", "collect"),
    "demo": ("fleetcheck.commands.demo", "demo"),
    "diff": ("fleetcheck.commands.diff", "diff_cmd"),
    "doctor": ("fleetcheck.commands.doctor", "doctor"),
    "evaluate": ("fleetcheck.commands.evaluate", "evaluate_cmd"),
    "fix": ("fleetcheck.commands.fix", "fix"),
    "history": ("fleetcheck.commands.history", "history_cmd"),
    "host": ("fleetcheck.commands.host", "host_cmd"),
    "inventory": ("fleetcheck.commands.inventory", "inventory"),
    "policy": ("fleetcheck.commands.policy", "policy"),
    "renew": ("fleetcheck.commands.renew", "renew"),
    "report": ("fleetcheck.commands.report", "report_cmd"),
    "rollback": ("fleetcheck.commands.rollback", "rollback"),
    "scan": ("fleetcheck.commands.scan", "scan"),
    "schedule": ("fleetcheck.commands.schedule", "schedule_group"),
    "selftest": ("fleetcheck.commands.selftest", "selftest"),
    "serve": ("fleetcheck.commands.serve", "serve"),
    "sim": ("fleetcheck.commands.sim", "sim"),
    "winrm-setup": ("fleetcheck.commands.winrm_setup", "winrm_setup"),
    "worker": ("fleetcheck.commands.worker", "worker"),
}


def load_command(name: str) -> click.Command:
    """The click command registered as ``name``; ImportError when its module or attribute is missing."""
    module_name, attribute = COMMANDS[name]
    module = importlib.import_module(module_name)
    command = getattr(module, attribute, None)
    if not isinstance(command, click.Command):
        raise ImportError(f"{module_name} defines no click command {attribute!r} (registered as {name!r})",
                          name=module_name)
    if command.name != name:
        raise ImportError(f"{module_name}.{attribute} is the command {command.name!r}, registered as {name!r}",
                          name=module_name)
    return command


class FleetcheckGroup(click.Group):
    """The root group: the one place errors become messages and exit codes."""

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        # The root's own options fail before --lang is parsed: read it from the arguments
        # (a copy: Click's parser consumes the list it is given).
        given = list(args)
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:
            raise LocalizedUsageError(exc, lang_from_args(given)) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except FleetcheckError as exc:
            click.echo(exc.format(lang_of(ctx)), err=True)
            ctx.exit(exc.exit_code)
        except LocalizedUsageError:
            raise
        except click.UsageError as exc:
            # An unknown command fails before main() ran: --lang is then only in the parsed params.
            lang: Lang = "en" if ctx.params.get("lang") == "en" else lang_of(ctx)
            raise LocalizedUsageError(exc, lang) from None


@click.group(cls=FleetcheckGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="fleetcheck")
@click.option(
    "--lang",
    type=click.Choice(["zh", "en"]),
    envvar="FLEETCHECK_LANG",
    default="zh",
    show_default=True,
    help="输出语言 / language of messages",
)
@click.option("-q", "--quiet", is_flag=True, help="只输出错误和结束行 / print only errors and the closing line")
@click.option("-v", "--verbose", count=True,
              help="输出更多日志（-v 信息，-vv 调试）/ log more (-v info, -vv debug)")
@click.option("--office-tz", metavar="ZONE", default=None,
              help="办公室时区（IANA 名称，默认 Asia/Shanghai；也可用 FLEETCHECK_OFFICE_TZ 或清单 all 的 office_timezone）"
                   " / the office's time zone (IANA name, default Asia/Shanghai; also FLEETCHECK_OFFICE_TZ or "
                   "the inventory's office_timezone in all's vars)")
@click.pass_context
def main(ctx: click.Context, lang: str, quiet: bool, verbose: int, office_tz: str | None) -> None:
    """fleetcheck — 深证通证书更新环境批量检查 / SCCC certificate-renewal readiness for a fleet."""
    ctx.ensure_object(dict)
    ctx.obj["lang"] = lang
    chosen: Lang = "en" if lang == "en" else "zh"
    if quiet and verbose:
        raise click.UsageError(T("-q/--quiet 不能与 -v/--verbose 同时使用",
                                 "-q/--quiet cannot be used with -v/--verbose").get(chosen), ctx)
    ctx.obj["verbosity"] = QUIET if quiet else verbose
    configure_logging(ctx.obj["verbosity"], chosen)
    try:
        set_office_zone(office_tz)  # None: FLEETCHECK_OFFICE_TZ, else Asia/Shanghai (checked here, once)
        office_zone()
    except OfficeZoneError:
        where = "--office-tz" if office_tz is not None else ZONE_ENV
        raise click.UsageError(T(f"{where}：{office_tz or os.environ.get(ZONE_ENV)!r} 不是 IANA 时区名（例如 Asia/Shanghai）",
                                 f"{where}: {office_tz or os.environ.get(ZONE_ENV)!r} is not an IANA time zone "
                                 "(e.g. Asia/Shanghai)").get(chosen), ctx) from None
    ctx.obj["office_tz_given"] = office_tz is not None


for _name in COMMANDS:
    main.add_command(load_command(_name), _name)
