"""docs/windows-semantics.md's code pointers resolve: every `file.py::name` it cites exists.

The document says, for each Windows behaviour, which check, simulator code and
test rely on it; a rename or a split (issue 17 moved planners and the image
model) must not leave it pointing at code that is gone.
"""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "windows-semantics.md"
# Where the document's short paths are relative to (it writes `activex.py`, `sim_core/test_x.py`...).
ROOTS = ("fleetcheck", "fleetcheck/checks", "fleetcheck/sim", "fleetcheck/agent", "fleetcheck/remediate",
         "tests", "")
REFERENCE = re.compile(r"`([\w/.-]+\.(?:py|ps1))(?:::([\w.]+))?")


def _files(short: str) -> list[Path]:
    direct = [REPO / root / short for root in ROOTS if (REPO / root / short).is_file()]
    if direct:
        return direct
    return [p for p in REPO.glob(f"**/{short}") if ".venv" not in p.parts and "egg-info" not in str(p)]


def unresolved(text: str) -> list[str]:
    missing = []
    for match in REFERENCE.finditer(text):
        short, name = match.group(1), match.group(2)
        files = _files(short)
        if not files:
            missing.append(f"{short}: no such file")
        elif name and not any(re.search(rf"\b{re.escape(name.split('.')[0])}\b", f.read_text(encoding="utf-8"))
                              for f in files):
            missing.append(f"{short}::{name}: not in that file")
    return missing


def test_every_code_pointer_resolves() -> None:
    assert unresolved(DOC.read_text(encoding="utf-8")) == []


def test_a_stale_pointer_is_found() -> None:
    assert unresolved("`activex.py::no_such_helper_here` and `remediate/nothing.py`") == [
        "activex.py::no_such_helper_here: not in that file", "remediate/nothing.py: no such file"]
