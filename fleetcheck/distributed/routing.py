"""Which Celery queue a host's job goes to: its ``queue`` variable, else its branch.

A brokerage routes by branch: every worker inside a branch network serves that
branch's queue, so WinRM never crosses a branch firewall. An inventory's
``branch`` variable names the branch (``branch: 深圳``); a ``queue`` variable
overrides it (several branches behind one network, or one big branch split in
two). A host with neither goes to :data:`DEFAULT_QUEUE`.

The queue of branch ``深圳`` is ``fleetcheck.深圳`` in the broker: the prefix
keeps fleetcheck's queues apart from other Celery applications on the same
broker; ``fleetcheck worker --queue 深圳`` takes the branch (or queue
variable) as written in the inventory. Pure: no I/O.

>>> from fleetcheck.inventory.model import HostSpec
>>> queue_for(HostSpec(name="PC-1", address="127.0.0.1", host_vars={"branch": "深圳"}))
'fleetcheck.深圳'
>>> queue_for(HostSpec(name="PC-2", address="127.0.0.1", host_vars={"branch": "深圳", "queue": "sz-east"}))
'fleetcheck.sz-east'
>>> queue_for(HostSpec(name="PC-3", address="127.0.0.1"))
'fleetcheck.default'
"""

from __future__ import annotations

from collections.abc import Iterable

from fleetcheck.errors import FleetcheckError
from fleetcheck.i18n import T
from fleetcheck.inventory.model import HostSpec

PREFIX = "fleetcheck."
DEFAULT_NAME = "default"
DEFAULT_QUEUE = PREFIX + DEFAULT_NAME
MAX_NAME = 100


class RoutingError(FleetcheckError):
    """A ``queue``/``branch`` value that cannot name a broker queue (empty, too long, control characters)."""


def _check(name: str, host: str) -> str:
    if not name or len(name) > MAX_NAME or any(ch.isspace() or not ch.isprintable() for ch in name):
        raise RoutingError(T(
            f"主机 {host}：队列名（queue 或 branch 变量）必须是 1–{MAX_NAME} 个可打印字符，且不含空白",
            f"host {host}: a queue name (the queue or branch variable) must be 1–{MAX_NAME} printable "
            "characters without white space"))
    return name


def route_name(host: HostSpec) -> str:
    """The host's queue as the inventory names it: ``queue``, else ``branch``, else ``default``."""
    for key in ("queue", "branch"):
        value = host.host_vars.get(key)
        if value is not None:
            return _check(str(value), host.name)
    return DEFAULT_NAME


def queue_for(host: HostSpec) -> str:
    """The broker queue of ``host``'s job."""
    return PREFIX + route_name(host)


def broker_queue(name: str) -> str:
    """``--queue NAME`` (as in the inventory) as the broker's queue name."""
    return name if name.startswith(PREFIX) else PREFIX + name


def queues_of(hosts: Iterable[HostSpec]) -> list[str]:
    """Every queue the hosts route to, sorted (what a worker with no ``--queue`` serves)."""
    return sorted({queue_for(h) for h in hosts})
