"""After a sweep: decide whether to notify, send to every channel independently, never raise.

The integration point for the scan command is :func:`notify_after_scan`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

from fleetcheck.findings import RunResult
from fleetcheck.i18n import Lang, T, Text, tr
from fleetcheck.notify.channels import (
    DeliveryError,
    Redactor,
    SendContext,
    send_dingtalk,
    send_email,
    send_feishu,
    send_webhook,
    send_wecom,
)
from fleetcheck.notify.config import (
    Channel,
    DingTalkChannel,
    EmailChannel,
    FeishuChannel,
    NotifyConfig,
    NotifyConfigError,
    SecretUnavailable,
    WebhookChannel,
    WeComChannel,
    channel_labels,
    load_notify_config,
)
from fleetcheck.notify.digest import Digest, build_digest, should_send
from fleetcheck.policy.waivers import Waiver

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["DeliveryResult", "RetryPolicy", "deliver", "load_previous_results", "notify_after_scan"]

log = logging.getLogger("fleetcheck.notify")


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries: at most ``tries`` attempts, delays ``base_delay * 2**n``, and no new
    attempt once ``max_total`` seconds have passed (or would pass during the wait).

    ``sleep`` and ``clock`` are injectable so tests run instantly.
    """

    tries: int = 3
    base_delay: float = 2.0
    max_total: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic


@dataclass(frozen=True)
class DeliveryResult:
    """What happened on one channel. ``skipped``: nothing to send (``notify_on``); ``error``: why it failed."""

    channel: str
    type: str
    ok: bool
    attempts: int = 0
    skipped: bool = False
    error: Text | None = None

    def describe(self, lang: Lang = "zh") -> str:
        if self.skipped:
            return tr(T(f"通知 {self.channel}：无变化，未发送。", f"notify {self.channel}: nothing to send."), lang)
        if self.ok:
            return tr(T(f"通知 {self.channel}：已发送。", f"notify {self.channel}: sent."), lang)
        return tr(self.error, lang)


def _send(channel: Channel, digest: Digest, ctx: SendContext, label: str) -> None:
    if isinstance(channel, EmailChannel):
        send_email(channel, digest, ctx, label)
    elif isinstance(channel, WeComChannel):
        send_wecom(channel, digest, ctx, label)
    elif isinstance(channel, DingTalkChannel):
        send_dingtalk(channel, digest, ctx, label)
    elif isinstance(channel, FeishuChannel):
        send_feishu(channel, digest, ctx, label)
    elif isinstance(channel, WebhookChannel):
        send_webhook(channel, digest, ctx, label)
    else:  # pragma: no cover - the config union is closed
        raise DeliveryError(T(f"{label}：未知渠道", f"{label}: unknown channel"), transient=False)


def _failure(label: str, channel_type: str, attempts: int, text: Text) -> DeliveryResult:
    what_zh = f"尝试 {attempts} 次均失败" if attempts > 1 else "失败"
    what_en = f"failed after {attempts} attempts" if attempts > 1 else "failed"
    # Channel errors start with their label for standalone use; the wrapper names it already.
    text = T(text.zh.removeprefix(f"{label}："), text.en.removeprefix(f"{label}: "))
    kind_zh = "" if label.startswith(channel_type) else f"（{channel_type}）"
    kind_en = "" if label.startswith(channel_type) else f" ({channel_type})"
    # Say what happens next: the retries (if any) are over, and nothing resends this notification
    # later; the next scan sends its own, about what changed since this one.
    full = T(
        f"通知渠道 {label}{kind_zh}{what_zh}：{text.zh} 本次通知不会再重发（下次扫描会发送它自己的通知）；"
        "扫描结果不受影响。",
        f"Notification channel {label}{kind_en} {what_en}: {text.en} This notification will not be resent "
        "(the next scan sends its own). The scan results are unaffected.",
    )
    return DeliveryResult(channel=label, type=channel_type, ok=False, attempts=attempts, error=full)


def deliver(
    channel: Channel, label: str, digest: Digest, ctx: SendContext, retry: RetryPolicy
) -> DeliveryResult:
    """Send on one channel with bounded retries; never raises (failures come back as a result)."""
    start = retry.clock()
    attempts = 0
    last: Text = T("未知错误", "unknown error")
    while attempts < retry.tries:
        attempts += 1
        try:
            _send(channel, digest, ctx, label)
            return DeliveryResult(channel=label, type=channel.type, ok=True, attempts=attempts)
        except SecretUnavailable as exc:
            return _failure(label, channel.type, attempts, exc.text)
        except DeliveryError as exc:
            last = ctx.redactor.text(exc.text)
            if not exc.transient:
                return _failure(label, channel.type, attempts, last)
        except Exception as exc:  # noqa: BLE001 - a bug in one channel must not spoil the others or the scan
            detail = ctx.redactor(f"{type(exc).__name__}: {exc}")
            return _failure(
                label, channel.type, attempts, T(f"内部错误 {detail}，请报告此问题。", f"internal error {detail}; please report it.")
            )
        delay = retry.base_delay * (2 ** (attempts - 1))
        if attempts >= retry.tries or retry.clock() - start + delay > retry.max_total:
            break
        log.debug("notify %s: attempt %d failed, retrying in %.1fs: %s", label, attempts, delay, last.en)
        retry.sleep(delay)
    return _failure(label, channel.type, attempts, last)


def _report(report: Callable[[str], None] | None, message: str) -> None:
    if report is None:
        log.warning("%s", message)
    else:
        report(message)


def load_previous_results(path: Path) -> RunResult | None:
    """The RunResult in ``path`` (a previous sweep's ``results.json``), or None when absent or unreadable.

    Used as the "previous run" when no store is configured: read it before the
    new sweep overwrites the file.
    """
    try:
        return RunResult.model_validate_json(path.read_bytes())
    except (OSError, ValueError):
        return None


class NotifyOptions(TypedDict, total=False):
    """The keyword options of :func:`notify_after_scan`; each is optional (default in brackets).

    ``lang`` ["zh"]: the message language unless the config sets one; ``retry``
    [RetryPolicy()]; ``env`` [None: os.environ]: where referenced secrets are
    read; ``now`` [time.time]: wall-clock seconds (signatures); ``report``
    [None: log]: told each failure once, secrets masked; ``waivers`` [None]: the
    sweep's waivers (the digest lists those expired, expiring, unused).
    """

    lang: Lang
    retry: RetryPolicy | None
    env: Mapping[str, str] | None
    now: Callable[[], float]
    report: Callable[[str], None] | None
    waivers: Sequence[Waiver] | None


def notify_after_scan(
    config: str | Path | NotifyConfig,
    current: RunResult,
    previous: RunResult | None,
    report_html: Path | None,
    **options: Unpack[NotifyOptions],
) -> list[DeliveryResult]:
    """Notify every configured channel about ``current`` (compared with ``previous``).

    Never raises and never changes the scan's outcome: a bad config, a missing
    secret or a down server become failed :class:`DeliveryResult` entries, and
    each failure is reported exactly once, secrets masked: through ``report``
    when given (the CLI passes a function printing to stderr), else logged
    (logger ``fleetcheck.notify``, WARNING) in the message language. When
    ``notify_on`` says there is nothing to send, every channel comes back with
    ``skipped=True``.

    The message language is the config's ``lang`` when set, else ``lang``.

    Example (what ``fleetcheck scan --notify notify.yaml`` does)::

        results = notify_after_scan("notify.yaml", run, store.previous_run(run.run_id),
                                    out_dir / "report.html", lang="zh")
        for r in results:
            print(r.describe("zh"))
    """
    lang: Lang = options.get("lang", "zh")
    report = options.get("report")
    try:
        cfg = config if isinstance(config, NotifyConfig) else load_notify_config(config)
    except NotifyConfigError as exc:
        text = T(
            f"通知配置无效，未发送任何通知：\n{exc.format('zh')}",
            f"The notification config is not valid; nothing was sent:\n{exc.format('en')}",
        )
        _report(report, tr(text, lang))
        return [DeliveryResult(channel="config", type="config", ok=False, error=text)]
    msg_lang: Lang = cfg.lang or lang
    report_url = cfg.report_url.replace("{run_id}", current.run_id) if cfg.report_url else None
    digest = build_digest(current, previous, expiring_days=cfg.expiring_days, report_url=report_url,
                          waivers=options.get("waivers"))
    labels = channel_labels(cfg.channels)
    if not should_send(digest, cfg.notify_on):
        return [
            DeliveryResult(channel=label, type=ch.type, ok=True, skipped=True)
            for ch, label in zip(cfg.channels, labels, strict=True)
        ]
    results: list[DeliveryResult] = []
    for channel, label in zip(cfg.channels, labels, strict=True):  # one label per channel
        redactor = Redactor()
        ctx = SendContext(
            lang=msg_lang,
            redactor=redactor,
            now=options.get("now", time.time),
            env=options.get("env"),
            report_html=report_html,
            base_dir=cfg.base_dir,
        )
        result = deliver(channel, label, digest, ctx, options.get("retry") or RetryPolicy())
        if not result.ok and result.error is not None:
            _report(report, redactor(tr(result.error, msg_lang)))
        results.append(result)
    return results
