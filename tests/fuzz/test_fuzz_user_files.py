"""Fuzz every kind of file a user writes, through the real loaders (issue 13, standing suite).

Each kind starts from a shipped or example file; hypothesis applies one to
three mutations — byte level (deletions, duplications, random or control
bytes, invalid UTF-8, BOMs, truncation) and token level (a value swapped for
another type, an injected tag, a huge number, an impossible date, deep
nesting, an alias bomb, a duplicated or deleted line, a long string) — and
the loader must return a model or raise its own error type, whose message
can be formatted in both languages. Never a traceback; each case within the
time and memory budgets of ``conftest.py``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleetcheck.resources import policies_dir

from .conftest import CaseLog, examples

ROOT = Path(__file__).resolve().parents[2]
SIM = ROOT / "fleetcheck" / "sim"


# --------------------------------------------------------------------------- seeds

WAIVERS_SEED = """\
waivers:
  - check: ie-mode-portal          # check id (or policy-id/check-id)
    hosts: [PC-SZ-014]
    groups: [shenzhen]
    reason: 该机只做查询，不做证书更新
    approver: 张三
    expires: 2026-12-31
  - check: sccc-gateway-cert/gateway-cert-present
    hosts: [PC-SZ-001, PC-SZ-002]
    reason: replaced next week
    approver: Li Si
    expires: 2027-01-15
"""

CALENDAR_SEED = """\
timezone: Asia/Shanghai
sessions: [["09:15", "11:30"], ["13:00", "15:00"]]
holidays: [2026-01-01, 2026-02-16, 2026-02-17]
extra_trading_days: [2026-02-28]
"""

SERVE_SEED = """\
users:
  admin: "pbkdf2_sha256$600000$c2FsdHNhbHRzYWx0$3q2+7w=="
session_secret: {env: FC_SESSION_SECRET}
calendar: calendar.yaml
trading_processes: [TdxW.exe, XtItClient.exe]
"""


def _read(path: Path) -> bytes:
    return path.read_bytes()


@dataclass(frozen=True)
class Kind:
    name: str
    seed: bytes
    load: Callable[[Path], Any]
    cases: int


def _policy(path: Path) -> Any:
    from fleetcheck.policy.loader import load_policy

    return load_policy(path)


def _waivers(path: Path) -> Any:
    from fleetcheck.policy.loader import load_waivers

    return load_waivers(path)


def _inventory(path: Path) -> Any:
    from fleetcheck.inventory import PasswordSources, load_inventory

    return load_inventory(path, PasswordSources(environ={"FC_WINRM_PASSWORD": "x", "FC_PW": "x"},
                                                keyring_lookup=lambda _s, _u: None))


def _notify(path: Path) -> Any:
    from fleetcheck.notify.config import load_notify_config

    return load_notify_config(path)


def _office(path: Path) -> Any:
    from fleetcheck.sim.office import OfficeSpec

    return OfficeSpec.load(path)


def _image(path: Path) -> Any:
    from fleetcheck.sim.image import load_spec

    return load_spec(path)


def _calendar(path: Path) -> Any:
    from fleetcheck.remediate.guard import TradingCalendar

    return TradingCalendar.load(path)


def _serve(path: Path) -> Any:
    from fleetcheck.commands.serve import load_config

    return load_config(path)


KINDS = {
    k.name: k
    for k in (
        Kind("policy", _read(policies_dir() / "sccc-gateway-cert.yaml"), _policy, 360),
        Kind("waivers", WAIVERS_SEED.encode(), _waivers, 330),
        Kind("inventory", _read(ROOT / "inventory.example.yaml"), _inventory, 380),
        Kind("notify", _read(ROOT / "notify.example.yaml"), _notify, 330),
        Kind("office", _read(SIM / "offices" / "demo.yaml"), _office, 300),
        Kind("image", _read(SIM / "images" / "win10-compliant.yaml"), _image, 220),
        Kind("image-extends", _read(SIM / "images" / "win10-activex-disabled.yaml"), _image, 150),
        Kind("calendar", CALENDAR_SEED.encode(), _calendar, 300),
        Kind("serve", SERVE_SEED.encode(), _serve, 300),
    )
}


def _errors() -> tuple[type[BaseException], ...]:
    from fleetcheck.inventory import InventoryError
    from fleetcheck.remediate.guard import CalendarError
    from fleetcheck.sim.image import ImageError
    from fleetcheck.sim.office import OfficeError
    from fleetcheck.yamlfile import UserFileError

    # UserFileError: the one family of bad user files (policy, waivers, notify, ...)
    return (UserFileError, InventoryError, CalendarError, ImageError, OfficeError)


# --------------------------------------------------------------------------- mutations

HOSTILE_VALUES = [
    "2026-02-30", "2027-13-01", "!!float x", "!!int abc", "!!bool maybe", "!!timestamp nope",
    "!!binary '@@'", "!!set [a]", "!!python/object:os.system ls", "!foo bar", "!!str", "!!map []",
    "9" * 5000, "0x" + "f" * 5000, "-" + "9" * 4400, "1e999", ".nan", "-.inf", "0o777777", "null", "~",
    "[]", "{}", "[1, [2, [3]]]", "{a: {b: {c: d}}}", "true", "no", "''", '""', "'a: b'", "*undefined",
    "&x 1", "<<: {a: 1}", "\"\\ud800\"", "\"\\x1b]0;t\\x07\"", "\"\\u202e\"", "|\n  block", ">-\n  folded",
    "@reserved", "`tick", "%TAG", "? complex", "- item", ": value",
    "{{ host.gateway_cert }}", "{% for i in range(99999999) %}x{% endfor %}", "{{ 'a' * 999999999 }}",
    "{{ host.x ", "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
]


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


def _bomb() -> str:
    lines = ['b0: &b0 ["x","x","x","x","x","x","x","x","x"]']
    for i in range(1, 9):
        lines.append(f"b{i}: &b{i} [" + ",".join(f"*b{i - 1}" for _ in range(9)) + "]")
    return "\n".join(lines) + "\n"


_WHERE = st.floats(0, 1)
# What each mutation kind draws besides its kind (``bomb`` and ``alias-use``: a position only).
_MUTATION_ARGS: dict[str, st.SearchStrategy[Any]] = {
    **{kind: st.tuples(_WHERE, _WHERE) for kind in ("delete", "duplicate", "truncate", "flip", "dup-line",
                                                      "del-line", "indent")},
    "insert-bytes": st.tuples(_WHERE, st.binary(min_size=1, max_size=12)),
    "control": st.tuples(_WHERE, st.sampled_from(["\x00", "\x01", "\x1b", "\x7f", "\x85", "\u2028", "\ufeff", "\t", "\r"])),
    "bad-utf8": st.tuples(_WHERE, st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xe4\xb8", b"\xd6\xd0"])),
    "bom": st.sampled_from([b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf\xef\xbb\xbf"]),
    "value": st.tuples(_WHERE, st.sampled_from(HOSTILE_VALUES) | st.text(max_size=20)),
    "tag-key": st.tuples(_WHERE, st.sampled_from(["!!int", "!!float", "!!bool", "!!timestamp", "!!seq", "!!map", "!custom"])),
    "deep": st.tuples(_WHERE, st.sampled_from([50, 99, 101, 150, 5000])),
    "long": st.tuples(_WHERE, st.sampled_from([10_000, 200_000, 1_000_001])),
}


@st.composite
def mutation(draw: st.DrawFn) -> tuple[str, Any]:
    kind = draw(
        st.sampled_from(
            [
                "delete", "duplicate", "insert-bytes", "flip", "control", "bad-utf8", "bom", "truncate",
                "value", "value", "value", "tag-key", "dup-line", "del-line", "indent", "deep", "bomb",
                "long", "alias-use",
            ]
        )
    )
    return kind, draw(_MUTATION_ARGS.get(kind, _WHERE))


def _at(data: bytes, where: float) -> int:
    return min(len(data), int(where * len(data)))


def _line_index(lines: list[bytes], where: float) -> int:
    return min(len(lines) - 1, int(where * len(lines))) if lines else 0


def _replace_value(line: bytes, value: str) -> bytes:
    text = line.decode("utf-8", "replace")
    head, sep, _ = text.partition(": ")
    if not sep:
        stripped = text.lstrip()
        if stripped.startswith("- "):
            return (text[: len(text) - len(stripped)] + "- " + value).encode("utf-8", "surrogatepass")
        return (text + ": " + value).encode("utf-8", "surrogatepass")
    return (head + ": " + value).encode("utf-8", "surrogatepass")


_LINE_KINDS = frozenset({"value", "tag-key", "dup-line", "del-line", "indent", "deep", "long", "alias-use"})


def apply(seed: bytes, mutations: list[tuple[str, Any]]) -> bytes:
    data = seed
    for kind, arg in mutations:
        data = _mutate_line(data, kind, arg) if kind in _LINE_KINDS else _mutate_bytes(data, kind, arg)
    return data


def _mutate_bytes(data: bytes, kind: str, arg: Any) -> bytes:
    """A mutation at a byte position (or of the whole file: ``bom``, ``bomb``)."""
    if kind == "delete":
        a, b = sorted((_at(data, arg[0]), _at(data, arg[1])))
        return data[:a] + data[min(b, a + 400) :]
    if kind == "duplicate":
        a, b = sorted((_at(data, arg[0]), _at(data, arg[1])))
        b = min(b, a + 400)
        return data[:b] + data[a:b] + data[b:]
    if kind == "truncate":
        return data[: _at(data, arg[0])]
    if kind == "flip":
        i = _at(data, arg[0])
        return data[:i] + bytes([data[i] ^ (1 << int(arg[1] * 7.99))]) + data[i + 1 :] if i < len(data) else data
    if kind in ("insert-bytes", "bad-utf8", "control"):
        i = _at(data, arg[0])
        inserted = arg[1].encode("utf-8") if kind == "control" else arg[1]
        return data[:i] + inserted + data[i:]
    if kind == "bom":
        return arg + data
    if kind == "bomb":
        return _bomb().encode() + data
    return data


def _mutate_line(data: bytes, kind: str, arg: Any) -> bytes:
    """A mutation of one line, chosen by position (``alias-use``'s argument is the position itself)."""
    lines = data.split(b"\n")
    i = _line_index(lines, arg if kind == "alias-use" else arg[0])
    if kind == "value":
        lines[i] = _replace_value(lines[i], arg[1])
    elif kind == "tag-key":
        lines[i] = lines[i].replace(b": ", b": " + arg[1].encode() + b" ", 1)
    elif kind == "dup-line":
        lines.insert(i, lines[i])
    elif kind == "del-line":
        del lines[i]
    elif kind == "indent":
        lines[i] = b" " * int(arg[1] * 9) + lines[i].lstrip(b" ")
    elif kind == "deep":
        lines[i] = _replace_value(lines[i], _deep(arg[1]))
    elif kind == "long":
        lines[i] = _replace_value(lines[i], "x" * arg[1])
    elif kind == "alias-use":
        lines[i] = _replace_value(lines[i], "*b8")
        return _bomb().encode() + b"\n".join(lines)
    return b"\n".join(lines)


def _check(kind: Kind, path: Path, data: bytes) -> str:
    path.write_bytes(data)
    try:
        kind.load(path)
    except _errors() as exc:
        # the error's text must be printable in both languages without failing
        formatter = getattr(exc, "format", None)
        if callable(formatter):
            assert formatter("zh") and formatter("en")
        else:
            assert str(exc)
        return "error"
    except SystemExit as exc:  # the CLI's clean exit (serve's config loader)
        assert exc.code == 2, exc.code
        return "exit-2"
    return "model"


@pytest.mark.parametrize("name", sorted(KINDS))
def test_fuzz_user_file(name: str, memory_budget: None, case_log: CaseLog, capsys: pytest.CaptureFixture[str]) -> None:
    kind = KINDS[name]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{name}.yaml"
        # The seed once, untimed: the loader's lazy imports are no case's CPU time (a pytest-xdist
        # worker may reach this file before any other test imported them).
        _check(kind, path, kind.seed)

        @settings(
            max_examples=examples(kind.cases),
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(st.lists(mutation(), min_size=1, max_size=3))
        def case(mutations: list[tuple[str, Any]]) -> None:
            data = apply(kind.seed, mutations)
            case_log.run(name, lambda: _check(kind, path, data), mutations)
            capsys.readouterr()  # serve's loader prints its error; keep the log small

        case()
    assert case_log.count >= examples(kind.cases)
    # the mutations reach both outcomes: a fuzz suite that never loads a model tests little
    assert case_log.outcomes.get("error", 0) + case_log.outcomes.get("exit-2", 0) > 0
