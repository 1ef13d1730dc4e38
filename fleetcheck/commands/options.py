"""The options several commands share, each defined once.

Use them as decorators::

    @click.command("scan")
    @inventory_option
    @policy_option
    @limit_option
    @forks_option
    @timeout_option
    @format_option(["table", "json"], "table")
    @db_option
    def scan(inventory_path, policy_paths, limit, forks, timeout_s, fmt, db_url): ...

Each keeps the name, parameter name, default, environment variable and
semantics the commands gave it before it was shared. A command whose option
genuinely differs (``renew --forks`` allows 1–200 with default 10,
``selftest --timeout`` 5–600 s with default 120, ``serve -i`` is optional)
asks for a variant: ``@forks_option.variant(type=click.IntRange(1, 200), default=10)``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from fleetcheck.commands.common import lang_of
from fleetcheck.i18n import T, tr
from fleetcheck.logsetup import is_quiet
from fleetcheck.runner import DEFAULT_FORKS, DEFAULT_TIMEOUT_S

FC = TypeVar("FC", bound=Callable[..., object])


class SharedOption:
    """One click option declared once; calling it decorates a command."""

    def __init__(self, *param_decls: str, **attrs: Any) -> None:
        self.param_decls = param_decls
        self.attrs = attrs

    def __call__(self, func: FC) -> FC:
        return click.option(*self.param_decls, **self.attrs)(func)

    def variant(self, **changes: Any) -> SharedOption:
        """The same option with some attributes changed (a different range, default or help)."""
        return SharedOption(*self.param_decls, **{**self.attrs, **changes})


DB_HELP = ("历史数据库 URL 或 SQLite 文件路径（默认 ~/.local/share/fleetcheck/fleetcheck.db）/ "
           "history database URL or SQLite path (env FLEETCHECK_DB; default ~/.local/share/fleetcheck/fleetcheck.db)")

#: ``--db URL``: the history store. ``None`` means "FLEETCHECK_DB, else the user's default file"
#: (``Store.open`` resolves it; the envvar here only shows it in ``--help``).
db_option = SharedOption("--db", "db_url", envvar="FLEETCHECK_DB", default=None, help=DB_HELP)

#: ``-i/--inventory FILE``: the Ansible-style inventory, required unless a command asks otherwise.
inventory_option = SharedOption("-i", "--inventory", "inventory_path", required=True,
                                type=click.Path(path_type=Path),
                                help="清单文件（Ansible YAML）/ inventory file (Ansible YAML)")

#: ``--limit PATTERN``: the host pattern (``group``, ``host``, ``a:b``, ``!x``, wildcards).
limit_option = SharedOption("--limit", default=None,
                            help="主机模式，如 'shenzhen:!PC-SZ-003' / host pattern, e.g. 'shenzhen:!PC-SZ-003'")

#: ``--forks N``: hosts probed at once.
forks_option = SharedOption("--forks", type=click.IntRange(1, 1000), default=DEFAULT_FORKS, show_default=True,
                            help="并发主机数 / hosts at once")

#: ``--timeout SECONDS``: the deadline of each host.
timeout_option = SharedOption("--timeout", "timeout_s", type=click.FloatRange(5, 3600), default=DEFAULT_TIMEOUT_S,
                              show_default=True, help="每台主机的时限（秒）/ deadline per host, seconds")

#: ``-p/--policy PATH`` (repeatable): policy files or folders; none given means the shipped pack.
policy_option = SharedOption("-p", "--policy", "policy_paths", multiple=True, type=click.Path(),
                             help="策略文件或目录，可重复；默认为内置策略 / "
                                  "policy file or folder, repeatable; default: shipped pack")

#: The hidden ``--now ISO-8601`` of the guarded commands (fix, renew, rollback): the guard's clock.
#: For tests, and for checking "would it be allowed at 16:00?"; the default is the real clock.
now_option = SharedOption("--now", "now_text", hidden=True, help="ISO 8601 time for the guard's clock (tests)")


def last_option(default: int | None, help_text: str) -> Callable[[FC], FC]:
    """``--last N``: the newest N records (parameter ``last``, ``default`` when not given).

    The old spelling ``--limit N`` of ``history`` and ``audit show`` is still
    accepted (hidden), with a deprecation note on stderr: everywhere else
    ``--limit`` is a host pattern (:data:`limit_option`). Both at once is a usage error.
    """
    count = click.IntRange(1, 1_000_000)

    def decorate(func: FC) -> FC:
        @functools.wraps(func)
        def command(*args: Any, last: int | None, last_as_limit: int | None, **kwargs: Any) -> object:
            if last_as_limit is not None:
                given = click.get_current_context().get_parameter_source("last")
                if given is not click.core.ParameterSource.DEFAULT:
                    raise click.UsageError(tr(T("--limit 是 --last 的旧写法，二者只能用一个",
                                                "--limit is the old spelling of --last: give only one"),
                                              lang_of()))
                if not is_quiet():
                    click.echo(tr(T(f"注意：--limit {last_as_limit} 已弃用，请改用 --last {last_as_limit}"
                                    "（在其他命令中 --limit 是主机模式）",
                                    f"note: --limit {last_as_limit} is deprecated here, use --last {last_as_limit} "
                                    "(elsewhere --limit is a host pattern)"), lang_of()), err=True)
                last = last_as_limit
            return func(*args, last=last, **kwargs)

        click.option("--limit", "last_as_limit", type=count, default=None, hidden=True,
                     help="--last 的旧写法（已弃用）/ old spelling of --last (deprecated)")(command)
        click.option("--last", "last", type=count, default=default, metavar="N",
                     show_default=default is not None, help=help_text)(command)
        return command  # type: ignore[return-value]

    return decorate


def format_option(choices: Sequence[str], default: str) -> SharedOption:
    """``--format`` among ``choices`` (parameter ``fmt``), ``default`` shown in ``--help``."""
    if default not in choices:
        raise ValueError(f"format default {default!r} is not one of {list(choices)}")
    return SharedOption("--format", "fmt", type=click.Choice(list(choices)), default=default, show_default=True,
                        help="输出格式 / output format")


__all__ = [
    "DB_HELP",
    "SharedOption",
    "db_option",
    "forks_option",
    "format_option",
    "inventory_option",
    "last_option",
    "limit_option",
    "now_option",
    "policy_option",
    "timeout_option",
]
