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

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

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
    "limit_option",
    "now_option",
    "policy_option",
    "timeout_option",
]
