"""A local stand-in for the WeCom, DingTalk and Feishu robot endpoints and a generic webhook:
it checks each payload's documented shape and verifies signatures the way the real services do."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

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


class RobotHandler(BaseHTTPRequestHandler):
    """Answers as the real robot endpoints do; what it accepted goes to ``self.state.received``."""

    state: RobotServer

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
            self._flaky(body)
        else:
            self._answer(404, {})

    def _flaky(self, body: dict[str, Any]) -> None:
        if self.state.flaky_failures > 0:
            self.state.flaky_failures -= 1
            self._answer(503, {"error": "busy"})
            return
        self.state.received.append({"kind": "flaky", "body": body})
        self._answer(200, {})

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
        self.state.received.append({"kind": "wecom", "body": body})
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
        self.state.received.append({"kind": "dingtalk", "body": body})
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
        self.state.received.append({"kind": "feishu", "body": body})
        self._answer(200, {"code": 0, "msg": "success", "data": {}})

    def _generic(self, raw: bytes, body: dict[str, Any]) -> None:
        expected = "sha256=" + hmac.new(HOOK_SECRET.encode(), raw, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(self.headers.get("X-Fleetcheck-Signature", ""), expected):
            self._answer(401, {"error": "bad signature"})
            return
        self.state.received.append({"kind": "webhook", "body": body, "headers": dict(self.headers)})
        self._answer(204, {})



def _handler(state: RobotServer) -> type[BaseHTTPRequestHandler]:
    return type("Handler", (RobotHandler,), {"state": state})


def serve_robots() -> Iterator[RobotServer]:
    """Run the stand-in robot server on 127.0.0.1 (an ephemeral port) for the duration."""
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
