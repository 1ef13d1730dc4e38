"""Reading a host's answers inside a check: one place for "error", "absent", "missing".

Check types call these instead of touching :class:`Answer` directly, so every
type treats the agent's answers the same way:

* ``absent`` is data (the key or file does not exist) and comes back as None;
* ``error`` (the agent could not read it) raises :class:`FactError` with the
  agent's own message; the engine turns it into an ``error`` finding;
* no answer at all (facts produced for another policy, an old agent) also
  raises :class:`FactError`, naming the query, rather than passing silently.

Pure: no I/O.
"""

from __future__ import annotations

from fleetcheck.agent.contract import (
    Answer,
    Query,
    RegistryQuery,
    RegKey,
    RegValue,
)
from fleetcheck.checks.base import EvalContext
from fleetcheck.findings import FindingStatus
from fleetcheck.i18n import T, Text

__all__ = [
    "NO_OPERATOR",
    "FactError",
    "answer_of",
    "dword",
    "no_operator",
    "reg_location",
    "registry_key",
]

NO_OPERATOR = T("未评估：没有操作员登录", "not evaluated: no operator logged on")


class FactError(Exception):
    """A fact the check needs could not be read; ``message`` is shown in the finding (internal).

    ``status`` is ``error`` (the host could not answer) or ``not_evaluated`` (a
    view the verdict depends on was not available, e.g. no operator logged on):
    either way the check is never a pass it did not earn.
    """

    def __init__(self, message: Text, status: FindingStatus = FindingStatus.error) -> None:
        super().__init__(message.en)
        self.message = message
        self.status = status


def dword(value: RegValue | None) -> int | None:
    """The number of a REG_DWORD value; None for absent and for every other type.

    IE reads its zone, URL-action, zone-map and flag settings as REG_DWORD (KB
    182569); a REG_SZ "0" is not read as 0 (docs/windows-semantics.md), so a
    check never counts it as the number it spells.
    """
    if value is not None and value.t == "DWORD" and isinstance(value.v, int):
        return value.v
    return None


def no_operator() -> FactError:
    """The verdict depends on the operator's hive, and nobody is logged on."""
    return FactError(NO_OPERATOR, FindingStatus.not_evaluated)


def _where(query: Query, sid: str | None) -> str:
    if isinstance(query, RegistryQuery):
        return reg_location(query.hive, query.path, sid)
    path = getattr(query, "path", None) or getattr(query, "host", "") or query.id
    return str(path)


def reg_location(hive: str, path: str, sid: str | None = None) -> str:
    """``HKLM\\path`` or ``HKU\\<sid>\\path``, as reports show a source key."""
    if hive == "HKU":
        return f"HKU\\{sid or '<SID>'}\\{path}"
    return f"{hive}\\{path}"


def answer_of(ctx: EvalContext, query: Query, *, user: bool = False) -> Answer | None:
    """The answer to ``query`` (the operator's for ``user=True``); None when ``absent``.

    Raises FactError on an ``error`` answer or a missing answer.
    """
    sid = ctx.operator.sid if (user and ctx.operator is not None) else None
    if user and ctx.operator is None:
        raise no_operator()
    ans = ctx.answer(query, sid)
    if ans is None:
        where = _where(query, sid)
        raise FactError(
            T(
                f"主机没有回答查询 {query.id}（{where}）：事实数据不是用这份策略采集的？请重新扫描",
                f"the host did not answer query {query.id} ({where}): were the facts collected "
                "with this policy? Scan again",
            )
        )
    if ans.status == "error":
        where = _where(query, sid)
        msg = ans.error or "unknown error"
        raise FactError(T(f"读取 {where} 失败：{msg}", f"could not read {where}: {msg}"))
    if ans.status == "absent":
        return None
    return ans


def registry_key(ctx: EvalContext, query: RegistryQuery, *, user: bool = False) -> RegKey | None:
    """The key tree answered for ``query``; None when the key does not exist."""
    ans = answer_of(ctx, query, user=user)
    return ans.key if ans is not None else None
