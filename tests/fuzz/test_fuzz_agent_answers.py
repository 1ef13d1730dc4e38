"""Fuzz agent answers through the real parser and evaluator (issue 13, standing suite).

Seeds are real answers: the shipped policy pack's request answered by the
test image of a compliant Windows 10 and Windows 7 PC (the contract's own
types, serialized as the agent prints them). Hypothesis mutates them —
structurally (a key deleted or renamed, a value swapped for another type, a
huge or out-of-range number, a long string, a lone UTF-16 surrogate, control
characters, deep nesting, a duplicated list item) and as bytes (truncation,
BOMs, invalid UTF-8, a duplicated key, NaN) — and each case must end as
``AgentOutputError`` (the transport's BadOutput) or as an evaluation whose
findings serialize; never a traceback, never an "internal error" finding,
within the budgets of ``conftest.py``.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fleetcheck.agent import AgentOutputError, parse_output
from fleetcheck.evaluate import compile_request, evaluate_host
from fleetcheck.policy.loader import load_policy
from fleetcheck.resources import policies_dir

from .conftest import CaseLog, examples

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "checks"))

from case_facts import build_facts, compliant_host

NOW = dt.datetime(2025, 6, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
VARS = {"gateway_cert": "F00504Y0007#0", "operator": "auto"}


@lru_cache(maxsize=1)
def _pack() -> Any:
    return load_policy(policies_dir() / "sccc-gateway-cert.yaml")


@lru_cache(maxsize=2)
def _seed(win7: bool) -> Any:
    facts = build_facts(compile_request([_pack()]), compliant_host(win7=win7), NOW)
    return json.loads(facts.model_dump_json())


def _paths(doc: Any, limit: int = 20_000) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    stack: list[tuple[tuple[Any, ...], Any]] = [((), doc)]
    while stack and len(out) < limit:
        path, node = stack.pop()
        out.append(path)
        if isinstance(node, dict):
            stack.extend(((*path, k), v) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend(((*path, i), v) for i, v in enumerate(node))
    out.sort(key=repr)
    return out


def _deep(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


HOSTILE: list[Any] = [
    None, True, False, 0, -1, 1.5, -0.0, 2**63, -(2**63) - 1, 2**64, 1e308, "", "abc", "x" * 100_000,
    "\ud800", "a\udc00b", "\x1b]0;t\x07", "\x00", "[bold]x[/bold]", "9" * 30, "2026-02-30T00:00:00",
    "S-1-5-21-1", "HKLM\\SOFTWARE", [], {}, [None], {"": None}, {"kind": "nope"}, _deep(70), _deep(30),
    {"id": "x", "kind": "registry"}, [1, "a", None, {}],
]


STRINGS = ["", "abc", "x" * 100_000, "\ud800", "a\udc00b", "\x1b]0;t\x07", "\x00", "[bold]x[/bold]", "9" * 30,
           "2026-02-30T00:00:00", "-1", "1.2.3.4.5.6", "10.0.19045", "..", "\u202etxt", "{{ host.x }}", "交易员",
           "S-1-5-21-1", "HKLM\\SOFTWARE", "C:\\..\\..", " ", "null", "NaN", "2.1.9.4", "999999999999999999999"]
INTS = [0, -1, 1, 2**31, 2**32, 2**63 - 1, -(2**63), 4294967295, 65535, 99999]


@st.composite
def answer(draw: st.DrawFn) -> bytes:
    doc = json.loads(json.dumps(_seed(draw(st.booleans()))))
    paths = _paths(doc)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths))
        op = draw(st.sampled_from(
            ["same-type", "same-type", "same-type", "same-type", "replace", "replace", "delete", "rename", "duplicate", "swap"]
        ))
        doc = _mutate(doc, path, op, draw)
    raw = json.dumps(doc, ensure_ascii=draw(st.booleans())).encode("utf-8", "surrogatepass")
    byte_op = draw(st.sampled_from(["none", "none", "none", "truncate", "bom", "bad-utf8", "dup-key", "nan", "bigint"]))
    if byte_op == "truncate":
        raw = raw[: draw(st.integers(0, len(raw)))]
    elif byte_op == "bom":
        raw = b"\xef\xbb\xbf" + raw
    elif byte_op == "bad-utf8":
        at = draw(st.integers(0, len(raw)))
        raw = raw[:at] + draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80"])) + raw[at:]
    elif byte_op == "dup-key":
        raw = b'{"schema_version": 2, ' + raw[1:]
    elif byte_op == "nan":
        raw = raw.replace(b"1", b"NaN", 1)
    elif byte_op == "bigint":
        raw = raw.replace(b"1", b"9" * 5000, 1)
    return raw


def _parent(doc: Any, path: tuple[Any, ...]) -> Any:
    node = doc
    for part in path[:-1]:
        node = node[part]
    return node


def _mutate(doc: Any, path: tuple[Any, ...], op: str, draw: st.DrawFn) -> Any:
    if not path:
        # a copy: a later mutation must never change the shared choices (hypothesis replays them)
        return copy.deepcopy(draw(st.sampled_from([[], "x", None, {"schema_version": 1}]))) if op == "replace" else doc
    try:
        parent = _parent(doc, path)
        key = path[-1]
        if op == "same-type":
            value = parent[key]
            if isinstance(value, bool):
                parent[key] = not value
            elif isinstance(value, int):
                parent[key] = draw(st.sampled_from(INTS))
            elif isinstance(value, float):
                parent[key] = draw(st.sampled_from([0.0, -1.0, 1e308, 5e-324]))
            elif isinstance(value, str):
                parent[key] = draw(st.sampled_from(STRINGS) | st.text(max_size=12))
            elif isinstance(value, list):
                parent[key] = draw(st.sampled_from([[], value + value, value[::-1], value[:1]]))
            elif isinstance(value, dict) and value:
                del value[draw(st.sampled_from(sorted(value)))]
        elif op == "replace":
            parent[key] = copy.deepcopy(draw(st.sampled_from(HOSTILE)))  # HOSTILE itself stays as it is
        elif op == "swap":
            value = parent[key]
            parent[key] = str(value) if not isinstance(value, str) else (len(value) if value else [value])
        elif op == "delete":
            del parent[key]
        elif op == "rename" and isinstance(parent, dict):
            parent[str(key) + "_x"] = parent.pop(key)
        elif op == "duplicate" and isinstance(parent, list):
            parent.insert(key, json.loads(json.dumps(parent[key])))
    except (KeyError, IndexError, TypeError):
        pass  # the path moved under an earlier mutation
    return doc


def _check(raw: bytes) -> str:
    try:
        facts = parse_output(raw)
    except AgentOutputError as exc:
        assert exc.reason
        return "bad-output"
    result = evaluate_host([_pack()], facts, host_vars=VARS, now=NOW, host="PC-FUZZ")
    for finding in result.findings:
        finding.model_dump_json()  # what the store and the JSON report do
        message = finding.message.en if finding.message is not None else ""
        assert not message.startswith("internal error"), message
    return "evaluated"


def test_fuzz_agent_answers(memory_budget: None, case_log: CaseLog) -> None:
    @settings(
        max_examples=examples(1000),
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(answer())
    def case(raw: bytes) -> None:
        case_log.run("agent answer", lambda: _check(raw), raw[:300])

    case()
    assert case_log.count >= examples(1000)
    assert case_log.outcomes.get("bad-output", 0) > 0 and case_log.outcomes.get("evaluated", 0) > 0


@pytest.mark.parametrize("win7", [False, True])
def test_unmutated_seed_evaluates(win7: bool) -> None:
    raw = json.dumps(_seed(win7)).encode()
    assert _check(raw) == "evaluated"
