"""What every check type shares: the common policy fields, the evaluation context,
the outcome of one evaluation, and the registry of check types.

A check type is one module in ``fleetcheck.checks`` that defines:

* ``Spec``: a pydantic model subclassing :class:`CheckBase` with
  ``type: Literal["<name>"]`` and the type's own parameters;
* ``queries(spec) -> list[Query]``: the facts it needs, as data
  (``fleetcheck.agent.contract`` queries; build them with :func:`reg_query`,
  :func:`file_query`, ... so identical queries get identical ids and are
  deduplicated across checks);
* ``evaluate(spec, ctx) -> Outcome``: pure, no I/O, no clock (``ctx.now``);
* ``describe(spec) -> Description``: where on Windows it looks and what it
  expects, for ``fleetcheck policy explain``;

and registers itself with :func:`register`. Nothing else changes when a type
is added.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from fleetcheck.agent.contract import (
    Answer,
    DirQuery,
    FileQuery,
    PnpQuery,
    ProbeResponse,
    Profile,
    Query,
    RegistryQuery,
    TcpQuery,
)
from fleetcheck.checks.conditions import Condition
from fleetcheck.findings import FindingStatus, FixMode, Severity
from fleetcheck.i18n import Text


class CheckBase(BaseModel):
    """Fields every check has (DESIGN.md "Policy format")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    type: str
    title: Text
    scope: Literal["user", "machine"] = "machine"
    severity: Severity = Severity.medium
    when: Condition | None = None
    guide: str | None = None
    requirement: str | None = None  # R1..R15 of docs/requirements.md, for traceability
    remedy: Text | None = None
    fix: FixMode = FixMode.none
    description: Text | None = None


@dataclass(frozen=True)
class Outcome:
    """The result of one evaluation, before the engine adds the check's metadata."""

    status: FindingStatus
    expected: str | None = None
    observed: str | None = None
    source: str | None = None
    message: Text | None = None
    details: dict[str, Any] = field(default_factory=dict)
    # Optional override of the check's severity for this finding (e.g. an expired
    # certificate is critical even when the check's own severity is high).
    severity: Severity | None = None
    # Optional override of the check's remedy for this finding (an expired certificate
    # needs another remedy than one about to expire).
    remedy: Text | None = None


@dataclass(frozen=True)
class Description:
    """What ``policy explain`` prints for a check: where it looks, what it expects."""

    where: list[str]
    expected: str


class EvalContext:
    """Everything ``evaluate`` may look at for one host. No I/O happens here.

    ``operator`` is the profile whose user-scoped settings count (chosen by the
    engine from the inventory's ``operator`` variable or the console user);
    None means nobody is logged on, and user-scoped checks are not evaluated.
    """

    def __init__(
        self,
        facts: ProbeResponse,
        host_vars: dict[str, Any],
        now: datetime,
        operator: Profile | None,
    ) -> None:
        self.facts = facts
        self.host_vars = host_vars
        self.now = now
        self.operator = operator
        # Per-host scratch space for pure, expensive derivations shared by several
        # checks (e.g. parsed certificates), so each is computed once per host.
        self.memo: dict[str, Any] = {}

    @cached_property
    def _index(self) -> dict[tuple[str, str | None], Answer]:
        return {(a.id, a.sid): a for a in self.facts.answers}

    def answer(self, query: Query, sid: str | None = None) -> Answer | None:
        """The answer to ``query``; for per-user queries, the one for ``sid``."""
        return self._index.get((query.id, sid))


@dataclass(frozen=True)
class RegisteredType:
    name: str
    spec: type[CheckBase]
    queries: Callable[[Any], list[Query]]
    evaluate: Callable[[Any, EvalContext], Outcome]
    describe: Callable[[Any], Description]


REGISTRY: dict[str, RegisteredType] = {}


def register(
    name: str,
    spec: type[CheckBase],
    queries: Callable[[Any], list[Query]],
    evaluate: Callable[[Any, EvalContext], Outcome],
    describe: Callable[[Any], Description],
) -> None:
    REGISTRY[name] = RegisteredType(name, spec, queries, evaluate, describe)


# --------------------------------------------------------------------------- query builders


def _qid(prefix: str, *parts: object) -> str:
    """A short stable id from a query's content, so equal queries deduplicate."""
    digest = hashlib.blake2s("\x1f".join(str(p).lower() for p in parts).encode(), digest_size=6)
    return f"{prefix}-{digest.hexdigest()}"


def reg_query(
    hive: Literal["HKLM", "HKU"],
    path: str,
    *,
    depth: int = 0,
    follow: tuple[str, ...] = (),
    follow_content: bool = False,
    follow_wow64: bool = False,
) -> RegistryQuery:
    """A registry read; ``hive="HKU"`` means every loaded user hive (per user)."""
    per_user = hive == "HKU"
    parts: tuple[object, ...] = (hive, path, depth, ",".join(follow), follow_content)
    return RegistryQuery(
        id=_qid("reg", *parts, *(("wow64",) if follow_wow64 else ())),
        hive=hive,
        path=path,
        per_user=per_user,
        depth=depth,
        follow=list(follow),
        follow_content=follow_content,
        follow_wow64=follow_wow64,
    )


def file_query(path: str, *, per_user: bool = False, content: bool = False) -> FileQuery:
    return FileQuery(
        id=_qid("file", path, per_user, content), path=path, per_user=per_user, content=content
    )


def dir_query(path: str, *, per_user: bool = False, content: bool = False) -> DirQuery:
    return DirQuery(
        id=_qid("dir", path, per_user, content), path=path, per_user=per_user, content=content
    )


def pnp_query(vendor_id: str) -> PnpQuery:
    return PnpQuery(id=_qid("pnp", vendor_id), vendor_id=vendor_id)


def tcp_query(host: str, port: int, timeout_ms: int = 5000) -> TcpQuery:
    return TcpQuery(id=_qid("tcp", host, port, timeout_ms), host=host, port=port, timeout_ms=timeout_ms)
