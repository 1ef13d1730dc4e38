"""Reaching a host: the pywinrm adapter that runs the agent, and its typed errors."""

from fleetcheck.transport.errors import (
    AgentFailed,
    AuthRejected,
    BadOutput,
    Cancelled,
    ConfigurationError,
    QuotaExceeded,
    Refused,
    TimedOut,
    TlsError,
    TransportError,
    Unreachable,
    WsmanFault,
)
from fleetcheck.transport.session import AgentSession, Deadline, auth_unavailable, probe_host

__all__ = [
    "AgentFailed",
    "AgentSession",
    "AuthRejected",
    "BadOutput",
    "Cancelled",
    "ConfigurationError",
    "Deadline",
    "QuotaExceeded",
    "Refused",
    "TimedOut",
    "TlsError",
    "TransportError",
    "Unreachable",
    "WsmanFault",
    "auth_unavailable",
    "probe_host",
]
