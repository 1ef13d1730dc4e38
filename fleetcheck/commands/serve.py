"""``fleetcheck serve``: the web dashboard (README "Dashboard / 仪表盘").

Binds 127.0.0.1:8765 unless ``--bind`` says otherwise (another address is
warned about: the dashboard can change trading PCs). Login: the users of
``--config`` (``users: {name: hash}``) or ``--password-hash``; with neither, a
token printed at start. ``--hash-password`` prints a hash for the config and
exits. ``--fake-now`` (hidden) fixes the dashboard's clock for tests and demos
of the trading-hours guard: the clock starts at that instant and runs on.
"""

from __future__ import annotations

import socket
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import click

from fleetcheck.commands.common import fail, say
from fleetcheck.commands.options import db_option, inventory_option, policy_option, timeout_option
from fleetcheck.errors import FleetcheckError
from fleetcheck.i18n import T
from fleetcheck.loopback import is_loopback
from fleetcheck.remediate.guard import DEFAULT_TRADING_PROCESSES, TradingCalendar

DEFAULT_BIND = "127.0.0.1:8765"


class BindError(FleetcheckError, ValueError):
    """A ``--bind`` value that cannot be used (exit 2); ``text`` says why, in both languages."""


def parse_bind(bind: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` for IPv6) → (host, port); raises BindError (a ValueError).

    >>> parse_bind("[::1]:9000")
    ('::1', 9000)
    """
    host, sep, port = bind.rpartition(":")
    if not sep or not host:
        raise BindError(T(f"--bind {bind!r}：请写成 主机:端口，例如 {DEFAULT_BIND}",
                          f"--bind {bind!r}: write HOST:PORT, e.g. {DEFAULT_BIND}"))
    host = host.strip("[]")
    try:
        number = int(port)
    except ValueError:
        raise BindError(T(f"--bind {bind!r}：端口必须是数字", f"--bind {bind!r}: the port must be a number")) from None
    if not 0 < number < 65536:
        raise BindError(T(f"--bind {bind!r}：端口必须在 1–65535 之间", f"--bind {bind!r}: the port must be 1–65535"))
    return host, number


def check_bind(host: str, port: int) -> None:
    """Bind once and let go, so a busy port or a foreign address is a clear error
    (exit 2) before the login token is printed, not uvicorn's English log line."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise BindError(T(
            f"--bind {host}:{port}：无法监听（{reason}）。端口可能已被占用，或该地址不属于本机；请换一个端口或地址。",
            f"--bind {host}:{port}: cannot listen there ({reason}). The port may be in use or the address "
            "not this computer's; choose another port or address.",
        )) from None


def load_config(path: Path) -> dict[str, Any]:
    """The dashboard config file (YAML): ``users``, ``session_secret``, ``calendar``, ``trading_processes``."""
    from fleetcheck.web.config import ServeConfigError, load_serve_config

    try:  # the one loader: every problem is file:line:col, secrets never quoted
        return load_serve_config(path)
    except ServeConfigError as exc:
        fail(T(exc.format("zh"), exc.format("en")))


def _fake_clock(text: str) -> Any:
    try:
        start = datetime.fromisoformat(text)
    except ValueError:
        fail(T(f"--fake-now {text!r} 应为 ISO 8601 时间", f"--fake-now {text!r} must be an ISO 8601 time"))
    if start.tzinfo is None:
        start = start.replace(tzinfo=timezone.utc)
    began = time.monotonic()
    return lambda: start + timedelta(seconds=time.monotonic() - began)


@dataclass(frozen=True)
class ServeRequest:
    """The options of ``fleetcheck serve``, as click parsed them."""

    db_url: str | None
    bind: str
    inventory_path: Path | None
    policy_paths: tuple[str, ...]
    config_path: Path | None
    password_hash: str | None
    user_name: str
    hash_password: bool
    calendar_path: Path | None
    trading_processes: tuple[str, ...]
    workers: int
    timeout_s: float
    session_hours: float | None
    fake_now: str | None


@dataclass(frozen=True)
class Access:
    """Who may log in (users → password hash, or the one-run token), and for how long."""

    users: dict[str, str]
    token: str | None
    secret: Any
    session_s: float = 8 * 3600


@click.command(name="serve")
@db_option
@click.option("--bind", default=DEFAULT_BIND, show_default=True, help="监听地址 / listen address HOST:PORT")
@inventory_option.variant(required=False, help="清单；无清单时只读 / inventory; without it the dashboard is read-only")
@policy_option
@click.option("--config", "config_path", type=click.Path(path_type=Path, dir_okay=False),
              help="仪表盘配置（users、calendar…）/ dashboard config file (users, calendar…)")
@click.option("--password-hash", help="管理员密码哈希 / password hash of the admin user")
@click.option("--user", "user_name", default="admin", show_default=True, help="--password-hash 的用户名 / its user name")
@click.option("--hash-password", is_flag=True, help="输入密码并打印其哈希后退出 / prompt for a password, print its hash, exit")
@click.option("--calendar", "calendar_path", type=click.Path(path_type=Path, dir_okay=False),
              help="交易日历 YAML / trading calendar YAML")
@click.option("--trading-process", "trading_processes", multiple=True,
              help="交易软件进程名，可重复 / trading client process name, repeatable")
@click.option("--workers", type=click.IntRange(1, 32), default=4, show_default=True, help="后台任务线程数 / job threads")
@timeout_option
@click.option("--session-hours", type=click.FloatRange(0.05, 168), default=None,
              help="登录会话有效期（小时，默认 8；配置键 session_hours）/ session lifetime, hours (default 8)")
@click.option("--fake-now", hidden=True, help="tests: the clock starts at this ISO time")
def serve(**given: Any) -> None:
    """网页仪表盘 / the web dashboard (login required; binds 127.0.0.1 by default)."""
    from fleetcheck.web import auth

    req = ServeRequest(**given)
    if req.hash_password:
        password = click.prompt("密码 / password", hide_input=True, confirmation_prompt=True, err=True)
        click.echo(auth.hash_password(password))
        return
    host, port = parse_bind(req.bind)
    check_bind(host, port)
    config = load_config(req.config_path) if req.config_path is not None else {}
    access = _access(req, config)
    calendar = _calendar(req.calendar_path or config.get("calendar"))
    processes = tuple(req.trading_processes) or tuple(config.get("trading_processes") or DEFAULT_TRADING_PROCESSES)
    app, fleet = build(req, access, calendar, processes, waivers=config.get("waivers"))
    if not is_loopback(host):
        say(T(f"警告：仪表盘监听 {host}，局域网内的其他电脑也能访问；请确保只有管理员能连到这里。",
              f"warning: the dashboard listens on {host}, reachable from other computers; "
              "make sure only admins can connect."), err=True)
    say(T(f"仪表盘：http://{req.bind}/", f"dashboard: http://{req.bind}/"), err=True)
    if access.token is not None:
        say(T(f"登录令牌（本次运行有效，用作密码）：{access.token}",
              f"login token (valid while this runs; use it as the password): {access.token}"), err=True)
    import uvicorn

    try:
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, server_header=False)
    finally:
        fleet.close()


def _access(req: ServeRequest, config: dict[str, Any]) -> Access:
    """The users of the config plus ``--password-hash``; with none, a token for this run."""
    from fleetcheck.web import auth

    users: dict[str, str] = {str(k): str(v) for k, v in (config.get("users") or {}).items()}
    if req.password_hash is not None:
        if not auth.check_hash_format(req.password_hash):
            fail(T("--password-hash 无效；用 fleetcheck serve --hash-password 生成",
                   "--password-hash is not valid; make one with fleetcheck serve --hash-password"))
        users[req.user_name] = req.password_hash
    hours = req.session_hours if req.session_hours is not None else _session_hours(config.get("session_hours"))
    return Access(users=users, token=None if users else auth.new_token(), secret=config.get("session_secret"),
                  session_s=hours * 3600)


def _session_hours(value: Any) -> float:
    """``session_hours`` from the config file (default 8), or a clear error."""
    if value is None:
        return 8.0
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.05 <= float(value) <= 168:
        fail(T(f"配置 session_hours 无效：{value!r}（应为 0.05 到 168 之间的小时数）",
               f"config session_hours is not valid: {value!r} (hours between 0.05 and 168)"))
    return float(value)


def _calendar(path: Any) -> TradingCalendar:
    if path is None:
        return TradingCalendar()
    return TradingCalendar.load(Path(path))


def build(req: ServeRequest, access: Access, calendar: TradingCalendar,
          processes: tuple[str, ...], *, waivers: str | None = None) -> tuple[Any, Any]:
    """The app and its Fleet (a bad store, inventory, policy or waivers file is a FleetcheckError: the CLI root says it)."""
    from fleetcheck.officetime import utc_now
    from fleetcheck.web.app import create_app
    from fleetcheck.web.auth import Credentials
    from fleetcheck.web.fleet import Fleet, FleetSettings

    clock = _fake_clock(req.fake_now) if req.fake_now else utc_now
    settings = FleetSettings(db_url=req.db_url, inventory=req.inventory_path, policy_paths=req.policy_paths,
                             clock=clock, calendar=calendar, trading_processes=processes, timeout_s=req.timeout_s,
                             waivers=Path(waivers) if waivers else None)
    fleet = Fleet(settings)
    if fleet.inventory is not None:
        for warning in fleet.inventory.warnings:
            say(warning, err=True)
    app = create_app(fleet, Credentials(users=access.users, token=access.token),
                     secret_key=str(access.secret) if access.secret else None, workers=req.workers,
                     session_s=access.session_s)
    return app, fleet


__all__ = ["Access", "BindError", "ServeRequest", "build", "check_bind", "is_loopback", "load_config", "parse_bind", "serve"]

if __name__ == "__main__":  # pragma: no cover
    sys.exit("run: fleetcheck serve")
