"""The policy document (DESIGN.md "Policy format"), built from the check-type registry.

A policy is a YAML document:

```yaml
id: sccc-gateway-cert
title: 深证通通信网关证书在线更新环境
version: 1
source: "SCCC 在线更新证书的操作步骤及注意事项"
vars:                      # optional defaults for inventory variables used in templates
  portal: https://biz.sccc.com
checks:
  - id: portal-trusted-site
    type: trusted_site     # one of the registered check types
    title: {zh: ..., en: ...}
    ...
```

The ``checks`` list is a discriminated union on ``type`` over every check type
registered in :data:`fleetcheck.checks.base.REGISTRY`, so adding a check type
needs no change here. :func:`policy_model` builds that model (cached per set of
registered types); :class:`Policy` is the base every built model derives from,
so ``Policy`` is the type to use in annotations, and ``Policy.model_validate``
validates against the current registry.

Pure: no I/O. Read files with :func:`fleetcheck.policy.loader.load_policy`,
which also reports positions (``file:line:col``) and checks templates.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any, Union

from pydantic import BaseModel, ConfigDict, Field, PlainValidator, create_model, model_validator
from pydantic_core import PydanticCustomError

from fleetcheck.checks.base import REGISTRY, CheckBase
from fleetcheck.i18n import Text

__all__ = ["POLICY_ID_PATTERN", "Policy", "known_check_types", "policy_model"]

POLICY_ID_PATTERN = r"^[a-z0-9][a-z0-9-]*$"

# Scalars a policy may give as defaults for inventory variables (``vars:``).
VarValue = str | int | float | bool | list[str]


class Policy(BaseModel):
    """A validated policy: metadata and its checks (instances of the registered specs).

    ``vars`` are defaults for inventory variables referenced by templates
    (``"{{ host.gateway_cert }}"``); a host's own variable wins.

    >>> from fleetcheck.policy.models import Policy
    >>> p = Policy.model_validate({"id": "empty", "title": "空", "version": 1, "checks": []})
    >>> p.id, p.title.en
    ('empty', '空')
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=POLICY_ID_PATTERN, description="unique policy id, [a-z0-9-]")
    title: Text
    version: int = Field(ge=1, strict=True)
    source: str | None = None
    description: Text | None = None
    vars: dict[str, VarValue] = Field(default_factory=dict)
    checks: Sequence[CheckBase] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_check_ids(self) -> Policy:
        seen: set[str] = set()
        for index, check in enumerate(self.checks):
            if check.id in seen:
                raise PydanticCustomError(
                    "duplicate_check_id",
                    "duplicate check id '{id}' (check ids must be unique within a policy)",
                    {"id": check.id, "index": index},
                )
            seen.add(check.id)
        return self

    @classmethod
    def model_validate(cls, obj: Any, *args: Any, **kwargs: Any) -> Policy:
        """Validate against the registry's check types (the base class alone knows none)."""
        if cls is Policy:
            return policy_model().model_validate(obj, *args, **kwargs)
        return super().model_validate(obj, *args, **kwargs)

    def check(self, check_id: str) -> CheckBase | None:
        """The check with this id, or None."""
        for candidate in self.checks:
            if candidate.id == check_id:
                return candidate
        return None


def known_check_types() -> list[str]:
    """Names of the registered check types, sorted."""
    return sorted(REGISTRY)


def _no_types(value: Any) -> Any:
    raise PydanticCustomError(
        "no_check_types", "no check types are installed, so no check can be validated", {}
    )


_CACHE: dict[tuple[tuple[str, type[CheckBase]], ...], type[Policy]] = {}


def policy_model() -> type[Policy]:
    """The Policy model for the check types registered right now (cached).

    A new model is built when the registry changes (e.g. a test registers its
    own type), so callers should call this rather than keep the result.
    """
    key = tuple(sorted((name, reg.spec) for name, reg in REGISTRY.items()))
    model = _CACHE.get(key)
    if model is not None:
        return model
    specs = tuple(spec for _, spec in key)
    check_type: Any
    if specs:
        check_type = Annotated[Union[specs], Field(discriminator="type")]  # noqa: UP007 - built at run time
    else:
        check_type = Annotated[Any, PlainValidator(_no_types)]
    model = create_model(
        "Policy",
        __base__=Policy,
        __module__=__name__,
        checks=(list[check_type], Field(default_factory=list)),
    )
    _CACHE[key] = model
    return model
