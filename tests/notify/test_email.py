"""E-mail against a real local SMTP server (aiosmtpd): STARTTLS + AUTH, plain, down, wrong password."""

from __future__ import annotations

import email
import email.policy
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from fleetcheck.notify import NotifyConfig, notify_after_scan
from fleetcheck.notify.digest import build_digest, render_subject

from .conftest import FakeSleep, TlsFiles, free_port
from .fleet import failing_host, office

PASSWORD = "Pa55-w0rd-不外传"
REPORT = "<!DOCTYPE html><html><body><h1>fleetcheck 报告</h1><p>PC-SZ-007 不合规</p></body></html>"


class Inbox:
    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted"


def _authenticator(server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == b"fleetcheck" and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def tls_smtp(tls_files: TlsFiles) -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        tls_context=tls_files.server_context(),
        require_starttls=True,
        auth_required=True,
        auth_require_tls=True,
        authenticator=_authenticator,
    )
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
def plain_smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def _config(port: int, tls_files: TlsFiles | None, **channel: Any) -> NotifyConfig:
    base: dict[str, Any] = {
        "type": "email",
        "host": "127.0.0.1",
        "port": port,
        "from": "fleetcheck@branch.example",
        "to": ["it-ops@branch.example", "张三 <zhangsan@branch.example>"],
    }
    if tls_files is not None:
        base |= {"security": "starttls", "username": "fleetcheck", "password": {"env": "SMTP_PW"},
                 "ca_file": tls_files.ca.name}
    else:
        base |= {"security": "none"}
    base |= channel
    cfg = NotifyConfig.model_validate({"notify_on": "always", "channels": [base]})
    return cfg.model_copy(update={"base_dir": tls_files.ca.parent if tls_files else None})


def _received(inbox: Inbox) -> email.message.EmailMessage:
    assert len(inbox.envelopes) == 1
    msg = email.message_from_bytes(inbox.envelopes[0].original_content, policy=email.policy.default)
    assert isinstance(msg, email.message.EmailMessage)
    return msg


def test_starttls_auth_delivery_with_chinese_subject_both_parts_and_report(
    tls_smtp: tuple[Inbox, int], tls_files: TlsFiles, tmp_path: Path, fake_sleep: FakeSleep
) -> None:
    inbox, port = tls_smtp
    report = tmp_path / "report.html"
    report.write_text(REPORT, encoding="utf-8")
    before, now = office("run-1"), office("run-2", PC_SZ_003=failing_host("PC-SZ-003"))

    results = notify_after_scan(_config(port, tls_files), now, before, report,
                                env={"SMTP_PW": PASSWORD}, retry=fake_sleep.policy())

    assert [(r.channel, r.ok, r.attempts) for r in results] == [("email", True, 1)]
    raw = inbox.envelopes[0].original_content
    assert b"=?utf-8?" in raw.lower()  # the subject travels RFC 2047-encoded
    assert PASSWORD.encode() not in raw
    msg = _received(inbox)
    assert msg["Subject"] == render_subject(build_digest(now, before))
    assert msg["Subject"].startswith("fleetcheck 合规报告：合规率 50.0%（-12.5）")
    assert msg["From"] == "fleetcheck@branch.example"
    assert msg["To"].addresses[1].display_name == "张三"
    assert inbox.envelopes[0].rcpt_tos == ["it-ops@branch.example", "zhangsan@branch.example"]
    assert msg.get_content_type() == "multipart/mixed"
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert text is not None and html is not None
    assert text.get_content_charset() == "utf-8"
    assert "新增不合规主机（1 台）" in text.get_content() and "PC-SZ-003" in text.get_content()
    assert "<h3>新增不合规主机（1 台）</h3>" in html.get_content()
    attachments = list(msg.iter_attachments())
    assert [a.get_filename() for a in attachments] == ["fleetcheck-report-run-2.html"]
    assert attachments[0].get_content_type() == "text/html"
    assert attachments[0].get_content_disposition() == "attachment"
    assert attachments[0].get_content() == REPORT
    assert attachments[0].get_payload(decode=True) == REPORT.encode("utf-8")


def test_plain_smtp_inline_report_in_english(plain_smtp: tuple[Inbox, int], tmp_path: Path) -> None:
    inbox, port = plain_smtp
    report = tmp_path / "report.html"
    report.write_text(REPORT, encoding="utf-8")
    cfg = _config(port, None, attach_report="inline")
    results = notify_after_scan(cfg, office(), None, report, lang="en")
    assert results[0].ok
    msg = _received(inbox)
    assert msg["Subject"].startswith("fleetcheck compliance report: 62.5% compliant")
    # an inline text/html part counts as a "body candidate", so look at all parts
    (attachment,) = [p for p in msg.iter_parts() if p.get_filename()]
    assert attachment.get_content_disposition() == "inline"
    assert attachment.get_content() == REPORT
    assert "Certificates expiring within 30 days or expired (2)" in msg.get_body(("plain",)).get_content()


def test_down_server_is_reported_once_after_bounded_retries(
    caplog: pytest.LogCaptureFixture, fake_sleep: FakeSleep
) -> None:
    port = free_port()  # nothing listens here
    cfg = _config(port, None, name="运维邮箱")
    with caplog.at_level(logging.DEBUG, logger="fleetcheck.notify"):
        results = notify_after_scan(cfg, office(), None, None, retry=fake_sleep.policy())
    (result,) = results
    assert not result.ok and result.attempts == 3
    assert fake_sleep.delays == [2.0, 4.0]
    assert result.error is not None
    assert f"127.0.0.1:{port}" in result.error.zh and "无法连接邮件服务器" in result.error.zh
    assert "运维邮箱" in result.error.zh and "扫描结果不受影响" in result.error.zh
    assert "cannot reach the mail server" in result.error.en
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "运维邮箱" in warnings[0].getMessage()


def test_retry_budget_stops_before_30_seconds(fake_sleep: FakeSleep) -> None:
    cfg = _config(free_port(), None)
    results = notify_after_scan(cfg, office(), None, None, retry=fake_sleep.policy(tries=10, base_delay=4.0))
    # waits 4, 8, 16 (28 s in all); a fourth wait of 32 s would pass the 30 s budget
    assert results[0].attempts == 4 and fake_sleep.delays == [4.0, 8.0, 16.0]
    assert sum(fake_sleep.delays) <= 30


def test_wrong_password_fails_once_without_retry_and_never_shows_it(
    tls_smtp: tuple[Inbox, int], tls_files: TlsFiles, fake_sleep: FakeSleep, caplog: pytest.LogCaptureFixture
) -> None:
    inbox, port = tls_smtp
    wrong = "not-the-password-123"
    with caplog.at_level(logging.DEBUG, logger="fleetcheck.notify"):
        results = notify_after_scan(_config(port, tls_files), office(), None, None,
                                    env={"SMTP_PW": wrong}, retry=fake_sleep.policy())
    (result,) = results
    assert not result.ok and result.attempts == 1 and fake_sleep.delays == []
    assert result.error is not None and "检查用户名和密码" in result.error.zh
    assert wrong not in caplog.text and wrong not in result.error.zh + result.error.en
    assert inbox.envelopes == []


def test_untrusted_server_certificate_is_a_clear_failure(
    tls_smtp: tuple[Inbox, int], tls_files: TlsFiles, fake_sleep: FakeSleep
) -> None:
    _, port = tls_smtp
    cfg = _config(port, tls_files)
    cfg = cfg.model_copy(update={"channels": [cfg.channels[0].model_copy(update={"ca_file": None})]})
    (result,) = notify_after_scan(cfg, office(), None, None, env={"SMTP_PW": PASSWORD}, retry=fake_sleep.policy())
    assert not result.ok and result.attempts == 1
    assert result.error is not None and "ca_file" in result.error.zh


def test_missing_password_variable_is_reported_not_raised(fake_sleep: FakeSleep) -> None:
    cfg = _config(free_port(), None)
    cfg = NotifyConfig.model_validate(
        {"notify_on": "always", "channels": [{"type": "email", "host": "127.0.0.1", "security": "none",
                                             "username": "u", "password": {"env": "NOPE_UNSET"},
                                             "from": "a@b.example", "to": ["c@d.example"]}]}
    )
    (result,) = notify_after_scan(cfg, office(), None, None, env={}, retry=fake_sleep.policy())
    assert not result.ok and result.error is not None and "NOPE_UNSET" in result.error.zh
