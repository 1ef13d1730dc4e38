"""The Celery application of controllers and workers, made from a broker URL.

Both sides build the same configuration (:func:`make_app`), so a job's
delivery guarantees do not depend on who sends it:

* late acknowledgement (``task_acks_late``) with a prefetch of one: a worker
  acknowledges a job only after its host's result is stored, so a worker that
  dies mid-host (SIGKILL, power cut) leaves the job un-acknowledged and the
  broker delivers it again, to another worker of the queue, once the
  ``visibility_timeout`` has passed (Redis) or at once when the connection
  drops (RabbitMQ); ``task_reject_on_worker_lost`` does the same when a
  prefork child dies. The task itself runs a host at most twice
  (:mod:`.tasks`), and the controller keeps the first result of each host;
* JSON only (``accept_content``): no pickle, whatever the broker hands over;
* results in the Celery result backend (the broker's Redis unless told
  otherwise), kept :data:`RESULT_EXPIRES_S` at most: the controller deletes
  each as soon as it has read it;
* a worker's writes to the result backend are retried while the broker
  restarts (``result_backend_always_retry``), bounded.

The broker URL may hold a password (``redis://:secret@host:6379/0``): it is
only ever shown through :func:`safe_url`.
"""

from __future__ import annotations

from typing import Any

from fleetcheck.errors import FleetcheckError
from fleetcheck.i18n import T

TASK_NAME = "fleetcheck.sweep_host"
#: How long an un-acknowledged job stays with a worker that stopped answering
#: before Redis gives it to another worker. It must exceed the longest host
#: deadline (a job running longer than this is handed out a second time).
DEFAULT_VISIBILITY_TIMEOUT_S = 300.0
RESULT_EXPIRES_S = 3600
SUPPORTED_SCHEMES = ("redis", "rediss", "amqp", "amqps", "pyamqp")


class BrokerError(FleetcheckError):
    """The broker cannot be used: a bad URL, Celery not installed, or the broker is unreachable."""


def safe_url(url: str) -> str:
    """``url`` with any password masked (``redis://:**@host:6379/0``)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    auth, at, where = rest.rpartition("@")
    if not at:
        return url
    user = auth.partition(":")[0]
    return f"{scheme}://{user}:**@{where}"


def check_url(url: str) -> str:
    """``url`` when its scheme is a broker Celery speaks; else a BrokerError (exit 2)."""
    scheme = url.partition("://")[0].lower()
    if "://" not in url or scheme not in SUPPORTED_SCHEMES:
        raise BrokerError(T(
            f"消息代理地址 {safe_url(url)} 无效：应为 redis://主机:端口/库号（或 amqp://…）",
            f"the broker URL {safe_url(url)} is not valid: use redis://host:port/db (or amqp://…)"))
    return url


def _celery() -> Any:
    try:
        from celery import Celery  # type: ignore[import-untyped]
    except ImportError:
        raise BrokerError(T("分布式扫描需要 Celery：pip install 'fleetcheck[distributed]'",
                            "distributed sweeps need Celery: pip install 'fleetcheck[distributed]'")) from None
    return Celery


def make_app(broker_url: str, *, result_url: str | None = None,
             visibility_timeout_s: float = DEFAULT_VISIBILITY_TIMEOUT_S) -> Any:
    """A Celery app for ``broker_url`` (results in ``result_url``, by default the same Redis).

    A RabbitMQ broker needs a Redis ``result_url``: the controller reads results
    from a key-value result backend.
    """
    check_url(broker_url)
    results = result_url or broker_url
    if results.partition("://")[0].lower() not in ("redis", "rediss"):
        raise BrokerError(T(
            f"结果后端 {safe_url(results)} 不受支持：请使用 Redis（redis://…）",
            f"the result backend {safe_url(results)} is not supported: use Redis (redis://…)"))
    app = _celery()("fleetcheck", broker=broker_url, backend=results, set_as_current=False)
    # Redis re-delivers an un-acknowledged job once it is older than the visibility timeout,
    # but only when a worker scans for such jobs: every ``unacked_restore_interval`` seconds
    # (kombu's default scans every 10 × 10 s); scan every few seconds instead.
    transport = {"visibility_timeout": visibility_timeout_s,
                 "unacked_restore_interval": max(1.0, min(10.0, visibility_timeout_s / 4)),
                 "unacked_restore_throttle": 1,
                 # A worker killed while holding the restore lock must not stop re-delivery for long.
                 "unacked_mutex_expire": max(5, int(visibility_timeout_s))}
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        result_accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue="fleetcheck.default",
        task_create_missing_queues=True,
        broker_transport_options=transport,
        result_backend_transport_options=transport,
        result_expires=RESULT_EXPIRES_S,
        result_extended=False,
        result_backend_always_retry=True,
        result_backend_max_retries=30,
        result_backend_base_sleep_between_retries_ms=100,
        result_backend_max_sleep_between_retries_ms=2000,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        worker_cancel_long_running_tasks_on_connection_loss=False,
        worker_send_task_events=False,
        task_send_sent_event=False,
        worker_hijack_root_logger=False,
        enable_utc=True,
        timezone="UTC",
    )
    return app
