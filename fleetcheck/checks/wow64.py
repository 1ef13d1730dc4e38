"""Which physical registry key 32-bit Internet Explorer opens, as the checks read it. Pure.

On 64-bit Windows the IE 11 content process that hosts the SCCC portal's 32-bit
ActiveX controls is a 32-bit (WOW64) process, and the registry redirector maps
its view of some keys to ``WOW6432Node`` (docs/windows-semantics.md W01-W04;
source: "Registry Keys Affected by WOW64", Microsoft Learn, table "Redirected,
Shared, and Reflected Keys Under WOW", column "Windows Server 2008 R2,
Windows 7, and Newer"). The agent runs 64-bit and reads literal paths, so a
check that wants what IE sees asks for the physical key this module names.

Rules (subkeys inherit their parent's behaviour unless listed themselves):

* ``HKLM\\SOFTWARE`` is redirected to ``HKLM\\SOFTWARE\\WOW6432Node``, except the
  shared keys of :data:`SHARED_HKLM_SOFTWARE` (``SOFTWARE\\Policies``,
  ``SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Policies``, ``SOFTWARE\\Classes``...);
* under the shared ``SOFTWARE\\Classes`` (HKLM) and ``Software\\Classes`` (HKCU),
  ``CLSID``, ``DirectShow``, ``Interface``, ``Media Type`` and ``MediaFoundation``
  are redirected to ``Classes\\WOW6432Node\\<key>``;
* the rest of ``HKCU`` (``HKU\\<SID>``) is shared;
* a 32-bit OS has no redirection (its IE is the only view).

This module is the checks' copy of the rule; the simulator has its own
(:mod:`fleetcheck.sim.wow64`), and the differential test holds both to the
same source.
"""

from __future__ import annotations

from functools import cache
from typing import Literal

Hive = Literal["HKLM", "HKU"]

#: Shared keys below HKLM\SOFTWARE (Windows 7 and newer), lower case.
SHARED_HKLM_SOFTWARE: tuple[str, ...] = tuple(
    p.lower()
    for p in (
        r"SOFTWARE\Classes",
        r"SOFTWARE\Clients",
        r"SOFTWARE\Microsoft\COM3",
        r"SOFTWARE\Microsoft\Cryptography\Calais\Current",
        r"SOFTWARE\Microsoft\Cryptography\Calais\Readers",
        r"SOFTWARE\Microsoft\Cryptography\Services",
        r"SOFTWARE\Microsoft\CTF\SystemShared",
        r"SOFTWARE\Microsoft\CTF\TIP",
        r"SOFTWARE\Microsoft\DFS",
        r"SOFTWARE\Microsoft\Driver Signing",
        r"SOFTWARE\Microsoft\EnterpriseCertificates",
        r"SOFTWARE\Microsoft\EventSystem",
        r"SOFTWARE\Microsoft\MSMQ",
        r"SOFTWARE\Microsoft\Non-Driver Signing",
        r"SOFTWARE\Microsoft\Notepad\DefaultFonts",
        r"SOFTWARE\Microsoft\OLE",
        r"SOFTWARE\Microsoft\RAS",
        r"SOFTWARE\Microsoft\RPC",
        r"SOFTWARE\Microsoft\SOFTWARE\Microsoft\Shared Tools\MSInfo",
        r"SOFTWARE\Microsoft\SystemCertificates",
        r"SOFTWARE\Microsoft\TermServLicensing",
        r"SOFTWARE\Microsoft\TransactionServer",
        r"SOFTWARE\Microsoft\Windows\CurrentVersion\App Paths",
        r"SOFTWARE\Microsoft\Windows\CurrentVersion\Control Panel\Cursors\Schemes",
        r"SOFTWARE\Microsoft\Windows\CurrentVersion\Explorer\AutoplayHandlers",
        r"SOFTWARE\Microsoft\Windows\CurrentVersion\Explorer\DriveIcons",
        r"SOFTWARE\Microsoft\Windows\CurrentVersion\Explorer\KindMap",
        r"SOFTWARE\Microsoft\Windows\CurrentVersion\Group Policy",
        r"SOFTWARE\Microsoft\Windows\CurrentVersion\Policies",
        r"SOFTWARE\Microsoft\Windows\CurrentVersion\PreviewHandlers",
        r"SOFTWARE\Microsoft\Windows\CurrentVersion\Setup",
        r"SOFTWARE\Microsoft\Windows\CurrentVersion\Telephony\Locations",
        r"SOFTWARE\Microsoft\Windows NT\CurrentVersion\Console",
        r"SOFTWARE\Microsoft\Windows NT\CurrentVersion\FontDpi",
        r"SOFTWARE\Microsoft\Windows NT\CurrentVersion\FontLink",
        r"SOFTWARE\Microsoft\Windows NT\CurrentVersion\FontMapper",
        r"SOFTWARE\Microsoft\Windows NT\CurrentVersion\Fonts",
        r"SOFTWARE\Microsoft\Windows NT\CurrentVersion\FontSubstitutes",
        r"SOFTWARE\Microsoft\Windows NT\CurrentVersion\Gre_Initialize",
        r"SOFTWARE\Microsoft\Windows NT\CurrentVersion\Image File Execution Options",
        r"SOFTWARE\Microsoft\Windows NT\CurrentVersion\Language Pack",
        r"SOFTWARE\Microsoft\Windows NT\CurrentVersion\NetworkCards",
        r"SOFTWARE\Microsoft\Windows NT\CurrentVersion\Perflib",
        r"SOFTWARE\Microsoft\Windows NT\CurrentVersion\Ports",
        r"SOFTWARE\Microsoft\Windows NT\CurrentVersion\Print",
        r"SOFTWARE\Microsoft\Windows NT\CurrentVersion\ProfileList",
        r"SOFTWARE\Microsoft\Windows NT\CurrentVersion\Time Zones",
        r"SOFTWARE\Policies",
        r"SOFTWARE\RegisteredApplications",
    )
)

#: Redirected keys below a (shared) Classes key, in HKLM and HKCU alike.
REDIRECTED_CLASSES: tuple[str, ...] = ("clsid", "directshow", "interface", "media type", "mediafoundation")


def _under(path: str, prefix: str) -> bool:
    low = path.lower()
    return low == prefix or low.startswith(prefix + "\\")


def _classes_redirect(path: str, classes: str) -> str | None:
    """``<classes>\\WOW6432Node\\CLSID\\...`` for a redirected Classes subkey, else None."""
    parts = path.split("\\")
    depth = classes.count("\\") + 1
    if len(parts) > depth and parts[depth].lower() in REDIRECTED_CLASSES:
        return "\\".join([*parts[:depth], "WOW6432Node", *parts[depth:]])
    return None


def is_64bit(arch: str) -> bool:
    """x64 and arm64 Windows run 32-bit x86 programs under WOW64; x86 Windows does not."""
    return arch != "x86"


@cache  # pure, and asked for the same few keys for every host
def ie32_path(hive: Hive, path: str, arch: str) -> str:
    """The physical key 32-bit IE opens when it asks for ``hive\\path`` on a PC of ``arch``.

    >>> ie32_path("HKLM", r"SOFTWARE\\Microsoft\\Code Store Database", "x64")
    'SOFTWARE\\\\WOW6432Node\\\\Microsoft\\\\Code Store Database'
    >>> ie32_path("HKLM", r"SOFTWARE\\Policies\\Microsoft\\Edge", "x64")
    'SOFTWARE\\\\Policies\\\\Microsoft\\\\Edge'
    >>> ie32_path("HKU", r"Software\\Classes\\CLSID\\{X}", "x64")
    'Software\\\\Classes\\\\WOW6432Node\\\\CLSID\\\\{X}'
    """
    if not is_64bit(arch):
        return path
    if hive == "HKU":
        if _under(path, r"software\classes"):
            return _classes_redirect(path, r"Software\Classes") or path
        return path
    if _under(path, r"software\classes"):
        return _classes_redirect(path, r"SOFTWARE\Classes") or path
    if not _under(path, "software") or _under(path, r"software\wow6432node"):
        return path
    if any(_under(path, shared) for shared in SHARED_HKLM_SOFTWARE):
        return path
    parts = path.split("\\")
    return "\\".join([parts[0], "WOW6432Node", *parts[1:]])


def ie32_paths(hive: Hive, path: str) -> tuple[str, ...]:
    """Every physical key 32-bit IE may open for ``hive\\path`` (x86 and x64 PCs), for queries."""
    seen: list[str] = []
    for arch in ("x86", "x64"):
        p = ie32_path(hive, path, arch)
        if p not in seen:
            seen.append(p)
    return tuple(seen)
