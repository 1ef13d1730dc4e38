"""``collect import --waivers``: the report of the imported answers lists the waivers to review, as scan's does."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner
from test_collect_import import answer_text, inventory, write  # type: ignore[import-not-found]

from fleetcheck.cli import main


def test_collect_import_report_lists_the_waivers(tmp_path: Path) -> None:
    answers = tmp_path / "a"
    write(answers, "PC-01-20261201T080000Z.json", answer_text("win10-compliant", "PC-01"))
    waivers = tmp_path / "waivers.yaml"
    waivers.write_text("waivers:\n  - check: portal-trusted-site\n    hosts: [PC-01]\n    reason: 已合规\n"
                       "    approver: 张三\n    expires: 2099-12-31\n", encoding="utf-8")
    out = tmp_path / "o"
    result = CliRunner().invoke(main, ["--lang", "en", "collect", "import", str(answers), "--out", str(out),
                                       "-i", str(inventory(tmp_path / "inv.yaml", ["PC-01"])),
                                       "--db", f"sqlite:///{tmp_path / 'h.db'}", "--waivers", str(waivers)])
    assert result.exit_code == 1, result.output  # no gateway_cert variable: its certificate checks fail
    report = (out / "report.html").read_text(encoding="utf-8")
    section = report[report.index('<section id="waivers">'):]
    assert 'data-state="unused"' in section[:section.index("</section>")]  # PC-01 passes the check
