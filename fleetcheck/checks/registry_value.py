"""``registry_value``: a generic registry value check, for policies admins write.

```yaml
- id: smartcard-service-auto
  type: registry_value
  hive: HKLM                 # HKLM, or HKU with scope: user (the operator's hive)
  path: SYSTEM\\CurrentControlSet\\Services\\SCardSvr
  name: Start
  view: 64                   # 64 | 32 | both (32 reads the WOW6432Node path)
  equals: 2                  # exactly one of: equals, in, absent, exists, version
```

``view: both`` looks at the 64-bit path first, then the 32-bit one, and judges
the first view where the value exists (``absent`` needs it absent in both).
Numbers compare numerically (a REG_SZ "2" equals 2); text compares
case-insensitively, as Windows does for most settings. ``equals`` may be a
template (``"{{ host.branch_code }}"``).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from fleetcheck.agent.contract import Query, RegistryQuery, RegValue
from fleetcheck.checks.base import CheckBase, Description, EvalContext, Outcome, reg_query, register
from fleetcheck.checks.common import VersionSpecField
from fleetcheck.checks.facts import reg_location, registry_key
from fleetcheck.findings import FindingStatus
from fleetcheck.i18n import T, TextValueError
from fleetcheck.versions import VersionError

Scalar = int | str


def wow64_path(path: str) -> str:
    """The 32-bit view of a 64-bit registry path, as the agent must be asked for it.

    >>> wow64_path(r"SOFTWARE\\Classes\\CLSID\\{X}")
    'SOFTWARE\\\\Classes\\\\WOW6432Node\\\\CLSID\\\\{X}'
    >>> wow64_path(r"SOFTWARE\\Vendor\\App")
    'SOFTWARE\\\\WOW6432Node\\\\Vendor\\\\App'
    """
    parts = path.split("\\")
    low = [p.lower() for p in parts]
    if "wow6432node" in low:
        return path
    if len(parts) >= 2 and low[0] == "software" and low[1] == "classes":
        return "\\".join([*parts[:2], "WOW6432Node", *parts[2:]])
    if low and low[0] == "software":
        return "\\".join([*parts[:1], "WOW6432Node", *parts[1:]])
    return path  # SYSTEM and others are not redirected


class Spec(CheckBase):
    type: Literal["registry_value"]
    templated_fields: ClassVar[frozenset[str]] = frozenset({"equals"})

    hive: Literal["HKLM", "HKU"] = "HKLM"
    path: str = Field(min_length=1)
    name: str  # "" is the key's default value
    view: Literal["64", "32", "both"] = "64"
    equals: Scalar | None = None
    in_: list[Scalar] | None = Field(default=None, alias="in")
    absent: bool = False
    exists: bool = False
    version: VersionSpecField | None = None

    @model_validator(mode="before")
    @classmethod
    def _view_as_text(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("view"), int):
            data = {**data, "view": str(data["view"])}
        return data

    @model_validator(mode="after")
    def _one_expectation(self) -> Spec:
        given = [self.equals is not None, self.in_ is not None, self.absent, self.exists, self.version is not None]
        if sum(given) != 1:
            raise TextValueError(T("equals、in、absent、exists、version 必须恰好写一个",
                                    "give exactly one of: equals, in, absent, exists, version"))
        if (self.hive == "HKU") != (self.scope == "user"):
            raise TextValueError(T("hive HKU 对应 scope: user（操作员的配置单元），HKLM 对应 scope: machine",
                                    "hive HKU goes with scope: user (the operator's hive), HKLM with scope: machine"))
        return self


def view_queries(spec: Spec) -> list[tuple[str, RegistryQuery]]:
    """(view ``"64"``/``"32"``, query) per registry view the spec reads, in order, one per distinct path."""
    path = spec.path.strip("\\")
    views = {"64": [("64", path)], "32": [("32", wow64_path(path))], "both": [("64", path), ("32", wow64_path(path))]}
    out: list[tuple[str, RegistryQuery]] = []
    for view, p in views[spec.view]:
        if any(existing.path.lower() == p.lower() for _, existing in out):
            continue
        out.append((view, reg_query(spec.hive, p)))
    return out


def queries(spec: Spec) -> list[Query]:
    return [q for _, q in view_queries(spec)]


def _expected(spec: Spec) -> str:
    label = spec.name or "(默认值 default)"
    if spec.absent:
        return f"{label} 不存在 absent"
    if spec.exists:
        return f"{label} 存在 exists"
    if spec.version is not None:
        return f"{label} {spec.version}"
    if spec.in_ is not None:
        return f"{label} ∈ {{{', '.join(str(v) for v in spec.in_)}}}"
    return f"{label} = {spec.equals}"


def _same(value: RegValue, want: Scalar) -> bool:
    if isinstance(want, int):
        return value.as_int() == want
    if isinstance(value.v, list):
        return want in value.v
    got = value.as_str()
    return got is not None and got.lower() == want.lower()


def _judge(spec: Spec, value: RegValue) -> bool:
    if spec.exists:
        return True
    if spec.version is not None:
        text = value.as_str()
        try:
            return text is not None and spec.version.matches(text)
        except VersionError:
            return False
    options = [spec.equals] if spec.equals is not None else list(spec.in_ or [])
    return any(_same(value, w) for w in options if w is not None)


def evaluate(spec: Spec, ctx: EvalContext) -> Outcome:
    user = spec.hive == "HKU"
    sid = ctx.operator.sid if (user and ctx.operator) else None
    expected = _expected(spec)
    first: tuple[str, RegValue, str] | None = None
    looked: list[str] = []
    for view, query in view_queries(spec):
        where = reg_location(query.hive, query.path, sid)
        looked.append(where)
        key = registry_key(ctx, query, user=user)
        val = key.value(spec.name) if key is not None else None
        if val is not None:
            first = (view, val, f"{where} [{spec.name}] ({view}-bit)")
            break
    if first is None:
        if spec.absent:
            return Outcome(FindingStatus.passed, expected, "不存在 absent", "; ".join(looked))
        msg = T(f"值 {spec.name} 不存在", f"value {spec.name!r} does not exist")
        return Outcome(FindingStatus.fail, expected, "不存在 absent", "; ".join(looked), msg)
    view, val, source = first
    observed = str(val.v) if not isinstance(val.v, list) else "; ".join(val.v)
    details = {"view": view, "type": val.t, "value": val.v}
    if not spec.absent and _judge(spec, val):
        return Outcome(FindingStatus.passed, expected, observed, source, details=details)
    msg = T(f"{spec.name} 为 {observed}，要求 {expected}", f"{spec.name} is {observed}; required {expected}")
    return Outcome(FindingStatus.fail, expected, observed, source, msg, details)


def describe(spec: Spec) -> Description:
    return Description(
        where=[f"{q.hive}\\{q.path} [{spec.name}] ({view}-bit)" for view, q in view_queries(spec)],
        expected=_expected(spec),
    )


register("registry_value", Spec, queries, evaluate, describe)
