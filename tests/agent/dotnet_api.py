"""The .NET Framework 2.0/3.5 public API, read from Mono's reference assemblies.

Debian's ``mono-devel`` ships ``usr/lib/mono/2.0-api``: metadata-only assemblies
whose public surface is that of .NET 2.0 SP2 with the 3.5 additions
(System.Core 3.5.0.0, System.Xml.Linq, System.Web.Extensions 3.5...), the
framework every Windows 7 PC has. This module reads their metadata tables with
``dnfile`` and keeps, per public type, what PowerShell can reach: constructors,
methods (with how many arguments each overload takes and what it returns),
properties (from their ``get_``/``set_`` accessors), fields, the base type and
the interfaces.

Only the ECMA-335 signature blobs are decoded here (dnfile leaves them raw):
the parameter count and the return type are all a PowerShell call needs.

Example::

    api = ApiModel.load(folder)
    api.type("System.String").static_methods("IsNullOrEmpty")
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import dnfile

# Framework assemblies of .NET 2.0/3.5 (Mono's 2.0-api folder also carries Mono's
# own and later out-of-band libraries, e.g. System.Json or System.Reactive: left out).
FRAMEWORK_ASSEMBLIES = (
    "mscorlib",
    "System",
    "System.Core",
    "System.Xml",
    "System.Xml.Linq",
    "System.Data",
    "System.Data.DataSetExtensions",
    "System.Security",
    "System.Management",
    "System.Configuration",
    "System.Configuration.Install",
    "System.DirectoryServices",
    "System.DirectoryServices.Protocols",
    "System.ServiceProcess",
    "System.Transactions",
    "System.Web",
    "System.Web.Extensions",
    "System.Web.Services",
    "System.Runtime.Serialization",
    "System.Runtime.Remoting",
    "System.ServiceModel",
    "System.IdentityModel",
    "System.Drawing",
    "System.Windows.Forms",
    "System.Net",
    "System.EnterpriseServices",
    "System.Messaging",
    "Microsoft.VisualBasic",
    "WindowsBase",
)

# The folders (relative to the extracted package) that hold the reference assemblies.
API_FOLDERS = ("usr/lib/mono/2.0-api", "usr/lib/mono/3.5-api")

# ECMA-335 II.23.1.16 element types that name a type by themselves.
_PRIMITIVES = {
    0x01: "System.Void",
    0x02: "System.Boolean",
    0x03: "System.Char",
    0x04: "System.SByte",
    0x05: "System.Byte",
    0x06: "System.Int16",
    0x07: "System.UInt16",
    0x08: "System.Int32",
    0x09: "System.UInt32",
    0x0A: "System.Int64",
    0x0B: "System.UInt64",
    0x0C: "System.Single",
    0x0D: "System.Double",
    0x0E: "System.String",
    0x16: "System.TypedReference",
    0x18: "System.IntPtr",
    0x19: "System.UIntPtr",
    0x1C: "System.Object",
}

_PUBLIC_METHOD = 0x0006  # MethodAttributes.Public under MemberAccessMask 0x0007
_STATIC = 0x0010
_SPECIAL_NAME = 0x0800
_PARAM_OPTIONAL = 0x0010
_PARAM_HAS_DEFAULT = 0x1000
_TYPE_INTERFACE = 0x0020


@dataclass(frozen=True)
class Method:
    """One overload: how many arguments it takes and what it returns."""

    name: str
    static: bool
    params: int
    required: int
    variadic: bool  # the last parameter is a ``params`` array
    returns: str | None  # full type name, None when generic or unknown

    def accepts(self, arity: int) -> bool:
        if self.variadic:
            return arity >= self.params - 1
        return self.required <= arity <= self.params


@dataclass(frozen=True)
class Value:
    """A property or a field."""

    name: str
    static: bool
    type: str | None
    indexed: bool = False


@dataclass
class TypeInfo:
    full_name: str
    assembly: str
    interface: bool
    base: str | None
    interfaces: list[str] = field(default_factory=list)
    ctors: list[Method] = field(default_factory=list)
    methods: dict[str, list[Method]] = field(default_factory=dict)  # lower-case name
    values: dict[str, list[Value]] = field(default_factory=dict)  # lower-case name
    generic_params: int = 0


class _Blob:
    """A cursor over a signature blob (ECMA-335 II.23.2)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        value = self.data[self.pos]
        self.pos += 1
        return value

    def peek(self) -> int:
        return self.data[self.pos]

    def uint(self) -> int:
        first = self.byte()
        if first & 0x80 == 0:
            return first
        if first & 0xC0 == 0x80:
            return ((first & 0x3F) << 8) | self.byte()
        rest = self.data[self.pos : self.pos + 3]
        self.pos += 3
        return ((first & 0x1F) << 24) | (rest[0] << 16) | (rest[1] << 8) | rest[2]


class _Assembly:
    """One assembly's metadata, with names resolved to full type names."""

    def __init__(self, path: Path) -> None:
        self.name = path.stem
        self.pe = dnfile.dnPE(str(path))
        net = self.pe.net
        if net is None or net.mdtables is None:
            raise ValueError(f"{path} has no .NET metadata")
        self.md = net.mdtables
        row = self.md.Assembly[0] if self.md.Assembly else None
        self.version = (
            "0.0.0.0"
            if row is None
            else f"{row.MajorVersion}.{row.MinorVersion}.{row.BuildNumber}.{row.RevisionNumber}"
        )
        self._typedef_names: dict[int, str] = {}
        self._enclosing: dict[int, int] = {}
        for row in self.md.NestedClass or []:
            self._enclosing[row.NestedClass.row_index] = row.EnclosingClass.row_index

    # ----------------------------------------------------------------- names

    def typedef_name(self, index: int) -> str:
        if index not in self._typedef_names:
            row = self.md.TypeDef[index - 1]
            name = str(row.TypeName)
            if index in self._enclosing:
                full = self.typedef_name(self._enclosing[index]) + "+" + name
            else:
                namespace = str(row.TypeNamespace or "")
                full = f"{namespace}.{name}" if namespace else name
            self._typedef_names[index] = full
        return self._typedef_names[index]

    def typeref_name(self, index: int, depth: int = 0) -> str:
        row = self.md.TypeRef[index - 1]
        name = str(row.TypeName)
        scope = row.ResolutionScope
        if scope is not None and depth < 16 and type(scope.table).__name__ == "TypeRef":
            return self.typeref_name(scope.row_index, depth + 1) + "+" + name
        namespace = str(row.TypeNamespace or "")
        return f"{namespace}.{name}" if namespace else name

    def coded_type_name(self, value: int) -> str | None:
        """A TypeDefOrRefOrSpecEncoded value (II.23.2.8) as a full name."""
        tag, index = value & 3, value >> 2
        if index == 0:
            return None
        if tag == 0:
            return self.typedef_name(index)
        if tag == 1:
            return self.typeref_name(index)
        return None  # a TypeSpec: a generic instance or an array, not needed here

    def index_type_name(self, coded: object) -> str | None:
        """A dnfile coded index (TypeDefOrRef) as a full name."""
        if coded is None:
            return None
        table = type(getattr(coded, "table", None)).__name__
        index = int(getattr(coded, "row_index", 0))
        if index == 0:
            return None
        if table == "TypeDef":
            return self.typedef_name(index)
        if table == "TypeRef":
            return self.typeref_name(index)
        return None

    # ------------------------------------------------------------ signatures

    def read_type(self, blob: _Blob, depth: int = 0) -> str | None:
        """One Type (II.23.2.12) as a full name; None for generic parameters and pointers."""
        if depth > 32:
            return None
        kind = blob.byte()
        while kind in (0x1F, 0x20):  # CMOD_REQD / CMOD_OPT TypeDefOrRefEncoded
            blob.uint()
            kind = blob.byte()
        if kind in _PRIMITIVES:
            return _PRIMITIVES[kind]
        if kind == 0x10:  # BYREF
            return self.read_type(blob, depth + 1)
        if kind in (0x11, 0x12):  # VALUETYPE / CLASS
            return self.coded_type_name(blob.uint())
        if kind == 0x1D:  # SZARRAY
            element = self.read_type(blob, depth + 1)
            return None if element is None else element + "[]"
        return self._read_constructed_type(kind, blob, depth)

    def _read_constructed_type(self, kind: int, blob: _Blob, depth: int) -> str | None:
        """The rest of read_type's element types: generic parameters, pointers, arrays, generic instances."""
        if kind in (0x13, 0x1E):  # VAR / MVAR
            blob.uint()
            return None
        if kind == 0x0F:  # PTR
            self.read_type(blob, depth + 1)
            return None
        if kind == 0x14:  # ARRAY: type rank numSizes sizes numLoBounds loBounds
            element = self.read_type(blob, depth + 1)
            rank = blob.uint()
            for _ in range(blob.uint()):
                blob.uint()
            for _ in range(blob.uint()):
                blob.uint()
            return None if element is None else element + "[" + "," * (rank - 1) + "]"
        if kind == 0x15:  # GENERICINST (CLASS|VALUETYPE) TypeDefOrRefEncoded n Type*
            blob.byte()
            generic = self.coded_type_name(blob.uint())
            for _ in range(blob.uint()):
                self.read_type(blob, depth + 1)
            return generic
        if kind == 0x1B:  # FNPTR
            self.read_method_sig(blob, depth + 1)
            return None
        raise ValueError(f"unknown element type 0x{kind:02x}")

    def read_method_sig(self, blob: _Blob, depth: int = 0) -> tuple[int, str | None]:
        """(parameter count, return type) of a MethodDefSig (II.23.2.1)."""
        flags = blob.byte()
        if flags & 0x10:  # GENERIC
            blob.uint()
        count = blob.uint()
        returns = self.read_type(blob, depth)
        return count, returns

    # ------------------------------------------------------------------ read

    def param_arrays(self) -> set[int]:
        """Param rows carrying [ParamArray]."""
        ctor_owner: dict[int, str] = {}
        for type_index, row in enumerate(self.md.TypeDef or [], start=1):
            for method in row.MethodList or []:
                ctor_owner[method.row_index] = self.typedef_name(type_index)
        found: set[int] = set()
        for row in self.md.CustomAttribute or []:
            parent = row.Parent
            if type(parent.table).__name__ != "Param":
                continue
            ctor = row.Type
            owner: str | None = None
            if type(ctor.table).__name__ == "MethodDef":
                owner = ctor_owner.get(ctor.row_index)
            elif type(ctor.table).__name__ == "MemberRef":
                owner = self.index_type_name(self.md.MemberRef[ctor.row_index - 1].Class)
            if owner == "System.ParamArrayAttribute":
                found.add(parent.row_index)
        return found

    def types(self) -> Iterable[TypeInfo]:
        variadic_params = self.param_arrays()
        interfaces: dict[int, list[str]] = {}
        for row in self.md.InterfaceImpl or []:
            name = self.index_type_name(row.Interface)
            if name is not None:
                interfaces.setdefault(row.Class.row_index, []).append(name)
        generic_counts: dict[int, int] = {}
        for row in self.md.GenericParam or []:
            if type(row.Owner.table).__name__ == "TypeDef":
                generic_counts[row.Owner.row_index] = generic_counts.get(row.Owner.row_index, 0) + 1
        properties: dict[int, set[str]] = {}
        for row in self.md.PropertyMap or []:
            names = {str(p.row.Name) for p in row.PropertyList or []}
            properties[row.Parent.row_index] = names
        for type_index, row in enumerate(self.md.TypeDef or [], start=1):
            if not self._is_public(type_index):
                continue
            flags = int(row.struct.Flags)
            info = TypeInfo(
                full_name=self.typedef_name(type_index),
                assembly=self.name,
                interface=bool(flags & _TYPE_INTERFACE),
                base=self.index_type_name(row.Extends),
                interfaces=interfaces.get(type_index, []),
                generic_params=generic_counts.get(type_index, 0),
            )
            declared = {name.lower() for name in properties.get(type_index, set())}
            for method_index in row.MethodList or []:
                self._add_method(info, method_index.row, variadic_params, declared)
            for field_index in row.FieldList or []:
                frow = field_index.row
                fflags = int(frow.struct.Flags)
                if fflags & 0x0007 != _PUBLIC_METHOD:
                    continue
                blob = _Blob(bytes(frow.Signature.value))
                blob.byte()  # FIELD (0x06)
                ftype = self.read_type(blob)
                name = str(frow.Name)
                info.values.setdefault(name.lower(), []).append(
                    Value(name, bool(fflags & _STATIC), ftype)
                )
            yield info

    def _is_public(self, type_index: int) -> bool:
        for _ in range(16):
            visibility = int(self.md.TypeDef[type_index - 1].struct.Flags) & 0x7
            if type_index not in self._enclosing:
                return visibility == 1
            if visibility != 2:
                return False
            type_index = self._enclosing[type_index]
        return False

    def _add_method(
        self, info: TypeInfo, row: object, variadic_params: set[int], declared: set[str]
    ) -> None:
        flags = int(row.struct.Flags)  # type: ignore[attr-defined]
        if flags & 0x0007 != _PUBLIC_METHOD:
            return
        name = str(row.Name)  # type: ignore[attr-defined]
        count, returns = self.read_method_sig(_Blob(bytes(row.Signature.value)))  # type: ignore[attr-defined]
        required = count
        variadic = False
        for param in row.ParamList or []:  # type: ignore[attr-defined]
            prow = param.row
            if int(prow.Sequence) == 0:
                continue
            pflags = int(prow.struct.Flags)
            if pflags & (_PARAM_OPTIONAL | _PARAM_HAS_DEFAULT):
                required = min(required, int(prow.Sequence) - 1)
            if param.row_index in variadic_params and int(prow.Sequence) == count:
                variadic = True
        static = bool(flags & _STATIC)
        method = Method(name, static, count, required, variadic, returns)
        if name == ".ctor":
            info.ctors.append(method)
            return
        if name == ".cctor":
            return
        info.methods.setdefault(name.lower(), []).append(method)
        if flags & _SPECIAL_NAME and name[:4] in ("get_", "set_") and name[4:].lower() in declared:
            prop = name[4:]
            if name.startswith("get_"):
                value = Value(prop, static, returns, indexed=count > 0)
            else:
                value = Value(prop, static, None, indexed=count > 1)
            info.values.setdefault(prop.lower(), []).append(value)


class ApiModel:
    """Every public type of the framework assemblies, by lower-case full name."""

    def __init__(
        self, types: dict[str, TypeInfo], assemblies: list[str], versions: dict[str, str]
    ) -> None:
        self.types = types
        self.assemblies = assemblies
        self.versions = versions  # lower-case assembly name -> its version, "3.5.0.0"

    @classmethod
    def load(cls, root: Path) -> ApiModel:
        """Read the reference assemblies below ``root`` (an extracted mono-devel).

        Reading all of them takes seconds; the result is kept beside them as JSON,
        keyed by the assemblies' sizes and times and by this module's source.
        """
        paths = assembly_paths(root)
        if not paths:
            raise FileNotFoundError(f"no reference assemblies below {root}")
        key = hashlib.sha256(Path(__file__).read_bytes())
        for path in paths:
            stat = path.stat()
            key.update(f"{path.name}:{stat.st_size}:{stat.st_mtime_ns};".encode())
        cache = root / f"api-model-{key.hexdigest()[:16]}.json"
        if cache.is_file():
            try:
                return cls.from_json(json.loads(cache.read_text(encoding="utf-8")))
            except (ValueError, KeyError, TypeError):
                pass  # a damaged cache: read the assemblies again
        types: dict[str, TypeInfo] = {}
        versions: dict[str, str] = {}
        for path in paths:
            assembly = _Assembly(path)
            versions[assembly.name.lower()] = assembly.version
            for info in assembly.types():
                types.setdefault(info.full_name.lower(), info)
        model = cls(types, [p.stem for p in paths], versions)
        try:
            for stale in root.glob("api-model-*.json"):
                stale.unlink()  # made by another version of this module
            partial = cache.with_suffix(f".{os.getpid()}.tmp")
            partial.write_text(json.dumps(model.to_json()), encoding="utf-8")
            partial.replace(cache)
        except OSError:
            pass  # a read-only cache folder: just slower next time
        return model

    def to_json(self) -> dict[str, object]:
        return {
            "assemblies": self.assemblies,
            "versions": self.versions,
            "types": [asdict(t) for t in self.types.values()],
        }

    @classmethod
    def from_json(cls, data: dict[str, object]) -> ApiModel:
        types: dict[str, TypeInfo] = {}
        for raw in data["types"]:  # type: ignore[attr-defined]
            info = TypeInfo(
                full_name=raw["full_name"],
                assembly=raw["assembly"],
                interface=raw["interface"],
                base=raw["base"],
                interfaces=list(raw["interfaces"]),
                ctors=[Method(**m) for m in raw["ctors"]],
                methods={k: [Method(**m) for m in v] for k, v in raw["methods"].items()},
                values={k: [Value(**m) for m in v] for k, v in raw["values"].items()},
                generic_params=raw["generic_params"],
            )
            types[info.full_name.lower()] = info
        return cls(
            types,
            list(data["assemblies"]),  # type: ignore[call-overload]
            dict(data["versions"]),  # type: ignore[call-overload]
        )

    def get(self, full_name: str) -> TypeInfo | None:
        return self.types.get(full_name.lower())

    def lineage(self, full_name: str) -> list[TypeInfo]:
        """The type, its base types and (for interfaces and classes) its interfaces."""
        seen: set[str] = set()
        order: list[TypeInfo] = []
        pending = [full_name]
        while pending and len(order) < 256:
            name = pending.pop(0)
            if name.lower() in seen:
                continue
            seen.add(name.lower())
            info = self.get(name)
            if info is None:
                continue
            order.append(info)
            if info.base:
                pending.append(info.base)
            pending.extend(info.interfaces)
        if order and order[0].interface and "system.object" not in seen:
            obj = self.get("System.Object")
            if obj is not None:
                order.append(obj)
        return order

    def reachable(self, full_name: str, *, static: bool) -> list[TypeInfo]:
        """Where PowerShell 2.0 finds a member: the class and its base classes (members a
        class implements explicitly for an interface are not reachable by name), or,
        for an interface type, the interface, the interfaces it extends and Object."""
        lineage = self.lineage(full_name)
        if not lineage:
            return []
        if lineage[0].interface and not static:
            return lineage
        return [info for info in lineage if not info.interface]

    def methods(self, full_name: str, name: str, *, static: bool) -> list[Method]:
        """Overloads named ``name``, static or instance, where PowerShell finds them."""
        found: list[Method] = []
        for info in self.reachable(full_name, static=static):
            found.extend(m for m in info.methods.get(name.lower(), []) if m.static == static)
        return found

    def values(self, full_name: str, name: str, *, static: bool) -> list[Value]:
        found: list[Value] = []
        for info in self.reachable(full_name, static=static):
            found.extend(v for v in info.values.get(name.lower(), []) if v.static == static)
        return found

    def is_a(self, full_name: str, ancestor: str) -> bool:
        return any(info.full_name.lower() == ancestor.lower() for info in self.lineage(full_name))


# ------------------------------------------------------------------ fetching


def assembly_paths(root: Path) -> list[Path]:
    paths: list[Path] = []
    seen: set[str] = set()
    for folder in API_FOLDERS:
        for name in FRAMEWORK_ASSEMBLIES:
            path = root / folder / f"{name}.dll"
            if path.is_file() and name.lower() not in seen:
                seen.add(name.lower())
                paths.append(path)
    return paths


def default_cache() -> Path:
    """Where the extracted package lives: $FLEETCHECK_MONO_API or the user's cache."""
    configured = os.environ.get("FLEETCHECK_MONO_API")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "fleetcheck-test" / "mono-2.0-api"


def is_complete(root: Path) -> bool:
    return (root / API_FOLDERS[0] / "mscorlib.dll").is_file() and (
        root / API_FOLDERS[0] / "System.dll"
    ).is_file()


FETCH_SCRIPT = Path(__file__).with_name("fetch_mono_api.sh")


def fetch(root: Path, *, timeout: float = 900.0) -> str | None:
    """Download mono-devel and extract its API folders into ``root`` (fetch_mono_api.sh).

    Returns None on success, else why it could not (no apt-get, no network...).
    Nothing is installed: ``apt-get download`` + ``dpkg-deb -x`` into a folder.
    """
    if is_complete(root):
        return None
    if shutil.which("bash") is None:
        return "bash not available"
    try:
        run = subprocess.run(
            ["bash", str(FETCH_SCRIPT), str(root)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{FETCH_SCRIPT.name} failed: {exc}"
    if run.returncode != 0 or not is_complete(root):
        return (run.stderr.strip() or f"{FETCH_SCRIPT.name} exited {run.returncode}")[-400:]
    return None
