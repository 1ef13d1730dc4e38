"""Building a live PC from a validated image: environment, software, profiles, certificates."""

from __future__ import annotations

import base64
import contextlib
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding

from fleetcheck.agent.contract import OsFacts, RegValue
from fleetcheck.i18n import T
from fleetcheck.sim import certgen, regimport, wow64
from fleetcheck.sim.image.live import (
    CERT_STORE_KEY,
    DEFAULT_APPDATA,
    EDGE_CLIENT_KEY,
    MACHINE_WIDE_VARIABLES,
    PERSONAL_STORE_SUBDIR,
    PROFILE_LIST_KEY,
    USER_SHELL_FOLDERS_KEY,
    HostImage,
    ProcessEntry,
    SimFile,
    UserProfile,
    link_wow_classes,
    normalize_file_path,
)
from fleetcheck.sim.image.load import load_spec
from fleetcheck.sim.image.spec import (
    ActiveXSpec,
    CertificateSpec,
    FileSpec,
    ImageError,
    ImageSpec,
    OsSpec,
    ProfileSpec,
    RegistrySpec,
    UninstallSpec,
    encode_value,
    image_error,
)
from fleetcheck.sim.regtree import KeyNode, split_path

_UNRESOLVED_VARIABLE = re.compile(r"%[^%\\]+%")


def _registry_imports(spec: ImageSpec, name: str) -> tuple[KeyNode, dict[str, KeyNode]]:
    """HKLM and the user hives (by upper-case SID) built from ``registry_import``."""
    if not spec.registry_import:
        return KeyNode(), {}

    try:
        trees = regimport.build_trees(spec.registry_import, [p.sid for p in spec.profiles])
    except regimport.RegImportError as exc:
        raise image_error(name, exc.text) from None
    return trees.hklm, trees.users


def _default_env(os_spec: OsSpec) -> dict[str, str]:
    env = {
        "SystemDrive": "C:",
        "SystemRoot": r"C:\Windows",
        "windir": r"C:\Windows",
        "ProgramFiles": r"C:\Program Files",
        "CommonProgramFiles": r"C:\Program Files\Common Files",
        "ProgramData": r"C:\ProgramData",
        "ALLUSERSPROFILE": r"C:\ProgramData",
        "PUBLIC": r"C:\Users\Public",
        "COMPUTERNAME": os_spec.hostname.upper(),
        "USERDOMAIN": os_spec.domain or os_spec.hostname.upper(),
        # WinRM runs the agent as the connecting admin: these are the admin's.
        "USERNAME": "Administrator",
        "USERPROFILE": r"C:\Users\Administrator",
        "APPDATA": r"C:\Users\Administrator\AppData\Roaming",
        "LOCALAPPDATA": r"C:\Users\Administrator\AppData\Local",
        "TEMP": r"C:\Users\Administrator\AppData\Local\Temp",
        "TMP": r"C:\Users\Administrator\AppData\Local\Temp",
    }
    if os_spec.arch != "x86":
        env["ProgramFiles(x86)"] = r"C:\Program Files (x86)"
        env["CommonProgramFiles(x86)"] = r"C:\Program Files (x86)\Common Files"
        env["ProgramW6432"] = r"C:\Program Files"
    return env


def expand_env(text: str, env: dict[str, str]) -> str:
    """Expand ``%VAR%`` like ExpandEnvironmentVariables: case-insensitive, unknown left as is."""
    lower = {k.lower(): v for k, v in env.items()}

    def repl(match: re.Match[str]) -> str:
        return lower.get(match.group(1).lower(), match.group(0))

    return re.sub(r"%([^%\\]+)%", repl, text)


def _apply_registry(root: KeyNode, spec: RegistrySpec, where: str) -> None:
    for path, values in spec.items():
        node = root.ensure(path)
        for value_name, value in values.items():
            try:
                node.set(value_name, encode_value(value))
            except ValueError as exc:
                raise image_error(where, T(
                    f"注册表键 '{path}' 的值 '{value_name}' 无效：{exc}",
                    f"registry '{path}' value '{value_name}': {exc}",
                )) from None


POWERSHELL_POLICY_KEY = r"SOFTWARE\Policies\Microsoft\Windows\PowerShell"


def execution_policy_registry(policy: str) -> RegistrySpec:
    """The values Group Policy's "Turn on Script Execution" writes for ``policy``.

    Enabled: ``EnableScripts`` = 1 and ``ExecutionPolicy`` = the policy name;
    Disabled (scripts not allowed, i.e. Restricted): ``EnableScripts`` = 0.
    """
    if policy == "Restricted":
        return {POWERSHELL_POLICY_KEY: {"EnableScripts": 0}}
    return {POWERSHELL_POLICY_KEY: {"EnableScripts": 1, "ExecutionPolicy": policy}}


def view_path(arch: str, view: int, path: str) -> str:
    """Where a key written in the ``view``-bit view of HKLM physically lives.

    The WOW64 registry redirector (:func:`fleetcheck.sim.wow64.physical_path`):
    on x64 a redirected key goes below ``WOW6432Node``, a shared key (e.g.
    ``SOFTWARE\\Policies``) stays where it is; native on x86. The redirected
    Classes subkeys are spelt ``SOFTWARE\\WOW6432Node\\Classes`` (the
    simulator's node for ``SOFTWARE\\Classes\\WOW6432Node``).
    """
    physical = wow64.physical_path(arch, "HKLM", path, 32 if view == 32 else 64)
    parts = split_path(physical)
    if (
        len(parts) >= 3
        and parts[0].lower() == "software"
        and parts[1].lower() == "classes"
        and parts[2].lower() == "wow6432node"
    ):
        return "\\".join([parts[0], parts[2], parts[1], *parts[3:]])
    return physical


def _file_from_spec(path: str, spec: FileSpec) -> SimFile:
    content: bytes | None = None
    if spec.content is not None:
        content = spec.content.encode("utf-8")
    elif spec.content_b64 is not None:
        content = base64.b64decode(spec.content_b64)
    size = spec.size if content is None else None
    if content is None and size is None:
        size = 262_144 if spec.version else 0
    return SimFile(path, content, size, spec.version, spec.product_version)


def apply_software(
    image: HostImage,
    registry: RegistrySpec,
    uninstall: dict[str, UninstallSpec],
    files: dict[str, FileSpec],
    activex: dict[str, ActiveXSpec],
    where: str,
) -> None:
    """Add registry keys, Uninstall entries, files and ActiveX registrations to an image.

    Used at load time and by ``run_installer`` (an installer's declared effect).
    """
    arch = image.os.arch
    _apply_registry(image.hklm, registry, where)
    for key_name, entry in uninstall.items():
        path = view_path(
            arch,
            entry.view,
            r"SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall" + "\\" + key_name,
        )
        node = image.hklm.ensure(path)
        for value_name, value in entry.model_dump(exclude={"view"}, exclude_none=True).items():
            node.set(value_name, encode_value(value))
    for path, fspec in files.items():
        full = expand_env(path, image.env)
        image.put_file(_file_from_spec(full, fspec))
    for clsid, ax in activex.items():
        base = view_path(arch, ax.view, r"SOFTWARE\Classes\CLSID" + "\\" + clsid)
        key = image.hklm.ensure(base)
        key.set("", RegValue(t="SZ", v=ax.name))
        server = image.hklm.ensure(base + r"\InprocServer32")
        full = expand_env(ax.file, image.env)
        server.set("", RegValue(t="SZ", v=full))
        server.set("ThreadingModel", RegValue(t="SZ", v="Apartment"))
        image.put_file(SimFile(full, None, 262_144, ax.version, ax.product_version or ax.version))
        if ax.codebase:
            unit = image.hklm.ensure(
                view_path(
                    arch,
                    ax.view,
                    r"SOFTWARE\Microsoft\Code Store Database\Distribution Units" + "\\" + clsid,
                )
            )
            unit.set("Installer", RegValue(t="SZ", v="MSICD"))
            unit.set("SystemComponent", RegValue(t="DWORD", v=0))
            image.hklm.ensure(
                view_path(
                    arch,
                    ax.view,
                    r"SOFTWARE\Microsoft\Code Store Database\Distribution Units"
                    + "\\"
                    + clsid
                    + r"\DownloadInformation",
                )
            ).set("CODEBASE", RegValue(t="SZ", v=ax.codebase))
            image.hklm.ensure(
                view_path(
                    arch,
                    ax.view,
                    r"SOFTWARE\Microsoft\Code Store Database\Distribution Units"
                    + "\\"
                    + clsid
                    + r"\InstalledVersion",
                )
            ).set("", RegValue(t="SZ", v=ax.version.replace(".", ",")))


def _profile_file_path(prof: ProfileSpec, path: str) -> str:
    if path.lower().startswith("{profile}"):
        return prof.path + path[len("{profile}") :]
    if re.match(r"^[A-Za-z]:|^\\\\", path):
        return path
    return prof.path + "\\" + path.lstrip("\\")


def user_appdata_raw(prof: UserProfile) -> str | None:
    """User Shell Folders\\AppData of the user's hive as stored (not expanded)."""
    node = prof.hive.find(USER_SHELL_FOLDERS_KEY)
    value = node.get("AppData") if node is not None else None
    if value is None or not isinstance(value.v, str) or value.t not in ("SZ", "EXPAND_SZ"):
        return None
    return value.v


def user_appdata_dir(image: HostImage, prof: UserProfile) -> str:
    """Where Windows keeps this user's Roaming AppData (FOLDERID_RoamingAppData).

    The User Shell Folders value expanded in the user's own environment
    (the shell does that at logon), the default when there is none.
    Raises ImageError when a variable is not the user's.
    """
    raw = user_appdata_raw(prof)
    text = raw if raw is not None and raw.strip() else DEFAULT_APPDATA
    folder = expand_env(text, image.user_env(prof)).strip()
    if _UNRESOLVED_VARIABLE.search(folder):
        raise image_error(f"profile {prof.sid}", T(
            f"AppData 文件夹 {raw!r} 含有该用户没有的环境变量",
            f"AppData folder {raw!r} has a variable the user does not have",
        ))
    return folder


def user_personal_store_dir(image: HostImage, prof: UserProfile) -> str:
    """The folder of the user's file-based Personal store (``CurrentUser\\My``):
    ``%APPDATA%\\Microsoft\\SystemCertificates\\My\\Certificates`` with the user's
    (possibly redirected) AppData. Where a certificate imported for that user lands."""
    return user_appdata_dir(image, prof).rstrip("\\") + "\\" + PERSONAL_STORE_SUBDIR


def agent_appdata(image: HostImage, prof: UserProfile) -> str | None:
    """The AppData folder as agent.ps1's Resolve-UserAppData reports it (Profile.appdata).

    Only %USERPROFILE%, %USERNAME% (the user's) and the machine-wide variables
    are expanded; None when another variable is left, or the hive is not loaded.
    """
    if not prof.loaded or not prof.path:
        return None
    raw = user_appdata_raw(prof)
    if raw is None or not raw.strip():
        return prof.path + r"\AppData\Roaming"
    env = {"USERPROFILE": prof.path}
    if prof.user:
        env["USERNAME"] = prof.user.rsplit("\\", 1)[-1]
    for name in MACHINE_WIDE_VARIABLES:
        machine = next((v for k, v in image.env.items() if k.lower() == name.lower()), None)
        if machine:
            env[name] = machine
    text = expand_env(raw, env)
    return None if _UNRESOLVED_VARIABLE.search(text) else text.strip()


def _install_certificate(image: HostImage, prof: UserProfile, spec: CertificateSpec) -> str:
    leaf = certgen.LeafSpec(
        cn=spec.cn, days_left=spec.days_left, issuer=spec.issuer, subject=dict(spec.subject)
    )
    der = certgen.leaf_certificate(leaf, image.now).public_bytes(Encoding.DER)
    thumb = certgen.thumbprint(der)
    blob = certgen.store_blob(der, spec.kind, spec.private_key)
    if spec.store == "registry":
        key = prof.hive.ensure(CERT_STORE_KEY + "\\" + thumb)
        key.set("Blob", RegValue(t="BINARY", v=base64.b64encode(blob).decode("ascii")))
    else:
        image.put_file(SimFile(user_personal_store_dir(image, prof) + "\\" + thumb, blob))
    return thumb


def build_image(spec: ImageSpec, name: str, now: datetime) -> HostImage:
    """Turn a validated spec into a live image (certificates made for ``now``)."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    o = spec.os
    env = _default_env(o)
    env.update(spec.env)
    imported_hklm, imported_users = _registry_imports(spec, name)
    image = HostImage(
        name=name,
        os=OsFacts(
            version=o.version,
            build=o.build,
            caption=o.caption,
            edition=o.edition,
            arch=o.arch,
            ps_version=o.ps_version,
            clr_version=o.clr_version,
            acp=o.acp,
            oem_cp=o.oem_cp,
            hostname=o.hostname,
            domain=o.domain,
            pending_reboot=o.pending_reboot,
            ie_version=o.ie_version,
            edge_version=o.edge_version,
        ),
        env=env,
        hklm=imported_hklm,
        profiles=[],
        files={},
        usb_devices=[d for d in spec.usb_devices if isinstance(d, str)]
        + [d.id for d in spec.usb_devices if not isinstance(d, str) and d.present],
        usb_phantoms=[d.id for d in spec.usb_devices if not isinstance(d, str) and not d.present],
        processes=[],
        tcp={k.strip().lower(): v for k, v in spec.tcp.items()},
        installers={normalize_file_path(expand_env(k, env)): v for k, v in spec.installers.items()},
        now=now,
        execution_policy_gpo=spec.execution_policy_gpo,
    )
    image.make_dir(expand_env(r"%SystemRoot%\Temp", env))  # always there on Windows
    for folder in spec.dirs:
        image.make_dir(expand_env(folder, env))
    if spec.execution_policy_gpo is not None:
        _apply_registry(image.hklm, execution_policy_registry(spec.execution_policy_gpo), name)
    apply_software(image, spec.registry, spec.uninstall, spec.files, spec.activex, name)
    if o.ie_version:
        ie = image.hklm.ensure(r"SOFTWARE\Microsoft\Internet Explorer")
        if ie.get("svcVersion") is None:
            ie.set("svcVersion", RegValue(t="SZ", v=o.ie_version))
            ie.set("Version", RegValue(t="SZ", v="9.11." + o.ie_version.split(".", 2)[-1]))
    if o.edge_version:
        edge_key = (
            EDGE_CLIENT_KEY if o.arch != "x86" else EDGE_CLIENT_KEY.replace("WOW6432Node\\", "")
        )
        image.hklm.ensure(edge_key).set("pv", RegValue(t="SZ", v=o.edge_version))
    for pspec in spec.profiles:
        prof = UserProfile(
            pspec.sid, pspec.user, pspec.path, pspec.loaded, pspec.console, pspec.interactive
        )
        if pspec.sid.upper() in imported_users:
            prof.hive = imported_users[pspec.sid.upper()]
        image.profiles.append(prof)
        plist = image.hklm.ensure(PROFILE_LIST_KEY + "\\" + pspec.sid)
        plist.set("ProfileImagePath", RegValue(t="EXPAND_SZ", v=pspec.path))
        prof.hive.ensure(CERT_STORE_KEY)  # every real user hive has an (often empty) My store
        # ...and its known folders; Windows writes AppData unexpanded (REG_EXPAND_SZ).
        prof.hive.ensure(USER_SHELL_FOLDERS_KEY).set(
            "AppData", RegValue(t="EXPAND_SZ", v=pspec.appdata or DEFAULT_APPDATA)
        )
        _apply_registry(prof.hive, pspec.registry, f"{name}: profile {pspec.sid}")
        for fpath, fspec in pspec.files.items():
            full = expand_env(_profile_file_path(pspec, fpath), image.user_env(prof))
            image.put_file(_file_from_spec(full, fspec))
        for cert in pspec.certificates:
            _install_certificate(image, prof, cert)
        # Every used profile has its file-based Personal store folder (CryptoAPI makes it on first
        # use), so importing a certificate adds a file there and removing it leaves the folder.
        with contextlib.suppress(ImageError):  # an AppData with a variable this user lacks: no folder
            image.make_dir(user_personal_store_dir(image, prof))
    for index, proc in enumerate(spec.processes):
        owner = None
        if proc.user:
            owner = next(
                (
                    p.sid
                    for p in image.profiles
                    if proc.user.lower() in (p.sid.lower(), (p.user or "").lower())
                ),
                None,
            )
            if owner is None:
                raise image_error(name, T(
                    f"进程 {proc.name} 以未知用户 {proc.user} 运行；请添加该用户的配置文件",
                    f"process {proc.name} runs as unknown user {proc.user}; add that profile",
                ))
        image.processes.append(ProcessEntry(proc.name, proc.pid or 5000 + 4 * index, owner))
    if o.arch != "x86":
        link_wow_classes(image.hklm)
    return image


def instantiate(
    source: str | Path, vars: dict[str, Any] | None = None, now: datetime | None = None
) -> HostImage:
    """Load an image (shipped name, path, or YAML text) and build a live PC from it.

    ``now`` is required in spirit: certificates' ``days_left`` count from it.
    (None means 2026-01-01 UTC, so pure code never reads the clock.)

    >>> img = instantiate("win10-compliant", {"hostname": "TRADE-PC07"},
    ...                   datetime(2026, 3, 1, tzinfo=timezone.utc))
    >>> img.os.hostname
    'TRADE-PC07'
    """
    spec = load_spec(source, vars)
    when = now or datetime(2026, 1, 1, tzinfo=timezone.utc)
    name = (
        source.stem
        if isinstance(source, Path)
        else (Path(source).stem if "\n" not in str(source) else "image")
    )
    return build_image(spec, name, when)


