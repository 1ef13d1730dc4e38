"""Simulated offices: many PCs from one office file, served on loopback, with an inventory.

Office file (YAML, UTF-8)::

    name: 深圳营业部演示               # free text
    first_address: 127.0.1.1          # optional; hosts get consecutive addresses
    defaults:                         # optional; every group starts from these
      credentials: {user: 'TRADE\\fcadmin', password: 'Demo-2026!'}   # demo only
      transport: ntlm                 # ntlm | basic  (basic is served on https only)
      scheme: http                    # http (port 5985) | https (port 5986)
      vars: {branch: 深圳}
      faults: {latency_ms: 5}
    groups:
      - name: sz_win10                # inventory group name ([A-Za-z0-9_])
        image: win10-compliant        # shipped image name or a path (relative to this file)
        count: 10
        vars:                         # per-host vars; also fill the image's ${placeholders}
          hostname: SZ-W10-${n:02}
          operator: 'TRADE\\交易员${index:02}'
          gateway_cert: 'F00504Y${index:04}#0'
          cert_kind: file
        credentials: {...}            # overrides defaults
        inventory_password: nope      # optional: the inventory gets this password instead
                                      # (simulates an inventory with wrong credentials)
        faults: {refuse: true}        # see fleetcheck.sim.faults

Placeholders in ``vars`` values: ``${index}`` is the host's number in the whole
office (1, 2, ...), ``${n}`` its number within the group, ``${group}`` the group
name, and ``${name}`` any other var of the same host defined before it (dict
order). A format spec may follow a colon: ``${index:04}`` → ``0007``. The
inventory name of a host is its ``hostname`` var, or ``<group>-<index:03>``.
The image then receives all vars (including ``index``) for its own
placeholders (``${operator}``, ``${gateway_cert}``, ``${hostname}``...).

API (for ``fleetcheck demo``, ``fleetcheck sim serve`` and tests)::

    with start_office(Path("office.yaml"), state_dir) as office:
        office.hosts["SZ-W10-01"].address      # '127.0.1.1'
        addr, host = office.hosts["SZ-W10-01"] # host: SimulatedHost (built on first use)
        office.inventory()                     # Ansible-style dict
        office.write_inventory(path)           # UTF-8 YAML, Chinese not escaped
        office.ca_pem_path                     # PEM for ansible_winrm_ca_trust_path
    # leaving the block stops every listener (bounded)

Hosts are instantiated lazily (on their first command, or when ``.host`` is
read), so a 500-PC office starts in well under a second plus listener set-up.
State lives in ``state_dir``: the CA (kept across runs), the server
certificate, NTLM account files, and each host's persisted image under
``hosts/<name>/`` (fixes survive a restart; delete the folder to start afresh).
"""

from __future__ import annotations

import ipaddress
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from ruamel.yaml import YAML
from typing_extensions import Self

from fleetcheck.errors import FleetcheckError
from fleetcheck.i18n import T
from fleetcheck.sim.faults import FaultSpec
from fleetcheck.sim.host import SimulatedHost
from fleetcheck.sim.image import ImageError, load_spec
from fleetcheck.sim.server import Endpoint, WsmanServer, write_ntlm_accounts
from fleetcheck.sim.tls import issue_server_credentials
from fleetcheck.sim.wsman import HostProfile, ProcessRunner, WinRSService
from fleetcheck.yamlfile import UserFileError, load_model

HTTP_PORT = 5985
HTTPS_PORT = 5986
MAX_HOSTS = 20_000


class OfficeError(FleetcheckError):
    """An office file that cannot be used; the message names the file (or group) and what to fix.

    ``text`` is the bilingual message (a file the YAML loader refused: its
    ``file:line:col`` block in each language); ``str()`` is the English half.
    """


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    user: str = Field(min_length=1)
    password: str = Field(repr=False)


class GroupDefaults(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    credentials: Credentials | None = None
    transport: Literal["ntlm", "basic"] | None = None
    scheme: Literal["http", "https"] | None = None
    vars: dict[str, Any] = Field(default_factory=dict)
    faults: FaultSpec | None = None


class GroupSpec(GroupDefaults):
    name: str = Field(pattern=r"^[A-Za-z0-9_]+$")
    image: str = Field(min_length=1)
    count: int = Field(ge=1, le=MAX_HOSTS)
    inventory_password: str | None = Field(default=None, repr=False)


class OfficeSpec(BaseModel):
    """A parsed office file (see the module docstring)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "office"
    first_address: str = "127.0.1.1"
    defaults: GroupDefaults = Field(default_factory=GroupDefaults)
    groups: list[GroupSpec] = Field(min_length=1)
    source: Path | None = Field(default=None, exclude=True)

    @classmethod
    def load(cls, path: Path) -> OfficeSpec:
        """Read an office file; every error names the file, line and column, and what is wrong."""
        try:
            spec = load_model(path, cls)
        except UserFileError as exc:
            raise OfficeError(T(exc.format("zh"), exc.format("en"))) from None
        return spec.model_copy(update={"source": path})


# --------------------------------------------------------------------------- expansion

_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}")


def expand(text: str, values: dict[str, Any]) -> str:
    """Fill ``${name}`` / ``${name:spec}`` from ``values``; unknown names are left for the image.

    >>> expand("F00504Y${index:04}#0", {"index": 7})
    'F00504Y0007#0'
    """

    def repl(match: re.Match[str]) -> str:
        name, spec = match.group(1), match.group(2)
        if name not in values:
            return match.group(0)
        value = values[name]
        try:
            return format(value, spec or "")
        except (ValueError, TypeError):
            raise OfficeError(T(
                f"占位符 ${{{name}:{spec}}}：格式 '{spec}' 不适用于值 {value!r}",
                f"placeholder ${{{name}:{spec}}}: format '{spec}' does not fit value {value!r}",
            )) from None

    return _PLACEHOLDER.sub(repl, text)


@dataclass(frozen=True)
class PlannedHost:
    """One PC of an office, before anything listens."""

    name: str
    group: str
    index: int
    image: str
    address: str
    port: int
    scheme: Literal["http", "https"]
    transport: Literal["ntlm", "basic"]
    credentials: Credentials
    inventory_password: str
    vars: dict[str, Any]
    faults: FaultSpec


def _addresses(first: str) -> Iterator[str]:
    addr = ipaddress.IPv4Address(first)
    if not addr.is_loopback:
        raise OfficeError(T(
            f"first_address {first} 不是环回地址（127.0.0.0/8）",
            f"first_address {first} is not a loopback address (127.0.0.0/8)",
        ))
    while addr.is_loopback:
        last = int(addr) & 0xFF
        if last not in (0, 255):
            yield str(addr)
        addr += 1


def plan_office(spec: OfficeSpec, *, first_address: str | None = None) -> list[PlannedHost]:
    """Expand groups into hosts with addresses and vars (pure; no I/O)."""
    base = spec.source.parent if spec.source else Path.cwd()
    addresses = _addresses(first_address or spec.first_address)
    planned: list[PlannedHost] = []
    seen: set[str] = set()
    index = 0
    d = spec.defaults
    for group in spec.groups:
        creds = group.credentials or d.credentials
        if creds is None:
            raise OfficeError(T(
                f"组 {group.name}：没有凭据（在组或 defaults 中设置）",
                f"group {group.name}: no credentials (set them in the group or in defaults)",
            ))
        scheme = group.scheme or d.scheme or "http"
        transport = group.transport or d.transport or "ntlm"
        if transport == "basic" and scheme != "https":
            raise OfficeError(T(
                f"组 {group.name}：transport basic 需要 scheme https（WinRM 拒绝 HTTP 上的 Basic）",
                f"group {group.name}: transport basic needs scheme https (WinRM refuses Basic over HTTP)",
            ))
        faults = (d.faults or FaultSpec()).merged(group.faults)
        image = group.image
        if "/" in image or image.endswith((".yaml", ".yml")):
            image = str((base / image).resolve())
        for n in range(1, group.count + 1):
            index += 1
            values: dict[str, Any] = {"index": index, "n": n, "group": group.name}
            host_vars: dict[str, Any] = {}
            for key, raw in {**d.vars, **group.vars}.items():
                value = expand(raw, values) if isinstance(raw, str) else raw
                host_vars[key] = value
                values[key] = value
            name = str(host_vars.get("hostname") or f"{group.name}-{index:03}")
            if name in seen:
                raise OfficeError(T(
                    f"组 {group.name}：主机名 {name} 重复；请在 hostname 中使用 ${{index}}",
                    f"group {group.name}: host name {name} is used twice; use ${{index}} in hostname",
                ))
            seen.add(name)
            host_vars.setdefault("hostname", name)
            host_vars["index"] = index
            try:
                address = next(addresses)
            except StopIteration:
                raise OfficeError(T(
                    "从 first_address 起，127.0.0.0/8 容纳不下这个办公室",
                    "the office does not fit in 127.0.0.0/8 from first_address",
                )) from None
            planned.append(
                PlannedHost(
                    name=name, group=group.name, index=index, image=image, address=address,
                    port=HTTPS_PORT if scheme == "https" else HTTP_PORT, scheme=scheme,
                    transport=transport, credentials=creds,
                    inventory_password=group.inventory_password if group.inventory_password is not None
                    else creds.password,
                    vars=host_vars, faults=faults,
                )
            )
    return planned


# --------------------------------------------------------------------------- running offices


@dataclass
class OfficeHost:
    """A running simulated PC. ``addr, host = office.hosts[name]`` unpacks it."""

    plan: PlannedHost
    state_dir: Path
    now: datetime | None
    listening: bool
    _host: Any = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def name(self) -> str:
        return self.plan.name

    @property
    def address(self) -> str:
        return self.plan.address

    @property
    def port(self) -> int:
        return self.plan.port

    @property
    def host(self) -> Any:
        """The SimulatedHost, instantiated from its image on first use (thread-safe)."""
        with self._lock:
            if self._host is None:
                self._host = SimulatedHost.from_image(
                    self.plan.image, self.plan.vars, self.now, state_dir=self.state_dir
                )
            return self._host

    def runner(self) -> ProcessRunner:
        return self.host  # type: ignore[no-any-return]

    def __iter__(self) -> Iterator[Any]:
        yield self.address
        yield self.host


class RunningOffice:
    """An office being served; a context manager that stops it on exit."""

    def __init__(self, spec: OfficeSpec, hosts: dict[str, OfficeHost], server: WsmanServer,
                 ca_pem_path: Path, started_in_s: float) -> None:
        self.spec = spec
        self.hosts = hosts
        self.server = server
        self.ca_pem_path = ca_pem_path
        self.started_in_s = started_in_s
        self._stopped = False

    def inventory(self) -> dict[str, Any]:
        """The office as an Ansible-compatible inventory (plain dict)."""
        children: dict[str, Any] = {}
        for office_host in self.hosts.values():
            p = office_host.plan
            group = children.setdefault(p.group, {"hosts": {}, "vars": {"sim_image": Path(p.image).stem}})
            entry: dict[str, Any] = {
                "ansible_host": p.address,
                "ansible_port": p.port,
                "ansible_user": p.credentials.user,
                "ansible_password": p.inventory_password,
                "ansible_winrm_transport": p.transport,
                "ansible_winrm_scheme": p.scheme,
                "ansible_winrm_server_cert_validation": "validate",
                "ansible_winrm_ca_trust_path": str(self.ca_pem_path),
            }
            for key, value in p.vars.items():
                if key not in ("index",):
                    entry[key] = value
            group["hosts"][p.name] = entry
        return {"all": {"children": children}}

    def write_inventory(self, path: Path) -> Path:
        """Write :meth:`inventory` as UTF-8 YAML (Chinese as characters, not escapes)."""
        yaml = YAML()
        yaml.allow_unicode = True
        yaml.default_flow_style = False
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as handle:
            handle.write("# Inventory of a simulated office written by fleetcheck (demo passwords).\n")
            yaml.dump(self.inventory(), handle)
        return path

    def stop(self, timeout: float = 10.0) -> None:
        """Stop every listener and running process (bounded by ``timeout``)."""
        if not self._stopped:
            self._stopped = True
            self.server.stop(timeout)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def _image_profile(image: str, host_vars: dict[str, Any]) -> tuple[str, int]:
    """(OS version, OEM code page) of an image, for WinRM quotas and the default code page."""
    try:
        spec = load_spec(image, host_vars)
    except ImageError as exc:
        raise OfficeError(T(f"镜像 {image!r}：{exc.format('zh')}", f"image {image!r}: {exc}")) from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise OfficeError(T(f"镜像 {image!r}：无法读取（{reason}）", f"image {image!r}: cannot be read ({reason})")) from None
    return spec.os.version, spec.os.oem_cp


def start_office(
    office: Path | OfficeSpec,
    state_dir: Path,
    *,
    now: datetime | None = None,
    first_address: str | None = None,
    record_wire: bool = False,
    workers: int = 4,
    prewarm: bool = False,
) -> RunningOffice:
    """Start serving an office; returns once every listener accepts connections.

    ``first_address`` overrides the office file's (tests use their own range so
    they never collide with a demo running on the same machine). With
    ``record_wire`` every endpoint keeps the raw HTTP requests it received
    (``office.server.endpoints[i].wire``), for tests. With ``prewarm`` every
    listening PC is instantiated before this returns (about 10 ms each), so a
    benchmark sweep measures serving, not image set-up.
    Raises :class:`OfficeError` for a bad office or image, ``OSError`` when an
    address/port is taken.
    """
    began = time.perf_counter()
    spec = OfficeSpec.load(office) if isinstance(office, Path) else office
    planned = plan_office(spec, first_address=first_address)
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    credentials = issue_server_credentials(state_dir, [p.address for p in planned])
    profiles: dict[str, tuple[str, int]] = {}
    hosts: dict[str, OfficeHost] = {}
    endpoints: list[Endpoint] = []
    server = WsmanServer(endpoints, credentials, workers=workers)
    for p in planned:
        key = p.image
        if key not in profiles:
            profiles[key] = _image_profile(p.image, p.vars)
        os_version, oem_cp = profiles[key]
        office_host = OfficeHost(p, state_dir / "hosts" / p.name, now, listening=not p.faults.refuse)
        hosts[p.name] = office_host
        if p.faults.refuse:
            continue
        profile = HostProfile(
            machine=p.address, endpoint_url=f"{p.scheme}://{p.address}:{p.port}/wsman",
            os_version=os_version, oem_codepage=oem_cp,
        )
        accounts = state_dir / "ntlm" / f"{p.index:05d}.smbpasswd"
        write_ntlm_accounts(accounts, p.credentials.user, p.credentials.password)
        service = WinRSService(profile, office_host.runner, p.faults, server.executor)
        own_certificate = None
        if p.faults.tls_name_mismatch:
            # Same CA, but a certificate for another name (a PC renamed or re-addressed since).
            own_certificate = issue_server_credentials(state_dir, [], now=now, out_dir=state_dir / "wrong-name" / p.name)
        endpoints.append(
            Endpoint(
                name=p.name, address=p.address, port=p.port, scheme=p.scheme, transport=p.transport,
                username=p.credentials.user, password=p.credentials.password, faults=p.faults,
                service=service, ntlm_accounts=accounts, max_envelope_kb=profile.max_envelope_kb,
                wire=[] if record_wire else None, credentials=own_certificate,
            )
        )
    if prewarm:
        for office_host in hosts.values():
            if office_host.listening:
                _ = office_host.host
    server.start()
    return RunningOffice(spec, hosts, server, credentials.ca_pem, time.perf_counter() - began)
