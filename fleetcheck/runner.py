"""Sweep many hosts: one compiled request, a bounded pool, one deadline per host.

Stages (DESIGN "Data flow"): the policy set is compiled once into one
deduplicated :class:`ProbeRequest`; each host is a :class:`SweepJob` (host
spec + request + timeout: pure, serialisable data) turned into a
:class:`HostResult` by :func:`sweep_one` (probe with retries, no evaluation);
an executor runs jobs (local threads today, a Celery worker per branch later,
DESIGN "Scale-out"); the controller evaluates each answer with an injected
clock and hands every finished host to a callback, as it finishes.

One bad host never spoils the others: every exception in a job or in its
evaluation becomes that host's status. Ctrl-C (or :meth:`Sweep.cancel`)
stops new work; hosts already finished are kept, hosts in flight are given a
few seconds to finish or clean up their WinRM shells.

Example::

    sweep = policy_sweep(policies, inventory_hosts, waivers=waivers)
    outcome = sweep.run(on_result=lambda r: print(r.host, r.status))
    outcome.run.hosts  # HostResult list, in completion order
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, TypedDict

from pydantic import BaseModel, ConfigDict

from fleetcheck.agent.contract import ProbeRequest, ProbeResponse, Profile
from fleetcheck.findings import Finding, HostResult, HostStatus, RunResult
from fleetcheck.i18n import T
from fleetcheck.inventory.model import HostSpec
from fleetcheck.officetime import Clock, utc_now
from fleetcheck.transport import Cancelled, Deadline, TransportError, probe_host

if TYPE_CHECKING:
    from typing_extensions import Unpack

DEFAULT_FORKS = 50
DEFAULT_TIMEOUT_S = 120.0
MAX_RETRIES = 2
BACKOFF_S = (0.5, 2.0)
CANCEL_GRACE_S = 5.0

ProbeFn = Callable[[HostSpec, ProbeRequest, Deadline, "threading.Event | None"], ProbeResponse]
# (host, facts, now) -> (findings, operator profile or None); pure, no I/O.
HostEvaluator = Callable[[HostSpec, ProbeResponse, datetime], "tuple[list[Finding], Profile | None]"]


class SweepJob(BaseModel):
    """Everything needed to sweep one host; JSON-serialisable for remote workers.

    The password is a SecretStr and dumps masked: a remote worker resolves
    credentials itself (its own environment or keyring), never from the queue.
    """

    model_config = ConfigDict(frozen=True)

    host: HostSpec
    request: ProbeRequest
    timeout_s: float = DEFAULT_TIMEOUT_S
    max_retries: int = MAX_RETRIES


def sweep_one(job: SweepJob, cancel: threading.Event | None = None, *,
              probe: ProbeFn = probe_host, clock: Clock = utc_now) -> HostResult:
    """Probe one host under one deadline, retrying transient faults (at most ``max_retries``).

    Never raises: every failure is the returned result's status and error.
    """
    host = job.host
    deadline = Deadline.after(job.timeout_s)
    started = clock()
    attempts = 0
    while True:
        attempts += 1
        try:
            facts = probe(host, job.request, deadline, cancel)
            return _result(host, HostStatus.ok, started, clock(), attempts, facts=facts)
        except TransportError as exc:
            backoff = BACKOFF_S[min(attempts - 1, len(BACKOFF_S) - 1)]
            retry = (exc.transient and attempts <= job.max_retries
                     and deadline.remaining() > backoff + 1.0)
            if retry and not (cancel is not None and cancel.wait(backoff)):
                if cancel is None:
                    time.sleep(backoff)
                continue
            return _result(host, exc.status, started, clock(), attempts, error=exc)
        except Exception as exc:  # noqa: BLE001 - one host's bug must not stop the sweep
            failure = TransportError(T(f"{host.name}：内部错误 {type(exc).__name__}，请报告此问题",
                                       f"{host.name}: internal error {type(exc).__name__}; please report it"))
            return _result(host, HostStatus.error, started, clock(), attempts, error=failure)


def serializable(result: HostResult) -> HostResult:
    """``result`` if it serializes; else a copy with host strings made safe; else that host's error. Never raises.

    The transport already makes strings safe at the edge (:func:`fleetcheck.agent.parse_output`);
    this keeps any other source (a stubbed probe, a future transport) from spoiling the whole run's
    results, report and history: one host's failure becomes that host's error.
    """
    try:
        result.model_dump_json()
        return result
    except Exception:  # noqa: BLE001 - any failure to serialize is repaired or reported below
        pass
    try:
        from fleetcheck.textsafe import clean

        fixed = HostResult.model_validate(clean(result.model_dump()))
        fixed.model_dump_json()
        return fixed
    except Exception as exc:  # noqa: BLE001 - this host's error, never the run's
        name = type(exc).__name__
        return HostResult(
            host=result.host, address=result.address, groups=list(result.groups), branch=result.branch,
            status=HostStatus.error, error_class="BadOutput",
            error=T(f"{result.host}：该主机的结果无法保存（{name}）", f"{result.host}: this host's results cannot be saved ({name})"),
            started=result.started, finished=result.finished, attempts=result.attempts,
        )


def _result(host: HostSpec, status: HostStatus, started: datetime, finished: datetime, attempts: int,
            *, facts: ProbeResponse | None = None, error: TransportError | None = None) -> HostResult:
    return HostResult(
        host=host.name,
        address=host.address,
        groups=list(host.groups),
        branch=host.branch,
        status=status,
        error_class=type(error).__name__ if error is not None else None,
        error=error.text if error is not None else None,
        started=started,
        finished=finished,
        attempts=attempts,
        facts=facts,
    )


class SweepExecutor(Protocol):
    """Runs jobs and yields results as they finish; stops starting new ones once ``cancel`` is set."""

    def run(self, jobs: Sequence[SweepJob], cancel: threading.Event) -> Iterator[HostResult]: ...


@dataclass
class ThreadExecutor:
    """The local executor: ``forks`` worker threads, one pywinrm session per job.

    Workers are daemon threads fed from a queue (not a ThreadPoolExecutor,
    whose threads the interpreter joins at exit): after Ctrl-C, in-flight hosts
    get ``grace_s`` to notice the cancel flag and delete their shells; a host
    stuck in a blocking read past that does not hold the process hostage.
    """

    forks: int = DEFAULT_FORKS
    probe: ProbeFn = probe_host
    clock: Clock = utc_now
    grace_s: float = CANCEL_GRACE_S
    # Told (hosts in flight, seconds) when a cancel starts the grace period, so
    # the CLI can say why Ctrl-C does not return at once.
    on_grace: Callable[[int, float], None] | None = None

    def run(self, jobs: Sequence[SweepJob], cancel: threading.Event) -> Iterator[HostResult]:
        todo: queue.SimpleQueue[SweepJob] = queue.SimpleQueue()
        for job in jobs:
            todo.put(job)
        done: queue.SimpleQueue[HostResult] = queue.SimpleQueue()

        def worker() -> None:
            while not cancel.is_set():
                try:
                    job = todo.get_nowait()
                except queue.Empty:
                    return
                done.put(sweep_one(job, cancel, probe=self.probe, clock=self.clock))

        workers = [threading.Thread(target=worker, name=f"fleetcheck-sweep-{i}", daemon=True)
                   for i in range(max(1, min(self.forks, len(jobs))))] if jobs else []
        for thread in workers:
            thread.start()
        outstanding = len(jobs)
        try:
            while outstanding and not cancel.is_set():
                try:
                    result = done.get(timeout=0.5)
                except queue.Empty:
                    continue
                outstanding -= 1
                yield result
        except KeyboardInterrupt:
            cancel.set()  # Ctrl-C while waiting: stop new work, fall through to the grace period
        if outstanding:
            cancel.set()
            busy = sum(1 for t in workers if t.is_alive())
            if busy and self.on_grace is not None:
                self.on_grace(busy, self.grace_s)
        # In-flight hosts see the cancel flag at their next WinRM step and clean
        # up their shells; keep those that still finish properly.
        grace_ends = time.monotonic() + self.grace_s
        while outstanding and any(t.is_alive() for t in workers) and time.monotonic() < grace_ends:
            try:
                result = done.get(timeout=0.2)
            except queue.Empty:
                continue
            outstanding -= 1
            if result.error_class != Cancelled.__name__:
                yield result


@dataclass
class SweepOutcome:
    run: RunResult
    interrupted: bool
    not_swept: list[str] = field(default_factory=list)


class Sweep:
    """One sweep of ``hosts`` with one compiled request; evaluation on the controller."""

    def __init__(
        self,
        hosts: Sequence[HostSpec],
        request: ProbeRequest,
        evaluator: HostEvaluator | None,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        executor: SweepExecutor | None = None,
        clock: Clock = utc_now,
        policies: Sequence[str] = (),
        inventory: str | None = None,
    ) -> None:
        self.hosts = list(hosts)
        self.request = request
        self.evaluator = evaluator
        self.timeout_s = timeout_s
        self.executor: SweepExecutor = executor or ThreadExecutor(clock=clock)
        self.clock = clock
        self.policies = list(policies)
        self.inventory = inventory
        self._cancel = threading.Event()

    def cancel(self) -> None:
        """Stop starting hosts; finished hosts are kept (what Ctrl-C does)."""
        self._cancel.set()

    def run(self, on_result: Callable[[HostResult], None] | None = None, *,
            retain_facts: bool = True) -> SweepOutcome:
        """Sweep every host; ``on_result`` sees each host as it finishes (progress, incremental writes).

        With ``retain_facts=False`` the returned RunResult's hosts keep their
        findings and errors but not the raw facts, which ``on_result`` has
        already seen (and written): an agent answer of ~20 KB is ~170 KB as
        objects, so a 1,000-host sweep would otherwise hold ~170 MB.
        """
        run = RunResult(run_id=uuid.uuid4().hex[:12], started=self.clock(), policies=self.policies,
                        inventory=self.inventory)
        by_name = {h.name: h for h in self.hosts}
        jobs = [SweepJob(host=h, request=self.request, timeout_s=self.timeout_s) for h in self.hosts]
        interrupted = False

        def finish(result: HostResult) -> None:
            result = serializable(self._evaluate(by_name[result.host], result))
            if on_result is not None:
                on_result(result)
            run.hosts.append(result if retain_facts else result.model_copy(update={"facts": None}))

        results = self.executor.run(jobs, self._cancel)
        try:
            for result in results:
                finish(result)
        except KeyboardInterrupt:
            interrupted = True
            self._cancel.set()
            # Collect what in-flight hosts still finish during the grace period.
            try:
                for result in results:
                    finish(result)
            except KeyboardInterrupt:
                pass
        finally:
            close = getattr(results, "close", None)
            if close is not None:
                close()
        interrupted = interrupted or self._cancel.is_set()
        run.finished = self.clock()
        swept = {r.host for r in run.hosts}
        return SweepOutcome(run=run, interrupted=interrupted and len(swept) < len(self.hosts),
                            not_swept=[h.name for h in self.hosts if h.name not in swept])

    def _evaluate(self, host: HostSpec, result: HostResult) -> HostResult:
        if result.status is not HostStatus.ok or result.facts is None or self.evaluator is None:
            return result
        try:
            findings, operator = self.evaluator(host, result.facts, self.clock())
        except Exception as exc:  # noqa: BLE001 - a policy/evaluator bug stays on this host
            return result.model_copy(update={
                "status": HostStatus.error,
                "error_class": "EvaluationError",
                "error": T(f"{host.name}：评估失败（{type(exc).__name__}），请报告此问题",
                           f"{host.name}: evaluation failed ({type(exc).__name__}); please report it"),
            })
        return result.model_copy(update={
            "findings": list(findings),
            "operator": getattr(operator, "user", None) if operator is not None else None,
            "operator_sid": getattr(operator, "sid", None) if operator is not None else None,
        })


class SweepOptions(TypedDict, total=False):
    """The keyword options of :func:`policy_sweep`; each is optional (default in brackets).

    ``waivers`` [()]: applied when evaluating; ``forks`` [DEFAULT_FORKS]: worker
    threads; ``timeout_s`` [DEFAULT_TIMEOUT_S]: each host's deadline; ``clock``
    [utc_now]; ``inventory`` [None]: the run's inventory source, recorded in the
    run; ``probe`` [probe_host]: how one host is asked; ``on_grace`` [None]: told
    (hosts in flight, seconds) when a cancel starts the grace period; ``executor``
    [a ThreadExecutor of the options above]: who runs the jobs (e.g. Celery workers).
    """

    waivers: Sequence[Any]
    forks: int
    timeout_s: float
    clock: Clock
    inventory: str | None
    probe: ProbeFn
    on_grace: Callable[[int, float], None] | None
    executor: SweepExecutor | None


def policy_sweep(policies: Sequence[Any], hosts: Sequence[HostSpec], **options: Unpack[SweepOptions]) -> Sweep:
    """A sweep of ``hosts`` against ``policies`` (compiled once), evaluated with ``waivers``."""
    from fleetcheck.evaluate import compile_request, evaluate_host

    waivers = tuple(options.get("waivers", ()))
    clock = options.get("clock", utc_now)

    # One request for all hosts: host variables only change how answers are
    # judged, so they are not needed to decide what to ask.
    request = compile_request(list(policies))

    def evaluator(host: HostSpec, facts: ProbeResponse, now: datetime) -> tuple[list[Finding], Profile | None]:
        evaluation = evaluate_host(list(policies), facts, host_vars=host.host_vars, now=now,
                                   waivers=waivers, host=host.name, groups=tuple(host.groups))
        return list(evaluation.findings), evaluation.operator

    executor = options.get("executor") or ThreadExecutor(
        forks=options.get("forks", DEFAULT_FORKS), probe=options.get("probe", probe_host),
        clock=clock, on_grace=options.get("on_grace"))
    return Sweep(hosts, request, evaluator, timeout_s=options.get("timeout_s", DEFAULT_TIMEOUT_S),
                 executor=executor, clock=clock,
                 policies=[getattr(p, "id", str(p)) for p in policies], inventory=options.get("inventory"))
