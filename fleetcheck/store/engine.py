"""Where the store lives and how it is opened: database URLs, the engine, damaged files.

SQLite by default, one file ``fleetcheck.db`` in the user's data folder as
``platformdirs`` names it: ``$XDG_DATA_HOME/fleetcheck`` (``~/.local/share/fleetcheck``
when XDG_DATA_HOME is unset) on Linux, ``%LOCALAPPDATA%\fleetcheck`` on a Windows
controller, ``~/Library/Application Support/fleetcheck`` on macOS;
``--db URL`` or ``FLEETCHECK_DB`` select another database, e.g.
``postgresql+psycopg://fleet@db/fleetcheck``. A plain path is taken as a SQLite file.

:func:`open_engine` creates the engine, watches a SQLite file for damage (any
later statement that finds it raises the same clean :class:`StoreError`) and
runs the missing migrations; every failure is a bilingual :class:`StoreError`
whose text masks the URL's password.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

import platformdirs
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError

from fleetcheck.i18n import T
from fleetcheck.store import migrations
from fleetcheck.store.errors import SchemaError, StoreError

__all__ = ["database_exists", "default_db_url", "open_engine", "resolve_db_url", "safe_url"]


def default_db_url() -> str:
    """``sqlite:///`` URL of the default store file, in the platform's user data folder."""
    return f"sqlite:///{Path(platformdirs.user_data_dir('fleetcheck', appauthor=False)) / 'fleetcheck.db'}"


def resolve_db_url(url: str | None = None) -> str:
    """Explicit URL (or path) > ``FLEETCHECK_DB`` > the default SQLite file."""
    chosen = url or os.environ.get("FLEETCHECK_DB") or default_db_url()
    if "://" not in chosen:
        chosen = f"sqlite:///{Path(chosen).expanduser()}"
    return chosen


def safe_url(url: str) -> str:
    """The URL with any password masked, for messages."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<invalid database URL>"


def database_exists(url: str | None) -> bool:
    """False for a SQLite file that does not exist yet (other databases: assume yes).

    Lets a reader (``report --results``) skip the store instead of creating an empty one.
    A URL that cannot be parsed counts as existing, so that opening it reports the problem.
    """
    try:
        parsed = sa.engine.make_url(resolve_db_url(url))
    except ArgumentError:
        return True
    if parsed.get_backend_name() != "sqlite":
        return True
    database = parsed.database
    return bool(database) and database != ":memory:" and Path(str(database)).exists()


def damaged(url: str) -> StoreError:
    """The error for a damaged SQLite file (at open or found by any later statement)."""
    return StoreError(T(
        f"无法打开历史数据库 {safe_url(url)}：文件已损坏（SQLite 报告数据库映像格式错误或文本无法解码）。"
        "请从备份恢复，或换一个 --db / FLEETCHECK_DB 重新开始。",
        f"cannot open the history database {safe_url(url)}: the file is damaged (SQLite reports a malformed "
        "database image or undecodable text). Restore it from a backup, or start afresh with another "
        "--db / FLEETCHECK_DB.",
    ))


# What a damaged SQLite file raises, at open or at any later read (the DBAPI message, lower case).
# A schema page whose text is damaged names columns that no longer exist: "no such column".
_DAMAGE_HINTS = ("malformed", "not a database", "could not decode", "file is encrypted", "disk image",
                 "no such column", "no such table")


def is_damage(exc: BaseException | None) -> bool:
    """Whether a DBAPI exception says the SQLite file is damaged."""
    if isinstance(exc, UnicodeDecodeError):
        return True  # sqlite3 decodes column names itself: a damaged schema page raises this
    return isinstance(exc, sqlite3.DatabaseError) and not isinstance(exc, sqlite3.IntegrityError) and any(
        hint in str(exc).lower() for hint in _DAMAGE_HINTS)


def _watch_for_damage(engine: Engine, url: str) -> None:
    """A damaged file found by any later statement is the same clean StoreError, never a traceback."""

    @event.listens_for(engine, "handle_error")
    def _translate(context: Any) -> None:
        if is_damage(context.original_exception):
            raise damaged(url) from None


def _create_engine(resolved: str) -> tuple[Engine, URL]:
    try:
        parsed = sa.engine.make_url(resolved)
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            Path(str(parsed.database)).parent.mkdir(parents=True, exist_ok=True)
        return sa.create_engine(parsed), parsed
    except (NoSuchModuleError, ImportError) as exc:
        # An unknown dialect, or a known one whose driver is not installed
        # (postgresql:// without psycopg): say which, never a traceback.
        missing = getattr(exc, "name", None) or ""
        zh_missing = f"（缺少 Python 模块 {missing}）" if missing else ""
        en_missing = f" (missing Python module {missing})" if missing else ""
        raise StoreError(T(
            f"无法打开历史数据库 {safe_url(resolved)}：不支持这种数据库，或未安装它的驱动{zh_missing}。"
            "请用 SQLite 文件路径，或安装相应驱动（PostgreSQL：pip install 'fleetcheck[postgres]'），"
            "并检查 --db / FLEETCHECK_DB。",
            f"cannot open the history database {safe_url(resolved)}: this kind of database is not "
            f"supported or its driver is not installed{en_missing}. "
            "Use a SQLite file path, or install the driver (PostgreSQL: pip install 'fleetcheck[postgres]'); "
            "check --db / FLEETCHECK_DB.",
        )) from None
    except (ArgumentError, OSError) as exc:
        raise StoreError(T(
            f"无法打开历史数据库 {safe_url(resolved)}：{type(exc).__name__}。请检查 --db / FLEETCHECK_DB。",
            f"cannot open the history database {safe_url(resolved)}: {type(exc).__name__}. "
            "Check --db / FLEETCHECK_DB.",
        )) from None


def _upgrade(engine: Engine, resolved: str) -> None:
    try:
        with engine.begin() as conn:
            migrations.upgrade(conn)
    except SchemaError as exc:
        raise SchemaError(T(
            f"{safe_url(resolved)} 不是可用的 fleetcheck 历史数据库（{exc.text.zh}）。请换一个 --db。",
            f"{safe_url(resolved)} is not a usable fleetcheck history database ({exc.text.en}). "
            "Use another --db.",
        )) from None
    except StoreError:
        raise
    except UnicodeDecodeError:
        raise damaged(resolved) from None
    except SQLAlchemyError as exc:
        raise StoreError(T(
            f"无法打开历史数据库 {safe_url(resolved)}：{type(exc).__name__}。",
            f"cannot open the history database {safe_url(resolved)}: {type(exc).__name__}.",
        )) from None


def open_engine(url: str | None = None) -> tuple[Engine, str]:
    """The engine of the store at ``url`` (see :func:`resolve_db_url`), created or upgraded.

    Returns the engine and the resolved URL. Raises :class:`StoreError` (never a
    traceback) for an unusable URL, a missing driver, a damaged file, or a
    database that is not a fleetcheck store.
    """
    resolved = resolve_db_url(url)
    engine, parsed = _create_engine(resolved)
    if parsed.get_backend_name() == "sqlite":
        _watch_for_damage(engine, resolved)
    try:
        _upgrade(engine, resolved)
    except StoreError:
        engine.dispose()
        raise
    return engine, resolved
