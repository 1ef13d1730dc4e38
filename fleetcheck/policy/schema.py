"""JSON Schema of the policy format, for editor completion and validation.

Generated from the same model the loader uses (:func:`policy_model`), so it
always lists the check types that are installed. Use it in VS Code with the
YAML extension::

    # yaml-language-server: $schema=./policy.schema.json

The schema is a help for editors; the loader stays the authority (it also
checks template syntax and duplicate ids, which JSON Schema cannot express).
"""

from __future__ import annotations

import copy
import json
from typing import Any

from fleetcheck.checks import load_all
from fleetcheck.policy.models import policy_model

__all__ = ["policy_schema", "policy_schema_json"]

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def policy_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a policy document, as a dict.

    >>> policy_schema()["title"]
    'fleetcheck policy'
    """
    load_all()
    schema = policy_model().model_json_schema()
    schema["$schema"] = SCHEMA_DIALECT
    schema["title"] = "fleetcheck policy"
    schema["description"] = (
        "fleetcheck 策略文件 / fleetcheck policy file (see README 'Writing policies')"
    )
    defs: dict[str, Any] = schema.get("$defs", {})
    _accept_plain_text(defs)
    _accept_one_or_many(defs)
    _name_check_types(defs)
    return schema


def _accept_plain_text(defs: dict[str, Any]) -> None:
    # Text accepts a plain string (same text in both languages) or {zh, en}.
    text = defs.get("Text")
    if text is not None:
        defs["Text"] = {
            "title": "Text",
            "description": text.get("description", ""),
            "anyOf": [{"type": "string"}, {k: v for k, v in text.items() if k != "description"}],
        }


def _accept_one_or_many(defs: dict[str, Any]) -> None:
    # when: os_family / arch accept one value or a list of them.
    condition = defs.get("Condition", {}).get("properties", {})
    for name in ("os_family", "arch"):
        prop = condition.get(name)
        if not prop:
            continue
        for option in list(prop.get("anyOf", [])):
            if option.get("type") == "array":
                prop["anyOf"].insert(0, copy.deepcopy(option["items"]))
                break


def _name_check_types(defs: dict[str, Any]) -> None:
    for definition in defs.values():
        kind = definition.get("properties", {}).get("type", {})
        tag = kind.get("const") or (kind.get("enum") or [None])[0]
        if tag and "id" in definition.get("properties", {}):
            definition["title"] = f"check type '{tag}'"


def policy_schema_json() -> str:
    """The schema as indented JSON text (UTF-8, non-ASCII kept readable)."""
    return json.dumps(policy_schema(), ensure_ascii=False, indent=2) + "\n"
