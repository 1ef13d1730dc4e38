"""WeCom, DingTalk, Feishu and generic webhooks against a local HTTP server that checks each
payload's documented shape and verifies signatures the way the real services do."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from fleetcheck.notify import NotifyConfig, notify_after_scan
from fleetcheck.notify.channels import mask_url

from .conftest import FakeSleep
from .fleet import down_host, failing_host, office

WECOM_KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
DING_TOKEN = "50cb6e954c89afa14fb97754eafd886d"
DING_SECRET = "SEC5a3ecf88f2b3eb50db30ecfc00f5"
FEISHU_TOKEN = "0f3a9c1e-2b4d-4e6f-8a7b-9c0d1e2f3a4b"
FEISHU_SECRET = "qP3sVx8kL0mN2bR5tY7w"
HOOK_SECRET = "generic-hook-secret-42"


@dataclass
class RobotServer:
    port: int = 0
    received: list[dict[str, Any]] = field(default_factory=list)
    flaky_failures: int = 0  # /flaky answers 503 this many times first

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [r for r in self.received if r["kind"] == kind]


def _fresh(ts: float, now: float) -> bool:
    return abs(now - ts) <= 3600  # both services reject timestamps more than an hour off


def _handler(state: RobotServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers["Content-Length"]))
            parts = urllib.parse.urlsplit(self.path)
            query = urllib.parse.parse_qs(parts.query)
            body = json.loads(raw.decode("utf-8"))
            assert self.headers["Content-Type"].startswith("application/json")
            if parts.path == "/cgi-bin/webhook/send":
                self._wecom(query, body)
            elif parts.path == "/robot/send":
                self._dingtalk(query, body)
            elif parts.path.startswith("/open-apis/bot/v2/hook/"):
                self._feishu(parts.path.rsplit("/", 1)[1], body)
            elif parts.path == "/hooks/fleetcheck":
                self._generic(raw, body)
            elif parts.path == "/flaky":
                if state.flaky_failures > 0:
                    state.flaky_failures -= 1
                    self._answer(503, {"error": "busy"})
                    return
                state.received.append({"kind": "flaky", "body": body})
                self._answer(200, {})
            else:
                self._answer(404, {})

        def _wecom(self, query: dict[str, list[str]], body: dict[str, Any]) -> None:
            if query.get("key") != [WECOM_KEY]:
                self._answer(200, {"errcode": 93000, "errmsg": "invalid webhook url"})
                return
            ok = (
                set(body) == {"msgtype", "markdown"}
                and body["msgtype"] == "markdown"
                and set(body["markdown"]) == {"content"}
                and len(body["markdown"]["content"].encode("utf-8")) <= 4096
            )
            if not ok:
                self._answer(200, {"errcode": 40008, "errmsg": "invalid message type"})
                return
            state.received.append({"kind": "wecom", "body": body})
            self._answer(200, {"errcode": 0, "errmsg": "ok"})

        def _dingtalk(self, query: dict[str, list[str]], body: dict[str, Any]) -> None:
            if query.get("access_token") != [DING_TOKEN]:
                self._answer(200, {"errcode": 300001, "errmsg": "token is not exist"})
                return
            ts = query["timestamp"][0]
            expected = base64.b64encode(
                hmac.new(DING_SECRET.encode(), f"{ts}\n{DING_SECRET}".encode(), hashlib.sha256).digest()
            ).decode()
            if query.get("sign") != [expected] or not _fresh(int(ts) / 1000, time.time()):
                self._answer(200, {"errcode": 310000, "errmsg": "sign not match"})
                return
            md = body.get("markdown", {})
            if body.get("msgtype") != "markdown" or not md.get("title") or not md.get("text"):
                self._answer(200, {"errcode": 40035, "errmsg": "missing markdown title/text"})
                return
            state.received.append({"kind": "dingtalk", "body": body})
            self._answer(200, {"errcode": 0, "errmsg": "ok"})

        def _feishu(self, token: str, body: dict[str, Any]) -> None:
            if token != FEISHU_TOKEN:
                self._answer(200, {"code": 19001, "msg": "param invalid: incoming webhook access token invalid"})
                return
            ts = body.get("timestamp")
            string_to_sign = f"{ts}\n{FEISHU_SECRET}"
            expected = base64.b64encode(
                hmac.new(string_to_sign.encode(), b"", digestmod=hashlib.sha256).digest()
            ).decode()
            if not isinstance(ts, str) or body.get("sign") != expected or not _fresh(int(ts), time.time()):
                self._answer(200, {"code": 19021, "msg": "sign match fail or timestamp is not within one hour"})
                return
            post = body.get("content", {}).get("post", {})
            locale = next(iter(post), None)
            doc = post.get(locale, {}) if locale else {}
            paragraphs = doc.get("content")
            valid = (
                body.get("msg_type") == "post"
                and locale in ("zh_cn", "en_us")
                and isinstance(doc.get("title"), str)
                and isinstance(paragraphs, list)
                and all(isinstance(p, list) and all(e.get("tag") in ("text", "a") for e in p) for p in paragraphs)
            )
            if not valid:
                self._answer(200, {"code": 9499, "msg": "Bad Request"})
                return
            state.received.append({"kind": "feishu", "body": body})
            self._answer(200, {"code": 0, "msg": "success", "data": {}})

        def _generic(self, raw: bytes, body: dict[str, Any]) -> None:
            expected = "sha256=" + hmac.new(HOOK_SECRET.encode(), raw, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(self.headers.get("X-Fleetcheck-Signature", ""), expected):
                self._answer(401, {"error": "bad signature"})
                return
            state.received.append({"kind": "webhook", "body": body, "headers": dict(self.headers)})
            self._answer(204, {})

    return Handler


@pytest.fixture
def robots() -> Iterator[RobotServer]:
    state = RobotServer()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


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
