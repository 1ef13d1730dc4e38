"""Read an Ansible inventory (YAML, INI or ``--list`` JSON) into ``HostSpec`` s.

Understood layout (Ansible's YAML inventory)::

    all:
      vars: {ansible_user: 'OFFICE\\fcadmin', ansible_password: {env: FC_WINRM_PASSWORD}}
      hosts:
        PC-SZ-001: {ansible_host: 10.1.2.11, operator: 'OFFICE\\交易员01'}
      children:
        shenzhen:
          vars: {branch: 深圳营业部}
          hosts: {PC-SZ-002: {ansible_host: 10.1.2.12}}

Top-level keys other than ``all`` are groups under ``all`` (as in Ansible).
Variable precedence: host > child group > parent group > all; groups at the
same depth apply in name order (Ansible's rule), so the result never depends
on dictionary order.

Passwords: ``{env: NAME}``, ``{keyring: service/user}`` (needs the
``keyring`` extra), a password given once at the prompt (``--ask-pass``, for
hosts without one), or a literal string (works, but warns once naming the file
and line). A Jinja-templated (``{{ ... }}``) or ``!vault`` value, in any
variable, is refused at its position (:mod:`fleetcheck.inventory.templated`):
fleetcheck renders no template and decrypts no Vault, and never sends one.
Every problem is reported at once as ``file:line:col: message``.

Host keys may be Ansible ranges (``PC-SZ-[001:020]``, ``[a:f]``, ``[0:10:2]``;
see :mod:`fleetcheck.inventory.ranges`): each host of the range gets the key's variables.

INI inventories (:mod:`~fleetcheck.inventory.ansible_ini`) and ``ansible-inventory
--list`` JSON (:mod:`~fleetcheck.inventory.ansible_json`) are recognised by content;
``group_vars/`` and ``host_vars/`` beside the file apply with Ansible's precedence
(:func:`_finish`).

Not supported (declared): ``ansible_*`` variables beyond the WinRM ones listed
in ``CONNECTION_VARS``, ``host:port`` in a host key.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from ruamel.yaml.comments import CommentedMap

from fleetcheck.i18n import T, Text
from fleetcheck.inventory.address import address_problem
from fleetcheck.inventory.ansible_ini import has_section_line, looks_like_ini, parse_ini
from fleetcheck.inventory.ansible_json import is_list_json, read_list_json
from fleetcheck.inventory.hostport import split_host_port
from fleetcheck.inventory.model import (
    SECRET_VARS,
    HostSpec,
    HostVarsError,
    Inventory,
    InventoryError,
)
from fleetcheck.inventory.ranges import RangeError, expand_host_range
from fleetcheck.inventory.templated import plain_unsafe, unusable
from fleetcheck.inventory.tree import Tree, Vars
from fleetcheck.inventory.varsdirs import vars_files
from fleetcheck.yamlfile import Issue, RawIssue, YamlDocument, parse_text, read_document, to_plain

GROUP_KEYS = ("hosts", "children", "vars")
Pos = tuple[int, int]  # 1-based line, column (in the inventory file)


@dataclass(frozen=True)
class At:
    """A position in another file of the inventory (``group_vars/``, ``host_vars/``)."""

    file: str
    line: int
    col: int
    doc: YamlDocument = field(compare=False, repr=False)


Where = Pos | At


@dataclass
class _Group:
    name: str
    depth: int = 0
    vars: dict[str, tuple[Any, Where]] = field(default_factory=dict)
    parents: set[str] = field(default_factory=set)
    hosts: list[str] = field(default_factory=list)


@dataclass
class _Walk:
    source: str
    lines: list[str] = field(default_factory=list)
    groups: dict[str, _Group] = field(default_factory=dict)
    host_order: list[str] = field(default_factory=list)
    host_vars: dict[str, dict[str, tuple[Any, Where]]] = field(default_factory=dict)
    host_pos: dict[str, Pos] = field(default_factory=dict)
    issues: list[Issue] = field(default_factory=list)
    # problems of one host that do not stop the others (shown as warnings; the host's
    # connection then fails on its own with a ConfigurationError result)
    host_warnings: list[Issue] = field(default_factory=list)
    doc: YamlDocument | None = None

    def issue(self, pos: Where, zh: str, en: str) -> None:
        self.issues.append(self._placed(pos, zh, en))

    def warn(self, pos: Where, zh: str, en: str) -> None:
        self.host_warnings.append(self._placed(pos, zh, en))

    def _placed(self, pos: Where, zh: str, en: str) -> Issue:
        if isinstance(pos, At):  # another file: its own source line, caret and secret rules
            return pos.doc.redact(_without_secret_line(pos.doc.issue_at((pos.line, pos.col), T(zh, en))))
        if self.doc is not None:  # the one loader's rule for the source line and caret
            return self.redact(self.doc.issue_at(pos, T(zh, en)))
        line, col = pos
        text = self.lines[line - 1] if 0 < line <= len(self.lines) else None
        return self.redact(Issue(self.source, line, col, T(zh, en), text))

    def redact(self, issue: Issue) -> Issue:
        """No password in an error: neither its line nor its value (also on a line of its own)."""
        issue = _without_secret_line(issue)
        return self.doc.redact(issue) if self.doc is not None else issue


def _without_secret_line(issue: Issue) -> Issue:
    """Drop the quoted source line when it may hold a password (never echo secrets)."""
    if issue.source_line is not None and "password" in issue.source_line.lower():
        return Issue(issue.file, issue.line, issue.col, issue.message, None)
    return issue


def _at(doc: YamlDocument | None, pos: Pos) -> Where:
    return pos if doc is None else At(doc.file, pos[0], pos[1], doc)


def _key_pos(node: Any, key: Any) -> Pos:
    try:
        line, col = node.lc.key(key)
        return line + 1, col + 1
    except (AttributeError, KeyError, TypeError):
        return _node_pos(node)


def _value_pos(node: Any, key: Any) -> Pos:
    try:
        line, col = node.lc.value(key)
        return line + 1, col + 1
    except (AttributeError, KeyError, TypeError):
        return _key_pos(node, key)


def _node_pos(node: Any) -> Pos:
    try:
        return node.lc.line + 1, node.lc.col + 1
    except AttributeError:
        return 1, 1


def _plain(value: Any) -> Any:
    """ruamel's round-trip types to plain JSON-friendly Python."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return str(value)


def _read_vars(walk: _Walk, node: Any, key: str, owner: Any,
               doc: YamlDocument | None = None) -> dict[str, tuple[Any, Where]]:
    """``name: (value, where)`` of a vars mapping; ``doc``: the other file it comes from (None: the inventory)."""
    if node is None:
        return {}
    if not isinstance(node, dict):
        walk.issue(_value_pos(owner, key), "vars 必须是“名称: 值”的映射", "vars must be a mapping of name: value")
        return {}
    out: dict[str, tuple[Any, Where]] = {}
    for k in node:
        where = _at(doc, _value_pos(node, k))
        problem = unusable(str(k), node[k])
        if problem is not None:  # a template or Vault value: refused here, never resolved nor sent
            walk.issue(where, problem.zh, problem.en)
            continue
        out[str(k)] = (plain_unsafe(node[k]), where)
    return out


def _walk_group(walk: _Walk, name: str, node: Any, parent: str | None, depth: int, pos: Pos) -> None:
    group = walk.groups.setdefault(name, _Group(name))
    group.depth = max(group.depth, depth)
    if parent is not None:
        group.parents.add(parent)
    if node is None:
        return
    if not isinstance(node, dict):
        walk.issue(pos, f"组 {name} 必须是映射（hosts/children/vars）",
                   f"group {name} must be a mapping (hosts/children/vars)")
        return
    for key in node:
        if key not in GROUP_KEYS:
            walk.issue(_key_pos(node, key), f"组 {name} 中有未知的键 {key!r}（只允许 hosts、children、vars）",
                       f"unknown key {key!r} in group {name} (allowed: hosts, children, vars)")
    group.vars.update(_read_vars(walk, node.get("vars"), "vars", node))
    hosts = node.get("hosts")
    if hosts is not None and not isinstance(hosts, dict):
        walk.issue(_value_pos(node, "hosts"), "hosts 必须是“主机名: 变量”的映射",
                   "hosts must be a mapping of host name: variables")
    elif hosts:
        for host in hosts:
            _add_hosts(walk, group, str(host), hosts[host], hosts, host)
    children = node.get("children")
    if children is not None and not isinstance(children, dict):
        walk.issue(_value_pos(node, "children"), "children 必须是“组名: 组”的映射",
                   "children must be a mapping of group name: group")
    elif children:
        for child in children:
            if str(child) == name or str(child) == "all":
                walk.issue(_key_pos(children, child), f"组 {child} 不能是 {name} 的子组",
                           f"group {child} cannot be a child of {name}")
                continue
            _walk_group(walk, str(child), children[child], name, depth + 1, _key_pos(children, child))


def _add_hosts(walk: _Walk, group: _Group, pattern: str, node: Any, owner: Any, key: Any) -> None:
    """One host key: a name, or a range such as ``PC-SZ-[001:020]`` (every host gets the same variables),
    either with an optional ``:PORT`` (Ansible's ``host:port``: the hosts' ``ansible_port``)."""
    pos = _key_pos(owner, key)
    pattern, port = split_host_port(pattern)
    names = _expand(walk, pattern, pos)
    if names is None:
        return
    if node is not None and not isinstance(node, dict):
        walk.issue(_value_pos(owner, key), f"主机 {pattern} 的变量必须是映射（或留空）",
                   f"the variables of host {pattern} must be a mapping (or empty)")
        return
    host_vars = _read_vars(walk, node, str(key), owner)
    for host in names:
        _add_host(walk, group, host, host_vars, pos, port)


def _expand(walk: _Walk, pattern: str, pos: Pos) -> list[str] | None:
    """The host names of one pattern (a name or a range); None, with an issue, when it has none."""
    if not pattern.strip() or any(c.isspace() for c in pattern):
        walk.issue(pos, f"主机名 {pattern!r} 无效（不能为空或含空白）", f"invalid host name {pattern!r} (empty or has spaces)")
        return None
    try:
        return expand_host_range(pattern)
    except RangeError as exc:
        walk.issue(pos, exc.text.zh, exc.text.en)
        return None


def _tree_vars(walk: _Walk, found: Vars) -> dict[str, tuple[Any, Where]]:
    out: dict[str, tuple[Any, Where]] = {}
    for key, (value, pos) in found.items():
        problem = unusable(key, value)
        if problem is not None:  # a template or Vault value: refused here, never resolved nor sent
            walk.issue(pos, problem.zh, problem.en)
            continue
        out[key] = (value, pos)
    return out


def _walk_tree(walk: _Walk, tree: Tree) -> None:
    """An INI or ``ansible-inventory --list`` inventory into the walk (depth from the parent links)."""
    for problem in tree.problems:
        walk.issue(problem.pos, problem.zh, problem.en)
    for listed, node in tree.groups.items():
        # ungrouped hosts are as a YAML inventory's all.hosts: in no group (inventory list shows "ungrouped")
        name = "all" if listed == "ungrouped" and not node.vars and not node.children else listed
        group = walk.groups.setdefault(name, _Group(name))
        group.vars.update(_tree_vars(walk, node.vars))
        for host in node.hosts:
            host_vars = _tree_vars(walk, host.vars)
            pattern, port = split_host_port(host.pattern) if tree.host_ports else (host.pattern, None)
            for host_name in _expand(walk, pattern, host.pos) or ():
                _add_host(walk, group, host_name, host_vars, host.pos, port)
        for child, pos in node.children:
            if child in (name, "all"):
                walk.issue(pos, f"组 {child} 不能是 {name} 的子组", f"group {child} cannot be a child of {name}")
                continue
            walk.groups.setdefault(child, _Group(child)).parents.add(name)
    walk.groups.setdefault("all", _Group("all"))
    for group in walk.groups.values():
        if group.name != "all" and not group.parents:
            group.parents.add("all")
    _set_depths(walk)


def _set_depths(walk: _Walk) -> None:
    """Each group's depth: the longest parent chain up to ``all`` (bounded: a cycle stops at the group count)."""
    limit = len(walk.groups)
    for _ in range(limit):
        changed = False
        for group in walk.groups.values():
            if group.name == "all":
                continue
            depth = 1 + max((walk.groups[p].depth for p in group.parents if p in walk.groups), default=0)
            if depth != group.depth and depth <= limit:
                group.depth, changed = depth, True
        if not changed:
            return


def _add_host(walk: _Walk, group: _Group, host: str, host_vars: dict[str, tuple[Any, Where]], pos: Pos,
              port: int | None = None) -> None:
    """As Ansible's ``add_host``: a key's port is the host's ``ansible_port`` from its first listing on,
    set before its variables (an explicit ``ansible_port`` replaces it); a later listing's port is ignored."""
    if host not in walk.host_vars:
        walk.host_order.append(host)
        walk.host_vars[host] = {} if port is None else {"ansible_port": (port, pos)}
        walk.host_pos[host] = pos
    if host not in group.hosts:
        group.hosts.append(host)
    walk.host_vars[host].update(host_vars)


def _ancestors(groups: dict[str, _Group], names: list[str]) -> set[str]:
    seen: set[str] = set()
    stack = list(names)
    while stack:
        name = stack.pop()
        if name in seen:
            continue
        seen.add(name)
        stack.extend(groups[name].parents if name in groups else ())
    return seen


@dataclass
class PasswordSources:
    """Where passwords come from besides the file: the prompt, and keyring lookups.

    ``keyring_lookup(service, user)`` defaults to the ``keyring`` package; tests
    inject a dict-backed one.
    """

    prompted: SecretStr | None = None
    keyring_lookup: Callable[[str, str], str | None] | None = None
    environ: dict[str, str] | os._Environ[str] = field(default_factory=lambda: os.environ)
    literal_ok: bool = False  # the demo's own inventory: warn mildly


def _keyring_lookup(service: str, user: str) -> str | None:
    import keyring  # optional extra

    return keyring.get_password(service, user)


class _Resolver:
    """Turns ``ansible_password`` values into SecretStr, remembering literal use."""

    def __init__(self, walk: _Walk, sources: PasswordSources) -> None:
        self.walk = walk
        self.sources = sources
        self.literal_at: list[Where] = []
        self.cache: dict[tuple[str, str], SecretStr | None] = {}
        # The issue a failed lookup gave, repeated for every host using the reference
        # (credentials may be checked for the selected hosts only).
        self.failed: dict[tuple[str, str], tuple[str, str]] = {}

    def _fail(self, key: tuple[str, str], pos: Where, zh: str, en: str) -> None:
        self.failed[key] = (zh, en)
        self.cache[key] = None
        self.walk.issue(pos, zh, en)

    def _cached(self, key: tuple[str, str], pos: Where) -> SecretStr | None:
        if key in self.failed:
            self.walk.issue(pos, *self.failed[key])
        return self.cache[key]

    def resolve(self, value: Any, pos: Where) -> SecretStr | None:
        if value is None:
            return self.sources.prompted
        if isinstance(value, str):
            if pos not in self.literal_at:
                self.literal_at.append(pos)
            return SecretStr(value)
        if isinstance(value, dict) and len(value) == 1:
            kind, ref = next(iter(value.items()))
            if kind == "env" and isinstance(ref, str):
                return self._env(ref, pos)
            if kind == "keyring" and isinstance(ref, str):
                return self._keyring(ref, pos)
        # Never echo the value: it may be a password typed in the wrong shape.
        self.walk.issue(pos, "ansible_password 必须是 {env: 变量名}、{keyring: 服务/用户} 或文本",
                        "ansible_password must be {env: NAME}, {keyring: service/user} or text")
        return None

    def _env(self, name: str, pos: Where) -> SecretStr | None:
        key = ("env", name)
        if key in self.cache:
            return self._cached(key, pos)
        value = self.sources.environ.get(name)
        if value is None:
            self._fail(key, pos, f"环境变量 {name} 未设置：请先 export {name}=… 或改用 --ask-pass",
                       f"environment variable {name} is not set: export {name}=… or use --ask-pass")
            return None
        self.cache[key] = SecretStr(value)
        return self.cache[key]

    def _keyring(self, ref: str, pos: Where) -> SecretStr | None:
        key = ("keyring", ref)
        if key in self.cache:
            return self._cached(key, pos)
        service, _, user = ref.partition("/")
        if not service or not user:
            self.walk.issue(pos, f"keyring 引用 {ref!r} 应写成 服务/用户", f"keyring reference {ref!r} must be service/user")
            return None
        lookup = self.sources.keyring_lookup or _keyring_lookup
        try:
            value = lookup(service, user)
        except ImportError:
            self._fail(key, pos, "使用 {keyring: …} 需要安装 keyring：pip install 'fleetcheck[keyring]'",
                       "{keyring: …} needs the keyring package: pip install 'fleetcheck[keyring]'")
            return None
        except Exception as exc:  # noqa: BLE001 - keyring backends raise many kinds; no secret in the message
            self._fail(key, pos, f"读取 keyring {ref} 失败：{type(exc).__name__}",
                       f"reading keyring {ref} failed: {type(exc).__name__}")
            return None
        if value is None:
            self._fail(key, pos, f"keyring 中没有 {ref} 的密码：keyring set {service} {user}",
                       f"no password for {ref} in the keyring: run keyring set {service} {user}")
            return None
        self.cache[key] = SecretStr(value)
        return self.cache[key]


_CHOICES: dict[str, tuple[str, ...]] = {
    "ansible_winrm_transport": ("ntlm", "kerberos", "credssp", "basic"),
    "ansible_winrm_scheme": ("http", "https"),
    "ansible_winrm_server_cert_validation": ("validate", "ignore"),
}


@dataclass
class _Build:
    """What every host of one inventory is built with."""

    walk: _Walk
    resolver: _Resolver
    base_dir: Path
    # None: a credential problem is an issue; a dict: kept aside per host (--limit decides)
    credential_issues: dict[str, list[Issue]] | None = None


def _check_connection(walk: _Walk, values: dict[str, Any], pos: Callable[[str], Where], address: str) -> None:
    """``ansible_connection`` must be WinRM; the address must be an IP address or a host name."""
    connection = values.get("ansible_connection")
    if connection is not None and str(connection).lower() == "psrp":
        walk.issue(pos("ansible_connection"), "ansible_connection: psrp 不受支持；fleetcheck 通过 WinRM 连接，请改为 winrm",
                   "ansible_connection: psrp is not supported; fleetcheck connects over WinRM: use winrm")
    elif connection is not None and str(connection).lower() != "winrm":
        walk.issue(pos("ansible_connection"),
                   f"ansible_connection 的值 {str(connection)!r} 不受支持；fleetcheck 只通过 WinRM 连接 Windows，请改为 winrm",
                   f"ansible_connection: {str(connection)!r} is not supported; fleetcheck reaches Windows over WinRM only: use winrm")
    if "ansible_host" in values or not any(c.isalpha() for c in address):  # a name is an address only if meant as one
        problem = address_problem(address)
        if problem is not None:
            walk.issue(pos("ansible_host"), f"ansible_host：{problem.zh}", f"ansible_host: {problem.en}")


def _host_spec(build: _Build, name: str, merged: dict[str, tuple[Any, Where]], groups: list[str]) -> HostSpec | None:
    walk, resolver, base_dir, credential_issues = build.walk, build.resolver, build.base_dir, build.credential_issues
    before = len(walk.issues)
    values = {k: v for k, (v, _) in merged.items()}

    def pos(key: str) -> Where:
        return merged[key][1] if key in merged else walk.host_pos[name]

    for key, allowed in _CHOICES.items():
        if key in values and str(values[key]).lower() not in allowed:
            walk.issue(pos(key), f"{key} 的值 {values[key]!r} 无效，可选：{'、'.join(allowed)}",
                       f"{key}: {values[key]!r} is not one of {', '.join(allowed)}")
    port = values.get("ansible_port")
    if port is not None and (isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535):
        walk.issue(pos("ansible_port"), f"ansible_port 必须是 1–65535 的整数，而不是 {port!r}",
                   f"ansible_port must be an integer 1-65535, not {port!r}")
        port = None
    address = str(values.get("ansible_host") or name)
    _check_connection(walk, values, pos, address)
    auth = str(values.get("ansible_winrm_transport", "ntlm")).lower()
    scheme = values.get("ansible_winrm_scheme")
    scheme = str(scheme).lower() if scheme is not None else None
    probe = HostSpec(name=name, address=address, port=port if isinstance(port, int) else None,
                     scheme=scheme if scheme in ("http", "https") else None)
    if auth == "basic" and probe.effective_scheme == "http":
        # This host only: it is kept, never contacted with Basic over HTTP (the transport refuses it
        # as a ConfigurationError result, `doctor` names the step); the other hosts are swept.
        walk.warn(pos("ansible_winrm_transport"),
                  f"主机 {name}：Basic 认证会在明文 HTTP 上发送密码，已拒绝（该主机不会被连接）；请使用 https（端口 5986）或 NTLM",
                  f"host {name}: Basic authentication over plain HTTP would send the password in clear; "
                  "refused (this host will not be contacted). Use https (port 5986) or NTLM")
    ca_path = values.get("ansible_winrm_ca_trust_path")
    ca_trust: str | None = None
    if ca_path is not None:
        path = Path(str(ca_path)).expanduser()
        path = path if path.is_absolute() else base_dir / path
        if not path.exists():
            walk.issue(pos("ansible_winrm_ca_trust_path"), f"CA 证书文件不存在：{path}",
                       f"CA trust file not found: {path}")
        ca_trust = str(path)
    user = values.get("ansible_user")
    before_password = len(walk.issues)
    password = resolver.resolve(values.get("ansible_password"), pos("ansible_password"))
    found = walk.issues[before_password:]
    del walk.issues[before_password:]
    if credential_issues is not None and found:
        credential_issues[name] = found  # kept aside: only a selected host's credentials matter
    else:
        walk.issues.extend(_unique([i for i in found if i not in walk.issues]))  # one per shared reference
    if len(walk.issues) > before:
        return None
    host_vars = {k: _plain(v) for k, v in values.items() if k not in SECRET_VARS}
    return HostSpec(
        name=name,
        address=address,
        port=probe.port,
        scheme=probe.scheme,
        user=None if user is None else str(user),
        password=password,
        auth=auth,
        cert_validation=str(values.get("ansible_winrm_server_cert_validation", "validate")).lower(),
        ca_trust_path=ca_trust,
        wsman_path=str(values.get("ansible_winrm_path", "/wsman")),
        groups=tuple(groups),
        host_vars=host_vars,
    )


def parse_inventory(text: str, source: str, sources: PasswordSources | None = None,
                    base_dir: Path | None = None) -> Inventory:
    """Parse inventory YAML text; raises InventoryError listing every problem.

    >>> inv = parse_inventory("all:\\n  hosts:\\n    PC-1: {ansible_host: 127.0.0.1}\\n", "inv.yaml")
    >>> inv.hosts["PC-1"].endpoint
    'https://127.0.0.1:5986/wsman'
    """
    return _build(parse_text(text, source), sources or PasswordSources(), base_dir or Path("."))


def _file_vars(walk: _Walk, path: Path) -> dict[str, tuple[Any, Where]]:
    """The variables of one ``group_vars/`` or ``host_vars/`` file, through the one YAML loader."""
    doc = read_document(path)
    if doc.issues or not doc.loaded:
        walk.issues.extend(doc.redact(_without_secret_line(i)) for i in doc.issues)
        return {}
    if doc.data is None:
        return {}  # an empty file: no variables
    if not isinstance(doc.data, CommentedMap):
        walk.issue(At(doc.file, 1, 1, doc), "变量文件必须是“名称: 值”的映射", "a variables file must be a mapping of name: value")
        return {}
    return _read_vars(walk, doc.data, "", None, doc)


def _files_vars(walk: _Walk, vars_root: Path | None, kind: str, name: str) -> dict[str, tuple[Any, Where]]:
    merged: dict[str, tuple[Any, Where]] = {}
    if vars_root is not None:
        for path in vars_files(vars_root, kind, name):
            merged.update(_file_vars(walk, path))
    return merged


def _is_ini(doc: YamlDocument, text: str) -> bool:
    """INI by content: a ``[section]`` first, or no YAML mapping and a section line or only host names."""
    if looks_like_ini(text):
        return True
    if isinstance(doc.data, CommentedMap):
        return False
    return has_section_line(text) or (doc.loaded and isinstance(doc.data, str))


def _build(doc: YamlDocument, sources: PasswordSources, base_dir: Path,
           credential_issues: dict[str, list[Issue]] | None = None, vars_root: Path | None = None) -> Inventory:
    """The inventory of ``doc``; ``vars_root``: the folder whose group_vars/ and host_vars/ apply (None: none)."""
    source = doc.file
    walk = _Walk(source, doc.lines, doc=doc)
    text = "\n".join(doc.lines)
    if _is_ini(doc, text):  # Ansible's INI format: its own reader, the same rules after
        walk.doc = None
        _walk_tree(walk, parse_ini(text))
        return _finish(walk, sources, _Build(walk, _Resolver(walk, sources), base_dir, credential_issues), vars_root)
    walk.issues = [walk.redact(i) for i in doc.issues]
    if not doc.loaded:
        raise InventoryError(walk.issues)
    data = doc.data
    if isinstance(data, CommentedMap) and is_list_json(data):
        _walk_tree(walk, read_list_json(data))
    elif not isinstance(data, CommentedMap):
        walk.issue((1, 1), "清单必须以 all: 开头（Ansible YAML 清单格式）",
                   "an inventory must start with all: (Ansible YAML inventory)")
        raise InventoryError(walk.issues)
    else:
        _walk_group(walk, "all", data.get("all"), None, 0, _key_pos(data, "all"))
        for key in data:
            if key != "all":
                _walk_group(walk, str(key), data[key], "all", 1, _key_pos(data, key))
    return _finish(walk, sources, _Build(walk, _Resolver(walk, sources), base_dir, credential_issues), vars_root)


def _finish(walk: _Walk, sources: PasswordSources, build: _Build, vars_root: Path | None) -> Inventory:
    """Merge every host's variables (Ansible's precedence) and build the inventory."""
    source, resolver, credential_issues = walk.source, build.resolver, build.credential_issues
    group_files = {g: _files_vars(walk, vars_root, "group_vars", g) for g in sorted(walk.groups)}
    hosts: dict[str, HostSpec] = {}
    for name in walk.host_order:
        direct = [g.name for g in walk.groups.values() if name in g.hosts]
        member_of = _ancestors(walk.groups, direct)
        order = sorted((walk.groups[g] for g in member_of), key=lambda g: (g.depth, g.name))
        # Ansible's "Variable precedence", lowest first: the inventory's group vars (all, then
        # groups by depth and name), group_vars/all, group_vars/<group> (same order), the
        # inventory's host vars, host_vars/<host>. A later value replaces an earlier one.
        merged: dict[str, tuple[Any, Where]] = {}
        for group in order:
            merged.update(group.vars)
        for group in order:
            merged.update(group_files[group.name])
        merged.update(walk.host_vars[name])
        merged.update(_files_vars(walk, vars_root, "host_vars", name))
        spec = _host_spec(build, name, merged, sorted(member_of - {"all"}))
        if spec is not None:
            hosts[name] = spec
    if not walk.host_order and not walk.issues:
        walk.issue((1, 1), "清单中没有任何主机", "the inventory lists no hosts")
    if walk.issues:
        deferred = [i for found in (credential_issues or {}).values() for i in found]
        raise InventoryError([*walk.issues, *_unique(deferred)])
    groups = {g.name: tuple(h for h in walk.host_order if g.name in hosts[h].groups or g.name == "all")
              for g in walk.groups.values()}
    host_warnings = tuple(T(i.format("zh"), i.format("en")) for i in walk.host_warnings)
    child_groups = {g.name: tuple(sorted(c.name for c in walk.groups.values() if g.name in c.parents))
                    for g in walk.groups.values()}
    own_hosts = {g.name: tuple(g.hosts) for g in walk.groups.values()}
    return Inventory(source=source, hosts=hosts, groups=groups, group_children=child_groups, group_hosts=own_hosts,
                     warnings=_literal_warning(source, resolver.literal_at, sources.literal_ok) + host_warnings)


def _literal_warning(source: str, at: list[Where], mild: bool) -> tuple[Text, ...]:
    if not at:
        return ()
    first = at[0]
    if isinstance(first, At):
        source, line, col = first.file, first.line, first.col
    else:
        line, col = first
    more = len(at) - 1
    extra_zh = f"（另有 {more} 处）" if more else ""
    extra_en = f" (and {more} more)" if more else ""
    if mild:
        return (T(f"提示：{source}:{line}:{col}: 演示清单中的密码为明文{extra_zh}",
                  f"note: {source}:{line}:{col}: the demo inventory holds plain-text passwords{extra_en}"),)
    return (T(f"警告：{source}:{line}:{col}: 清单中有明文密码{extra_zh}；建议改为 {{env: 变量名}} 或 {{keyring: 服务/用户}}",
              f"warning: {source}:{line}:{col}: plain-text password in the inventory{extra_en}; "
              "use {env: NAME} or {keyring: service/user} instead"),)


def load_inventory(path: str | Path, sources: PasswordSources | None = None) -> Inventory:
    """Read and parse an inventory file (UTF-8, BOM allowed); problems raise InventoryError."""
    path = Path(path)
    base = path.resolve().parent
    return _build(read_document(path), sources or PasswordSources(), base, vars_root=base)


def _unique(issues: list[Issue]) -> list[Issue]:
    out: list[Issue] = []
    for issue in issues:
        if issue not in out:
            out.append(issue)
    return out


def load_inventory_deferring_credentials(
    path: str | Path, sources: PasswordSources | None = None
) -> tuple[Inventory, dict[str, list[Issue]]]:
    """Like ``load_inventory``, but a password that cannot be resolved is not yet an error.

    Returns the inventory (such hosts have no password) and each such host's
    issues; the caller raises ``credential_error(issues, names)`` for the hosts it
    selected, so an unset ``{env: …}`` on a host outside ``--limit`` does not stop
    the run. Any other problem still raises InventoryError (with every issue).
    """
    path = Path(path)
    issues: dict[str, list[Issue]] = {}
    base = path.resolve().parent
    inventory = _build(read_document(path), sources or PasswordSources(), base, issues, vars_root=base)
    return inventory, issues


def credential_error(issues: dict[str, list[Issue]], names: list[str]) -> InventoryError | None:
    """The credential problems of the hosts ``names``, one line per reference; None when none."""
    found = _unique([i for n in names for i in issues.get(n, ())])
    return InventoryError(found) if found else None


def load_host_vars(path: str | Path) -> dict[str, Any]:
    """A host variables file (YAML or JSON: ``name: value``) as plain data.

    The one loader's rules (bounded, ``file:line:col``, secrets never quoted);
    raise :class:`HostVarsError` listing every problem. An empty file is no variables.
    """
    doc = read_document(path)
    doc.fail((), HostVarsError)  # syntax errors, duplicate keys
    if doc.data is None:
        return {}
    if not isinstance(doc.data, Mapping):
        doc.fail(
            [RawIssue((), T("主机变量应为映射（名称: 值）", "host vars must be a mapping (name: value)"))],
            HostVarsError,
        )
    return {str(k): v for k, v in to_plain(doc.data).items()}
