"""Issue acceptance: a scan of the demo office with --notify sends one e-mail with the report and
one message per configured robot, each listing the expiring certificates; an identical second
scan with --notify-on change sends nothing."""

from __future__ import annotations

import email
import email.policy
import json
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner
from xdist_support import worker_address

from fleetcheck.cli import main
from fleetcheck.commands.demo import demo_office_path
from fleetcheck.sim.office import start_office

from .conftest import free_port
from .robots import (
    DING_SECRET,
    DING_TOKEN,
    FEISHU_SECRET,
    FEISHU_TOKEN,
    WECOM_KEY,
    RobotServer,
)
from .test_email import Inbox

pytestmark = pytest.mark.sim


@pytest.fixture(scope="module")
def demo_inventory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    state = tmp_path_factory.mktemp("demo-office")
    with start_office(demo_office_path(), state, first_address=worker_address("127.0.153.1"),
                      now=datetime.now(timezone.utc)) as office:
        yield office.write_inventory(state / "inventory.yaml")


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def _expiring_cns(results: Path, within_days: int = 30) -> set[str]:
    run = json.loads(results.read_text(encoding="utf-8"))
    return {
        f["details"]["subject_cn"]
        for host in run["hosts"] for f in host["findings"]
        if f["check_type"] == "certificate" and f["details"].get("days_left") is not None
        and f["details"]["days_left"] < within_days
    }


def test_demo_office_scan_notifies_each_channel_once_with_expiring_certificates(
    demo_inventory: Path, robots: RobotServer, smtp: tuple[Inbox, int], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    inbox, port = smtp
    monkeypatch.setenv("DING_SECRET", DING_SECRET)
    monkeypatch.setenv("FEISHU_SECRET", FEISHU_SECRET)
    config = tmp_path / "notify.yaml"
    config.write_text(
        "notify_on: always\nexpiring_days: 30\nchannels:\n"
        f"  - {{type: email, host: 127.0.0.1, port: {port}, security: none,\n"
        "     from: fleetcheck@branch.example, to: [it-ops@branch.example], attach_report: true}\n"
        f"  - {{type: wecom, webhook: '{robots.url(f'/cgi-bin/webhook/send?key={WECOM_KEY}')}'}}\n"
        f"  - {{type: dingtalk, webhook: '{robots.url(f'/robot/send?access_token={DING_TOKEN}')}',\n"
        "     secret: {env: DING_SECRET}}\n"
        f"  - {{type: feishu, webhook: '{robots.url(f'/open-apis/bot/v2/hook/{FEISHU_TOKEN}')}',\n"
        "     secret: {env: FEISHU_SECRET}}\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    args = ["scan", "-i", str(demo_inventory), "--out", str(out), "--db", str(tmp_path / "fc.db"),
            "--timeout", "30", "--notify", str(config)]
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 3, first.output  # the demo office has unreachable PCs by design
    expiring = _expiring_cns(out / "results.json")
    assert len(expiring) >= 3  # two expiring and one expired certificate in the demo office

    assert len(inbox.envelopes) == 1
    mail = email.message_from_bytes(inbox.envelopes[0].original_content, policy=email.policy.default)
    assert "合规" in str(mail["Subject"])
    attachments = [(part.get_filename(), part.get_content()) for part in mail.iter_attachments()]  # type: ignore[attr-defined]
    assert len(attachments) == 1
    name, html = attachments[0]
    assert name.endswith(".html") and "深证通证书更新环境合规报告" in html
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert all(cn in text for cn in expiring), text

    for kind in ("wecom", "dingtalk", "feishu"):
        messages = robots.of(kind)
        assert len(messages) == 1, (kind, robots.received)
        body = json.dumps(messages[0]["body"], ensure_ascii=False)
        assert all(cn in body for cn in expiring), (kind, sorted(expiring), body[:3000])

    second = CliRunner().invoke(main, [*args, "--notify-on", "change"])
    assert second.exit_code == 3, second.output
    assert len(inbox.envelopes) == 1 and len(robots.received) == 3  # nothing changed: nothing sent
