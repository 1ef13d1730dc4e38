"""Every file in tests/policy/invalid/ is rejected with exactly the issues its .expected lists.

``NAME.expected`` holds one line per expected issue: ``LINE:COL: text`` where
``text`` must appear in the English message of the issue at that position
(``?:?`` for an issue without a position; several fragments of one message are
separated by `` ... ``). Expected lines and issues match one to one, so one
mistake never explodes into many messages.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetcheck.policy.loader import PolicyError, load_policy

from .conftest import INVALID

CASES = sorted(INVALID.glob("*.yaml"))


def _expected(path: Path) -> list[tuple[str, str]]:
    lines = path.with_suffix(".expected").read_text(encoding="utf-8").splitlines()
    out = []
    for line in lines:
        if not line.strip() or line.startswith("#"):
            continue
        where, text = line.split(": ", 1)
        out.append((where, text))
    return out


def test_every_invalid_case_has_expectations() -> None:
    assert len(CASES) >= 10
    for case in CASES:
        assert case.with_suffix(".expected").is_file(), f"{case.name} needs a .expected file"


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_invalid_policy_is_rejected_with_positions(case: Path) -> None:
    with pytest.raises(PolicyError) as info:
        load_policy(case)
    issues = info.value.issues
    got = [
        (f"{i.line}:{i.col}" if i.line is not None else "?:?", i.message.en) for i in issues
    ]
    expected = _expected(case)
    assert len(got) == len(expected), got
    remaining = list(got)
    for where, text in expected:
        fragments = text.split(" ... ")
        match = next(
            (g for g in remaining if g[0] == where and all(f in g[1] for f in fragments)), None
        )
        assert match is not None, f"{where}: {text!r} not in {remaining}"
        remaining.remove(match)
    # the formatted block names file:line:col, shows the source line and a caret
    block = info.value.format("en")
    for issue in issues:
        if issue.line is not None:
            assert f"{case}:{issue.line}:{issue.col}: " in block
    assert "Traceback" not in block
    assert "pydantic" not in block and "Input should be" not in block
    # every error's str() is English (the root's rule); the Chinese block is format("zh")
    assert str(info.value) == info.value.format("en")
    assert info.value.format("zh") != info.value.format("en")


def test_issue_format_shows_source_and_caret() -> None:
    with pytest.raises(PolicyError) as info:
        load_policy(INVALID / "misprinted-clsid.yaml")
    text = info.value.format("en").splitlines()
    assert text[0].endswith(
        "misprinted-clsid.yaml:9:12: CLSID {BOEF56AD-D711-412D-BE74-A751595F3633} is not "
        "hexadecimal: it contains 'O' (the letter O where the digit 0 is meant?)"
    )
    assert text[1] == '        clsid: "{BOEF56AD-D711-412D-BE74-A751595F3633}"'
    assert text[2] == "    " + " " * 11 + "^"
