"""Property: whatever a user does to a policy, the loader returns a Policy or a PolicyError.

Takes the shipped policy (or the fixture policy until one ships), mutates it —
deletes keys, inserts unknown keys, replaces values with random text, numbers,
lists, mappings, nulls — and checks that the loader never raises anything else,
and that every issue has a position and a plain message.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from fleetcheck.policy.loader import PolicyError, load_policy_text, shipped_policy_paths
from fleetcheck.policy.models import Policy

from .conftest import DATA


def _base_path() -> Path:
    shipped = [p for p in shipped_policy_paths() if p.name == "sccc-gateway-cert.yaml"]
    return shipped[0] if shipped else DATA / "fixture-policy.yaml"


def _plain(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _plain(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_plain(v) for v in data]
    return data


BASE = _plain(YAML(typ="safe").load(_base_path().read_text(encoding="utf-8")))

scalars = st.one_of(
    st.text(max_size=20),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.none(),
    st.sampled_from(["{{ host.x", "{BOEF56AD-D711-412D-BE74-A751595F3633}", "=>2.0", "2.0.4.8", "{{ host.gateway_cert }}"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def _containers(data: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths of every mapping and list in the document."""
    found: list[tuple[Any, ...]] = []
    if isinstance(data, (dict, list)):
        found.append(path)
        items = data.items() if isinstance(data, dict) else enumerate(data)
        for key, value in items:
            found.extend(_containers(value, (*path, key)))
    return found


def _get(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        data = data[part]
    return data


@st.composite
def mutated(draw: st.DrawFn) -> Any:
    import copy

    doc = copy.deepcopy(BASE)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        paths = _containers(doc)
        target = _get(doc, draw(st.sampled_from(paths)))
        action = draw(st.sampled_from(["delete", "insert", "replace", "retype"]))
        if isinstance(target, dict):
            keys = list(target)
            if action == "insert" or not keys:
                target[draw(st.text(min_size=1, max_size=10))] = draw(values)
            elif action == "delete":
                del target[draw(st.sampled_from(keys))]
            elif action == "retype":
                key = draw(st.sampled_from(keys))
                old = target[key]
                target[key] = [old] if not isinstance(old, list) else {"x": old}
            else:
                target[draw(st.sampled_from(keys))] = draw(values)
        elif isinstance(target, list):
            if action == "insert" or not target:
                target.insert(draw(st.integers(0, len(target))), draw(values))
            elif action == "delete":
                del target[draw(st.integers(0, len(target) - 1))]
            else:
                target[draw(st.integers(0, len(target) - 1))] = draw(values)
    return doc


def _dump(data: Any) -> str:
    out = io.StringIO()
    yaml = YAML(typ="safe")
    yaml.allow_unicode = True
    yaml.default_flow_style = False
    yaml.dump(data, out)
    return out.getvalue()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_policy_loads_or_reports_plain_issues(doc: Any) -> None:
    text = _dump(doc)
    try:
        result = load_policy_text(text, "mutated.yaml")
    except PolicyError as exc:
        assert exc.issues, "a PolicyError always carries issues"
        lines = text.splitlines()
        for issue in exc.issues:
            assert issue.file == "mutated.yaml"
            assert issue.line is not None and 1 <= issue.line <= max(len(lines), 1), issue
            assert issue.message.en and issue.message.zh
            for jargon in ("Input should be", "errors.pydantic.dev", "Traceback", "validation error"):
                assert jargon not in issue.message.en, issue.message.en
        return
    assert isinstance(result, Policy)
