"""Delivery channels: SMTP e-mail, WeCom, DingTalk and Feishu robots, a generic JSON webhook.

Each ``send_*`` function sends one message and returns, or raises
:class:`DeliveryError` saying what failed, what to do, and whether trying again
can help (``transient``). Retries, once-per-channel reporting and the "never
raise into the scan" rule live in :mod:`fleetcheck.notify.dispatch`.

Payload shapes follow each service's published documentation:

- WeCom group robot: ``POST <webhook>`` with
  ``{"msgtype": "markdown", "markdown": {"content": …}}`` (content at most 4096
  bytes of UTF-8); success is ``{"errcode": 0}``.
- DingTalk custom robot: ``{"msgtype": "markdown", "markdown": {"title": …, "text": …}}``;
  when signing, ``timestamp`` (milliseconds) and ``sign`` =
  base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}")), URL-encoded,
  are added to the query string; success is ``{"errcode": 0}``.
- Feishu custom bot: ``{"msg_type": "post", "content": {"post": {"zh_cn": {"title": …,
  "content": [[{"tag": "text", "text": …}], …]}}}}``; when signing, ``timestamp``
  (seconds, as a string) and ``sign`` = base64(HMAC-SHA256(key=f"{timestamp}\\n{secret}",
  msg=b"")) go in the JSON body; success is ``{"code": 0}``.
- Generic webhook: ``{"event": "fleetcheck.run", "title", "text", "digest": {…}}``;
  with ``hmac_secret`` the header (default ``X-Fleetcheck-Signature``) is
  ``sha256=<hex HMAC-SHA256(secret, raw body)>``, as GitHub does.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import smtplib
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from typing import Any

from fleetcheck.i18n import Lang, T, Text
from fleetcheck.notify.config import (
    DingTalkChannel,
    EmailChannel,
    FeishuChannel,
    WebhookChannel,
    WeComChannel,
    resolve_secret,
)
from fleetcheck.notify.digest import (
    Digest,
    render_html,
    render_lines,
    render_markdown,
    render_subject,
    render_text,
)

__all__ = [
    "DeliveryError",
    "Redactor",
    "SendContext",
    "build_email",
    "dingtalk_sign",
    "feishu_sign",
    "mask_url",
    "send_dingtalk",
    "send_email",
    "send_feishu",
    "send_webhook",
    "send_wecom",
    "webhook_signature",
]

WECOM_MAX_BYTES = 4096
HTTP_TIMEOUT = 10.0
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024  # most mail servers refuse bigger messages
_SECRET_PARAMS = {"key", "access_token", "token", "sign", "secret", "signature", "password"}


class DeliveryError(Exception):
    """One failed attempt. ``text`` is bilingual; ``transient`` says whether a retry can help.

    Internal: the dispatcher reports it as the notification's outcome, never as the command's error.
    """

    def __init__(self, text: Text, *, transient: bool) -> None:
        super().__init__(text.en)
        self.text = text
        self.transient = transient


def mask_url(url: str) -> str:
    """The URL with its secrets replaced by ``***``: key/access_token/sign… query values,
    user:password, and the token path segment of Feishu hooks.

    >>> mask_url("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc-123")
    'https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=***'
    >>> mask_url("https://open.feishu.cn/open-apis/bot/v2/hook/0f3a-77")
    'https://open.feishu.cn/open-apis/bot/v2/hook/***'
    """
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError:
        return "***"
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    path = re.sub(r"(/hook/)[^/]+", r"\1***", parts.path)
    query = "&".join(
        f"{k}=***" if k.lower() in _SECRET_PARAMS else (f"{k}={v}" if v else k)
        for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    )
    return urllib.parse.urlunsplit((parts.scheme, netloc, path, query, ""))


@dataclass
class Redactor:
    """Replaces every known secret (and secret-bearing URLs) in text before anyone sees it."""

    secrets: set[str] = field(default_factory=set, repr=False)  # a repr must not print what we hide

    def add(self, *values: str | None) -> None:
        for value in values:
            if value and len(value) >= 3:  # masking 1–2 characters would garble messages
                self.secrets.add(value)
                self.secrets.add(urllib.parse.quote_plus(value))
                self.secrets.add(urllib.parse.quote(value, safe=""))

    def add_url(self, url: str) -> None:
        parts = urllib.parse.urlsplit(url)
        for k, v in urllib.parse.parse_qsl(parts.query):
            if k.lower() in _SECRET_PARAMS:
                self.add(v)
        hook = re.search(r"/hook/([^/]+)", parts.path)
        if hook:
            self.add(hook.group(1))
        if parts.password:
            self.add(parts.password)

    def __call__(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text

    def text(self, value: Text) -> Text:
        return T(self(value.zh), self(value.en))


@dataclass
class SendContext:
    """What every channel needs besides its own config. ``now`` is wall-clock seconds (for signatures)."""

    lang: Lang
    redactor: Redactor
    now: Callable[[], float]
    env: Mapping[str, str] | None = field(default=None, repr=False)  # holds the referenced secrets
    report_html: Path | None = None
    base_dir: Path | None = None
    http_timeout: float = HTTP_TIMEOUT


# --------------------------------------------------------------------------- HTTP


def _post_json(
    url: str, payload: Any, ctx: SendContext, label: str, headers: Mapping[str, str] | None = None
) -> tuple[int, bytes]:
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    return _post_bytes(url, body, ctx, label, headers)


def _post_bytes(
    url: str, body: bytes, ctx: SendContext, label: str, headers: Mapping[str, str] | None = None
) -> tuple[int, bytes]:
    shown = mask_url(url)
    if not url.startswith(("https://", "http://")):
        raise DeliveryError(
            T(f"{label} 地址 {shown} 不是 http(s) 网址。", f"{label} address {shown} is not an http(s) URL."),
            transient=False,
        )
    request = urllib.request.Request(url, data=body, method="POST")
    request.add_header("Content-Type", "application/json; charset=utf-8")
    request.add_header("User-Agent", "fleetcheck-notify")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=ctx.http_timeout) as response:
            return int(response.status), response.read(1_000_000)
    except urllib.error.HTTPError as exc:
        transient = exc.code >= 500 or exc.code == 429
        what = T(
            f"{label}：{shown} 返回 HTTP {exc.code}。"
            + ("服务暂时不可用。" if transient else "请检查地址和密钥是否正确。"),
            f"{label}: {shown} answered HTTP {exc.code}. "
            + ("The service is unavailable for now." if transient else "Check the URL and key."),
        )
        raise DeliveryError(what, transient=transient) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        detail = ctx.redactor(f"{type(reason).__name__}: {reason}")
        if isinstance(reason, ssl.SSLCertVerificationError):
            raise DeliveryError(
                T(
                    f"{label}：{shown} 的 TLS 证书无法验证（{detail}）。",
                    f"{label}: the TLS certificate of {shown} cannot be verified ({detail}).",
                ),
                transient=False,
            ) from None
        raise DeliveryError(
            T(
                f"{label}：无法连接 {shown}（{detail}）；请检查网络、代理和防火墙。",
                f"{label}: cannot reach {shown} ({detail}); check the network, proxy and firewall.",
            ),
            transient=True,
        ) from None


def _robot_answer(status: int, raw: bytes, code_key: str, label: str, ctx: SendContext, url: str) -> None:
    """Robots answer HTTP 200 with an error code in the JSON body; non-zero is a failure."""
    try:
        answer = json.loads(raw.decode("utf-8", "replace") or "{}")
    except json.JSONDecodeError:
        answer = {}
    if not isinstance(answer, dict):
        answer = {}
    code = answer.get(code_key, answer.get("StatusCode", 0 if 200 <= status < 300 else status))
    if code in (0, "0"):
        return
    message = ctx.redactor(str(answer.get("errmsg") or answer.get("msg") or "")[:300])
    # Rate limits are the one robot error a later attempt can cure.
    transient = code in (45009, 130101, 9499, 11232)
    raise DeliveryError(
        T(
            f"{label}（{mask_url(url)}）拒绝了消息：错误码 {code} {message}；"
            "请检查 webhook 地址、签名密钥和机器人的安全设置。",
            f"{label} ({mask_url(url)}) rejected the message: code {code} {message}; check the"
            " webhook URL, the signing secret and the robot's security settings.",
        ),
        transient=transient,
    )


def _truncate_utf8(text: str, limit: int, lang: Lang) -> str:
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    note = "\n\n……内容过长已截断，见完整报告" if lang == "zh" else "\n\n… truncated, see the full report"
    budget = limit - len(note.encode("utf-8"))
    return data[:budget].decode("utf-8", "ignore") + note


def _webhook_url(value: Any, ctx: SendContext) -> str:
    url = resolve_secret(value, ctx.env)
    ctx.redactor.add_url(url)
    return url


# --------------------------------------------------------------------------- robots


def send_wecom(channel: WeComChannel, digest: Digest, ctx: SendContext, label: str) -> None:
    """WeCom group robot, markdown message."""
    url = _webhook_url(channel.webhook, ctx)
    content = _truncate_utf8(render_markdown(digest, ctx.lang), WECOM_MAX_BYTES, ctx.lang)
    status, raw = _post_json(url, {"msgtype": "markdown", "markdown": {"content": content}}, ctx, label)
    _robot_answer(status, raw, "errcode", label, ctx, url)


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's signature (not yet URL-encoded): base64(HMAC-SHA256(secret, "ts\\nsecret"))."""
    digest = hmac.new(
        secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode("ascii")


def send_dingtalk(channel: DingTalkChannel, digest: Digest, ctx: SendContext, label: str) -> None:
    """DingTalk custom robot, markdown message, signed in the query string when a secret is set."""
    url = _webhook_url(channel.webhook, ctx)
    if channel.secret is not None:
        secret = resolve_secret(channel.secret, ctx.env)
        ctx.redactor.add(secret)
        timestamp = int(ctx.now() * 1000)
        sign = dingtalk_sign(secret, timestamp)
        ctx.redactor.add(sign)
        sep = "&" if urllib.parse.urlsplit(url).query else "?"
        url = f"{url}{sep}timestamp={timestamp}&sign={urllib.parse.quote_plus(sign)}"
    payload = {
        "msgtype": "markdown",
        "markdown": {"title": render_subject(digest, ctx.lang), "text": render_markdown(digest, ctx.lang)},
    }
    status, raw = _post_json(url, payload, ctx, label)
    _robot_answer(status, raw, "errcode", label, ctx, url)


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """Feishu's signature: base64(HMAC-SHA256(key="ts\\nsecret", msg=b""))."""
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def _feishu_post(digest: Digest, lang: Lang) -> dict[str, Any]:
    headline, sections = render_lines(digest, lang)
    paragraphs: list[list[dict[str, str]]] = [[{"tag": "text", "text": headline}]]
    for section in sections:
        paragraphs.append([{"tag": "text", "text": section.title}])
        paragraphs += [[{"tag": "text", "text": f"• {item}"}] for item in section.items]
    if digest.report_url:
        label = "完整报告" if lang == "zh" else "Full report"
        paragraphs.append([{"tag": "a", "text": label, "href": digest.report_url}])
    locale = "zh_cn" if lang == "zh" else "en_us"
    return {"post": {locale: {"title": render_subject(digest, lang), "content": paragraphs}}}


def send_feishu(channel: FeishuChannel, digest: Digest, ctx: SendContext, label: str) -> None:
    """Feishu custom bot, rich-text (post) message, signed in the body when a secret is set."""
    url = _webhook_url(channel.webhook, ctx)
    payload: dict[str, Any] = {}
    if channel.secret is not None:
        secret = resolve_secret(channel.secret, ctx.env)
        ctx.redactor.add(secret)
        timestamp = int(ctx.now())
        payload["timestamp"] = str(timestamp)
        payload["sign"] = feishu_sign(secret, timestamp)
    payload["msg_type"] = "post"
    payload["content"] = _feishu_post(digest, ctx.lang)
    status, raw = _post_json(url, payload, ctx, label)
    _robot_answer(status, raw, "code", label, ctx, url)


def webhook_signature(secret: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256(secret, body)."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def send_webhook(channel: WebhookChannel, digest: Digest, ctx: SendContext, label: str) -> None:
    """Generic JSON POST; any 2xx answer is success."""
    url = _webhook_url(channel.url, ctx)
    payload = {
        "event": "fleetcheck.run",
        "lang": ctx.lang,
        "title": render_subject(digest, ctx.lang),
        "text": render_text(digest, ctx.lang),
        "digest": digest.to_json(),
    }
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    headers = dict(channel.headers)
    for name, value in headers.items():
        # Header values that carry credentials (Authorization: Bearer …, X-Api-Key) stay out of messages.
        if any(word in name.lower() for word in ("auth", "token", "key", "secret")):
            ctx.redactor.add(value)
    if channel.hmac_secret is not None:
        secret = resolve_secret(channel.hmac_secret, ctx.env)
        ctx.redactor.add(secret)
        headers[channel.hmac_header] = webhook_signature(secret, body)
    _post_bytes(url, body, ctx, label, headers)


# --------------------------------------------------------------------------- e-mail


def build_email(
    channel: EmailChannel, digest: Digest, lang: Lang, report_html: Path | None
) -> tuple[EmailMessage, Text | None]:
    """The message (Chinese subject, RFC 2047-encoded by the email library; text + HTML parts;
    the report attached or inline) and a note when the report could not be included."""
    msg = EmailMessage()
    msg["Subject"] = render_subject(digest, lang)
    msg["From"] = channel.sender
    msg["To"] = ", ".join(channel.to)
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain=channel.sender.rpartition("@")[2] or None)
    report: bytes | None = None
    note: Text | None = None
    if report_html is not None and channel.attach_report is not False:
        try:
            size = report_html.stat().st_size
            if size > MAX_ATTACHMENT_BYTES:
                note = T(
                    f"报告 {report_html.name} 太大（{size // 1024} KB），未附上。",
                    f"Report {report_html.name} is too large ({size // 1024} KB); not attached.",
                )
            else:
                report = report_html.read_bytes()
        except OSError as exc:
            note = T(
                f"无法读取报告 {report_html}：{exc.strerror}；邮件不含附件。",
                f"Cannot read report {report_html}: {exc.strerror}; sent without it.",
            )
    text = render_text(digest, lang)
    if note is not None:
        text += "\n" + note.get(lang) + "\n"
    msg.set_content(text, subtype="plain", charset="utf-8")
    msg.add_alternative(render_html(digest, lang, report_attached=report is not None), subtype="html", charset="utf-8")
    if report is not None:
        safe_id = re.sub(r"[^A-Za-z0-9._-]", "_", digest.run_id)[:80]
        msg.add_attachment(
            report,
            maintype="text",
            subtype="html",
            filename=f"fleetcheck-report-{safe_id}.html",
            disposition="inline" if channel.attach_report == "inline" else "attachment",
            params={"charset": "utf-8"},  # reports are UTF-8; without it readers assume ASCII
        )
    return msg, note


def _smtp_error(exc: BaseException, channel: EmailChannel, label: str, redact: Callable[[str], str]) -> DeliveryError:
    where = f"{channel.host}:{channel.effective_port}"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return DeliveryError(
            T(
                f"{label}：{where} 拒绝了用户 {channel.username} 的登录（{exc.smtp_code}）；请检查用户名和密码。",
                f"{label}: {where} refused the login of {channel.username} ({exc.smtp_code});"
                " check the username and password.",
            ),
            transient=False,
        )
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        who = ", ".join(exc.recipients)
        return DeliveryError(
            T(f"{label}：{where} 拒收收件人 {who}；请检查 to 列表。",
              f"{label}: {where} refused recipients {who}; check the 'to' list."),
            transient=False,
        )
    if isinstance(exc, smtplib.SMTPNotSupportedError) or (
        isinstance(exc, smtplib.SMTPException) and "STARTTLS" in str(exc)
    ):
        return DeliveryError(
            T(f"{label}：{where} 不支持 STARTTLS；请改用 security: ssl 或确认端口。",
              f"{label}: {where} does not offer STARTTLS; use security: ssl or check the port."),
            transient=False,
        )
    if isinstance(exc, ssl.SSLCertVerificationError):
        return DeliveryError(
            T(f"{label}：{where} 的 TLS 证书无法验证（{exc.verify_message}）；内部 CA 请设置 ca_file。",
              f"{label}: the TLS certificate of {where} cannot be verified ({exc.verify_message});"
              " for an internal CA set ca_file."),
            transient=False,
        )
    if isinstance(exc, smtplib.SMTPResponseException):
        transient = 400 <= exc.smtp_code < 500
        detail = redact(exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error))
        return DeliveryError(
            T(f"{label}：{where} 回答 {exc.smtp_code} {detail}",
              f"{label}: {where} answered {exc.smtp_code} {detail}"),
            transient=transient,
        )
    detail = redact(f"{type(exc).__name__}: {exc}")
    return DeliveryError(
        T(f"{label}：无法连接邮件服务器 {where}（{detail}）；请检查 host、port 和防火墙。",
          f"{label}: cannot reach the mail server {where} ({detail}); check host, port and firewall."),
        transient=True,
    )


def _login(smtp: smtplib.SMTP, username: str, password: str) -> None:
    """``smtp.login``, except that non-ASCII credentials use AUTH PLAIN in UTF-8 (RFC 4616):
    smtplib encodes them as ASCII and would fail on a Chinese password."""
    if (username + password).isascii():
        smtp.login(username, password)
        return
    token = base64.b64encode(f"\0{username}\0{password}".encode()).decode("ascii")
    code, answer = smtp.docmd("AUTH", f"PLAIN {token}")
    if code != 235:
        raise smtplib.SMTPAuthenticationError(code, answer)


def send_email(channel: EmailChannel, digest: Digest, ctx: SendContext, label: str) -> None:
    """Send the digest over SMTP (STARTTLS, implicit TLS or plain) with optional AUTH."""
    password = resolve_secret(channel.password, ctx.env) if channel.password is not None else None
    ctx.redactor.add(password)
    msg, _note = build_email(channel, digest, ctx.lang, ctx.report_html)
    cafile = None
    if channel.ca_file:
        cafile = str((ctx.base_dir or Path.cwd()) / channel.ca_file)
    try:
        tls = ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError) as exc:
        raise DeliveryError(
            T(f"{label}：无法读取 ca_file {cafile}（{exc}）。", f"{label}: cannot read ca_file {cafile} ({exc})."),
            transient=False,
        ) from None
    smtp: smtplib.SMTP | None = None
    try:
        if channel.security == "ssl":
            smtp = smtplib.SMTP_SSL(channel.host, channel.effective_port, timeout=channel.timeout, context=tls)
        else:
            smtp = smtplib.SMTP(channel.host, channel.effective_port, timeout=channel.timeout)
        smtp.ehlo()
        if channel.security == "starttls":
            smtp.starttls(context=tls)
            smtp.ehlo()
        if channel.username and password is not None:
            _login(smtp, channel.username, password)
        smtp.send_message(msg)
    except (smtplib.SMTPException, OSError) as exc:
        raise _smtp_error(exc, channel, label, ctx.redactor) from None
    finally:
        if smtp is not None:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()

