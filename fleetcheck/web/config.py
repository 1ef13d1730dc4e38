"""The dashboard's config file (``fleetcheck serve --config``), read through the one YAML loader.

Keys (all optional)::

    users:                      # user name: password hash (fleetcheck serve --hash-password)
      admin: scrypt$16384$8$1$...
    session_secret: {env: FC_SESSION_SECRET}
    session_hours: 8            # login session lifetime (checked by fleetcheck serve)
    calendar: calendar.yaml     # the trading calendar (see fleetcheck.remediate.guard)
    trading_processes: [TdxW.exe, xiadan.exe]
    waivers: waivers.yaml       # the waivers file (as scan/fix --waivers), relative to this file:
                                # Fix from the dashboard never changes a waived check

Every problem is reported at its ``file:line:col`` with the source line and a
caret, like every other user file (:mod:`fleetcheck.yamlfile`); the value of
``session_secret`` is never quoted.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from fleetcheck.i18n import T
from fleetcheck.yamlfile import RawIssue, UserFileError, read_document, to_plain, unknown_key

__all__ = ["CONFIG_KEYS", "ServeConfigError", "load_serve_config", "serve_config_problems"]

CONFIG_KEYS = ("users", "session_secret", "session_hours", "calendar", "trading_processes", "waivers")


class ServeConfigError(UserFileError):
    """A dashboard config file that cannot be used: every problem at ``file:line:col``."""


def load_serve_config(path: Path) -> dict[str, Any]:
    """The config as plain data; raise :class:`ServeConfigError` listing every problem.

    ``waivers`` comes back as a path made absolute against the config file's folder.
    """
    doc = read_document(path)
    doc.fail((), ServeConfigError)  # syntax errors, duplicate keys
    data = {} if doc.data is None else doc.data
    doc.fail(serve_config_problems(data), ServeConfigError)
    waivers = _waivers_path(data, path.parent)
    doc.fail(waivers if isinstance(waivers, list) else (), ServeConfigError)
    plain = dict(to_plain(data))
    if isinstance(waivers, Path):
        plain["waivers"] = str(waivers)
    return plain


def _waivers_path(data: Any, base: Path) -> Path | list[RawIssue] | None:
    """The ``waivers`` file, resolved against ``base``; the problem at its value when it is not a readable file."""
    if not isinstance(data, Mapping) or data.get("waivers") is None:
        return None
    value = data["waivers"]
    if not isinstance(value, str) or not value.strip():
        return [RawIssue(("waivers",), T("waivers 应为豁免文件的路径（相对于本配置文件）",
                                         "waivers must be the path of a waivers file (relative to this config file)"))]
    target = base / value
    if not target.is_file():
        return [RawIssue(("waivers",), T(f"豁免文件 {target} 不存在或不是文件",
                                         f"the waivers file {target} does not exist or is not a file"))]
    return target.resolve()


def serve_config_problems(data: Any) -> Iterator[RawIssue]:
    """Every problem of a config mapping, each placed at its key or value."""
    from fleetcheck.web.auth import check_hash_format

    if not isinstance(data, Mapping):
        yield RawIssue((), T("配置文件必须是映射（users: …）", "the config file must be a mapping (users: …)"))
        return
    for key in data:
        if key not in CONFIG_KEYS:
            yield RawIssue((key,) if isinstance(key, (str, int)) else (), unknown_key(str(key), CONFIG_KEYS), key=True)
    users = data.get("users")
    if not users:  # absent or empty: no users (a --password-hash may give one)
        return
    if not isinstance(users, Mapping):
        yield RawIssue(("users",), T("users 应为 用户名: 密码哈希 的映射", "users must map user name to password hash"))
        return
    for name, stored in users.items():
        if not isinstance(stored, str) or not check_hash_format(stored):
            yield RawIssue(
                ("users", name) if isinstance(name, (str, int)) else ("users",),
                T(
                    f"用户 {name} 的密码哈希无效；用 fleetcheck serve --hash-password 生成",
                    f"the password hash of user {name} is not valid; make one with fleetcheck serve --hash-password",
                ),
            )
