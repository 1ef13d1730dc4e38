"""Every user-editable YAML file goes through the one loader (issue 17, acceptance 4).

Each kind of file the user writes gets one bad value at a known ``line:col``;
its loader must report exactly there, as ``file:line:col: message`` with the
source line and a caret under the column, in both languages, without a
traceback or pydantic's own words. The loaders are the real ones the commands
call.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fleetcheck.errors import EXIT_USAGE, FleetcheckError
from fleetcheck.yamlfile import UserFileError

JARGON = ("Traceback", "pydantic", "Input should be", "validation error", "ValidationError", "type=", "errors.pydantic.dev")


def _policy(path: Path) -> Any:
    from fleetcheck.policy.loader import load_policy

    return load_policy(path)


def _waivers(path: Path) -> Any:
    from fleetcheck.policy.loader import load_waivers

    return load_waivers(path)


def _inventory(path: Path) -> Any:
    from fleetcheck.inventory import PasswordSources, load_inventory

    return load_inventory(path, PasswordSources(environ={}, keyring_lookup=lambda _s, _u: None))


def _host_vars(path: Path) -> Any:
    from fleetcheck.inventory import load_host_vars

    return load_host_vars(path)


def _notify(path: Path) -> Any:
    from fleetcheck.notify.config import load_notify_config

    return load_notify_config(path)


def _serve(path: Path) -> Any:
    from fleetcheck.web.config import load_serve_config

    return load_serve_config(path)


def _calendar(path: Path) -> Any:
    from fleetcheck.remediate.guard import TradingCalendar

    return TradingCalendar.load(path)


def _passwords(path: Path) -> Any:
    from fleetcheck.renew.passwords import load_password_file

    return load_password_file(path)


def _image(path: Path) -> Any:
    from fleetcheck.sim.image import load_spec

    return load_spec(path)


def _office(path: Path) -> Any:
    from fleetcheck.sim.office import OfficeSpec

    return OfficeSpec.load(path)


@dataclass(frozen=True)
class Case:
    load: Callable[[Path], Any]
    content: str
    line: int
    col: int
    en: str  # in the English message at that place
    zh: str  # in the Chinese one
    error: str  # the class the loader raises (a UserFileError sibling)
    hidden: str = ""  # a value that must never be shown


CASES: dict[str, Case] = {
    "policy": Case(
        _policy, "id: bad-version\ntitle: t\nversion: one\nchecks: []\n",
        3, 10, "'one' is not a whole number", "不是整数", "PolicyError",
    ),
    "waivers": Case(
        _waivers, "waivers:\n  - check: c\n    hosts: [PC-1]\n    reason: r\n    approver: a\n    expires: someday\n",
        6, 14, "'someday' is not a date", "不是日期", "WaiverError",
    ),
    "inventory": Case(
        _inventory, "all:\n  hosts:\n    PC-1:\n      ansible_host: 127.0.0.1\n      ansible_port: http\n",
        5, 21, "ansible_port must be an integer 1-65535", "ansible_port 必须是", "InventoryError",
    ),
    "group-vars": Case(
        _inventory, "all:\n  children:\n    sz:\n      hosts: {PC-1: {ansible_host: 127.0.0.1}}\n      vars: [a, b]\n",
        5, 13, "vars must be a mapping", "vars 必须是", "InventoryError",
    ),
    "host-vars": Case(
        _host_vars, "# evaluate --host-vars\n- gateway_cert\n- operator\n",
        2, 1, "host vars must be a mapping", "主机变量应为映射", "HostVarsError",
    ),
    "notify": Case(
        _notify, "notify_on: sometimes\nchannels:\n  - type: webhook\n    url: {env: HOOK}\n",
        1, 12, "'sometimes' is not allowed here", "不是允许的值", "NotifyConfigError",
    ),
    "serve": Case(
        _serve, "users:\n  admin: not-a-hash\nsession_secret: {env: FC_SESSION}\n",
        2, 10, "the password hash of user admin is not valid", "密码哈希无效", "ServeConfigError",
    ),
    "calendar": Case(
        _calendar, "timezone: Asia/Shanghai\nsessions:\n  - ['09:15', '11:30']\n  - ['13:00', '25:00']\n",
        4, 15, "time '25:00' must be HH:MM", "应写成 HH:MM", "CalendarError",
    ),
    "pfx-passwords": Case(
        _passwords, '"F00504Y0007#0": "Xk3#pl9q"\n"F00504Y0008#0": 123456\n',
        2, 1, "the password of F00504Y0008#0 must be a quoted string", "必须是带引号的字符串", "PasswordFileError",
        hidden="123456",
    ),
    "sim-image": Case(
        _image, "extends: win10-compliant\nos:\n  build: many\n",
        3, 10, "'many' is not a whole number", "不是整数", "ImageError",
    ),
    "sim-office": Case(
        _office, "name: x\nfirst_address: 127.0.1.1\ngroups:\n  - name: a\n    image: win10-compliant\n    count: lots\n",
        6, 12, "'lots' is not a whole number", "不是整数", "OfficeError",
    ),
}


def _text(exc: BaseException, lang: str) -> str:
    if isinstance(exc, UserFileError):
        return exc.format(lang)  # type: ignore[arg-type]
    text = getattr(exc, "text", None)
    return text.get(lang) if text is not None else str(exc)


@pytest.mark.parametrize("kind", sorted(CASES))
def test_a_bad_value_is_reported_at_its_line_and_column(tmp_path: Path, kind: str) -> None:
    case = CASES[kind]
    path = tmp_path / f"{kind}.yaml"
    path.write_text(case.content, encoding="utf-8")
    with pytest.raises(Exception) as caught:  # the class is checked below, by name
        case.load(path)
    assert type(caught.value).__name__ == case.error, repr(caught.value)
    english, chinese = _text(caught.value, "en"), _text(caught.value, "zh")
    where = f"{path}:{case.line}:{case.col}: "
    for text, wanted in ((english, case.en), (chinese, case.zh)):
        block = next((b for b in re.split(r"\n(?=\S)", text) if b.startswith(where)), None)
        assert block is not None, f"{where!r} not in {text!r}"
        assert wanted in block, block
        for word in JARGON:
            assert word not in text, text
        if case.hidden:
            assert case.hidden not in text, text
        else:  # the source line, then a caret under the column
            source = case.content.splitlines()[case.line - 1]
            lines = block.split("\n")
            assert lines[1] == "    " + source, block
            assert lines[2] == "    " + " " * (case.col - 1) + "^", block
    assert english != chinese


# sim-office: OfficeError is a plain FleetcheckError (it also reports problems of the
# office as a whole, not of one file) carrying the loader's positioned text (see above).
FAMILY = sorted(set(CASES) - {"sim-office"})


def test_a_bad_office_file_is_a_fleetcheck_error_with_exit_code_2(tmp_path: Path) -> None:
    case = CASES["sim-office"]
    path = tmp_path / "office.yaml"
    path.write_text(case.content, encoding="utf-8")
    with pytest.raises(FleetcheckError) as caught:
        case.load(path)
    assert caught.value.exit_code == EXIT_USAGE
    assert str(caught.value).startswith(f"{path}:{case.line}:{case.col}: ")


@pytest.mark.parametrize("kind", FAMILY)
def test_every_bad_file_is_one_family_with_exit_code_2(tmp_path: Path, kind: str) -> None:
    case = CASES[kind]
    path = tmp_path / f"{kind}.yaml"
    path.write_text(case.content, encoding="utf-8")
    with pytest.raises(UserFileError) as caught:
        case.load(path)
    error = caught.value
    assert isinstance(error, FleetcheckError) and error.exit_code == EXIT_USAGE
    assert str(error) == error.format("en")  # str() is English, as for every FleetcheckError
    assert all(issue.file == str(path) for issue in error.issues)
    assert any((issue.line, issue.col) == (case.line, case.col) for issue in error.issues)


def test_the_kinds_are_siblings_not_subclasses_of_each_other() -> None:
    from fleetcheck.inventory import HostVarsError, InventoryError
    from fleetcheck.notify.config import NotifyConfigError
    from fleetcheck.policy.loader import PolicyError, WaiverError
    from fleetcheck.remediate.guard import CalendarError
    from fleetcheck.renew.passwords import PasswordFileError
    from fleetcheck.web.config import ServeConfigError

    kinds = [PolicyError, WaiverError, InventoryError, HostVarsError, NotifyConfigError,
             CalendarError, PasswordFileError, ServeConfigError]
    for kind in kinds:
        assert issubclass(kind, UserFileError)
        others = [k for k in kinds if k is not kind]
        assert not any(issubclass(kind, other) for other in others), kind
