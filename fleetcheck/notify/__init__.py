"""Notifications after a sweep: e-mail (SMTP), WeCom, DingTalk, Feishu, generic webhook.

- :mod:`~fleetcheck.notify.config`: the ``notify.yaml`` model and loader (``file:line:col`` errors).
- :mod:`~fleetcheck.notify.digest`: the pure digest of a run compared with the previous one,
  and its renderings (subject, text, markdown, HTML).
- :mod:`~fleetcheck.notify.channels`: one sender per channel, payloads as each service documents.
- :mod:`~fleetcheck.notify.dispatch`: :func:`notify_after_scan`, retries, once-per-channel reporting.
"""

from fleetcheck.notify.config import NotifyConfig, NotifyConfigError, load_notify_config
from fleetcheck.notify.digest import Digest, build_digest, should_send
from fleetcheck.notify.dispatch import (
    DeliveryResult,
    RetryPolicy,
    load_previous_results,
    notify_after_scan,
)

__all__ = [
    "DeliveryResult",
    "Digest",
    "NotifyConfig",
    "NotifyConfigError",
    "RetryPolicy",
    "build_digest",
    "load_notify_config",
    "load_previous_results",
    "notify_after_scan",
    "should_send",
]
