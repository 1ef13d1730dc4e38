"""WeCom, DingTalk, Feishu and generic webhooks against a local HTTP server that checks each
payload's documented shape and verifies signatures the way the real services do."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from fleetcheck.notify import NotifyConfig, notify_after_scan
from fleetcheck.notify.channels import mask_url

from .conftest import FakeSleep
from .fleet import down_host, failing_host, office
from .robots import (
    DING_SECRET,
    DING_TOKEN,
    FEISHU_SECRET,
    FEISHU_TOKEN,
    HOOK_SECRET,
    WECOM_KEY,
    RobotServer,
)

ENV = {"DING_SECRET": DING_SECRET, "FEISHU_SECRET": FEISHU_SECRET, "HOOK_SECRET": HOOK_SECRET}


def _config(robots: RobotServer, notify_on: str = "always", **over: Any) -> NotifyConfig:
    channels = [
        {"type": "wecom", "webhook": robots.url(f"/cgi-bin/webhook/send?key={WECOM_KEY}")},
        {"type": "dingtalk", "webhook": robots.url(f"/robot/send?access_token={DING_TOKEN}"),
         "secret": {"env": "DING_SECRET"}},
        {"type": "feishu", "webhook": robots.url(f"/open-apis/bot/v2/hook/{FEISHU_TOKEN}"),
         "secret": {"env": "FEISHU_SECRET"}},
        {"type": "webhook", "url": robots.url("/hooks/fleetcheck"), "headers": {"X-Office": "shenzhen-01"},
         "hmac_secret": {"env": "HOOK_SECRET"}},
    ]
    return NotifyConfig.model_validate({"notify_on": notify_on, "channels": channels, **over})


def test_every_robot_gets_its_documented_payload_with_a_valid_signature(robots: RobotServer) -> None:
    before, now = office("run-1"), office("run-2", PC_SZ_003=failing_host("PC-SZ-003"))
    results = notify_after_scan(_config(robots, report_url="https://intranet.example/fc/{run_id}/"),
                                now, before, None, env=ENV)
    assert [(r.channel, r.ok) for r in results] == [
        ("wecom", True), ("dingtalk", True), ("feishu", True), ("webhook", True)]

    wecom = robots.of("wecom")[0]["body"]["markdown"]["content"]
    assert wecom.startswith("### fleetcheck 合规报告：合规率 50.0%（-12.5）")
    assert "**新增不合规主机（1 台）**" in wecom and "- PC-SZ-003：" in wecom
    assert "F00504Y0010#0" in wecom and "\\#" not in wecom  # certificate names read exactly
    assert "[完整报告](https://intranet.example/fc/run-2/)" in wecom

    ding = robots.of("dingtalk")[0]["body"]["markdown"]
    assert ding["title"].startswith("fleetcheck 合规报告") and "无法检查的主机（1 台）" in ding["text"]

    post = robots.of("feishu")[0]["body"]["content"]["post"]["zh_cn"]
    assert post["title"].startswith("fleetcheck 合规报告")
    texts = [e["text"] for p in post["content"] for e in p]
    assert any("PC-SZ-008：timeout HostTimeout" in t for t in texts)
    assert post["content"][-1] == [{"tag": "a", "text": "完整报告", "href": "https://intranet.example/fc/run-2/"}]

    hook = robots.of("webhook")[0]
    assert hook["headers"]["X-Office"] == "shenzhen-01"
    assert hook["body"]["event"] == "fleetcheck.run"
    assert hook["body"]["digest"]["compliance_pct"] == 50.0
    assert hook["body"]["digest"]["newly_failing"][0]["host"] == "PC-SZ-003"


def test_english_messages_use_the_english_post_locale(robots: RobotServer) -> None:
    results = notify_after_scan(_config(robots, lang="en"), office(), None, None, env=ENV)
    assert all(r.ok for r in results)
    post = robots.of("feishu")[0]["body"]["content"]["post"]
    assert list(post) == ["en_us"] and post["en_us"]["title"].startswith("fleetcheck compliance report")


def test_wrong_secrets_are_rejected_reported_once_and_masked(
    robots: RobotServer, caplog: pytest.LogCaptureFixture, fake_sleep: FakeSleep
) -> None:
    env = {"DING_SECRET": "SECwrong-secret-0000", "FEISHU_SECRET": "wrong-feishu-secret", "HOOK_SECRET": "nope-nope"}
    with caplog.at_level(logging.DEBUG, logger="fleetcheck.notify"):
        results = notify_after_scan(_config(robots), office(), None, None, env=env, retry=fake_sleep.policy())
    by = {r.channel: r for r in results}
    assert by["wecom"].ok  # one bad channel does not spoil the others
    for name in ("dingtalk", "feishu"):
        assert not by[name].ok and by[name].attempts == 1  # a bad signature is not retried
    assert "310000" in by["dingtalk"].error.zh and "access_token=***" in by["dingtalk"].error.zh  # type: ignore[union-attr]
    assert "19021" in by["feishu"].error.zh  # type: ignore[union-attr]
    assert not by["webhook"].ok and "HTTP 401" in by["webhook"].error.zh  # type: ignore[union-attr]
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 3
    everything = caplog.text + " ".join(r.error.zh + r.error.en for r in results if r.error)
    for secret in (DING_TOKEN, FEISHU_TOKEN, "SECwrong-secret-0000", "wrong-feishu-secret", "nope-nope"):
        assert secret not in everything
    assert robots.of("dingtalk") == [] and robots.of("feishu") == []


def test_notify_on_change_sends_nothing_for_an_identical_second_run(robots: RobotServer) -> None:
    cfg = _config(robots, notify_on="change")
    first = office("run-1")
    assert all(r.ok and not r.skipped for r in notify_after_scan(cfg, first, None, None, env=ENV))
    assert len(robots.received) == 4
    second = notify_after_scan(cfg, office("run-2"), first, None, env=ENV)
    assert all(r.skipped for r in second) and len(robots.received) == 4
    third = notify_after_scan(cfg, office("run-3", PC_SZ_001=down_host("PC-SZ-001")), office("run-2"), None, env=ENV)
    assert all(r.ok and not r.skipped for r in third) and len(robots.received) == 8


def test_notify_on_problems_is_quiet_for_a_clean_fleet(robots: RobotServer) -> None:
    from .fleet import ok_host

    clean = office(**{f"PC_SZ_00{i}": ok_host(f"PC-SZ-00{i}") for i in range(1, 9)})
    results = notify_after_scan(_config(robots, notify_on="problems"), clean, None, None, env=ENV)
    assert all(r.skipped for r in results) and robots.received == []


def test_transient_errors_are_retried_with_backoff(robots: RobotServer, fake_sleep: FakeSleep) -> None:
    robots.flaky_failures = 2
    cfg = NotifyConfig.model_validate({"notify_on": "always", "channels": [{"type": "webhook", "url": robots.url("/flaky")}]})
    (result,) = notify_after_scan(cfg, office(), None, None, retry=fake_sleep.policy())
    assert result.ok and result.attempts == 3 and fake_sleep.delays == [2.0, 4.0]
    assert len(robots.of("flaky")) == 1


def test_a_failure_after_the_last_retry_does_not_promise_a_later_retry(
    robots: RobotServer, fake_sleep: FakeSleep
) -> None:
    robots.flaky_failures = 10
    cfg = NotifyConfig.model_validate({"notify_on": "always", "channels": [{"type": "webhook", "url": robots.url("/flaky")}]})
    (result,) = notify_after_scan(cfg, office(), None, None, retry=fake_sleep.policy())
    assert not result.ok and result.attempts == 3 and fake_sleep.delays == [2.0, 4.0]
    assert result.error is not None
    assert "稍后会重试" not in result.error.zh and "retry later" not in result.error.en.lower()
    assert "尝试 3 次均失败" in result.error.zh and "failed after 3 attempts" in result.error.en
    assert "不会再重发" in result.error.zh and "will not be resent" in result.error.en
    assert robots.of("flaky") == []


def test_wecom_message_stays_under_4096_bytes(robots: RobotServer) -> None:
    many = {f"PC_SZ_{i:03d}": down_host(f"PC-SZ-{i:03d}-交易终端-很长的主机名") for i in range(100, 200)}
    cfg = NotifyConfig.model_validate({"notify_on": "always", "channels": [
        {"type": "wecom", "webhook": robots.url(f"/cgi-bin/webhook/send?key={WECOM_KEY}")}]})
    (result,) = notify_after_scan(cfg, office(**many), None, None)
    assert result.ok
    content = robots.of("wecom")[0]["body"]["markdown"]["content"]
    assert len(content.encode("utf-8")) <= 4096 and content.endswith("见完整报告")


def test_bad_config_file_is_a_result_not_an_exception(tmp_path: Any, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "notify.yaml"
    path.write_text("notify_on: sometimes\nchannels: []\n", encoding="utf-8")
    (result,) = notify_after_scan(path, office(), None, None)
    assert not result.ok and result.channel == "config"
    assert result.error is not None and "notify.yaml:1:12" in result.error.zh


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc-123", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=***"),
        ("https://oapi.dingtalk.com/robot/send?access_token=tok&timestamp=1&sign=x%2B",
         "https://oapi.dingtalk.com/robot/send?access_token=***&timestamp=1&sign=***"),
        ("https://open.feishu.cn/open-apis/bot/v2/hook/0f3a", "https://open.feishu.cn/open-apis/bot/v2/hook/***"),
        ("https://user:pw@hooks.example/x?a=1", "https://***@hooks.example/x?a=1"),
    ],
)
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked
