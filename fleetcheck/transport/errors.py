"""One exception hierarchy for everything that can go wrong reaching a host.

Each class maps to a ``HostStatus``; its message (bilingual) says what failed
and what to do. Messages are built only from our own text, addresses, exit
codes and server fault reasons: never from credentials, so a password cannot
leak through ``str(exc)``.

``transient`` marks faults worth a retry (connection reset, quota exceeded,
WS-Management OperationTimeout outside the output loop); the runner retries
those at most twice with backoff, within the host's deadline.

Every class is a :class:`~fleetcheck.errors.FleetcheckError`: a host that
could not be probed maps to exit code 3 (:data:`~fleetcheck.errors.EXIT_UNREACHABLE`),
except :class:`ConfigurationError` (the host's settings in the inventory
cannot work: exit code 2, as every configuration error).
"""

from __future__ import annotations

from typing import ClassVar

from fleetcheck.errors import EXIT_UNREACHABLE, EXIT_USAGE, FleetcheckError
from fleetcheck.findings import HostStatus
from fleetcheck.i18n import T, Text


class TransportError(FleetcheckError):
    """Base class: a host could not be probed. ``text`` is the bilingual message."""

    status: ClassVar[HostStatus] = HostStatus.error
    exit_code: ClassVar[int] = EXIT_UNREACHABLE

    def __init__(self, text: Text, *, transient: bool = False) -> None:
        super().__init__(text)
        self.transient = transient


class ConfigurationError(TransportError):
    """The host's connection settings cannot work (Basic over HTTP, missing extra...)."""

    status = HostStatus.error
    exit_code = EXIT_USAGE


class Unreachable(TransportError):
    """No TCP connection (no route, connect timed out, DNS) or it broke mid-exchange."""

    status = HostStatus.unreachable


class Refused(TransportError):
    """The host answered but nothing listens on the WinRM port."""

    status = HostStatus.refused


class TimedOut(TransportError):
    """The host accepted but did not answer within the deadline."""

    status = HostStatus.timeout


class TlsError(TransportError):
    """The HTTPS certificate did not validate (or TLS failed)."""

    status = HostStatus.tls_error


class AuthRejected(TransportError):
    """The host rejected the credentials (HTTP 401) or the NTLM/Kerberos exchange failed."""

    status = HostStatus.auth_failed


class WsmanFault(TransportError):
    """WS-Management answered with a fault; ``code`` is the WSManFault code or HTTP status."""

    status = HostStatus.wsman_fault

    def __init__(self, text: Text, *, code: int | None = None, transient: bool = False) -> None:
        super().__init__(text, transient=transient)
        self.code = code


class QuotaExceeded(WsmanFault):
    """A WinRM quota (MaxShellsPerUser, MaxConcurrentOperationsPerUser...) is exhausted."""

    status = HostStatus.wsman_fault


class AgentFailed(TransportError):
    """The agent ran and exited non-zero: ``agent_exit_code`` is its code, ``stderr_head`` its first lines.

    (``exit_code`` is the process exit code fleetcheck gives this error, as for every error.)
    """

    status = HostStatus.agent_failed

    def __init__(self, text: Text, *, exit_code: int, stderr_head: str) -> None:
        super().__init__(text)
        self.agent_exit_code = exit_code
        self.stderr_head = stderr_head


class BadOutput(TransportError):
    """The agent's output is not a valid response (garbage, truncated, too big, wrong schema)."""

    status = HostStatus.bad_output


class Cancelled(TransportError):
    """The sweep was interrupted (Ctrl-C) before this host finished."""

    status = HostStatus.error


def message(zh: str, en: str, endpoint: str) -> Text:
    """A bilingual message prefixed with the endpoint it concerns."""
    return T(f"{endpoint}：{zh}", f"{endpoint}: {en}")
