"""Background jobs of the dashboard: a bounded thread pool, one job per host at a time.

A :class:`Job` is a fix or a rescan of one or more hosts, started by a logged-in
user. Its progress lines (bilingual) and final outcome are polled by the page
(``GET /jobs/<id>.json``). A host already in a queued or running job cannot be
put in another one: :meth:`JobBoard.submit` raises :class:`HostBusy`. Jobs live
in memory only (the last :data:`KEEP_JOBS`); what they did is in the store
(runs) and in the audit log.

Example::

    board = JobBoard(workers=2)
    job = board.submit("rescan", ["PC-01"], "admin", lambda job: job.say(T("完成", "done")))
    board.wait(job.id, timeout=10)
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

from fleetcheck.errors import FleetcheckError
from fleetcheck.i18n import Lang, T, Text

__all__ = ["HostBusy", "Job", "JobBoard", "JobState"]

JobState = Literal["queued", "running", "done", "refused", "failed"]
STATE_LABELS: dict[str, Text] = {
    "queued": T("排队中", "queued"),
    "running": T("运行中", "running"),
    "done": T("已完成", "done"),
    "refused": T("已拒绝", "refused"),
    "failed": T("失败", "failed"),
}
KEEP_JOBS = 200
MAX_PROGRESS_LINES = 500


class HostBusy(FleetcheckError):
    """A host is already in a queued or running job (the dashboard answers 409 with ``text``)."""

    def __init__(self, host: str, job_id: str) -> None:
        super().__init__(T(f"{host} 已有任务在运行（{job_id}），请等它结束", f"a job is already running for {host} ({job_id}); wait for it to finish"))
        self.host = host
        self.job_id = job_id


@dataclass
class Job:
    """One background job; mutate only through :meth:`say` / :meth:`finish` (they lock)."""

    id: str
    kind: str  # "fix" | "rescan"
    hosts: list[str]
    user: str
    created: datetime
    state: JobState = "queued"
    progress: list[Text] = field(default_factory=list)
    outcome: Text | None = None
    result: dict[str, Any] = field(default_factory=dict)
    finished: datetime | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def say(self, text: Text) -> None:
        """Add a progress line (shown live on the page)."""
        with self._lock:
            if len(self.progress) < MAX_PROGRESS_LINES:
                self.progress.append(text)

    def finish(self, state: JobState, outcome: Text, **result: Any) -> None:
        with self._lock:
            self.state = state
            self.outcome = outcome
            self.result.update(result)
            self.finished = datetime.now(timezone.utc)

    @property
    def active(self) -> bool:
        return self.state in ("queued", "running")

    def view(self, lang: Lang) -> dict[str, Any]:
        """The JSON the page polls (strings already in ``lang``)."""
        with self._lock:
            return {
                "id": self.id,
                "kind": self.kind,
                "hosts": list(self.hosts),
                "user": self.user,
                "state": self.state,
                "state_label": STATE_LABELS[self.state].get(lang),
                "active": self.active,
                "progress": [p.get(lang) for p in self.progress],
                "outcome": self.outcome.get(lang) if self.outcome else None,
                "result": dict(self.result),
                "created": self.created.isoformat(),
                "finished": self.finished.isoformat() if self.finished else None,
            }


class JobBoard:
    """Runs jobs in a bounded pool; refuses a second job for a busy host."""

    def __init__(self, workers: int = 4) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="fleetcheck-web-job")
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._busy: dict[str, str] = {}  # host -> job id
        self._done = threading.Condition()

    def submit(self, kind: str, hosts: Iterable[str], user: str, work: Callable[[Job], None]) -> Job:
        """Queue ``work(job)``; raises :class:`HostBusy` when any host is already in a job."""
        names = list(dict.fromkeys(hosts))
        with self._done:
            for name in names:
                if name in self._busy:
                    raise HostBusy(name, self._busy[name])
            job = Job(id=uuid.uuid4().hex[:12], kind=kind, hosts=names, user=user,
                      created=datetime.now(timezone.utc))
            for name in names:
                self._busy[name] = job.id
            self._jobs[job.id] = job
            while len(self._jobs) > KEEP_JOBS:
                oldest = next(iter(self._jobs.values()))
                if oldest.active:
                    break
                self._jobs.popitem(last=False)
        self._pool.submit(self._run, job, work)
        return job

    def _run(self, job: Job, work: Callable[[Job], None]) -> None:
        with job._lock:
            job.state = "running"
        try:
            work(job)
            if job.active:  # work returned without saying how it ended
                job.finish("done", T("完成", "finished"))
        except Exception as exc:  # noqa: BLE001 - a job's failure is shown on its page, the server lives on
            job.finish("failed", T(f"任务失败：{type(exc).__name__}", f"the job failed: {type(exc).__name__}"))
        finally:
            with self._done:
                for name in job.hosts:
                    if self._busy.get(name) == job.id:
                        del self._busy[name]
                self._done.notify_all()

    def get(self, job_id: str) -> Job | None:
        with self._done:
            return self._jobs.get(job_id)

    def busy_job(self, host: str) -> str | None:
        """The id of the job ``host`` is in, or None."""
        with self._done:
            return self._busy.get(host)

    def recent(self, limit: int = 20) -> list[Job]:
        with self._done:
            return list(reversed(self._jobs.values()))[:limit]

    def wait(self, job_id: str, timeout: float) -> Job | None:
        """Block until the job has ended or ``timeout`` seconds passed (tests, shutdown)."""
        with self._done:
            self._done.wait_for(lambda: not (j := self._jobs.get(job_id)) or not j.active, timeout=timeout)
            return self._jobs.get(job_id)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
