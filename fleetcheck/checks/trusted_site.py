"""``trusted_site``: the zone IE puts a URL in (R2: the portal must be a Trusted Site).

```yaml
- id: portal-trusted-site
  type: trusted_site
  url: https://biz.sccc.com
  zone: 2            # expected zone, default 2 (Trusted sites)
  scope: user
```

Resolution (ZoneMapKey policies, user and machine ``ZoneMap\\Domains`` trees,
parent domains, ``*`` wildcards) is in :func:`fleetcheck.checks.ie_zones.url_zone`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from fleetcheck.agent.contract import Query
from fleetcheck.checks.base import CheckBase, Description, EvalContext, Outcome, register
from fleetcheck.checks.ie_zones import ZONE_NAMES, url_zone, zonemap_queries
from fleetcheck.findings import FindingStatus
from fleetcheck.i18n import T


class Spec(CheckBase):
    type: Literal["trusted_site"]
    url: str = Field(min_length=1, pattern=r"^(https?://)?[A-Za-z0-9.*-]+(:\d+)?(/.*)?$")
    zone: int = Field(default=2, ge=0, le=4)


def _zone(z: int) -> str:
    return f"{z} ({ZONE_NAMES.get(z, '?')})"


def queries(spec: Spec) -> list[Query]:
    return list(zonemap_queries())


def evaluate(spec: Spec, ctx: EvalContext) -> Outcome:
    match = url_zone(ctx, spec.url)
    details = {"url": spec.url, "zone": match.zone, "layer": match.layer}
    if match.zone == spec.zone:
        return Outcome(FindingStatus.passed, _zone(spec.zone), _zone(match.zone), match.source, details=details)
    msg = T(
        f"{spec.url} 属于区域 {_zone(match.zone)}，不是 {_zone(spec.zone)}",
        f"{spec.url} is in zone {_zone(match.zone)}, not {_zone(spec.zone)}",
    )
    return Outcome(FindingStatus.fail, _zone(spec.zone), _zone(match.zone), match.source, msg, details)


def describe(spec: Spec) -> Description:
    return Description(
        where=[f"{q.hive}\\{q.path}" for q in zonemap_queries()[1:]],
        expected=f"{spec.url} resolves to zone {_zone(spec.zone)}",
    )


register("trusted_site", Spec, queries, evaluate, describe)
