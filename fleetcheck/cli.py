"""The command line. Thin: parse options, call the library, print. Nothing imports this.

Every user-facing message is bilingual; Chinese by default, ``--lang en`` or
``FLEETCHECK_LANG=en`` for English.

Exit codes (stable, documented in README): 0 compliant, 1 non-compliant,
2 usage/configuration error, 3 some hosts unreachable.
"""

from __future__ import annotations

import importlib

import click

from fleetcheck import __version__

# Command modules register their commands on ``main``; each lives in
# fleetcheck/commands/<name>.py and defines ``register(main)``.
_COMMAND_MODULES = (
    "policy",
    "evaluate",
    "sim",
    "scan",
    "inventory",
    "report",
    "fix",
    "renew",
    "serve",
    "schedule",
    "selftest",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="fleetcheck")
@click.option(
    "--lang",
    type=click.Choice(["zh", "en"]),
    envvar="FLEETCHECK_LANG",
    default="zh",
    show_default=True,
    help="输出语言 / language of messages",
)
@click.pass_context
def main(ctx: click.Context, lang: str) -> None:
    """fleetcheck — 深证通证书更新环境批量检查 / SCCC certificate-renewal readiness for a fleet."""
    ctx.ensure_object(dict)
    ctx.obj["lang"] = lang


for _name in _COMMAND_MODULES:
    try:
        _module = importlib.import_module(f"fleetcheck.commands.{_name}")
    except ModuleNotFoundError as _exc:
        if _exc.name != f"fleetcheck.commands.{_name}":
            raise
        continue
    _module.register(main)
