"""The worker side: the sweep-one-host task, and how ``fleetcheck worker`` runs it.

A job arrives as a small payload (:mod:`.wire`): its host without a password
(:mod:`.secrets`) and the key of the sweep's request, read once per worker. :func:`run_delivery` counts the delivery in the
result backend (state ``STARTED`` with ``{"delivery": n, "worker": name}``),
swaps in the worker's own host entry, sweeps the host with
:func:`~fleetcheck.runner.sweep_one` (its retries and deadline, as in a local
sweep) and returns the :class:`~fleetcheck.findings.HostResult` as JSON, which
Celery stores as the job's result (``SUCCESS``).

Re-delivery (late acknowledgement, :mod:`.app`): a job whose worker died is
given to a worker again; the task sees delivery 2 and sweeps the host again.
A third delivery (the second worker died too) does not sweep: it stores that
host's error, so a host that kills workers cannot take a branch's workers down
one after another. A delivery of a job already finished returns the stored
result unchanged (the acknowledgement was lost, the work was not).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fleetcheck.distributed.app import TASK_NAME, make_app
from fleetcheck.distributed.routing import broker_queue, queues_of
from fleetcheck.distributed.secrets import WorkerHosts
from fleetcheck.distributed.wire import RequestCache, job_of
from fleetcheck.findings import HostResult, HostStatus
from fleetcheck.i18n import T, Text
from fleetcheck.inventory.model import HostSpec
from fleetcheck.logsetup import log_text
from fleetcheck.runner import ProbeFn, serializable, sweep_one
from fleetcheck.transport import probe_host

MAX_DELIVERIES = 2

log = logging.getLogger(__name__)


def error_result(host: HostSpec, error_class: str, text: Text, *, attempts: int = 0) -> HostResult:
    """A host that was not swept, with why (no facts, no time taken)."""
    return HostResult(host=host.name, address=host.address, groups=list(host.groups), branch=host.branch,
                      status=HostStatus.error, error_class=error_class, error=text, attempts=attempts)


def _previous_delivery(meta: dict[str, Any]) -> int:
    info = meta.get("result")
    if meta.get("status") == "STARTED" and isinstance(info, dict):
        count = info.get("delivery")
        return count if isinstance(count, int) and count > 0 else 1
    return 0


def run_delivery(backend: Any, task_id: str, worker: str, payload: dict[str, Any], hosts: WorkerHosts, *,
                 probe: ProbeFn = probe_host, requests: RequestCache | None = None) -> str:
    """One delivery of one job: the HostResult JSON to store as the job's result. Never raises for a host."""
    meta = backend.get_task_meta(task_id, cache=False)
    if meta.get("status") == "SUCCESS" and isinstance(meta.get("result"), str):
        return str(meta["result"])
    host = HostSpec.model_validate(payload["host"])
    delivery = _previous_delivery(meta) + 1
    if delivery > MAX_DELIVERIES:
        log.warning("%s: job %s delivered %d times; not sweeping it again", host.name, task_id, delivery)
        return error_result(host, "WorkerLost", T(
            f"{host.name}：处理该主机的 worker 已两次中途退出；不再重试",
            f"{host.name}: the workers sweeping this host stopped mid-host twice; not trying again"),
            attempts=delivery - 1).model_dump_json()
    backend.store_result(task_id, {"delivery": delivery, "worker": worker}, "STARTED")
    request = (requests or RequestCache()).get(backend, str(payload.get("request", "")))
    if request is None:
        return error_result(host, "ConfigurationError", T(
            f"{host.name}：消息代理中已没有本次扫描的检查请求（已过期？）；请重新扫描",
            f"{host.name}: the sweep's request is no longer in the broker (expired?); sweep again")).model_dump_json()
    prepared = hosts.job_with_credentials(job_of(payload, request))
    if isinstance(prepared, Text):
        return error_result(host, "ConfigurationError", prepared).model_dump_json()
    return serializable(sweep_one(prepared, probe=probe)).model_dump_json()


def deadline_warning(visibility_timeout_s: float, deadline_s: float) -> Text | None:
    """Why a visibility timeout not above the host deadline is a problem; None when it is above."""
    if not visibility_timeout_s or deadline_s < visibility_timeout_s:
        return None
    return T(f"可见性超时 {visibility_timeout_s:g} 秒不大于主机时限 {deadline_s:g} 秒：仍在进行的任务可能被再次投递；"
             "请增大 worker 的 --visibility-timeout",
             f"the visibility timeout ({visibility_timeout_s:g} s) does not exceed the host deadline "
             f"({deadline_s:g} s): a job still running may be handed out again; raise the worker's "
             "--visibility-timeout")


def register(app: Any, hosts: WorkerHosts, probe: ProbeFn = probe_host) -> Any:
    """Register the sweep task on ``app`` for a worker holding ``hosts``; the task object."""
    requests = RequestCache()
    visibility = float(app.conf.broker_transport_options.get("visibility_timeout", 0) or 0)
    warned: set[float] = set()

    @app.task(name=TASK_NAME, bind=True, acks_late=True, reject_on_worker_lost=True)  # type: ignore[untyped-decorator]
    def sweep_host(self: Any, payload: dict[str, Any]) -> str:
        deadline = float(payload.get("timeout_s", 0) or 0)
        warning = deadline_warning(visibility, deadline)
        if warning is not None and deadline not in warned:
            warned.add(deadline)
            log_text(log, logging.WARNING, warning)
        return run_delivery(self.backend, self.request.id, str(self.request.hostname), payload, hosts,
                            probe=probe, requests=requests)

    return sweep_host


def worker_queues(hosts: WorkerHosts, names: Sequence[str]) -> list[str]:
    """The broker queues to serve: ``names`` (inventory spelling), else every queue of the inventory."""
    if names:
        return sorted({broker_queue(n) for n in names})
    return queues_of(hosts.inventory.hosts.values())


def worker_argv(queues: Sequence[str], concurrency: int, *, name: str | None = None,
                loglevel: str = "WARNING") -> list[str]:
    """The ``celery worker`` arguments: a thread pool (WinRM waits on the network, not the CPU)."""
    node = name or f"fleetcheck-{socket.gethostname()}-{os.getpid()}"
    return ["worker", "--pool", "threads", "--concurrency", str(concurrency), "--queues", ",".join(queues),
            "--hostname", f"{node}@%h", "--loglevel", loglevel, "--without-gossip", "--without-mingle",
            "--prefetch-multiplier", "1"]


def run_worker(broker_url: str, inventory_path: Path, queues: Sequence[str], concurrency: int, *,
               visibility_timeout_s: float, name: str | None = None, loglevel: str = "WARNING") -> None:
    """Serve ``queues`` until stopped (SIGTERM/Ctrl-C: finish the hosts in flight, then exit)."""
    from fleetcheck.inventory.load import load_inventory_deferring_credentials

    inventory, issues = load_inventory_deferring_credentials(inventory_path)
    hosts = WorkerHosts(inventory, issues)
    app = make_app(broker_url, visibility_timeout_s=visibility_timeout_s)
    register(app, hosts)
    app.worker_main(worker_argv(worker_queues(hosts, queues), concurrency, name=name, loglevel=loglevel))
