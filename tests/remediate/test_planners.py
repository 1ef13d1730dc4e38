"""The fix planners' structure and the one spec renderer, on pure facts (no simulator).

* every planner lives in ``remediate/fixes/<type>.py`` and is registered under
  its check type when the package is imported;
* ``remediate.plan`` and ``remediate.fixes`` form no import cycle, not even
  through imports inside functions, and the planners never import ``plan``;
* a templated spec is rendered by ``evaluate.render_spec`` for the planner as
  for the evaluator (policy ``vars`` under host variables; a missing variable
  is a manual step naming it).
"""

from __future__ import annotations

import ast
import datetime as dt
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "checks"))

from case_facts import build_facts

import fleetcheck.evaluate as evaluate_module
from fleetcheck.agent.contract import SetValue
from fleetcheck.checks import REGISTRY
from fleetcheck.checks.base import CheckBase
from fleetcheck.evaluate import compile_request, evaluate_host, render_spec
from fleetcheck.findings import FindingStatus
from fleetcheck.remediate import fixes
from fleetcheck.remediate.plan import plan_host

PACKAGE = Path(__file__).resolve().parents[2] / "fleetcheck"
NOW = dt.datetime(2026, 3, 4, 8, 0, tzinfo=dt.timezone.utc)
VENDOR = r"SOFTWARE\Vendor"


@dataclass
class _Policy:
    id: str
    checks: list[CheckBase]
    vars: dict[str, Any] = field(default_factory=dict)


def _check(**fields: Any) -> CheckBase:
    raw = {"id": "branch-code", "title": {"zh": "分支代码", "en": "branch code"}, "type": "registry_value",
           "path": VENDOR, "name": "Branch", "fix": "auto", **fields}
    return REGISTRY["registry_value"].spec.model_validate(raw)


def _plan(policy: _Policy, host_vars: dict[str, Any], value: str = "wrong") -> Any:
    facts = build_facts(compile_request([policy]), {"registry": {f"HKLM\\{VENDOR}": {"Branch": value}}}, NOW)
    ev = evaluate_host([policy], facts, host_vars=host_vars, now=NOW)
    return ev, plan_host(ev.findings, facts, [policy], host_vars=host_vars, now=NOW)


# --------------------------------------------------------------------------- layout and registry


def test_each_check_type_with_a_planner_has_its_module_and_is_registered() -> None:
    modules = {p.stem for p in (PACKAGE / "remediate" / "fixes").glob("*.py")} - {"__init__", "registry", "writes"}
    assert modules == set(fixes.FIX_PLANNERS)
    assert modules <= set(REGISTRY)  # a planner per existing check type, named after it
    for name, planner in fixes.FIX_PLANNERS.items():
        assert planner.__module__ == f"fleetcheck.remediate.fixes.{name}"


def test_the_fixes_package_init_only_imports_and_registers() -> None:
    tree = ast.parse((PACKAGE / "remediate" / "fixes" / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # the docstring
        if isinstance(node, ast.ImportFrom | ast.Import):
            continue
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["__all__"]:
            continue
        assert isinstance(node, ast.Expr) and isinstance(node.value, ast.Call), ast.dump(node)
        assert getattr(node.value.func, "id", None) == "register_fix"


def _imports(module: str) -> set[str]:
    """The fleetcheck modules ``module`` imports anywhere in its source (module level or inside functions)."""
    path = PACKAGE.parent / (module.replace(".", "/") + ".py")
    if not path.exists():
        path = PACKAGE.parent / module.replace(".", "/") / "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{a.name}" for a in node.names]
            found |= {n for n in names if _exists(n)} or {node.module}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return {m for m in found if m.startswith("fleetcheck.") and _exists(m)}


def _exists(module: str) -> bool:
    base = PACKAGE.parent / module.replace(".", "/")
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def _closure(start: str, within: str) -> set[str]:
    """Every module under ``within`` reachable from ``start`` by imports (including ``start``)."""
    seen: set[str] = set()
    todo = [start]
    for _ in range(1000):  # bounded: the package has far fewer modules
        if not todo:
            break
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        todo += [m for m in _imports(module) if m.startswith(within)]
    return seen


def test_planners_never_import_plan_and_plan_imports_them_at_module_level() -> None:
    reach = _closure("fleetcheck.remediate.fixes", "fleetcheck.")
    assert "fleetcheck.remediate.plan" not in reach
    plan_tree = ast.parse((PACKAGE / "remediate" / "plan.py").read_text(encoding="utf-8"))
    top = {n.module for n in plan_tree.body if isinstance(n, ast.ImportFrom)}
    assert "fleetcheck.remediate.fixes" in top
    nested = [n for f in ast.walk(plan_tree) if isinstance(f, ast.FunctionDef)
              for n in ast.walk(f) if isinstance(n, ast.Import | ast.ImportFrom)]
    assert nested == []


@pytest.mark.parametrize("module", ["fleetcheck.remediate.plan", "fleetcheck.remediate.fixes",
                                    "fleetcheck.evaluate", "fleetcheck.checks"])
def test_no_import_cycle_through(module: str) -> None:
    for other in _closure(module, "fleetcheck."):
        if other != module:
            assert module not in _closure(other, "fleetcheck."), f"{module} -> {other} -> {module}"


# --------------------------------------------------------------------------- one renderer


def test_render_spec_renders_each_template_once_per_memo(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = evaluate_module.render

    def counting(source: str, variables: Any) -> str:
        calls.append(source)
        return real(source, variables)

    monkeypatch.setattr(evaluate_module, "render", counting)
    spec = _check(equals="{{ host.branch }}")
    memo: dict[str, str] = {}
    first = render_spec(spec, {"branch": "SZ01"}, memo)
    again = render_spec(spec, {"branch": "SZ01"}, memo)
    assert first.model_dump()["equals"] == again.model_dump()["equals"] == "SZ01"
    assert calls == ["{{ host.branch }}"] and memo == {"{{ host.branch }}": "SZ01"}
    assert render_spec(spec, {"branch": "BJ02"}).model_dump()["equals"] == "BJ02"  # no memo: rendered afresh
    plain = _check(equals="SZ01")
    assert render_spec(plain, {}) is plain


def test_the_planner_writes_the_rendered_value_host_vars_over_policy_vars() -> None:
    policy = _Policy("p", [_check(equals="{{ host.branch }}")], vars={"branch": "DEFAULT"})
    ev, plan = _plan(policy, {"branch": "SZ01"})
    assert ev.findings[0].status is FindingStatus.fail
    writes = [a for a in plan.actions if isinstance(a, SetValue)]
    assert [(w.path, w.name, w.value.v) for w in writes] == [(VENDOR, "Branch", "SZ01")]
    _, plan_default = _plan(policy, {})
    assert [a.value.v for a in plan_default.actions if isinstance(a, SetValue)] == ["DEFAULT"]


def test_a_missing_template_variable_is_a_manual_step_naming_it() -> None:
    policy = _Policy("p", [_check(equals="{{ host.branch }}")])
    facts = build_facts(compile_request([policy]), {"registry": {f"HKLM\\{VENDOR}": {"Branch": "x"}}}, NOW)
    # The evaluator reports the template error itself; a failing finding planned with other variables
    # (e.g. a host's vars changed between scan and fix) hits the same renderer in the planner.
    findings = evaluate_host([policy], facts, host_vars={"branch": "SZ01"}, now=NOW).findings
    plan = plan_host(findings, facts, [policy], host_vars={}, now=NOW)
    assert plan.actions == []
    assert [m.check_id for m in plan.manual] == ["branch-code"]
    assert "branch" in plan.manual[0].reason.en


def test_a_fix_that_needs_the_operator_hive_without_an_operator_says_so() -> None:
    # A machine-scoped zone action set nowhere is fixed in the operator's preference (strategy "user"):
    # with nobody logged on that is a manual step saying why, not an "internal error".
    spec = REGISTRY["zone_action"].spec.model_validate(
        {"id": "zone-download", "title": {"zh": "下载", "en": "download"}, "type": "zone_action", "zone": 2,
         "action": 1803, "expected": 0, "fix": "auto", "scope": "machine"})
    policy = _Policy("p", [spec])
    facts = build_facts(compile_request([policy]), {"profiles": []}, NOW)
    findings = evaluate_host([policy], facts, host_vars={}, now=NOW).findings
    assert [f.status for f in findings] == [FindingStatus.fail]
    plan = plan_host(findings, facts, [policy], host_vars={}, now=NOW)
    assert plan.actions == []
    assert [m.reason.en for m in plan.manual] == ["no operator logged on: user settings cannot be written"]
