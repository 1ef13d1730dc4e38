"""What a job looks like on the broker: the host (no password), a reference to the request, the deadline.

Every host of a sweep is asked the same compiled
:class:`~fleetcheck.agent.contract.ProbeRequest` (~15 KB of JSON for the
shipped policies). Rather than copying it into every job, the controller
stores it once in the result backend under its SHA-256
(:func:`request_key`, kept :data:`REQUEST_TTL_S`) and each job names that key;
a worker reads a request once and keeps the last :data:`CACHED_REQUESTS` it
saw (:class:`RequestCache`). A job's payload is then a few hundred bytes::

    {"host": {...HostSpec, "password": null...}, "request": "fleetcheck-request-<sha256>",
     "timeout_s": 120.0, "max_retries": 2}

The request holds no secret: it is what to ask, the same for every PC.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Any

from fleetcheck.agent.contract import ProbeRequest
from fleetcheck.distributed.secrets import job_for_broker
from fleetcheck.inventory.model import HostSpec
from fleetcheck.runner import SweepJob

REQUEST_PREFIX = "fleetcheck-request-"
REQUEST_TTL_S = 86400  # a sweep's request outlives any sweep
CACHED_REQUESTS = 8


def request_key(request_json: str) -> str:
    """The backend key of a request's JSON (its SHA-256: the same request, the same key)."""
    return REQUEST_PREFIX + hashlib.sha256(request_json.encode("utf-8")).hexdigest()


def store_request(backend: Any, request: ProbeRequest) -> str:
    """Store ``request`` once in the result backend (Redis); its key."""
    text = request.model_dump_json()
    key = request_key(text)
    backend.client.set(key, text, ex=REQUEST_TTL_S)
    return key


def job_payload(job: SweepJob, key: str) -> dict[str, Any]:
    """The job as sent: its host without a password, the request's key, the deadline and retries."""
    return {"host": job_for_broker(job).host.model_dump(mode="json"), "request": key,
            "timeout_s": job.timeout_s, "max_retries": job.max_retries}


class RequestCache:
    """A worker's last few requests, read from the backend once each (thread-safe)."""

    def __init__(self, size: int = CACHED_REQUESTS) -> None:
        self.size = size
        self._items: OrderedDict[str, ProbeRequest] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, backend: Any, key: str) -> ProbeRequest | None:
        """The request stored under ``key``; None when the backend no longer has it (or it is not one)."""
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        if not key.startswith(REQUEST_PREFIX):
            return None
        raw = backend.client.get(key)
        if raw is None:
            return None
        text = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
        if request_key(text) != key:  # not what the controller stored
            return None
        request = ProbeRequest.model_validate_json(text)
        with self._lock:
            self._items[key] = request
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return request


def job_of(payload: dict[str, Any], request: ProbeRequest) -> SweepJob:
    """The SweepJob a payload describes (raises pydantic's ValidationError for a malformed one)."""
    return SweepJob(host=HostSpec.model_validate(payload["host"]), request=request,
                    timeout_s=payload["timeout_s"], max_retries=payload["max_retries"])
