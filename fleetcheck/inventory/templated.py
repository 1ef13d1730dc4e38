"""Values fleetcheck cannot use as written: Jinja templates and Ansible Vault.

Ansible renders ``{{ ... }}`` (and ``{% ... %}``, ``{# ... #}``) in inventory
variables and decrypts ``!vault`` values at run time. fleetcheck does neither,
and using such a value literally would send ``{{ vault_winrm_password }}`` as
the password to every PC (and lock the domain account). So the loader refuses
them at their position, before anything is sent, and says what to write instead.

``!unsafe`` (Ansible: "never template this") is plain text and accepted.
"""

from __future__ import annotations

from typing import Any

from ruamel.yaml.comments import TaggedScalar

from fleetcheck.i18n import T, Text

TEMPLATE_MARKERS = ("{{", "{%", "{#")  # Jinja's default delimiters, as Ansible uses them
VAULT_HEADER = "$ANSIBLE_VAULT;"  # an encrypted value without its !vault tag (e.g. from JSON)
MAX_DEPTH = 100  # the YAML loader bounds nesting too; this keeps the walk bounded on its own
_INSTEAD_ZH = "请改用 {env: 变量名}、{keyring: 服务/用户} 或 --ask-pass（非密码变量请直接写出值）"
_INSTEAD_EN = "use {env: NAME}, {keyring: service/user} or --ask-pass instead (for a variable that is no password, write its value)"


def _kind(value: Any, depth: int = 0) -> str | None:
    """'vault', 'template' or None, looking inside lists and mappings."""
    if depth > MAX_DEPTH:
        return None
    if isinstance(value, TaggedScalar):
        tag = str(value.tag.value if hasattr(value.tag, "value") else value.tag)
        if tag == "!vault":
            return "vault"
        return None if tag == "!unsafe" else _kind(str(value), depth + 1)
    if isinstance(value, str):
        if value.lstrip().startswith(VAULT_HEADER):
            return "vault"
        return "template" if any(m in value for m in TEMPLATE_MARKERS) else None
    if isinstance(value, dict):
        items: list[Any] = [*value.keys(), *value.values()]
    elif isinstance(value, list):
        items = list(value)
    else:
        return None
    for item in items:
        found = _kind(item, depth + 1)
        if found is not None:
            return found
    return None


def unusable(name: str, value: Any) -> Text | None:
    """Why the variable ``name`` cannot be used as written (never quoting its value); None when it can.

    >>> unusable("ansible_password", "{{ vault_winrm_password }}").en.split(":")[0]
    'ansible_password is a Jinja template ({{ ... }})'
    >>> unusable("branch", "深圳营业部") is None
    True
    """
    kind = _kind(value)
    if kind == "vault":
        return T(f"{name} 是 Ansible Vault 加密值（!vault）：fleetcheck 不解密 Vault，也绝不会发送它；{_INSTEAD_ZH}",
                 f"{name} is an Ansible Vault value (!vault): fleetcheck does not decrypt Vault and never sends it; "
                 f"{_INSTEAD_EN}")
    if kind == "template":
        return T(f"{name} 是 Jinja 模板（{{{{ ... }}}}）：fleetcheck 不渲染模板，也绝不会按字面发送它；{_INSTEAD_ZH}",
                 f"{name} is a Jinja template ({{{{ ... }}}}): fleetcheck does not render templates and never "
                 f"sends one literally; {_INSTEAD_EN}")
    return None


def plain_unsafe(value: Any) -> Any:
    """An ``!unsafe`` scalar as the plain string it is (Ansible: text, never templated)."""
    if isinstance(value, TaggedScalar):
        tag = str(value.tag.value if hasattr(value.tag, "value") else value.tag)
        if tag == "!unsafe":
            return str(value)
    return value
