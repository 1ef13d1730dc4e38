"""The controller side: :class:`CeleryExecutor`, a :class:`~fleetcheck.runner.SweepExecutor` over Celery.

``run(jobs, cancel)`` stores the sweep's request once and sends every job (a
small payload, password removed: :mod:`.wire`, :mod:`.secrets`) to its branch's queue (:mod:`.routing`) and yields each host's
:class:`~fleetcheck.findings.HostResult` as it lands in the result backend, so
:class:`~fleetcheck.runner.Sweep` keeps its behaviour: progress as hosts
finish, evaluation and the history store on the controller, partial results,
exit codes.

Results are read with one ``MGET`` of the pending jobs' result keys per poll
(every :attr:`CeleryExecutor.poll_s`) and deleted once read. Each host is
yielded **exactly once**: a job id maps to one host, the first finished
result wins and the job leaves the pending set; a late second delivery's
result is never read. No host is ever missing either — every job ends as its
result or as that host's error:

* **worker lost**: a job that started (its delivery is recorded as
  ``STARTED``) but has no result after the host's deadline, plus one
  re-delivery (:meth:`CeleryExecutor.host_bound_s`), ends as ``WorkerLost``;
* **no worker**: a job still waiting while its queue has shown no progress
  (no job of that queue started or finished) for ``pickup_timeout_s`` ends as
  ``NoWorker`` — nobody serves that branch;
* **broker down**: polls that fail are retried; the hosts' clocks stop while
  the broker is away (workers cannot report then either). If it stays away
  longer than ``broker_outage_s`` the sweep stops with a bilingual message
  (``on_broker_lost``): finished hosts are kept, the rest are not swept, as
  after Ctrl-C (exit code 3);
* **broker down while sending**: the jobs it never received end as ``BrokerError``,
  the jobs sent are awaited; a bad queue name (:mod:`.routing`) fails before any job is sent;
* **Ctrl-C / cancel**: jobs not yet started are revoked; jobs in flight get
  ``grace_s`` to finish (``on_grace`` is told), as in the local executor.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from fleetcheck.distributed.app import (
    DEFAULT_VISIBILITY_TIMEOUT_S,
    TASK_NAME,
    BrokerError,
    safe_url,
)
from fleetcheck.distributed.routing import queue_for
from fleetcheck.distributed.tasks import error_result
from fleetcheck.distributed.wire import job_payload, store_request
from fleetcheck.findings import HostResult
from fleetcheck.i18n import T, Text
from fleetcheck.runner import CANCEL_GRACE_S, SweepJob

log = logging.getLogger(__name__)

READY = frozenset({"SUCCESS", "FAILURE", "REVOKED"})
# A delivery's STARTED record is a small JSON document; a result is never this small and never says STARTED.
_STARTED = b'"status": "STARTED"'
_SMALL = 512
# Slack on top of the deadlines: clocks, the broker's restore scan, result writes.
MARGIN_S = 10.0


@dataclass
class _Pending:
    job: SweepJob
    queue: str
    started: float | None = None


@dataclass
class _Progress:
    """When each queue last moved; when the broker went away."""

    last: dict[str, float] = field(default_factory=dict)
    outage_since: float | None = None


def _broker_errors() -> tuple[type[BaseException], ...]:
    from kombu.exceptions import OperationalError
    from redis.exceptions import RedisError

    return (OSError, RedisError, OperationalError)


def _no_subscription(producer: Any, task_id: str) -> None:
    """Celery's hook at send time, made a no-op: the executor polls, it does not subscribe."""


@dataclass
class CeleryExecutor:
    """Run sweep jobs on Celery workers; see the module docstring for the guarantees."""

    app: Any
    visibility_timeout_s: float = DEFAULT_VISIBILITY_TIMEOUT_S
    poll_s: float = 0.2
    pickup_timeout_s: float | None = None
    broker_outage_s: float = 60.0
    grace_s: float = CANCEL_GRACE_S
    margin_s: float = MARGIN_S
    on_grace: Callable[[int, float], None] | None = None
    on_broker_lost: Callable[[Text], None] | None = None
    # What the last run did, for tests and benchmarks: job id -> host, the polls made, broker outages seen.
    sent: dict[str, str] = field(default_factory=dict)
    polls: int = 0
    outages: int = 0
    # A poll fills this with finished hosts; _drain hands them out in order.
    _ready: list[HostResult] = field(default_factory=list, repr=False)

    def host_bound_s(self, job: SweepJob) -> float:
        """How long after a job first started its host may still report: its run, a re-delivery, its re-run."""
        return job.timeout_s + self.visibility_timeout_s + job.timeout_s + self.margin_s

    def pickup_bound_s(self, jobs: Sequence[SweepJob]) -> float:
        """How long a queue may show no progress before its waiting hosts end as ``NoWorker``."""
        if self.pickup_timeout_s is not None:
            return self.pickup_timeout_s
        longest = max((j.timeout_s for j in jobs), default=0.0)
        return self.visibility_timeout_s + longest + self.margin_s

    # ----------------------------------------------------------------- run

    def check_broker(self, timeout_s: float = 5.0) -> None:
        """Raise BrokerError (exit 2) unless the broker answers within ``timeout_s``."""
        url = str(self.app.conf.broker_url)
        try:
            with self.app.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, timeout=timeout_s)
            self.app.backend.client.ping()
        except _broker_errors() as exc:
            raise BrokerError(T(f"无法连接消息代理 {safe_url(url)}（{type(exc).__name__}）",
                                f"cannot reach the broker {safe_url(url)} ({type(exc).__name__})")) from None

    def run(self, jobs: Sequence[SweepJob], cancel: threading.Event) -> Iterator[HostResult]:
        pending: dict[str, _Pending] = {}
        self.sent = {}
        self.polls = 0
        self.outages = 0
        progress = _Progress()
        now = time.monotonic()
        queues = [queue_for(job.host) for job in jobs]  # a bad queue name fails before anything is sent
        try:
            self._send(jobs, queues, pending, progress, now)
        except _broker_errors() as exc:
            self._lost(T(f"发送任务时消息代理不可用（{type(exc).__name__}）；已发送的主机照常等待结果",
                         f"the broker failed while jobs were sent ({type(exc).__name__}); "
                         "the jobs already sent are still awaited"))
            for job in jobs[len(pending):]:  # sent in order: these never reached the broker
                yield error_result(job.host, "BrokerError", T(
                    f"{job.host.name}：消息代理不可用，任务未能发出", f"{job.host.name}: the broker failed; the job was not sent"))
        yield from self._collect(jobs, pending, progress, cancel)

    def _send(self, jobs: Sequence[SweepJob], queues: Sequence[str], pending: dict[str, _Pending],
              progress: _Progress, now: float) -> None:
        keys: dict[int, str] = {}  # one stored request per distinct request (one per sweep)
        # Results are polled (MGET). Celery's Redis backend would also SUBSCRIBE to each job's result
        # channel as it is sent (for AsyncResult.get): a round trip per job, and Redis pushing every
        # result twice to a connection nobody reads. The backend is per thread: this thread's.
        self.app.backend.on_task_call = _no_subscription
        with self.app.producer_or_acquire() as producer:
            for job, queue in zip(jobs, queues, strict=True):
                key = keys.get(id(job.request))
                if key is None:
                    key = keys[id(job.request)] = store_request(self.app.backend, job.request)
                task_id = uuid.uuid4().hex
                progress.last.setdefault(queue, now)
                # argsrepr: what monitoring tools show of the job (Celery would repr the whole payload).
                self.app.send_task(TASK_NAME, args=[job_payload(job, key)], task_id=task_id,
                                   queue=queue, routing_key=queue, producer=producer,
                                   argsrepr=f"({job.host.name!r})", kwargsrepr="{}")
                pending[task_id] = _Pending(job, queue)
                self.sent[task_id] = job.host.name

    def _collect(self, jobs: Sequence[SweepJob], pending: dict[str, _Pending], progress: _Progress,
                 cancel: threading.Event) -> Iterator[HostResult]:
        pickup = self.pickup_bound_s(jobs)
        try:
            while pending and not cancel.is_set():
                if not self._poll_once(pending, progress, pickup):
                    self._lost(T(
                        f"消息代理 {safe_url(str(self.app.conf.broker_url))} 已中断超过 {self.broker_outage_s:.0f} 秒；"
                        "扫描停止，已完成的主机结果保留",
                        f"the broker {safe_url(str(self.app.conf.broker_url))} has been away for more than "
                        f"{self.broker_outage_s:.0f} s; the sweep stops, the finished hosts are kept"))
                    cancel.set()
                    return
                yield from self._drain()
                if pending:
                    cancel.wait(self.poll_s)
        except KeyboardInterrupt:
            cancel.set()
        if pending:
            yield from self._wind_down(pending, progress, pickup)

    def _drain(self) -> Iterator[HostResult]:
        while self._ready:
            yield self._ready.pop(0)

    def _poll_once(self, pending: dict[str, _Pending], progress: _Progress, pickup: float) -> bool:
        """One MGET of the pending results; False when the broker has been away too long."""
        backend = self.app.backend
        ids = list(pending)
        now = time.monotonic()
        try:
            values = backend.mget([backend.get_key_for_task(i) for i in ids])
        except _broker_errors():
            if progress.outage_since is None:
                progress.outage_since = now
                self.outages += 1
                log.warning("the result backend is not answering; retrying")
            return now - progress.outage_since <= self.broker_outage_s
        self.polls += 1
        if progress.outage_since is not None:  # back: the hosts' clocks stopped meanwhile
            away = now - progress.outage_since
            progress.outage_since = None
            for item in pending.values():
                if item.started is not None:
                    item.started += away
            for queue in progress.last:
                progress.last[queue] += away
        done: list[str] = []
        for task_id, raw in zip(ids, values, strict=True):
            item = pending[task_id]
            if raw is None or (item.started is not None and len(raw) < _SMALL and _STARTED in raw):
                continue  # not started yet, or still running: nothing new (and no decoding)
            meta = backend.decode_result(raw)
            status = meta.get("status")
            if status == "STARTED" and item.started is None:
                item.started = now
                progress.last[item.queue] = now
            elif status in READY:
                progress.last[item.queue] = now
                done.append(task_id)
                self._ready.append(self._result_of(item.job, meta))
                del pending[task_id]
        self._expire(pending, progress, pickup, now)
        self._forget(done)
        return True

    def _expire(self, pending: dict[str, _Pending], progress: _Progress, pickup: float, now: float) -> None:
        for task_id, item in list(pending.items()):
            name = item.job.host.name
            if item.started is not None and now - item.started > self.host_bound_s(item.job):
                bound = self.host_bound_s(item.job)
                self._ready.append(error_result(item.job.host, "WorkerLost", T(
                    f"{name}：worker 在处理途中失去联系，{bound:.0f} 秒内未重新投递完成",
                    f"{name}: the worker sweeping this host was lost and no re-delivery finished within {bound:.0f} s"),
                    attempts=1))
            elif item.started is None and now - progress.last.get(item.queue, now) > pickup:
                queue = item.queue
                self._ready.append(error_result(item.job.host, "NoWorker", T(
                    f"{name}：队列 {queue} 已 {pickup:.0f} 秒没有 worker 处理（该营业部的 worker 是否在运行？）",
                    f"{name}: no worker took a job from queue {queue} for {pickup:.0f} s "
                    "(is a worker of this branch running?)")))
            else:
                continue
            del pending[task_id]
            self._revoke([task_id])

    def _result_of(self, job: SweepJob, meta: dict[str, Any]) -> HostResult:
        status = meta.get("status")
        value = meta.get("result")
        if status == "SUCCESS" and isinstance(value, str):
            try:
                return HostResult.model_validate_json(value)
            except ValueError:
                pass
            return error_result(job.host, "BadOutput", T(f"{job.host.name}：worker 返回的结果无法读取",
                                                          f"{job.host.name}: the worker's result cannot be read"))
        if status == "REVOKED":
            return error_result(job.host, "Cancelled", T(f"{job.host.name}：任务已撤销",
                                                          f"{job.host.name}: the job was revoked"))
        kind = value.get("exc_type") if isinstance(value, dict) else None
        # The exception's type only: its message could hold anything the worker saw.
        return error_result(job.host, "WorkerError", T(
            f"{job.host.name}：worker 处理失败（{kind or status}），请报告此问题",
            f"{job.host.name}: the worker failed ({kind or status}); please report it"))

    def _wind_down(self, pending: dict[str, _Pending], progress: _Progress, pickup: float) -> Iterator[HostResult]:
        """After a cancel: revoke what has not started, give what is in flight ``grace_s`` to finish."""
        waiting = [i for i, p in pending.items() if p.started is None]
        self._revoke(waiting)
        for task_id in waiting:
            del pending[task_id]
        if not pending:
            return
        if self.on_grace is not None:
            self.on_grace(len(pending), self.grace_s)
        ends = time.monotonic() + self.grace_s
        while pending and time.monotonic() < ends:
            if not self._poll_once(pending, progress, pickup):
                break
            for result in list(self._drain()):
                if result.error_class not in ("Cancelled", "NoWorker", "WorkerLost"):
                    yield result
            time.sleep(self.poll_s)
        self._revoke(list(pending))

    def _forget(self, task_ids: list[str]) -> None:
        if not task_ids:
            return
        backend = self.app.backend
        try:
            backend.client.delete(*[backend.get_key_for_task(i) for i in task_ids])
        except _broker_errors():
            log.debug("could not delete %d read results (they expire)", len(task_ids))

    def _revoke(self, task_ids: list[str]) -> None:
        if not task_ids:
            return
        try:
            self.app.control.revoke(task_ids)
        except _broker_errors():
            log.debug("could not revoke %d jobs", len(task_ids))

    def _lost(self, text: Text) -> None:
        if self.on_broker_lost is not None:
            self.on_broker_lost(text)
        else:
            log.error("%s", text.en)


def celery_executor(broker_url: str, *, timeout_s: float = 5.0, **options: Any) -> CeleryExecutor:
    """A CeleryExecutor on ``broker_url`` (results in the same Redis), once the broker answers.

    ``options`` are CeleryExecutor fields (``on_grace``, ``on_broker_lost``, ...). Raises
    :class:`~fleetcheck.distributed.app.BrokerError` (exit 2) for a bad URL, a missing Celery, or a
    broker that does not answer within ``timeout_s``.
    """
    from fleetcheck.distributed.app import make_app

    executor = CeleryExecutor(make_app(broker_url), **options)
    executor.check_broker(timeout_s)
    return executor
