"""The WOW64 registry and file-system redirectors, as Microsoft documents them.

Pure functions, no I/O. On 64-bit Windows a 32-bit process (32-bit Internet
Explorer 11, which hosts the 32-bit ActiveX controls) sees a *logical view* of
the registry: some keys are redirected to a ``WOW6432Node`` physical location,
others are shared (one physical key in both views). This module answers
"where does the key that a process of this bitness opens physically live"
(:func:`physical_path`) and "which folder does a 32-bit process really open"
(:func:`fs_redirect`), for the Windows 7 and newer behaviour (no reflection).

Sources (Microsoft Learn; the same text is MicrosoftDocs/win32 on GitHub):

* "Registry Keys Affected by WOW64", table "Redirected, Shared, and Reflected
  Keys Under WOW", column "Windows Server 2008 R2, Windows 7, and Newer":
  https://learn.microsoft.com/en-us/windows/win32/winprog64/shared-registry-keys
  (desktop-src/WinProg64/shared-registry-keys.md). "Subkeys of the keys in this
  table inherit the parent key's behavior unless otherwise specified. If a key
  has no parent listed in this table, the key is shared." Section "Windows on
  Windows 64 (WOW64) Symbolic Links" for the Wow6432Node links.
* "Registry Redirector":
  https://learn.microsoft.com/en-us/windows/win32/winprog64/registry-redirector
  ("HKEY_LOCAL_MACHINE\\Software is redirected to
  HKEY_LOCAL_MACHINE\\Software\\Wow6432Node"; shared keys: "one physical copy of
  the key is mapped into each logical view").
* "File System Redirector":
  https://learn.microsoft.com/en-us/windows/win32/winprog64/file-system-redirector
  (%windir%\\System32 -> %windir%\\SysWOW64 for 32-bit x86 processes, with the
  exempt subfolders; %windir%\\Sysnative for the native folder).
* "WOW64 Implementation Details", section "Environment Variables":
  https://learn.microsoft.com/en-us/windows/win32/winprog64/wow64-implementation-details
  (a 32-bit process has ProgramFiles=%ProgramFiles(x86)%,
  CommonProgramFiles=%CommonProgramFiles(x86)%).

Model choice (not stated by Microsoft): a 64-bit process that opens the literal
path ``SOFTWARE\\WOW6432Node\\<shared key>`` is given the one shared key, so the
simulator keeps a single physical node for both spellings.
"""

from __future__ import annotations

from typing import Literal

View = Literal[32, 64]

# "Registry Keys Affected by WOW64", Windows 7+ column, every row below
# HKEY_LOCAL_MACHINE\SOFTWARE (itself "Redirected"), as paths relative to
# SOFTWARE. True = redirected, False = shared. The doc's row
# "SOFTWARE\Microsoft\SOFTWARE\Microsoft\Shared Tools\MSInfo" doubles its prefix
# (a typo in the page); it is read as SOFTWARE\Microsoft\Shared Tools\MSInfo.
HKLM_SOFTWARE_RULES: dict[str, bool] = {
    r"Classes": False,
    r"Classes\Appid": False,
    r"Classes\CLSID": True,
    r"Classes\DirectShow": True,
    r"Classes\HCP": False,
    r"Classes\Interface": True,
    r"Classes\Media Type": True,
    r"Classes\MediaFoundation": True,
    r"Clients": False,
    r"Microsoft\COM3": False,
    r"Microsoft\Cryptography\Calais\Current": False,
    r"Microsoft\Cryptography\Calais\Readers": False,
    r"Microsoft\Cryptography\Services": False,
    r"Microsoft\CTF\SystemShared": False,
    r"Microsoft\CTF\TIP": False,
    r"Microsoft\DFS": False,
    r"Microsoft\Driver Signing": False,
    r"Microsoft\EnterpriseCertificates": False,
    r"Microsoft\EventSystem": False,
    r"Microsoft\MSMQ": False,
    r"Microsoft\Non-Driver Signing": False,
    r"Microsoft\Notepad\DefaultFonts": False,
    r"Microsoft\OLE": False,
    r"Microsoft\RAS": False,
    r"Microsoft\RPC": False,
    r"Microsoft\Shared Tools\MSInfo": False,
    r"Microsoft\SystemCertificates": False,
    r"Microsoft\TermServLicensing": False,
    r"Microsoft\TransactionServer": False,
    r"Microsoft\Windows\CurrentVersion\App Paths": False,
    r"Microsoft\Windows\CurrentVersion\Control Panel\Cursors\Schemes": False,
    r"Microsoft\Windows\CurrentVersion\Explorer\AutoplayHandlers": False,
    r"Microsoft\Windows\CurrentVersion\Explorer\DriveIcons": False,
    r"Microsoft\Windows\CurrentVersion\Explorer\KindMap": False,
    r"Microsoft\Windows\CurrentVersion\Group Policy": False,
    r"Microsoft\Windows\CurrentVersion\Policies": False,
    r"Microsoft\Windows\CurrentVersion\PreviewHandlers": False,
    r"Microsoft\Windows\CurrentVersion\Setup": False,
    r"Microsoft\Windows\CurrentVersion\Telephony\Locations": False,
    r"Microsoft\Windows NT\CurrentVersion\Console": False,
    r"Microsoft\Windows NT\CurrentVersion\FontDpi": False,
    r"Microsoft\Windows NT\CurrentVersion\FontLink": False,
    r"Microsoft\Windows NT\CurrentVersion\FontMapper": False,
    r"Microsoft\Windows NT\CurrentVersion\Fonts": False,
    r"Microsoft\Windows NT\CurrentVersion\FontSubstitutes": False,
    r"Microsoft\Windows NT\CurrentVersion\Gre_Initialize": False,
    r"Microsoft\Windows NT\CurrentVersion\Image File Execution Options": False,
    r"Microsoft\Windows NT\CurrentVersion\Language Pack": False,
    r"Microsoft\Windows NT\CurrentVersion\NetworkCards": False,
    r"Microsoft\Windows NT\CurrentVersion\Perflib": False,
    r"Microsoft\Windows NT\CurrentVersion\Ports": False,
    r"Microsoft\Windows NT\CurrentVersion\Print": False,
    r"Microsoft\Windows NT\CurrentVersion\ProfileList": False,
    r"Microsoft\Windows NT\CurrentVersion\Time Zones": False,
    r"Policies": False,
    r"RegisteredApplications": False,
}

# HKEY_CURRENT_USER\SOFTWARE is shared; of HKCU\SOFTWARE\Classes (shared) these
# subkeys are redirected (same table, Windows 7+ column). HKCU is
# HKEY_USERS\<SID>, so this holds for every user hive.
HKCU_CLASSES_REDIRECTED: tuple[str, ...] = (
    "CLSID",
    "DirectShow",
    "Interface",
    "Media Type",
    "MediaFoundation",
)

# "Windows on Windows 64 (WOW64) Symbolic Links" (Windows 7+): link -> target,
# relative to HKLM.
HKLM_SYMLINKS: tuple[tuple[str, str], ...] = (
    (r"SOFTWARE\Wow6432Node\Classes", r"SOFTWARE\Classes\Wow6432Node"),
    (r"SOFTWARE\Classes\Wow6432Node\AppId", r"SOFTWARE\Classes\AppId"),
    (r"SOFTWARE\Classes\Wow6432Node\PROTOCOLS", r"SOFTWARE\Classes\PROTOCOLS"),
    (r"SOFTWARE\Classes\Wow6432Node\Typelib", r"SOFTWARE\Classes\Typelib"),
)

WOW_NODE = "WOW6432Node"


def _parts(path: str) -> list[str]:
    return [p for p in path.replace("/", "\\").split("\\") if p]


def _starts(parts: list[str], prefix: list[str]) -> bool:
    return len(parts) >= len(prefix) and all(
        a.lower() == b.lower() for a, b in zip(parts, prefix, strict=False)
    )


def _resolve_symlinks(parts: list[str]) -> list[str]:
    """Follow the documented Wow6432Node symbolic links (bounded: each at most once)."""
    for _ in range(len(HKLM_SYMLINKS) + 1):
        for link, target in HKLM_SYMLINKS:
            lp = _parts(link)
            if _starts(parts, lp):
                parts = _parts(target) + parts[len(lp) :]
                break
        else:
            return parts
    return parts


def _hklm_software_rule(rest: list[str]) -> tuple[bool, int]:
    """(redirected?, length of the matching table row) for SOFTWARE\\<rest>.

    The longest row that is a prefix of the path decides ("subkeys inherit the
    parent key's behavior"); no row: HKLM\\SOFTWARE's own rule, redirected.
    """
    best: tuple[bool, int] = (True, 0)
    for row, redirected in HKLM_SOFTWARE_RULES.items():
        rp = _parts(row)
        if len(rp) > best[1] and _starts(rest, rp):
            best = (redirected, len(rp))
    return best


def shared_hklm_roots() -> list[str]:
    """The shared keys below HKLM\\SOFTWARE outside Classes, as SOFTWARE\\... paths.

    These are the keys the simulator shows under both ``SOFTWARE\\X`` and
    ``SOFTWARE\\WOW6432Node\\X`` (one physical node).
    """
    return [
        "SOFTWARE\\" + row
        for row, redirected in HKLM_SOFTWARE_RULES.items()
        if not redirected and not row.lower().startswith("classes")
    ]


def physical_path(arch: str, hive: str, path: str, view: View) -> str:
    """Where the key ``hive\\path`` opened by a ``view``-bit process physically lives.

    ``hive`` is ``HKLM``, ``HKCU`` or ``HKU`` (``path`` then starts with the SID);
    the answer is a path in the same hive, in the spelling a 64-bit process
    would use to open the same physical key. On x86 Windows there is no
    redirection. A 64-bit process (``view=64``) opens literal paths, except
    that the documented Wow6432Node symbolic links are followed.

    >>> physical_path("x64", "HKLM", r"SOFTWARE\\Microsoft\\Internet Explorer", 32)
    'SOFTWARE\\\\WOW6432Node\\\\Microsoft\\\\Internet Explorer'
    >>> physical_path("x64", "HKLM", r"SOFTWARE\\Policies\\Microsoft\\Edge", 32)
    'SOFTWARE\\\\Policies\\\\Microsoft\\\\Edge'
    """
    parts = _parts(path)
    h = hive.upper()
    if arch == "x86" or not parts:
        return "\\".join(parts)
    if h in ("HKCU", "HKU"):
        return _user_physical_path(h, parts, view)
    if h != "HKLM":
        raise ValueError(f"unknown hive {hive!r}")
    if parts[0].lower() != "software":
        return "\\".join(parts)
    return _software_physical_path(parts, view)


def _user_physical_path(hive: str, parts: list[str], view: View) -> str:
    """:func:`physical_path` in a user hive: only some Software\\Classes subkeys are redirected."""
    lead = parts[:1] if hive == "HKU" else []
    rest = parts[1:] if hive == "HKU" else parts
    if (
        view == 32
        and len(rest) >= 3
        and rest[0].lower() == "software"
        and rest[1].lower() == "classes"
        and rest[2].lower() in {c.lower() for c in HKCU_CLASSES_REDIRECTED}
    ):
        rest = [*rest[:2], WOW_NODE, *rest[2:]]
    return "\\".join(lead + rest)


def _software_physical_path(parts: list[str], view: View) -> str:
    """:func:`physical_path` below HKLM\\SOFTWARE (``parts[0]`` is SOFTWARE)."""
    rest = parts[1:]
    if rest and rest[0].lower() == WOW_NODE.lower():
        # Already a WOW6432Node path: opened as written (links followed); a
        # shared key spelt under WOW6432Node is the shared key itself.
        tail = rest[1:]
        if tail and tail[0].lower() == "classes":
            return "\\".join(_resolve_symlinks(parts))
        if tail and not _hklm_software_rule(tail)[0]:
            return "\\".join(["SOFTWARE", *tail])
        return "\\".join(parts)
    if view == 64:
        return "\\".join(_resolve_symlinks(parts))
    redirected, depth = _hklm_software_rule(rest)
    if not redirected:
        return "\\".join(_resolve_symlinks(parts))
    if rest and rest[0].lower() == "classes" and depth >= 2:
        # Classes is shared; its redirected subkeys go below Classes\Wow6432Node.
        return "\\".join(["SOFTWARE", rest[0], WOW_NODE, *rest[1:]])
    return "\\".join(["SOFTWARE", WOW_NODE, *rest])


# "File System Redirector": subfolders of %windir%\System32 exempt from redirection.
FS_EXEMPT = ("catroot", "catroot2", "driverstore", r"drivers\etc", "logfiles", "spool")


def fs_redirect(arch: str, path: str, windir: str = r"C:\Windows") -> str:
    """The file a 32-bit process opening ``path`` really opens (File System Redirector).

    %windir%\\System32 -> %windir%\\SysWOW64 (exempt subfolders kept),
    %windir%\\lastgood\\System32 -> %windir%\\lastgood\\SysWOW64,
    %windir%\\regedit.exe -> %windir%\\SysWOW64\\regedit.exe and
    %windir%\\Sysnative -> %windir%\\System32; nothing on x86 Windows.
    """
    if arch == "x86":
        return path
    parts = _parts(path)
    base = _parts(windir)
    if not _starts(parts, base) or len(parts) <= len(base):
        return path
    rest = parts[len(base) :]
    head = rest[0].lower()
    if head == "sysnative":
        return "\\".join([*base, "System32", *rest[1:]])
    if head == "regedit.exe" and len(rest) == 1:
        return "\\".join([*base, "SysWOW64", "regedit.exe"])
    if head == "lastgood" and len(rest) >= 2 and rest[1].lower() == "system32":
        return "\\".join([*base, "lastgood", "SysWOW64", *rest[2:]])
    if head == "system32":
        sub = "\\".join(rest[1:]).lower()
        for exempt in FS_EXEMPT:
            if sub == exempt or sub.startswith(exempt + "\\"):
                return path
        return "\\".join([*base, "SysWOW64", *rest[1:]])
    return path


def wow32_env(arch: str, env: dict[str, str]) -> dict[str, str]:
    """The environment of a 32-bit process started from ``env`` (WOW64 Implementation Details)."""
    if arch == "x86":
        return dict(env)
    lower = {k.lower(): v for k, v in env.items()}
    out = dict(env)
    for name, source in (
        ("ProgramFiles", "programfiles(x86)"),
        ("CommonProgramFiles", "commonprogramfiles(x86)"),
    ):
        if source in lower:
            for key in [k for k in out if k.lower() == name.lower()]:
                del out[key]
            out[name] = lower[source]
    native_pf = lower.get("programw6432") or lower.get("programfiles")
    if native_pf is not None and "programw6432" not in lower:
        out["ProgramW6432"] = native_pf
    out["PROCESSOR_ARCHITECTURE"] = "x86"
    return out
