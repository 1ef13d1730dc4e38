"""The distributed pieces without servers: routing, the job's missing password, deliveries, the executor's bounds.

A fake Celery app stands in for the broker and the result backend, so every
bound of :class:`CeleryExecutor` is exercised in well under a second: a
worker lost mid-host, a queue nobody serves, a broker that stays away, Ctrl-C,
a failed task, a second result for a host already recorded.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from types import SimpleNamespace
from typing import Any

import pytest
from pydantic import SecretStr

from fleetcheck.agent.contract import ProbeRequest
from fleetcheck.distributed.app import BrokerError, check_url, safe_url
from fleetcheck.distributed.executor import CeleryExecutor
from fleetcheck.distributed.routing import RoutingError, broker_queue, queue_for, queues_of
from fleetcheck.distributed.secrets import (
    PromptedPasswordError,
    WorkerHosts,
    job_for_broker,
    refuse_prompted_password,
)
from fleetcheck.distributed.tasks import deadline_warning, run_delivery, worker_argv, worker_queues
from fleetcheck.distributed.wire import RequestCache, job_payload, request_key, store_request
from fleetcheck.findings import HostResult, HostStatus
from fleetcheck.i18n import T
from fleetcheck.inventory.model import HostSpec, Inventory
from fleetcheck.runner import Sweep, SweepJob
from fleetcheck.transport import Refused

SECRET = "Unit-Secret-31337"


def host(name: str, **vars_: Any) -> HostSpec:
    return HostSpec(name=name, address="127.0.0.9", user="TRADE\\fc", password=SecretStr(SECRET), host_vars=vars_)


def job(name: str = "PC-1", timeout_s: float = 0.2, **vars_: Any) -> SweepJob:
    return SweepJob(host=host(name, **vars_), request=ProbeRequest(), timeout_s=timeout_s)


# --------------------------------------------------------------------------- routing


def test_queue_is_the_queue_variable_else_the_branch_else_default() -> None:
    assert queue_for(host("a", branch="深圳")) == "fleetcheck.深圳"
    assert queue_for(host("b", branch="深圳", queue="sz-east")) == "fleetcheck.sz-east"
    assert queue_for(host("c")) == "fleetcheck.default"
    assert queues_of([host("a", branch="上海"), host("b", branch="深圳"), host("c", branch="上海")]) == [
        "fleetcheck.上海", "fleetcheck.深圳"]
    assert broker_queue("深圳") == broker_queue("fleetcheck.深圳") == "fleetcheck.深圳"


@pytest.mark.parametrize("bad", ["", "two words", "x" * 101, "tab\there"])
def test_a_queue_name_that_cannot_name_a_queue_is_refused_bilingually(bad: str) -> None:
    with pytest.raises(RoutingError) as caught:
        queue_for(host("PC-9", queue=bad))
    assert "PC-9" in caught.value.text.en and "队列名" in caught.value.text.zh


def test_worker_with_no_queue_serves_every_queue_of_its_inventory() -> None:
    hosts = WorkerHosts(Inventory(source="inv.yaml", hosts={"a": host("a", branch="深圳"), "b": host("b", branch="北京")},
                                  groups={}))
    assert worker_queues(hosts, []) == ["fleetcheck.北京", "fleetcheck.深圳"]
    assert worker_queues(hosts, ["深圳"]) == ["fleetcheck.深圳"]
    argv = worker_argv(["fleetcheck.深圳"], 7, name="sz1")
    assert argv[argv.index("--pool") + 1] == "threads" and argv[argv.index("--concurrency") + 1] == "7"
    assert argv[argv.index("--prefetch-multiplier") + 1] == "1"


# --------------------------------------------------------------------------- secrets


def test_the_job_on_the_broker_has_no_password_at_all() -> None:
    original = job()
    sent = job_for_broker(original).model_dump_json()
    assert SECRET not in sent and "*****" not in sent
    assert json.loads(sent)["host"]["password"] is None
    assert original.host.password is not None  # the controller's own copy is untouched


def test_ask_pass_is_refused_with_the_celery_executor() -> None:
    refuse_prompted_password(False)
    with pytest.raises(PromptedPasswordError) as caught:
        refuse_prompted_password(True)
    assert "--ask-pass" in caught.value.text.zh and "broker" in caught.value.text.en


def test_broker_urls_are_checked_and_shown_without_their_password() -> None:
    assert safe_url("redis://:hunter2@broker:6379/0") == "redis://:**@broker:6379/0"
    assert safe_url("amqp://fc:hunter2@mq/") == "amqp://fc:**@mq/"
    assert check_url("redis://127.0.0.1:6379/0")
    with pytest.raises(BrokerError) as caught:
        check_url("http://user:hunter2@example/")
    assert "hunter2" not in caught.value.text.en + caught.value.text.zh


@dataclass
class FakeBackend:
    """``get_task_meta``/``store_result`` of a Celery result backend and its Redis ``client``, in dicts."""

    metas: dict[str, dict[str, Any]] = field(default_factory=dict)
    keys: dict[str, Any] = field(default_factory=dict)

    @property
    def client(self) -> Any:
        return self

    def set(self, key: str, value: str, ex: int | None = None) -> None:
        self.keys[key] = value.encode()

    def get(self, key: str) -> Any:
        return self.keys.get(key)

    def get_task_meta(self, task_id: str, cache: bool = True) -> dict[str, Any]:
        return self.metas.get(task_id, {"status": "PENDING", "result": None})

    def store_result(self, task_id: str, result: Any, state: str) -> None:
        self.metas[task_id] = {"status": state, "result": result}


class Probe:
    def __init__(self) -> None:
        self.seen: list[HostSpec] = []

    def __call__(self, spec: HostSpec, request: Any, deadline: Any, cancel: Any) -> Any:
        self.seen.append(spec)
        raise Refused(T("拒绝", "refused"))


def wire(backend: FakeBackend, sweep_job: SweepJob) -> dict[str, Any]:
    """The job's payload as the controller sends it (its request stored in ``backend``)."""
    return job_payload(sweep_job, store_request(backend, sweep_job.request))


def worker_hosts(**override: Any) -> WorkerHosts:
    own = host("PC-1").model_copy(update=override)
    return WorkerHosts(Inventory(source="worker.yaml", hosts={"PC-1": own}, groups={}))


def test_the_worker_connects_with_its_own_inventory_entry_and_password() -> None:
    backend, probe = FakeBackend(), Probe()
    payload = wire(backend, job())
    result = HostResult.model_validate_json(run_delivery(backend, "t1", "w@x", payload, worker_hosts(), probe=probe))
    assert result.status is HostStatus.refused
    assert [p.password.get_secret_value() for p in probe.seen if p.password] == [SECRET]
    assert backend.metas["t1"] == {"status": "STARTED", "result": {"delivery": 1, "worker": "w@x"}}


@pytest.mark.parametrize(("override", "word"), [({"address": "127.0.0.77"}, "address"), ({"user": "other"}, "user")])
def test_a_job_whose_connection_differs_from_the_workers_inventory_is_refused(override: dict[str, Any], word: str) -> None:
    probe, backend = Probe(), FakeBackend()
    payload = wire(backend, job())
    result = HostResult.model_validate_json(run_delivery(backend, "t1", "w", payload, worker_hosts(**override), probe=probe))
    assert probe.seen == []  # no password sent anywhere
    assert result.error_class == "ConfigurationError" and word in (result.error.en if result.error else "")


def test_a_host_the_worker_does_not_know_is_that_hosts_error() -> None:
    backend = FakeBackend()
    payload = wire(backend, job("PC-404"))
    result = HostResult.model_validate_json(run_delivery(backend, "t1", "w", payload, worker_hosts(), probe=Probe()))
    assert result.host == "PC-404" and result.error_class == "ConfigurationError"
    assert result.error is not None and "worker.yaml" in result.error.en and "清单" in result.error.zh


def test_a_job_is_swept_again_once_after_its_worker_died_then_given_up() -> None:
    backend, probe = FakeBackend(), Probe()
    payload = wire(backend, job())
    backend.store_result("t1", {"delivery": 1, "worker": "dead@x"}, "STARTED")  # the first worker died
    second = HostResult.model_validate_json(run_delivery(backend, "t1", "w2", payload, worker_hosts(), probe=probe))
    assert len(probe.seen) == 1 and second.status is HostStatus.refused
    assert backend.metas["t1"]["result"]["delivery"] == 2
    third = HostResult.model_validate_json(run_delivery(backend, "t1", "w3", payload, worker_hosts(), probe=probe))
    assert len(probe.seen) == 1  # not swept a third time
    assert third.error_class == "WorkerLost"


def test_a_job_already_finished_returns_its_stored_result_without_sweeping() -> None:
    backend, probe = FakeBackend(), Probe()
    backend.metas["t1"] = {"status": "SUCCESS", "result": "STORED"}
    assert run_delivery(backend, "t1", "w", wire(backend, job()), worker_hosts(), probe=probe) == "STORED"
    assert probe.seen == []


# --------------------------------------------------------------------------- the executor, on a fake app


class Down(OSError):
    pass


@dataclass
class FakeResults:
    """The result backend as the executor uses it: keys, MGET, decode, delete."""

    values: dict[str, dict[str, Any]] = field(default_factory=dict)
    down: bool = False
    deleted: list[str] = field(default_factory=list)
    stored: dict[str, str] = field(default_factory=dict)

    def get_key_for_task(self, task_id: str) -> str:
        return "meta-" + task_id

    def mget(self, keys: list[str]) -> list[Any]:
        if self.down:
            raise Down("connection refused")
        return [self.values.get(k) for k in keys]

    def decode_result(self, raw: Any) -> Any:
        return raw

    @property
    def client(self) -> Any:
        return self

    def set(self, key: str, value: str, ex: int | None = None) -> None:
        self.stored[key] = value

    def delete(self, *keys: str) -> None:
        self.deleted.extend(keys)
        for key in keys:
            self.values.pop(key, None)


@dataclass
class FakeApp:
    backend: FakeResults = field(default_factory=FakeResults)
    sent: list[dict[str, Any]] = field(default_factory=list)
    revoked: list[str] = field(default_factory=list)
    send_limit: int = 1_000_000
    conf: Any = field(default_factory=partial(SimpleNamespace, broker_url="redis://:pw@127.0.0.1:1/0"))

    @contextlib.contextmanager
    def producer_or_acquire(self) -> Iterator[None]:
        yield None

    def send_task(self, name: str, *, args: list[dict[str, Any]], task_id: str, queue: str, routing_key: str,
                  producer: Any, argsrepr: str, kwargsrepr: str) -> None:
        if len(self.sent) >= self.send_limit:
            raise Down("broker gone while sending")
        self.sent.append({"id": task_id, "args": args, "queue": queue, "argsrepr": argsrepr})

    @property
    def control(self) -> Any:
        return self

    def revoke(self, ids: list[str]) -> None:
        self.revoked.extend(ids)

    def set(self, task_id: str, status: str, result: Any = None) -> None:
        self.backend.values["meta-" + task_id] = {"status": status, "result": result}


def ok_result(name: str) -> str:
    return HostResult(host=name, status=HostStatus.ok).model_dump_json()


def run_executor(executor: CeleryExecutor, jobs: list[SweepJob], react: Any,
                 cancel: threading.Event | None = None) -> list[HostResult]:
    """Run ``executor``; ``react(app, sent)`` is called before each poll's result is looked at."""
    cancel = cancel or threading.Event()
    app: FakeApp = executor.app
    out = []
    results = executor.run(jobs, cancel)
    original = app.backend.mget

    def mget(keys: list[str]) -> list[Any]:
        react(app, app.sent)
        return original(keys)

    app.backend.mget = mget  # type: ignore[method-assign]
    for result in results:
        out.append(result)
        assert len(out) <= len(jobs)
    return out


def fast(app: FakeApp, **options: Any) -> CeleryExecutor:
    return CeleryExecutor(app, poll_s=0.01, visibility_timeout_s=0.1, margin_s=0.1, grace_s=0.2, **options)


def test_each_host_is_yielded_once_even_when_its_result_is_written_twice() -> None:
    app = FakeApp()

    def react(app: FakeApp, sent: list[dict[str, Any]]) -> None:
        for item in sent:  # every poll: each job "finishes" (again)
            app.set(item["id"], "SUCCESS", ok_result(item["args"][0]["host"]["name"]))

    results = run_executor(fast(app), [job("PC-1"), job("PC-2")], react)
    assert sorted(r.host for r in results) == ["PC-1", "PC-2"]
    assert sorted(app.backend.deleted) == sorted("meta-" + s["id"] for s in app.sent)  # read, then deleted
    assert all(SECRET not in json.dumps(s["args"]) for s in app.sent)
    assert len(app.backend.stored) == 1  # the request, once for the sweep
    assert sorted(s["argsrepr"] for s in app.sent) == ["('PC-1')", "('PC-2')"]  # the name, not the payload
    assert {s["queue"] for s in app.sent} == {"fleetcheck.default"}


def test_a_job_started_on_a_worker_that_vanished_ends_as_worker_lost_after_its_bound() -> None:
    app = FakeApp()
    executor = fast(app)
    results = run_executor(executor, [job("PC-1", timeout_s=0.1)],
                           lambda app, sent: app.set(sent[0]["id"], "STARTED", {"delivery": 1}))
    assert [(r.host, r.error_class, r.status) for r in results] == [("PC-1", "WorkerLost", HostStatus.error)]
    assert executor.host_bound_s(job(timeout_s=0.1)) == pytest.approx(0.4)
    assert app.revoked == [app.sent[0]["id"]]  # a late re-delivery is not run


def test_jobs_nobody_takes_end_as_no_worker_naming_the_queue() -> None:
    app = FakeApp()
    results = run_executor(fast(app, pickup_timeout_s=0.05), [job("PC-1", branch="深圳"), job("PC-2", branch="深圳")],
                           lambda app, sent: None)
    assert [r.error_class for r in results] == ["NoWorker", "NoWorker"]
    assert results[0].error is not None and "fleetcheck.深圳" in results[0].error.en


def test_a_queue_making_progress_keeps_its_waiting_hosts() -> None:
    app = FakeApp()
    polls = {"n": 0}

    def react(app: FakeApp, sent: list[dict[str, Any]]) -> None:
        polls["n"] += 1
        index = polls["n"] // 3  # one job finishes every third poll: the queue moves, slowly
        for item in sent[:index]:
            app.set(item["id"], "SUCCESS", ok_result(item["args"][0]["host"]["name"]))

    jobs = [job(f"PC-{i}") for i in range(8)]
    results = run_executor(fast(app, pickup_timeout_s=0.1), jobs, react)
    assert sorted(r.host for r in results) == sorted(j.host.name for j in jobs)
    assert all(r.status is HostStatus.ok for r in results)


def test_a_failed_task_is_that_hosts_error_without_its_message() -> None:
    app = FakeApp()
    results = run_executor(fast(app), [job("PC-1")], lambda app, sent: app.set(
        sent[0]["id"], "FAILURE", {"exc_type": "ValueError", "exc_message": [SECRET]}))
    assert results[0].error_class == "WorkerError" and results[0].error is not None
    assert "ValueError" in results[0].error.en and SECRET not in results[0].model_dump_json()


def test_broker_away_too_long_stops_the_sweep_with_a_clear_message_keeping_finished_hosts() -> None:
    app = FakeApp()
    said: list[Any] = []

    polls = {"n": 0}

    def react(app: FakeApp, sent: list[dict[str, Any]]) -> None:
        polls["n"] += 1
        app.set(sent[0]["id"], "SUCCESS", ok_result("PC-1"))
        app.backend.down = polls["n"] > 1  # gone after the first answer

    executor = fast(app, broker_outage_s=0.1, on_broker_lost=said.append)
    hosts = [job("PC-1").host, job("PC-2").host]
    app.backend.mget = _wrap(app, react)  # type: ignore[method-assign]
    sweep = Sweep(hosts, ProbeRequest(), None, timeout_s=0.2, executor=executor)
    outcome = sweep.run()
    assert [r.host for r in outcome.run.hosts] == ["PC-1"]
    assert outcome.interrupted and outcome.not_swept == ["PC-2"]
    assert len(said) == 1 and "broker" in said[0].en and "消息代理" in said[0].zh
    assert "pw" not in said[0].en  # the broker URL is shown masked


def _wrap(app: FakeApp, react: Any) -> Any:
    original = app.backend.mget

    def mget(keys: list[str]) -> list[Any]:
        react(app, app.sent)
        return original(keys)

    return mget


def test_a_short_broker_outage_is_ridden_out() -> None:
    app = FakeApp()
    polls = {"n": 0}

    def react(app: FakeApp, sent: list[dict[str, Any]]) -> None:
        polls["n"] += 1
        app.backend.down = 2 <= polls["n"] <= 5
        if polls["n"] > 6:
            app.set(sent[0]["id"], "SUCCESS", ok_result("PC-1"))

    executor = fast(app, broker_outage_s=5)
    app.backend.mget = _wrap(app, react)  # type: ignore[method-assign]
    results = list(executor.run([job("PC-1")], threading.Event()))
    assert [r.host for r in results] == ["PC-1"] and executor.outages == 1


def test_cancel_revokes_waiting_jobs_and_keeps_in_flight_hosts_that_finish_in_the_grace() -> None:
    app = FakeApp()
    cancel = threading.Event()
    polls = {"n": 0}
    graces: list[tuple[int, float]] = []

    def react(app: FakeApp, sent: list[dict[str, Any]]) -> None:
        polls["n"] += 1
        app.set(sent[0]["id"], "STARTED", {"delivery": 1})
        if polls["n"] == 2:
            cancel.set()  # Ctrl-C: PC-1 is in flight, PC-2 waits
        if polls["n"] >= 3:
            app.set(sent[0]["id"], "SUCCESS", ok_result("PC-1"))

    executor = fast(app, on_grace=lambda n, s: graces.append((n, s)))
    app.backend.mget = _wrap(app, react)  # type: ignore[method-assign]
    results = list(executor.run([job("PC-1"), job("PC-2")], cancel))
    assert [r.host for r in results] == ["PC-1"]
    assert app.sent[1]["id"] in app.revoked
    assert graces == [(1, 0.2)]


def test_a_payload_is_small_and_names_the_request_stored_once() -> None:
    backend = FakeBackend()
    first, second = job("PC-1"), job("PC-2")
    a, b = wire(backend, first), wire(backend, second)
    assert a["request"] == b["request"] == request_key(first.request.model_dump_json())
    assert len(backend.keys) == 1
    assert a["host"]["password"] is None and SECRET not in json.dumps(a)
    cache = RequestCache()
    assert cache.get(backend, a["request"]) == first.request
    backend.keys.clear()
    assert cache.get(backend, a["request"]) == first.request  # read once, then cached


def test_a_missing_or_forged_request_is_that_hosts_error() -> None:
    backend, probe = FakeBackend(), Probe()
    payload = wire(backend, job())
    backend.keys[payload["request"]] = b'{"not": "the stored one"}'  # a key whose content does not hash to it
    forged = HostResult.model_validate_json(run_delivery(backend, "t1", "w", payload, worker_hosts(), probe=probe))
    backend.keys.clear()
    missing = HostResult.model_validate_json(run_delivery(backend, "t2", "w", payload, worker_hosts(), probe=probe))
    assert probe.seen == []
    assert forged.error_class == missing.error_class == "ConfigurationError"
    assert missing.error is not None and "request" in missing.error.en


def test_a_visibility_timeout_not_above_the_host_deadline_is_warned_about() -> None:
    assert deadline_warning(300, 120) is None
    warning = deadline_warning(60, 120)
    assert warning is not None and "--visibility-timeout" in warning.en and "可见性超时" in warning.zh


def test_jobs_the_broker_never_received_end_as_that_hosts_error_the_others_are_awaited() -> None:
    app = FakeApp(send_limit=1)
    said: list[Any] = []

    def react(app: FakeApp, sent: list[dict[str, Any]]) -> None:
        app.set(sent[0]["id"], "SUCCESS", ok_result("PC-1"))

    results = run_executor(fast(app, on_broker_lost=said.append), [job("PC-1"), job("PC-2"), job("PC-3")], react)
    assert sorted((r.host, r.error_class) for r in results) == [("PC-1", None), ("PC-2", "BrokerError"),
                                                                 ("PC-3", "BrokerError")]
    assert len(said) == 1 and "broker" in said[0].en


def test_a_bad_queue_name_fails_before_any_job_is_sent() -> None:
    app = FakeApp()
    with pytest.raises(RoutingError):
        list(fast(app).run([job("PC-1"), job("PC-2", queue="two words")], threading.Event()))
    assert app.sent == []
