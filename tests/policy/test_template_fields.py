"""Template syntax is allowed only in the fields a check type renders (``templated_fields``).

Anywhere else it would be used literally — a ``file_version`` path probed as
``C:\\Users\\{{ host.operator_name }}\\a.dll`` with ``must_exist: false`` passed —
so the loader (and ``policy lint``) reports it with its ``file:line:col``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetcheck.checks import REGISTRY, load_all
from fleetcheck.policy.loader import (
    PolicyError,
    load_policy,
    load_policy_text,
    shipped_policy_paths,
)

HEAD = """id: t
title: {zh: 测试, en: Test}
version: 1
checks:
"""

FILE_VERSION = HEAD + r"""  - id: dll
    title: {zh: 文件, en: File}
    type: file_version
    path: 'C:\Users\{{ host.operator_name }}\a.dll'
    must_exist: false
"""


def test_template_in_a_non_templated_field_is_an_error_at_its_position() -> None:
    with pytest.raises(PolicyError) as info:
        load_policy_text(FILE_VERSION, "p.yaml")
    (issue,) = info.value.issues
    assert (issue.file, issue.line, issue.col) == ("p.yaml", 8, 11)
    assert "field 'path' is not templated" in issue.message.en
    assert "check type file_version has no templated fields" in issue.message.en
    assert "不支持模板" in issue.message.zh


def test_template_in_a_templated_field_is_accepted() -> None:
    text = HEAD + """  - id: cert
    title: {zh: 证书, en: Cert}
    type: certificate
    cn: "{{ host.gateway_cert }}"
"""
    policy = load_policy_text(text, "p.yaml")
    assert policy.checks[0].cn == "{{ host.gateway_cert }}"  # type: ignore[attr-defined]


def test_template_in_a_non_templated_field_of_a_templated_type_names_the_allowed_fields() -> None:
    text = HEAD + """  - id: cert
    title: {zh: 证书, en: Cert}
    type: certificate
    cn: "{{ host.gateway_cert }}"
    remedy: {zh: "换 {{ host.gateway_cert }}", en: "replace it"}
"""
    with pytest.raises(PolicyError) as info:
        load_policy_text(text, "p.yaml")
    (issue,) = info.value.issues
    assert issue.line == 9
    assert "field 'remedy.zh' is not templated" in issue.message.en
    assert "cn, cn_pattern, issuer" in issue.message.en


@pytest.mark.parametrize("marker", ["{{ host.x }}", "{% if host.x %}a{% endif %}"])
def test_every_check_type_rejects_templates_outside_its_templated_fields(marker: str) -> None:
    """``guide`` is a string every check has; only a type that declares it may template it."""
    load_all()
    for kind, registered in sorted(REGISTRY.items()):
        if kind.startswith("fixture"):
            continue
        allowed = getattr(registered.spec, "templated_fields", frozenset())
        assert "guide" not in allowed
        text = HEAD + f"""  - id: c
    title: {{zh: 检查, en: Check}}
    type: {kind}
    guide: "{marker.replace('"', '')}"
"""
        with pytest.raises(PolicyError) as info:
            load_policy_text(text, "p.yaml")
        messages = [i.message.en for i in info.value.issues if i.line == 8]
        assert any("field 'guide' is not templated" in m for m in messages), (kind, messages)


def test_shipped_policies_use_templates_only_in_templated_fields() -> None:
    paths = shipped_policy_paths()
    assert paths
    for path in paths:
        load_policy(Path(path))
