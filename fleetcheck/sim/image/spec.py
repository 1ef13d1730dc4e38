"""The image format as written in YAML: the pydantic models, the JSON Schema, value short forms.

See :mod:`fleetcheck.sim.image` for the format itself.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from fleetcheck.agent.contract import RegValue
from fleetcheck.i18n import Text
from fleetcheck.sim import certgen
from fleetcheck.yamlfile import Issue, UserFileError


class ImageError(UserFileError):
    """An image (or a simulator state) that cannot be used: each problem at ``file:line:col``.

    Problems found after the YAML is merged (a registry value, a user, a
    registry import) name the image without a position: :func:`image_error`.
    """


def image_error(where: str, message: Text) -> ImageError:
    """An :class:`ImageError` of one problem at ``where`` (an image, a profile, a state file)."""
    return ImageError([Issue(where, None, None, message)])


class _Spec(BaseModel):
    # Hand-written YAML says `DisplayVersion: 7.62` or `version: 2.0`: a number
    # where text is meant is taken as text.
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)


class TypedValue(_Spec):
    """A registry value with an explicit type, in the contract's encoding."""

    t: Literal["SZ", "EXPAND_SZ", "MULTI_SZ", "DWORD", "QWORD", "BINARY", "NONE"]
    v: int | str | list[str]


ValueSpec = TypedValue | int | str | list[str]
RegistrySpec = dict[str, dict[str, ValueSpec]]


class OsSpec(_Spec):
    version: str
    build: int
    caption: str
    edition: str | None = None
    arch: Literal["x86", "x64", "arm64"] = "x64"
    ps_version: str
    clr_version: str
    acp: int = 936
    oem_cp: int = 936
    hostname: str
    domain: str | None = None
    ie_version: str | None = None
    edge_version: str | None = None
    pending_reboot: bool = False


class FileSpec(_Spec):
    """A file: version info for binaries, content (UTF-8 text or base64) for data files."""

    version: str | None = None
    product_version: str | None = None
    size: int | None = Field(default=None, ge=0)
    content: str | None = None
    content_b64: str | None = None


class CertificateSpec(_Spec):
    cn: str
    days_left: float = 200
    issuer: str = certgen.DEFAULT_CA_NAME
    kind: Literal["file", "hardware"] = "file"
    private_key: bool = True
    store: Literal["registry", "appdata"] = "registry"
    subject: dict[str, str] = Field(default_factory=dict)

    @field_validator("subject")
    @classmethod
    def _known_attributes(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(certgen.SUBJECT_ATTRIBUTES))
        if unknown:
            raise ValueError(
                f"unknown subject attribute(s) {', '.join(unknown)}; "
                f"use {', '.join(certgen.SUBJECT_ATTRIBUTES)}"
            )
        return value


class UsbDeviceSpec(_Spec):
    """A device instance Windows knows; ``present: false`` is a phantom (not connected)."""

    id: str
    present: bool = True


class ProfileSpec(_Spec):
    sid: str = Field(pattern=r"^S-1-[0-9-]+$")
    user: str | None = None
    path: str
    # User Shell Folders\AppData (REG_EXPAND_SZ) in this user's hive, e.g.
    # 'D:\Redirected\%USERNAME%\AppData\Roaming' or '\\fs01\profiles$\%USERNAME%\AppData';
    # default %USERPROFILE%\AppData\Roaming, as Windows writes it.
    appdata: str | None = None
    loaded: bool = False
    console: bool = False
    interactive: bool = False
    registry: RegistrySpec = Field(default_factory=dict)
    files: dict[str, FileSpec] = Field(default_factory=dict)
    certificates: list[CertificateSpec] = Field(default_factory=list)


class ActiveXSpec(_Spec):
    name: str
    file: str
    version: str
    product_version: str | None = None
    view: Literal[32, 64] = 32
    codebase: str | None = None


class UninstallSpec(_Spec):
    model_config = ConfigDict(
        extra="allow", coerce_numbers_to_str=True
    )  # any further value: Publisher, InstallLocation...
    view: Literal[32, 64] = 64
    DisplayName: str
    DisplayVersion: str | None = None
    Publisher: str | None = None


class ProcessSpec(_Spec):
    name: str
    pid: int | None = None
    user: str | None = None  # a SID or a profile's DOMAIN\\name


class EndpointSpec(_Spec):
    reachable: bool = True
    latency_ms: int = Field(default=20, ge=0)
    refused: bool = False  # unreachable by RST (fast) rather than by timeout


class InstallerSpec(_Spec):
    exit_code: int = 0
    duration_ms: int = Field(default=30000, ge=0)
    registry: RegistrySpec = Field(default_factory=dict)
    uninstall: dict[str, UninstallSpec] = Field(default_factory=dict)
    files: dict[str, FileSpec] = Field(default_factory=dict)
    activex: dict[str, ActiveXSpec] = Field(default_factory=dict)


class RegistryImportSpec(_Spec):
    """Real registry data taken into the image; see :mod:`fleetcheck.sim.regimport`.

    ``file``: a .reg file (``reg export``, UTF-16, or REGEDIT4); its
    HKEY_CURRENT_USER keys go to ``profile``, HKEY_USERS\\<SID> to that profile.
    ``hive``: a saved hive (regf, may be .xz) replacing the key at ``mount``:
    ``user`` (the profile's whole hive), ``classes`` (its Software\\Classes,
    i.e. UsrClass.dat), ``user\\<key>``, or ``HKLM\\<key>`` (e.g. HKLM\\SOFTWARE);
    with ``key``, only that key of the hive (and its tree) is mounted there.
    Imports apply in order, before the image's own ``registry:`` and profiles'
    ``registry:`` (which may patch them).
    """

    file: str | None = None
    hive: str | None = None
    mount: str | None = None
    profile: str | None = None
    key: str | None = None  # take only this key of the hive (e.g. Software\\...\\Internet Settings)


class ImageSpec(_Spec):
    """One simulated PC as written in YAML (after ``extends`` and placeholders)."""

    description: str | None = None
    vars: dict[str, str | int] = Field(default_factory=dict)
    os: OsSpec
    env: dict[str, str] = Field(default_factory=dict)
    registry: RegistrySpec = Field(default_factory=dict)
    activex: dict[str, ActiveXSpec] = Field(default_factory=dict)
    uninstall: dict[str, UninstallSpec] = Field(default_factory=dict)
    files: dict[str, FileSpec] = Field(default_factory=dict)
    profiles: list[ProfileSpec] = Field(default_factory=list)
    usb_devices: list[str | UsbDeviceSpec] = Field(default_factory=list)
    processes: list[ProcessSpec] = Field(default_factory=list)
    tcp: dict[str, EndpointSpec] = Field(default_factory=dict)
    installers: dict[str, InstallerSpec] = Field(default_factory=dict)
    registry_import: list[RegistryImportSpec] = Field(default_factory=list)
    # Folders that exist with nothing in them (a file's folders always exist).
    dirs: list[str] = Field(default_factory=list)
    # A Group Policy "Turn on Script Execution" (MachinePolicy scope); it
    # overrides powershell.exe -ExecutionPolicy for script files (-File).
    execution_policy_gpo: Literal["AllSigned", "RemoteSigned", "Unrestricted", "Bypass", "Restricted"] | None = None


SCHEMA_FILE = Path(__file__).resolve().parent.parent / "image.schema.json"


def image_schema() -> dict[str, Any]:
    """JSON Schema of the image format, for editors and docs.

    Shipped as ``fleetcheck/sim/image.schema.json`` (a test keeps it in sync);
    point an editor at it with ``# yaml-language-server: $schema=<path>``.
    It describes one file: an overlay (``extends``) may leave out what its
    parent provides, so ``os`` is only required after merging.
    """
    schema: dict[str, Any] = _as_file_schema(ImageSpec.model_json_schema())
    schema["title"] = "fleetcheck simulated PC image"
    schema["properties"]["extends"] = {"type": "string", "description": "image this one overlays"}
    return schema


def _as_file_schema(node: Any) -> Any:
    """Loosen the merged-image schema into one for a single file, as the loader reads it.

    Overlays omit what the parent has (no ``required``), delete with ``null``;
    any scalar may be a ``${placeholder}`` string, and numbers stand for text
    (``DisplayVersion: 7.62``). Unknown keys stay errors: that is what an
    editor should catch.
    """
    if isinstance(node, list):
        return [_as_file_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: _as_file_schema(v) for k, v in node.items() if k != "required"}
    kind = out.get("type")
    if kind in ("integer", "number", "boolean"):
        out["type"] = [kind, "string"]
    elif kind == "string" and "pattern" in out:
        out["pattern"] = f"(?:{out['pattern']})|\\$\\{{"  # or a placeholder
    elif kind == "string" and "enum" not in out:
        out["type"] = ["string", "number"]
    if isinstance(out.get("additionalProperties"), dict):
        out["additionalProperties"] = {"anyOf": [out["additionalProperties"], {"type": "null"}]}
    if isinstance(out.get("properties"), dict) and "title" in out:
        out["properties"] = {
            name: {"anyOf": [sub, {"type": "null"}]} for name, sub in out["properties"].items()
        }
    return out


def encode_value(spec: ValueSpec) -> RegValue:
    """The short YAML forms of a registry value, as the contract's RegValue.

    >>> encode_value(1).t, encode_value("x").t, encode_value(["a"]).t
    ('DWORD', 'SZ', 'MULTI_SZ')
    """
    if isinstance(spec, TypedValue):
        value = spec.v
        if spec.t in ("DWORD", "QWORD"):
            if not isinstance(value, int):
                raise ValueError(f"{spec.t} needs an integer, got {value!r}")
            limit = 2**32 if spec.t == "DWORD" else 2**64
            value = value % limit  # negatives as Windows stores them: unsigned
        elif spec.t in ("BINARY", "NONE"):
            if not isinstance(value, str):
                raise ValueError(f"{spec.t} needs base64 text")
            base64.b64decode(value, validate=True)
        elif spec.t == "MULTI_SZ":
            value = [value] if isinstance(value, str) else value
            if not isinstance(value, list):
                raise ValueError("MULTI_SZ needs a list of strings")
        elif not isinstance(value, str):
            value = str(value)
        return RegValue(t=spec.t, v=value)
    if isinstance(spec, bool):
        return RegValue(t="DWORD", v=int(spec))
    if isinstance(spec, int):
        if 0 <= spec < 2**32:
            return RegValue(t="DWORD", v=spec)
        if -(2**31) <= spec < 0:
            return RegValue(t="DWORD", v=spec % 2**32)
        return RegValue(t="QWORD", v=spec % 2**64)
    if isinstance(spec, list):
        return RegValue(t="MULTI_SZ", v=[str(item) for item in spec])
    return RegValue(t="SZ", v=str(spec))


