"""PFX passwords: a masked type, the passwords file, and the prompt.

The portal hands out each renewed file certificate with its own password. They
reach fleetcheck in one of two ways:

* ``--passwords FILE``: a YAML mapping from certificate name (the CN, i.e. the
  PFX file name without ``.pfx``) to password::

      # renew-passwords.yaml — keep it readable by you only (chmod 600)
      F00504Y0007#0: "Xk3#pl9q"
      "F00504Y0008#0": "8Jd!20vz"

  A ``#`` inside a word is part of it (only `` #`` after a space starts a
  comment), so names need no quotes; quote passwords that hold ``#``, ``:``
  or start with a special character. Values must be strings: numbers are
  refused (YAML reads ``0123`` or ``1e5`` as numbers, not the digits typed). A missing entry is reported as
  "no password for …", never guessed. A file readable by group or others is
  used, with a warning.
* ``--ask``: one hidden prompt per PFX file.

Every password is held as a :class:`PfxPassword`, whose ``str``/``repr`` are
masked, so a stray log line or exception never prints one. Only the import
action (:class:`fleetcheck.agent.contract.ImportPfx`) and the PFX decoder call
:meth:`PfxPassword.reveal`.
"""

from __future__ import annotations

import stat
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from fleetcheck.i18n import T, Text
from fleetcheck.yamlfile import Issue, Loc, RawIssue, UserFileError, read_document

__all__ = ["PasswordFileError", "PfxPassword", "load_password_file"]

MASK = "***"


class PfxPassword:
    """A PFX password that never shows itself.

    >>> p = PfxPassword("s3cret")
    >>> str(p), repr(p), f"{p}"
    ('***', "PfxPassword('***')", '***')
    >>> p.reveal()
    's3cret'
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The password itself: only for decoding the PFX and the agent's import action."""
        return self._value

    def __str__(self) -> str:
        return MASK

    def __repr__(self) -> str:
        return f"PfxPassword('{MASK}')"

    def __format__(self, spec: str) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PfxPassword) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("PfxPassword", self._value))

    def __reduce__(self) -> None:  # type: ignore[override]
        # Refuse pickling: a password must not end up in a cache or a task queue.
        raise TypeError("PfxPassword cannot be pickled")


class PasswordFileError(UserFileError):
    """A passwords file that cannot be used: every problem at ``file:line:col``, what to do.

    Never contains a password: every value of the file is one, so no source
    line is shown and YAML problems are described without their text.
    """


_NOT_YAML = T(
    '不是有效的 YAML；格式为每行 "证书名#0": "密码"',
    'not valid YAML; write one line per certificate: "NAME#0": "password"',
)


def _world_readable(path: Path) -> bool:
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return bool(mode & (stat.S_IRGRP | stat.S_IROTH))


def _opaque(issue: Issue) -> Issue:
    """``issue`` without anything of the file's text (a YAML message may quote a value)."""
    if issue.line is None:  # not found, unreadable, too large: our own words, no content
        return issue
    return Issue(issue.file, issue.line, issue.col, _NOT_YAML, None)


def _problems(data: Any) -> Iterator[RawIssue]:
    if not isinstance(data, Mapping):
        yield RawIssue((), T(
            "密码文件必须是“证书名: 密码”的映射",
            "the passwords file must be a mapping of certificate name to password"))
        return
    for key, value in data.items():
        name = str(key).strip()
        loc: Loc = (key,) if isinstance(key, (str, int)) else ()
        if not isinstance(value, str):
            yield RawIssue(loc, T(f"{name} 的密码必须是带引号的字符串", f"the password of {name} must be a quoted string"), key=True)
        elif not name:
            yield RawIssue(loc, T("证书名为空", "empty certificate name"), key=True)


def load_password_file(path: Path) -> tuple[dict[str, PfxPassword], list[Text]]:
    """Read a passwords file: (CN → password, warnings).

    Raises :class:`PasswordFileError` for a missing, unreadable or malformed
    file; the error names ``file:line:col`` and never echoes a value.

    >>> # load_password_file(Path("renew-passwords.yaml"))
    >>> # ({'F00504Y0007#0': PfxPassword('***')}, [])
    """
    doc = read_document(path)  # the one loader: bounded (aliases, depth, sizes), positioned
    if not doc.loaded or doc.issues:
        raise PasswordFileError([_opaque(issue) for issue in doc.issues])
    doc.secret_lines = set(range(1, len(doc.lines) + 1))  # every value is a password
    data = {} if doc.data is None else doc.data
    doc.fail(_problems(data), PasswordFileError)
    passwords = {str(key).strip(): PfxPassword(str(value)) for key, value in data.items()}
    warnings: list[Text] = []
    if _world_readable(path):
        warnings.append(T(
            f"警告：密码文件 {path} 可被其他用户读取；请执行 chmod 600 {path}",
            f"warning: the passwords file {path} is readable by other users; run chmod 600 {path}"))
    return passwords, warnings
