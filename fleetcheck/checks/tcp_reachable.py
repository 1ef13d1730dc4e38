"""``tcp_reachable``: the host itself can open a TCP connection (R15).

```yaml
- id: portal-reachable
  type: tcp_reachable
  host: biz.sccc.com
  port: 443
  timeout_ms: 5000
```
The connect test runs on the Windows host (its proxy-less network path), not
on the machine running fleetcheck.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from fleetcheck.agent.contract import Query, TcpQuery
from fleetcheck.checks.base import CheckBase, Description, EvalContext, Outcome, register, tcp_query
from fleetcheck.checks.facts import answer_of
from fleetcheck.findings import FindingStatus
from fleetcheck.i18n import T


class Spec(CheckBase):
    type: Literal["tcp_reachable"]
    host: str = Field(min_length=1, pattern=r"^[A-Za-z0-9.:\[\]-]+$")
    port: int = Field(ge=1, le=65535)
    timeout_ms: int = Field(default=5000, ge=100, le=30000)


def _query(spec: Spec) -> TcpQuery:
    return tcp_query(spec.host, spec.port, spec.timeout_ms)


def queries(spec: Spec) -> list[Query]:
    return [_query(spec)]


def evaluate(spec: Spec, ctx: EvalContext) -> Outcome:
    ans = answer_of(ctx, _query(spec))
    target = f"{spec.host}:{spec.port}"
    expected = f"{target} 可连接 reachable (≤ {spec.timeout_ms} ms)"
    source = f"TCP connect from the host to {target}"
    elapsed = ans.elapsed_ms if ans is not None else None
    details = {"host": spec.host, "port": spec.port, "elapsed_ms": elapsed}
    if ans is not None and ans.connected:
        return Outcome(FindingStatus.passed, expected, f"已连接 connected ({elapsed} ms)", source, details=details)
    msg = T(
        f"主机在 {spec.timeout_ms} 毫秒内无法连接 {target}：检查网络、防火墙或代理",
        f"the host cannot connect to {target} within {spec.timeout_ms} ms: check network, firewall or proxy",
    )
    return Outcome(FindingStatus.fail, expected, "无法连接 not reachable", source, msg, details)


def describe(spec: Spec) -> Description:
    return Description(where=[f"TCP {spec.host}:{spec.port} from the host"], expected=f"connects within {spec.timeout_ms} ms")


register("tcp_reachable", Spec, queries, evaluate, describe)
