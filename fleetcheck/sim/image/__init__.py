"""Host images: a YAML description of one simulated Windows PC, and its live model.

An image is written by hand, so it is short and forgiving; :func:`instantiate`
turns it into a :class:`HostImage` (registry trees, files, certificate stores,
devices...) that :mod:`fleetcheck.sim.executor` reads and changes exactly as
agent.ps1 would on the real PC.

Image format (every section optional except ``os``)::

    extends: win10-compliant          # start from another image (name in the shipped
                                      # images folder, or a path relative to this file)
    vars:                             # defaults for ${placeholders}
      operator: TRADE\\交易员01
      gateway_cert: "F00504Y0007#0"
    os: {version: 10.0.19045, build: 19045, caption: Microsoft Windows 10 专业版, arch: x64,
         ps_version: "5.1.19041.3803", clr_version: "4.0.30319.42000", acp: 936, oem_cp: 936,
         hostname: "${hostname}", domain: TRADE, ie_version: ..., edge_version: ...,
         pending_reboot: false}
    env: {TEMP: "C:\\Windows\\Temp"}  # machine environment (defaults follow from os.arch)
    registry:                         # HKLM: flat mapping "key path" -> values
      'SOFTWARE\\Policies\\Microsoft\\Edge':
        InternetExplorerIntegrationLevel: 1          # int    -> DWORD
        InternetExplorerIntegrationSiteList: C:\\x   # string -> SZ
        Servers: [a, b]                              # list   -> MULTI_SZ
        Raw: {t: BINARY, v: "AAEC"}                  # any type, contract encoding
        "": default value                            # "" is the key's default value
      'SOFTWARE\\Empty\\Key': {}                     # a key with no values
    activex:                          # sugar: CLSID registration + control file
      "{33BBBFD1-0A97-4339-9032-F68F19CB3030}":
        {name: CertEnroll Control, file: "%SystemRoot%\\Downloaded Program Files\\JITCertEnroll.ocx",
         version: 2.0.4.8, view: 32, codebase: https://biz.sccc.com/JITCertEnroll.cab}
    uninstall:                        # sugar: ...\\CurrentVersion\\Uninstall\\<key>
      ePass2003: {view: 32, DisplayName: ..., DisplayVersion: ..., Publisher: ...}
    files:
      'C:\\ProgramData\\fleetcheck\\sites.xml': {content: "<site-list ...>"}   # text (UTF-8)
      'C:\\x\\y.dll': {version: 1.2.3.4, product_version: 1.2.3.4, size: 123456}
      'C:\\x\\z.bin': {content_b64: "AAEC"}
    profiles:
      - sid: S-1-5-21-...-1013
        user: TRADE\\交易员01
        path: C:\\Users\\交易员01
        loaded: true                  # hive under HKEY_USERS
        console: true                 # Win32_ComputerSystem.UserName
        interactive: true             # owns an explorer.exe
        registry: {...}               # this user's hive (HKU\\<SID>), same form as above
        files: {'{profile}\\AppData\\...': {...}}   # or paths relative to the profile
        certificates:                 # turned into real X.509 by fleetcheck.sim.certgen
          - {cn: "${gateway_cert}", days_left: 200, kind: file, private_key: true,
             store: registry, issuer: SCCC Gateway CA (simulated),
             subject: {O: 深圳某某证券股份有限公司, OU: 交易部, C: CN}}
    usb_devices: ['USB\\VID_096E&PID_0807\\5&2A3F1C0&0&2', 'USB\\VID_096E&PID_0807&MI_00\\6&...',
                  {id: 'USB\\VID_096E&PID_0807\\5&2A3F1C0&0&1', present: false}]   # a phantom
    processes: [{name: TradeClient.exe, user: TRADE\\交易员01}]
    tcp: {"biz.sccc.com:443": {reachable: true, latency_ms: 35}}
    installers:                       # what run_installer of a path does
      '\\\\fileserver\\soft\\ePass2003-Setup.exe':
        {exit_code: 0, duration_ms: 20000, registry: {...}, uninstall: {...}, files: {...}}
    registry_import:                  # real registry data (fleetcheck.sim.regimport), in order,
      - {file: pc07-ie.reg, profile: "${operator_sid}"}          # before registry: above;
      - {hive: NTUSER.DAT.xz, mount: user, profile: "${operator_sid}"}   # paths relative to
      - {hive: SOFTWARE, mount: 'HKLM\\SOFTWARE'}                # this file

Overlays (``extends``): the child is merged into its parent. Mappings merge
key by key, case-insensitively (Windows names are); a ``null`` deletes: a
registry key path set to ``null`` removes that key and everything below it,
a value set to ``null`` removes the value, a file / uninstall entry / tcp
endpoint set to ``null`` disappears. ``profiles`` merge by ``sid``; every
other list (usb_devices, processes, certificates) is replaced as a whole.

Placeholders: ``${name}`` in any string or mapping key is replaced, as plain
text (never evaluated), by ``vars`` given to :func:`instantiate`, falling back
to the image's own ``vars:``. An unknown placeholder is an error.

Registry views: paths are literal, exactly like the contract (a 64-bit
process's spelling). An x64 image has Windows' two views
(:mod:`fleetcheck.sim.wow64`): redirected keys are separate trees under
``WOW6432Node``; each shared key (``SOFTWARE\\Policies``,
``...\\CurrentVersion\\Policies``, ``ProfileList``, ``SystemCertificates``, ...)
is one node seen under both ``SOFTWARE\\X`` and ``SOFTWARE\\WOW6432Node\\X``, and
``SOFTWARE\\Classes\\WOW6432Node`` is ``SOFTWARE\\WOW6432Node\\Classes``; the
loader links them (and merges a key written under both spellings). ``view: 32``
sugar (activex, uninstall) lands where the redirector puts a 32-bit write:
``WOW6432Node`` for a redirected key, the shared key itself for a shared one,
the native path on x86.

Certificates (``days_left`` relative to the ``now`` given to instantiate) are
stored the way Windows stores them: a serialized element (DER in property
0x20, key-provider info in property 2 — software CSP for ``kind: file``, the
token CSP for ``kind: hardware``, none when ``private_key: false``) in
``HKU\\<SID>\\Software\\Microsoft\\SystemCertificates\\My\\Certificates\\<THUMBPRINT>``
value ``Blob`` (``store: registry``) or in the file
``{profile}\\AppData\\Roaming\\Microsoft\\SystemCertificates\\My\\Certificates\\<THUMBPRINT>``
(``store: appdata``).

The loader also writes what Windows itself keeps in the registry and the agent
reads: ``ProfileList\\<SID>\\ProfileImagePath`` for every profile, and
``Internet Explorer\\svcVersion`` / Edge's ``pv`` from ``os``.

The package, along the sections of the format: :mod:`~fleetcheck.sim.image.spec`
(the YAML model and its JSON Schema), :mod:`~fleetcheck.sim.regtree` (registry
trees), :mod:`~fleetcheck.sim.image.live` (the live PC and its persisted state),
:mod:`~fleetcheck.sim.image.load` (files, ``extends``, placeholders, validation),
:mod:`~fleetcheck.sim.image.build` (a live PC from a validated image) and
:mod:`~fleetcheck.sim.image.regyaml` (``.reg`` exports to and from image YAML).
This module only re-exports them.
"""


from fleetcheck.sim.image.build import (
    agent_appdata,
    apply_software,
    build_image,
    expand_env,
    instantiate,
    user_appdata_dir,
    user_appdata_raw,
    user_personal_store_dir,
    view_path,
)
from fleetcheck.sim.image.live import (
    APPDATA_CERT_DIR,
    CERT_STORE_KEY,
    CM_PROB_PHANTOM,
    DEFAULT_APPDATA,
    EDGE_CLIENT_KEY,
    FIRST_WIN10_BUILD,
    MACHINE_WIDE_VARIABLES,
    PERSONAL_STORE_SUBDIR,
    PROFILE_LIST_KEY,
    STATE_FORMAT,
    USER_SHELL_FOLDERS_KEY,
    HostImage,
    ProcessEntry,
    SimFile,
    UserProfile,
    dump_state,
    link_wow_classes,
    normalize_file_path,
    parent_dir,
    utf16_string,
    wow_links,
)
from fleetcheck.sim.image.load import IMAGES_DIR, load_spec, shipped_images
from fleetcheck.sim.image.regyaml import (
    DEFAULT_USER_SID,
    OS_BASES,
    image_to_reg,
    image_yaml_from_reg,
    spec_trees,
    yaml_scalar,
)
from fleetcheck.sim.image.spec import (
    SCHEMA_FILE,
    ActiveXSpec,
    CertificateSpec,
    EndpointSpec,
    FileSpec,
    ImageError,
    ImageSpec,
    InstallerSpec,
    OsSpec,
    ProcessSpec,
    ProfileSpec,
    RegistryImportSpec,
    RegistrySpec,
    TypedValue,
    UninstallSpec,
    UsbDeviceSpec,
    ValueSpec,
    encode_value,
    image_error,
    image_schema,
)
from fleetcheck.sim.regtree import KeyNode, split_path

__all__ = [
    "APPDATA_CERT_DIR",
    "CERT_STORE_KEY",
    "CM_PROB_PHANTOM",
    "DEFAULT_APPDATA",
    "DEFAULT_USER_SID",
    "EDGE_CLIENT_KEY",
    "FIRST_WIN10_BUILD",
    "IMAGES_DIR",
    "MACHINE_WIDE_VARIABLES",
    "OS_BASES",
    "PERSONAL_STORE_SUBDIR",
    "PROFILE_LIST_KEY",
    "SCHEMA_FILE",
    "STATE_FORMAT",
    "USER_SHELL_FOLDERS_KEY",
    "ActiveXSpec",
    "CertificateSpec",
    "EndpointSpec",
    "FileSpec",
    "HostImage",
    "ImageError",
    "ImageSpec",
    "InstallerSpec",
    "KeyNode",
    "OsSpec",
    "ProcessEntry",
    "ProcessSpec",
    "ProfileSpec",
    "RegistryImportSpec",
    "RegistrySpec",
    "SimFile",
    "TypedValue",
    "UninstallSpec",
    "UsbDeviceSpec",
    "UserProfile",
    "ValueSpec",
    "agent_appdata",
    "apply_software",
    "build_image",
    "dump_state",
    "encode_value",
    "expand_env",
    "image_error",
    "image_schema",
    "image_to_reg",
    "image_yaml_from_reg",
    "instantiate",
    "link_wow_classes",
    "load_spec",
    "normalize_file_path",
    "parent_dir",
    "shipped_images",
    "spec_trees",
    "split_path",
    "user_appdata_dir",
    "user_appdata_raw",
    "user_personal_store_dir",
    "utf16_string",
    "view_path",
    "wow_links",
    "yaml_scalar",
]
