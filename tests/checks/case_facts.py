"""Build a ProbeResponse from a short case description (the fixture "host image").

A case gives only what it needs; everything else is absent, like a clean PC::

    facts:
      os: {version: "6.1.7601", build: 7601}        # overrides of a Windows 10 x64 default
      registry:                                      # HKLM and HKU\\<SID> keys
        "HKLM\\SOFTWARE\\Policies\\...\\Zones\\2": {"1803": 0}
        "HKU\\S-1-5-21-...\\Software\\...": {values: {...}, subkeys: {...}}
      user_registry:                                 # the default operator's hive
        "Software\\Microsoft\\...\\Zones\\2": {"1803": 3}
      files: {"C:\\Windows\\x.ocx": {version: "2.0.4.8"}, "...": {content: "<xml/>"}}
      pnp: {"096E": ["USB\\VID_096E&PID_0703\\1"]}  # connected; or {id, present, error_code}
      tcp: {"biz.sccc.com:443": true}
      certs: [{cn: "F00504Y0007#0", kind: file, days: 200}]   # into the operator's store
      errors: {"HKU\\Software\\...": "Access is denied"}      # answer status error
      profiles: []                                   # no operator (default: one console user)

Values: int -> DWORD, str -> SZ, list -> MULTI_SZ, {t: .., v: ..} explicit.
Each query of the request is answered from this image exactly as the agent
would (depth, follow, per-user answers for every loaded user hive).
Also used by benchmarks/evaluate.py.
"""

from __future__ import annotations

import base64
import datetime as dt
from functools import lru_cache
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from fleetcheck.agent.contract import (
    USER_SID_PREFIXES,
    Answer,
    DirQuery,
    FileInfo,
    FileQuery,
    OsFacts,
    PnpDevice,
    PnpQuery,
    ProbeRequest,
    ProbeResponse,
    Profile,
    RegistryQuery,
    RegKey,
    RegValue,
    TcpQuery,
)
from fleetcheck.certstore import KeyProvInfo, build_element

OPERATOR_SID = "S-1-5-21-1111111111-2222222222-3333333333-1001"
OPERATOR = {
    "sid": OPERATOR_SID,
    "user": "CORP\\trader01",
    "path": "C:\\Users\\trader01",
    "appdata": "C:\\Users\\trader01\\AppData\\Roaming",  # as the agent resolves it
    "loaded": True,
    "console": True,
    "interactive": True,
}
DEFAULT_OS = {
    "version": "10.0.19045",
    "build": 19045,
    "caption": "Microsoft Windows 10 专业版",
    "arch": "x64",
    "ps_version": "5.1.19041.3031",
    "clr_version": "4.0.30319.42000",
    "acp": 936,
    "oem_cp": 936,
    "hostname": "PC-SZ-001",
}
FILE_PROVIDER = "Microsoft Enhanced Cryptographic Provider v1.0"
TOKEN_PROVIDER = "EnterSafe ePass2003 CSP v1.0"


# --------------------------------------------------------------------------- certificates


@lru_cache(maxsize=1)
def rsa_key() -> rsa.RSAPrivateKey:
    """One RSA key for every test certificate: generating keys is slow."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@lru_cache(maxsize=256)
def make_cert_der(cn: str, issuer: str, not_before: dt.datetime, not_after: dt.datetime, serial: int) -> bytes:
    key = rsa_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )
    from cryptography.hazmat.primitives.serialization import Encoding

    return cert.public_bytes(Encoding.DER)


def cert_blob(spec: dict[str, Any], now: dt.datetime) -> bytes:
    """A serialized store element for ``{cn, issuer, days, kind, key}``."""
    days = int(spec.get("days", 365))
    not_after = (now + dt.timedelta(days=days)).replace(microsecond=0)
    not_before = not_after - dt.timedelta(days=int(spec.get("lifetime", 730)))
    der = make_cert_der(
        str(spec["cn"]), str(spec.get("issuer", "SZSE CA")), not_before, not_after, int(spec.get("serial", 1000 + days))
    )
    kind = spec.get("kind", "file")
    kpi = None
    if spec.get("key", True):
        provider = spec.get("provider") or (FILE_PROVIDER if kind == "file" else TOKEN_PROVIDER)
        kpi = KeyProvInfo(container="c-" + str(spec["cn"]), provider=provider)
    return build_element(der, kpi)


# --------------------------------------------------------------------------- registry image


class Node:
    def __init__(self) -> None:
        self.values: dict[str, RegValue] = {}
        self.subkeys: dict[str, Node] = {}

    def child(self, name: str, create: bool = False) -> Node | None:
        for existing, node in self.subkeys.items():
            if existing.lower() == name.lower():
                return node
        if not create:
            return None
        node = Node()
        self.subkeys[name] = node
        return node

    def walk(self, path: str, create: bool = False) -> Node | None:
        node: Node | None = self
        for part in [p for p in path.split("\\") if p]:
            if node is None:
                return None
            node = node.child(part, create)
        return node

    def to_key(self, depth: int) -> RegKey:
        subs = {n: s.to_key(depth - 1) for n, s in self.subkeys.items()} if depth > 0 else {}
        return RegKey(values=dict(self.values), subkeys=subs, truncated=depth <= 0 and bool(self.subkeys))


def reg_value(raw: Any) -> RegValue:
    if isinstance(raw, RegValue):
        return raw
    if isinstance(raw, bool):
        return RegValue(t="DWORD", v=int(raw))
    if isinstance(raw, int):
        return RegValue(t="DWORD", v=raw)
    if isinstance(raw, str):
        return RegValue(t="SZ", v=raw)
    if isinstance(raw, list):
        return RegValue(t="MULTI_SZ", v=[str(x) for x in raw])
    if isinstance(raw, bytes):
        return RegValue(t="BINARY", v=base64.b64encode(raw).decode())
    if isinstance(raw, dict) and "t" in raw:
        return RegValue(t=raw["t"], v=raw["v"])
    raise ValueError(f"cannot make a registry value of {raw!r}")


def fill(node: Node, keydef: dict[str, Any] | None) -> None:
    keydef = keydef or {}
    if set(keydef) <= {"values", "subkeys"} and keydef:
        values, subkeys = keydef.get("values") or {}, keydef.get("subkeys") or {}
    else:
        values, subkeys = keydef, {}
    for name, raw in values.items():
        node.values[str(name)] = reg_value(raw)
    for name, sub in subkeys.items():
        child = node.child(str(name), create=True)
        assert child is not None
        fill(child, sub)


def pnp_device(raw: Any) -> PnpDevice:
    """A DeviceID string is a connected device as Windows 10 reports it; a mapping says more."""
    if isinstance(raw, str):
        return PnpDevice(device_id=raw, present=True, error_code=0)
    return PnpDevice(device_id=raw["id"], present=raw.get("present"), error_code=raw.get("error_code"))


# --------------------------------------------------------------------------- host image


class HostImage:
    """A described PC that answers ProbeRequests like the agent would."""

    def __init__(self, desc: dict[str, Any] | None, now: dt.datetime) -> None:
        desc = desc or {}
        self.now = now
        self.os = OsFacts.model_validate({**DEFAULT_OS, **(desc.get("os") or {})})
        self.profiles = [Profile.model_validate(p) for p in desc.get("profiles", [OPERATOR])]
        self.hklm = Node()
        self.hku: dict[str, Node] = {p.sid: Node() for p in self.profiles}
        self.files: dict[str, dict[str, Any]] = {}
        for path, keydef in (desc.get("registry") or {}).items():
            self._add_key(path, keydef)
        for path, keydef in (desc.get("user_registry") or {}).items():
            self._add_key(f"HKU\\{OPERATOR_SID}\\{path}", keydef)
        for path, info in (desc.get("files") or {}).items():
            self.files[path.lower()] = {"path": path, **(info or {})}
        for cert in desc.get("certs") or []:
            self._add_cert(cert)
        self.pnp = {k.upper(): v for k, v in (desc.get("pnp") or {}).items()}
        self.tcp = {k.lower(): v for k, v in (desc.get("tcp") or {}).items()}
        self.errors = {k.lower(): v for k, v in (desc.get("errors") or {}).items()}

    def _add_key(self, path: str, keydef: Any) -> None:
        hive, _, rest = path.partition("\\")
        if hive.upper() == "HKLM":
            root = self.hklm
        elif hive.upper() == "HKU":
            sid, _, rest = rest.partition("\\")
            root = self.hku.setdefault(sid, Node())
        else:
            raise ValueError(f"registry path must start with HKLM\\ or HKU\\: {path}")
        node = root.walk(rest, create=True)
        assert node is not None
        fill(node, keydef)

    def _add_cert(self, cert: dict[str, Any]) -> None:
        blob = cert_blob(cert, self.now)
        sid = cert.get("sid", OPERATOR_SID)
        import hashlib

        from fleetcheck.certstore import parse_element

        thumb = hashlib.sha1(parse_element(blob).der).hexdigest().upper()
        if cert.get("store", "registry") == "registry":
            self._add_key(
                f"HKU\\{sid}\\Software\\Microsoft\\SystemCertificates\\My\\Certificates\\{thumb}", {"Blob": blob}
            )
        else:
            prof = next(p for p in self.profiles if p.sid == sid)
            path = f"{prof.appdata}\\Microsoft\\SystemCertificates\\My\\Certificates\\{thumb}"
            self.files[path.lower()] = {"path": path, "content_bytes": blob}

    # ----------------------------------------------------------------- answering

    def _user_sids(self) -> list[Profile]:
        return [p for p in self.profiles if p.loaded and p.sid.startswith(USER_SID_PREFIXES)]

    def _file(self, path: str, content: bool) -> FileInfo:
        info = self.files.get(path.strip('"').lower())
        if info is None:
            return FileInfo(path=path.strip('"'), exists=False)
        data: bytes | None = info.get("content_bytes")
        if data is None and "content" in info:
            data = str(info["content"]).encode("utf-8")
        return FileInfo(
            path=info["path"],
            exists=True,
            size=len(data) if data is not None else info.get("size", 1024),
            version=info.get("version"),
            content=base64.b64encode(data).decode() if (content and data is not None) else None,
        )

    def _error(self, where: str, qid: str, sid: str | None) -> Answer | None:
        msg = self.errors.get(where.lower())
        return Answer(id=qid, sid=sid, status="error", error=msg) if msg else None

    def _registry(self, q: RegistryQuery, sid: str | None) -> Answer:
        err = self._error(f"{q.hive}\\{q.path}", q.id, sid)
        if err:
            return err
        root = self.hklm if sid is None else self.hku.get(sid, Node())
        node = root.walk(q.path)
        if node is None:
            return Answer(id=q.id, sid=sid, status="absent")
        followed: dict[str, FileInfo] = {}
        for name in q.follow:
            val = next((v for n, v in node.values.items() if n.lower() == name.lower()), None)
            text = val.as_str() if val is not None else None
            if text:
                followed[name] = self._file(text, q.follow_content)
        return Answer(id=q.id, sid=sid, status="ok", key=node.to_key(q.depth), followed=followed)

    def _profile_path(self, path: str, sid: str | None) -> str:
        if sid is None:
            return path
        prof = next(p for p in self.profiles if p.sid == sid)
        return path.replace("{profile}", prof.path or "").replace("{appdata}", prof.appdata or "")

    def answer(self, q: Any) -> list[Answer]:
        if isinstance(q, RegistryQuery):
            if q.per_user:
                return [self._registry(q, p.sid) for p in self._user_sids()]
            return [self._registry(q, None)]
        if isinstance(q, (FileQuery, DirQuery)):
            sids: list[str | None] = [p.sid for p in self._user_sids()] if q.per_user else [None]
            out = []
            for sid in sids:
                path = self._profile_path(q.path, sid)
                err = self._error(q.path if q.per_user else path, q.id, sid)
                if err:
                    out.append(err)
                elif isinstance(q, FileQuery):
                    info = self._file(path, q.content)
                    out.append(Answer(id=q.id, sid=sid, status="ok" if info.exists else "absent", file=info))
                else:
                    prefix = path.lower().rstrip("\\") + "\\"
                    names = [k for k in self.files if k.startswith(prefix) and "\\" not in k[len(prefix):]]
                    files = [self._file(self.files[k]["path"], q.content) for k in sorted(names)]
                    out.append(Answer(id=q.id, sid=sid, status="ok" if files else "absent", files=files))
            return out
        if isinstance(q, PnpQuery):
            return [Answer(id=q.id, status="ok", devices=[pnp_device(d) for d in self.pnp.get(q.vendor_id.upper(), [])])]
        if isinstance(q, TcpQuery):
            err = self._error(f"{q.host}:{q.port}", q.id, None)
            if err:
                return [err]
            ok = bool(self.tcp.get(f"{q.host}:{q.port}".lower(), False))
            return [Answer(id=q.id, status="ok", connected=ok, elapsed_ms=12 if ok else q.timeout_ms)]
        raise TypeError(f"unknown query {q!r}")

    def probe(self, request: ProbeRequest) -> ProbeResponse:
        answers = [a for q in request.queries for a in self.answer(q)]
        return ProbeResponse(agent_version="test", elapsed_ms=5, os=self.os, profiles=self.profiles, answers=answers)


def build_facts(request: ProbeRequest, desc: dict[str, Any] | None, now: dt.datetime) -> ProbeResponse:
    """The agent's answer to ``request`` on the host described by ``desc``."""
    return HostImage(desc, now).probe(request)


# --------------------------------------------------------------------------- whole hosts

_ZONES = r"Software\Microsoft\Windows\CurrentVersion\Internet Settings\Zones\2"
_CERTENROLL = "{33BBBFD1-0A97-4339-9032-F68F19CB3030}"
_JITVCTK = "{707C7D52-85A8-4584-8954-573EFCE77488}"


def compliant_host(win7: bool = False, gateway_cert: str = "F00504Y0007#0") -> dict[str, Any]:
    """A PC that passes every check of the shipped SCCC pack (Windows 10 unless win7)."""
    registry: dict[str, Any] = {
        rf"HKLM\SOFTWARE\Classes\WOW6432Node\CLSID\{_CERTENROLL}\InprocServer32": {"": r"C:\Windows\SysWOW64\JITCertEnroll.ocx"},
        rf"HKLM\SOFTWARE\Classes\WOW6432Node\CLSID\{_JITVCTK}\InprocServer32": {"": r"C:\Windows\SysWOW64\JITComVCTK_S.dll"},
        r"HKLM\SOFTWARE\WOW6432Node\Microsoft\Windows\CurrentVersion\Uninstall\ePass2003": {
            "DisplayName": "ePass2003", "DisplayVersion": "1.1.20.1212", "Publisher": "飞天诚信"},
    }
    files: dict[str, Any] = {
        r"C:\Windows\SysWOW64\JITCertEnroll.ocx": {"version": "2.0.4.8"},
        r"C:\Windows\SysWOW64\JITComVCTK_S.dll": {"version": "2.0.24.42"},
    }
    desc: dict[str, Any] = {
        "registry": registry,
        "files": files,
        "user_registry": {
            _ZONES: {"1803": 0, "2201": 0, "1004": 0, "2200": 0},
            r"Software\Microsoft\Windows\CurrentVersion\Internet Settings\ZoneMap\Domains\sccc.com\biz": {"https": 2},
        },
        "pnp": {"096E": [r"USB\VID_096E&PID_0703\5&1A2B&0&1", r"USB\VID_096E&PID_0703&MI_00\6&2B&0&0"]},
        "tcp": {"biz.sccc.com:443": True},
        "certs": [{"cn": gateway_cert, "kind": "file", "days": 200}],
    }
    if win7:
        desc["os"] = {"version": "6.1.7601", "build": 7601, "caption": "Microsoft Windows 7 旗舰版",
                      "ps_version": "2.0", "clr_version": "2.0.50727.8806"}
    else:
        registry[r"HKLM\SOFTWARE\Policies\Microsoft\Edge"] = {
            "InternetExplorerIntegrationLevel": 1,
            "InternetExplorerIntegrationSiteList": r"C:\ProgramData\fleetcheck\sccc-sites.xml",
        }
        files[r"C:\ProgramData\fleetcheck\sccc-sites.xml"] = {
            "content": '<site-list version="1"><site url="biz.sccc.com"><open-in>IE11</open-in></site></site-list>'}
    return desc
