"""``when:`` conditions: OS version / family / arch / host vars (placeholder, see policy issue)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class Condition(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    os: str | None = None
    os_family: list[str] | None = None
    arch: list[str] | None = None
    host: dict[str, Any] | None = None
