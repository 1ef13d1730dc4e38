"""Hostile YAML in every loader: bounded aliases, depth, sizes; value errors are file:line:col.

Issue 13 findings 3, 6 and 8: a 477-byte alias bomb, ~5,000-deep nesting,
impossible dates, ``!!float x`` / ``!!int abc`` / ``!!bool maybe``, integers
over Python's 4,300-digit limit and forbidden characters each give a
positioned, bilingual message (never a traceback, never a long wait); a
password-like value is never quoted in an error.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from fleetcheck.cli import main
from fleetcheck.yamlfile import (
    MAX_ALIAS_EXPANSION,
    UserFileError,
    parse_data,
    parse_text,
    read_data,
)

POSITIONED = re.compile(r"^\S+:\d+:\d+: ", re.MULTILINE)


def _bomb(levels: int = 9) -> str:
    """The classic billion-laughs document: ``levels`` of nine aliases each."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels):
        prev, cur = chr(96 + i), chr(97 + i)
        lines.append(f"{cur}: &{cur} [" + ",".join(f"*{prev}" for _ in range(9)) + "]")
    return "\n".join(lines) + "\n"


HOSTILE: dict[str, tuple[str, str]] = {
    # name: (document, what the message must say)
    "alias-bomb": (_bomb(), "aliases (*name) expand to too much data"),
    "recursive-alias": ("a: &a [*a]\n", "refers to data that contains itself"),
    "deep-flow": ("x: " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
    "deep-block": ("".join("  " * i + f"k{i}:\n" for i in range(300)), "nested too deeply"),
    "impossible-date": ("d: 2026-02-30\n", "is not a valid date"),
    "month-13": ("until: 2027-13-01\n", "is not a valid date"),
    "float-tag": ("x: !!float x\n", "'x' is not a number"),
    "int-tag": ("x: !!int abc\n", "'abc' is not a whole number"),
    "bool-tag": ("x: !!bool maybe\n", "'maybe' is not true or false"),
    "timestamp-tag": ("x: !!timestamp nope\n", "is not a valid date"),
    "huge-int": ("x: " + "9" * 5000 + "\n", "number is too large"),
    "huge-hex": ("x: 0x" + "f" * 5000 + "\n", "number is too large"),
    "control-char": ("a: b\x01c\n", "is not allowed in YAML"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_yaml_is_one_positioned_issue(name: str) -> None:
    text, expected = HOSTILE[name]
    with pytest.raises(UserFileError) as caught:
        parse_data(text, "f.yaml")
    english = caught.value.format("en")
    assert expected in english
    assert POSITIONED.search(english), english
    assert all(i.line is not None and i.col is not None for i in caught.value.issues)
    chinese = caught.value.format("zh")
    assert re.search(r"[\u4e00-\u9fff]", chinese), chinese


def test_alias_within_the_budget_still_loads() -> None:
    doc = "base: &b {x: 1, y: [1, 2, 3]}\none: *b\ntwo: {<<: *b, z: 2}\n"
    data = parse_data(doc, "f.yaml")
    assert data["one"] == {"x": 1, "y": [1, 2, 3]}
    assert data["two"]["z"] == 2 and data["two"]["x"] == 1
    assert type(data["one"]) is dict


def test_alias_budget_counts_expansion_beyond_the_file_itself() -> None:
    # a long literal file with no aliases is fine however many nodes it has
    big = "items:\n" + "".join(f"  - {i}\n" for i in range(MAX_ALIAS_EXPANSION + 10))
    assert len(parse_data(big, "f.yaml")["items"]) == MAX_ALIAS_EXPANSION + 10


def test_bomb_is_refused_without_building_it() -> None:
    # the expansion is computed on the node graph: a 10^12-node bomb costs nothing
    assert "aliases (*name)" in parse_text(_bomb(13), "f.yaml").issues[0].message.en


# --------------------------------------------------------------------------- every loader


def _policy(path: Path) -> object:
    from fleetcheck.policy.loader import load_policy

    return load_policy(path)


def _waivers(path: Path) -> object:
    from fleetcheck.policy.loader import load_waivers

    return load_waivers(path)


def _inventory(path: Path) -> object:
    from fleetcheck.inventory import load_inventory

    return load_inventory(path)


def _notify(path: Path) -> object:
    from fleetcheck.notify.config import load_notify_config

    return load_notify_config(path)


def _office(path: Path) -> object:
    from fleetcheck.sim.office import OfficeSpec

    return OfficeSpec.load(path)


def _image(path: Path) -> object:
    from fleetcheck.sim.image import load_spec

    return load_spec(path)


def _calendar(path: Path) -> object:
    from fleetcheck.remediate.guard import TradingCalendar

    return TradingCalendar.load(path)


def _errors() -> tuple[type[Exception], ...]:
    from fleetcheck.inventory import InventoryError
    from fleetcheck.remediate.guard import CalendarError
    from fleetcheck.sim.image import ImageError
    from fleetcheck.sim.office import OfficeError

    # UserFileError: the one family of bad user files (policy, waivers, notify, ...)
    return (UserFileError, InventoryError, CalendarError, ImageError, OfficeError)


LOADERS: dict[str, Callable[[Path], object]] = {
    "policy": _policy,
    "waivers": _waivers,
    "inventory": _inventory,
    "notify": _notify,
    "office": _office,
    "image": _image,
    "calendar": _calendar,
}


@pytest.mark.parametrize("loader", sorted(LOADERS))
@pytest.mark.parametrize(
    "name", ["alias-bomb", "deep-flow", "impossible-date", "int-tag", "huge-int", "control-char"]
)
def test_every_loader_reports_hostile_yaml_with_a_position(
    tmp_path: Path, loader: str, name: str
) -> None:
    text, expected = HOSTILE[name]
    path = tmp_path / "f.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(_errors()) as caught:
        LOADERS[loader](path)
    message = caught.value.format("en") if isinstance(caught.value, UserFileError) else str(caught.value)
    if hasattr(caught.value, "text"):
        message = caught.value.text.en
    assert expected in message, message
    assert re.search(r"f\.yaml:\d+:\d+", message), message


def test_waiver_with_an_impossible_date_is_positioned(tmp_path: Path) -> None:
    path = tmp_path / "waivers.yaml"
    path.write_text(
        "waivers:\n  - check: gateway-cert\n    host: PC-1\n    reason: r\n    until: 2027-13-01\n",
        encoding="utf-8",
    )
    from fleetcheck.policy.loader import WaiverError

    with pytest.raises(WaiverError) as caught:
        _waivers(path)
    assert caught.value.issues[0].line == 5
    assert "'2027-13-01' is not a valid date" in caught.value.format("en")


@pytest.mark.parametrize(
    ("command", "content"),
    [
        (["inventory", "check"], "all:\n  hosts:\n    PC-1: {ansible_port: !!int abc}\n"),
        (["policy", "lint"], "id: x\ntitle: t\nchecks: " + "[" * 5000 + "\n"),
        (["inventory", "check"], _bomb()),
    ],
)
def test_cli_exit_2_and_no_traceback(tmp_path: Path, command: list[str], content: str) -> None:
    path = tmp_path / "f.yaml"
    path.write_text(content, encoding="utf-8")
    result = CliRunner().invoke(main, ["--lang", "en", *command, str(path)])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert re.search(r"f\.yaml:\d+:\d+", result.output)


def test_serve_config_goes_through_the_bounded_loader(tmp_path: Path) -> None:
    path = tmp_path / "serve.yaml"
    path.write_text("users: {admin: !!int abc}\n", encoding="utf-8")
    code = f"from pathlib import Path; from fleetcheck.commands.serve import load_config; load_config(Path({str(path)!r}))"
    run = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    assert "serve.yaml:1:16" in run.stderr


def test_read_data_gives_plain_types(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    path.write_text("a: |\n  text\nb: 0x10\nc: 1.5\nd: [x]\n", encoding="utf-8")
    data = read_data(path)
    assert data == {"a": "text\n", "b": 16, "c": 1.5, "d": ["x"]}
    assert [type(v) for v in data.values()] == [str, int, float, list]


# --------------------------------------------------------------------------- secrets (finding 8)

SECRET_SHAPES = {
    "list": "all:\n  hosts:\n    PC-1:\n      ansible_host: 127.0.0.1\n      ansible_password:\n        - Hunter2Secret\n",
    "mapping": "all:\n  hosts:\n    PC-1:\n      ansible_host: 127.0.0.1\n      ansible_password:\n        pw: Hunter2Secret\n",
    "tagged": "all:\n  hosts:\n    PC-1:\n      ansible_password: !!int Hunter2Secret\n",
    "broken-folded": "all:\n  hosts:\n    PC-1:\n      ansible_password: >\n        Hunter2Secret\n      x: [\n",
    "token-key": "all:\n  hosts:\n    PC-1:\n      ansible_host: 127.0.0.1\n      api_token:\n        - !!float Hunter2Secret\n",
}


@pytest.mark.parametrize("shape", sorted(SECRET_SHAPES))
def test_inventory_check_never_echoes_a_password(tmp_path: Path, shape: str) -> None:
    path = tmp_path / "inv.yaml"
    path.write_text(SECRET_SHAPES[shape], encoding="utf-8")
    result = CliRunner().invoke(main, ["--lang", "en", "inventory", "check", str(path)])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "inv.yaml:" in result.output
    assert "Hunter2Secret" not in result.output


# --------------------------------------------------------------------------- found by the fuzz suite


@pytest.mark.parametrize(
    "content",
    [
        "timezone: " + "x" * 300 + "\n",  # ZoneInfo raised OSError (file name too long)
        "~: 1\ntimezone: Asia/Shanghai\n",  # a null key: sorting the unknown keys raised TypeError
        "holidays: 5\n",  # iterating an int raised TypeError
        "{a: 1}: x\n",  # a complex key: plain data raised TypeError (unhashable)
    ],
)
def test_calendar_oddities_are_calendar_errors(tmp_path: Path, content: str) -> None:
    from fleetcheck.remediate.guard import CalendarError

    path = tmp_path / "calendar.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CalendarError):
        _calendar(path)


def test_serve_config_with_a_null_key_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "serve.yaml"
    path.write_text("~: 1\nusers: {}\n", encoding="utf-8")
    code = f"from pathlib import Path; from fleetcheck.commands.serve import load_config; load_config(Path({str(path)!r}))"
    run = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize("content", ['"A#0": 2026-02-30\n', '"A#0": !!int S3cretPw\n', _bomb()])
def test_renew_passwords_file_goes_through_the_bounded_loader(tmp_path: Path, content: str) -> None:
    from fleetcheck.renew.passwords import PasswordFileError, load_password_file

    path = tmp_path / "renew-passwords.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(PasswordFileError) as caught:
        load_password_file(path)
    assert re.search(r"renew-passwords\.yaml:\d+:\d+: not valid YAML", caught.value.text.en)
    assert "S3cretPw" not in caught.value.text.en + caught.value.text.zh


@pytest.mark.parametrize(
    "content",
    [
        "extends: " + "x" * 5000 + "\n",  # is_file() raised OSError (file name too long)
        "extends: win10-compliant\nregistry:\n  'HKLM\\SOFTWARE\\Fuzz': just text\n",  # AttributeError in the merge
        "os: {version: '10.0'\n",  # a syntax error: positioned
    ],
)
def test_sim_image_oddities_are_image_errors(tmp_path: Path, content: str) -> None:
    from fleetcheck.sim.image import ImageError

    path = tmp_path / "image.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ImageError):
        _image(path)
