"""``file_version``: a file exists and its FileVersion satisfies a spec.

```yaml
- id: certenroll-ocx
  type: file_version
  path: "%SystemRoot%\\SysWOW64\\JITCertEnroll.ocx"   # %ENV% expanded on the host
  version: "==2.0.4.8"
  must_exist: true
```
With ``scope: user`` the path may start with ``{profile}`` (the operator's
profile folder). An absent file with ``must_exist: false`` passes.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from fleetcheck.agent.contract import FileQuery, Query
from fleetcheck.checks.base import (
    CheckBase,
    Description,
    EvalContext,
    Outcome,
    file_query,
    register,
)
from fleetcheck.checks.common import VersionSpecField
from fleetcheck.checks.facts import answer_of
from fleetcheck.findings import FindingStatus
from fleetcheck.i18n import T
from fleetcheck.versions import VersionError


class Spec(CheckBase):
    type: Literal["file_version"]
    path: str = Field(min_length=1)
    version: VersionSpecField | None = None
    must_exist: bool = True


def _query(spec: Spec) -> FileQuery:
    return file_query(spec.path, per_user=spec.scope == "user")


def queries(spec: Spec) -> list[Query]:
    return [_query(spec)]


def evaluate(spec: Spec, ctx: EvalContext) -> Outcome:
    ans = answer_of(ctx, _query(spec), user=spec.scope == "user")
    info = ans.file if ans is not None else None
    expected = f"{spec.path} {spec.version or '存在 exists'}"
    if info is None or not info.exists:
        source = info.path if info is not None else spec.path
        if not spec.must_exist:
            return Outcome(FindingStatus.passed, expected, "不存在 absent", source, T("文件不存在（允许）", "file absent (allowed)"))
        return Outcome(FindingStatus.fail, expected, "不存在 absent", source, T(f"文件 {source} 不存在", f"file {source} does not exist"))
    details = {"path": info.path, "version": info.version, "product_version": info.product_version}
    observed = info.version or "无版本信息 no version info"
    if spec.version is None:
        return Outcome(FindingStatus.passed, expected, observed, info.path, details=details)
    try:
        ok = info.version is not None and spec.version.matches(info.version)
    except VersionError:
        ok = False
    if ok:
        return Outcome(FindingStatus.passed, expected, observed, info.path, details=details)
    msg = T(f"{info.path} 版本为 {observed}，要求 {spec.version}", f"{info.path} is version {observed}; required {spec.version}")
    return Outcome(FindingStatus.fail, expected, observed, info.path, msg, details)


def describe(spec: Spec) -> Description:
    return Description(where=[spec.path], expected=f"FileVersion {spec.version or 'any'}; must exist: {spec.must_exist}")


register("file_version", Spec, queries, evaluate, describe)
