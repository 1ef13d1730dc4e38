"""docs/requirements.md and the code agree: every cited R<n> resolves, every listed check exists.

The code, the policy pack and the docs cite the SCCC requirements as ``R1`` …
``R15`` (a check's ``requirement:``, comments, docstrings, readiness's ``R14``).
Those citations must resolve inside the repository: each ``R<n>`` has a section
``## R<n> — 中文 / English`` in docs/requirements.md, which names the guide's
section, the Windows setting and the check ids that implement it.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parent.parent
DOC = REPO / "docs" / "requirements.md"
CITING = [REPO / "fleetcheck", REPO / "policies", REPO / "docs", REPO / "README.md"]

# "R12", "R3–R6", "R1..R15"; not "Windows Server 2008 R2" (a product name).
CITATION = re.compile(r"(?<!2008 )(?<!\w)R(\d{1,3})(?!\w)")
HEADING = re.compile(r"^## R(\d+) — (\S.*?) / (\S.*)$")
FIELD = re.compile(r"^- \*\*(Guide|Windows|Checks|Fix)\b[^*]*:\*\* (\S.*)$")
CHECK_ID = re.compile(r"`([a-z0-9][a-z0-9-]*)`")


def _sections(text: str) -> dict[int, dict[str, str]]:
    """``{n: {"title_zh", "title_en", "Guide", "Windows", "Checks", "Fix"}}`` of the doc."""
    sections: dict[int, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in text.splitlines():
        heading = HEADING.match(line)
        if heading:
            number = int(heading.group(1))
            assert number not in sections, f"R{number} has two sections"
            current = sections[number] = {"title_zh": heading.group(2), "title_en": heading.group(3)}
            continue
        if line.startswith("## "):
            current = None
            continue
        field = FIELD.match(line)
        if field and current is not None:
            current[field.group(1)] = field.group(2)
    return sections


def _policy_checks() -> dict[str, str | None]:
    """Every check id of policies/*.yaml → its ``requirement`` (None when it has none)."""
    checks: dict[str, str | None] = {}
    for path in sorted((REPO / "policies").glob("*.yaml")):
        document = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
        for check in document.get("checks") or []:
            checks[str(check["id"])] = check.get("requirement")
    return checks


def _citations() -> dict[int, list[str]]:
    """Every ``R<n>`` cited in the code, the policies and the docs → where (``file:line``)."""
    found: dict[int, list[str]] = {}
    files = [p for root in CITING for p in ([root] if root.is_file() else sorted(root.rglob("*")))]
    for path in files:
        if not path.is_file() or "__pycache__" in path.parts:
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue  # binary (hive fixtures, compiled files)
        for number, line in enumerate(text.splitlines(), 1):
            for match in CITATION.finditer(line):
                found.setdefault(int(match.group(1)), []).append(f"{path.relative_to(REPO)}:{number}")
    return found


SECTIONS = _sections(DOC.read_text(encoding="utf-8"))


def test_the_doc_has_r1_to_r15_each_with_titles_guide_windows_checks_and_fix() -> None:
    assert sorted(SECTIONS) == list(range(1, 16))
    for number, section in SECTIONS.items():
        assert re.search(r"[\u4e00-\u9fff]", section["title_zh"]), f"R{number}: Chinese title"
        assert re.search(r"[A-Za-z]{3}", section["title_en"]), f"R{number}: English title"
        missing = {"Guide", "Windows", "Checks", "Fix"} - section.keys()
        assert not missing, f"R{number} lacks {sorted(missing)}"
        # The guide's section is cited with its part numeral (一 … 四).
        assert re.search(r"[一二三四]\.", section["Guide"]), f"R{number}: guide section"


def test_every_requirement_cited_in_the_code_policies_and_docs_has_a_section() -> None:
    citations = _citations()
    # The scan does see the code's citations (else this test could not fail).
    assert {1, 10, 14, 15} <= citations.keys()
    unresolved = {f"R{n}": where[:3] for n, where in citations.items() if n not in SECTIONS}
    assert not unresolved, f"cited but not in docs/requirements.md: {unresolved}"


def test_every_check_id_listed_in_the_doc_exists_in_policies() -> None:
    checks = _policy_checks()
    assert checks, "policies/*.yaml has checks"
    for number, section in SECTIONS.items():
        listed = CHECK_ID.findall(section["Checks"])
        assert listed, f"R{number} lists no check"
        unknown = [c for c in listed if c not in checks]
        assert not unknown, f"R{number} lists checks not in policies/: {unknown}"


def test_every_policy_check_is_listed_under_its_own_requirement() -> None:
    for check_id, requirement in _policy_checks().items():
        assert requirement, f"{check_id} has no requirement"
        match = re.fullmatch(r"R(\d+)", str(requirement))
        assert match, f"{check_id}: requirement {requirement!r} is not R<n>"
        section = SECTIONS.get(int(match.group(1)))
        assert section is not None, f"{check_id}: {requirement} has no section"
        assert check_id in CHECK_ID.findall(section["Checks"]), f"{check_id} not listed under {requirement}"


@pytest.mark.parametrize(("line", "expected"), [
    ("requirement: R14", [14]),
    ("(R1, R3–R6) and R12-R14; R1..R15", [1, 3, 6, 12, 14, 1, 15]),
    ("Windows Server 2008 R2, Windows 7", []),
    ("DUE_REQUIREMENT = \"R16\"", [16]),
    ("SHA256 XR2 PR10 R2D2", []),
])
def test_the_citation_pattern(line: str, expected: list[int]) -> None:
    assert [int(m.group(1)) for m in CITATION.finditer(line)] == expected
