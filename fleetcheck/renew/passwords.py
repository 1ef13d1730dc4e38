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
from pathlib import Path

from fleetcheck.i18n import T, Text
from fleetcheck.yamlfile import parse_text

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


class PasswordFileError(ValueError):
    """A passwords file that cannot be used; ``text`` names the file (and line) and what to do.

    Never contains a password: messages name keys and positions only.
    """

    def __init__(self, text: Text) -> None:
        super().__init__(text.en)
        self.text = text


def _world_readable(path: Path) -> bool:
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return bool(mode & (stat.S_IRGRP | stat.S_IROTH))


def load_password_file(path: Path) -> tuple[dict[str, PfxPassword], list[Text]]:
    """Read a passwords file: (CN → password, warnings).

    Raises :class:`PasswordFileError` for a missing, unreadable or malformed
    file; the error names ``file:line`` and never echoes a value.

    >>> # load_password_file(Path("renew-passwords.yaml"))
    >>> # ({'F00504Y0007#0': PfxPassword('***')}, [])
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PasswordFileError(T(
            f"{path}：无法读取密码文件（{exc.strerror}）",
            f"{path}: cannot read the passwords file ({exc.strerror})")) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise PasswordFileError(T(f"{path}：密码文件必须是 UTF-8 编码", f"{path}: the passwords file must be UTF-8")) from None
    # the bounded loader (aliases, depth, sizes, value errors such as a date that
    # cannot be); its messages may quote a value (a password): only the line is shown
    parsed = parse_text(text, str(path))
    if not parsed.loaded or parsed.issues:
        first = parsed.issues[0] if parsed.issues else None
        where = f"{path}:{first.line}" if first is not None and first.line is not None else str(path)
        raise PasswordFileError(T(
            f"{where}：不是有效的 YAML；格式为每行 \"证书名#0\": \"密码\"",
            f"{where}: not valid YAML; write one line per certificate: \"NAME#0\": \"password\""))
    doc = parsed.data
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise PasswordFileError(T(
            f"{path}：密码文件必须是“证书名: 密码”的映射",
            f"{path}: the passwords file must be a mapping of certificate name to password"))
    passwords: dict[str, PfxPassword] = {}
    lines = getattr(doc, "lc", None)
    for key, value in doc.items():
        line = ""
        if lines is not None:
            try:
                line = f":{lines.key(key)[0] + 1}"
            except (KeyError, TypeError):
                line = ""
        name = str(key).strip()
        if not isinstance(value, str):
            raise PasswordFileError(T(
                f"{path}{line}：{name} 的密码必须是带引号的字符串",
                f"{path}{line}: the password of {name} must be a quoted string"))
        if not name:
            raise PasswordFileError(T(f"{path}{line}：证书名为空", f"{path}{line}: empty certificate name"))
        passwords[name] = PfxPassword(str(value))
    warnings: list[Text] = []
    if _world_readable(path):
        warnings.append(T(
            f"警告：密码文件 {path} 可被其他用户读取；请执行 chmod 600 {path}",
            f"warning: the passwords file {path} is readable by other users; run chmod 600 {path}"))
    return passwords, warnings
