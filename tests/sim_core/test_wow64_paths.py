"""agent.ps1's ConvertTo-Wow64Path, as the simulator carries it out (executor.wow64_host_path).

A 32-bit COM registration is loaded by 32-bit IE, so its InprocServer32 path is resolved
as a 32-bit process on 64-bit Windows would ("File System Redirector", "WOW64
Implementation Details": %ProgramFiles% is Program Files (x86); System32 is SysWOW64
except catroot, catroot2, drivers\\etc, logfiles and spool; Sysnative is System32).
"""

from __future__ import annotations

import pytest

from fleetcheck.agent import agent_script
from fleetcheck.sim.executor import host_path, wow64_host_path

X64 = {"SystemRoot": r"C:\Windows", "ProgramFiles": r"C:\Program Files",
       "ProgramFiles(x86)": r"C:\Program Files (x86)", "CommonProgramFiles": r"C:\Program Files\Common Files",
       "CommonProgramFiles(x86)": r"C:\Program Files (x86)\Common Files"}
X86 = {"SystemRoot": r"C:\Windows", "ProgramFiles": r"C:\Program Files",
       "CommonProgramFiles": r"C:\Program Files\Common Files"}


@pytest.mark.parametrize(("raw", "seen"), [
    (r"%SystemRoot%\System32\JITCertEnroll.ocx", r"C:\Windows\SysWOW64\JITCertEnroll.ocx"),
    (r"C:\WINDOWS\system32\x.dll", r"C:\Windows\SysWOW64\x.dll"),
    (r"%ProgramFiles%\JIT\x.dll", r"C:\Program Files (x86)\JIT\x.dll"),
    (r"%CommonProgramFiles%\x.dll", r"C:\Program Files (x86)\Common Files\x.dll"),
    (r'"%SystemRoot%\System32\x.dll" /s', r"C:\Windows\SysWOW64\x.dll"),
    (r"C:\Windows\System32\drivers\etc\hosts", r"C:\Windows\System32\drivers\etc\hosts"),
    (r"C:\Windows\System32\spool\x.dll", r"C:\Windows\System32\spool\x.dll"),
    (r"C:\Windows\System32\catroot2\x.cat", r"C:\Windows\System32\catroot2\x.cat"),
    (r"C:\Windows\System32\LogFiles\x.log", r"C:\Windows\System32\LogFiles\x.log"),
    (r"C:\Windows\Sysnative\x.dll", r"C:\Windows\System32\x.dll"),
    (r"C:\Windows\Downloaded Program Files\x.ocx", r"C:\Windows\Downloaded Program Files\x.ocx"),
])
def test_a_32bit_process_on_x64_sees_these_paths(raw: str, seen: str) -> None:
    assert wow64_host_path(raw, X64) == seen


def test_32bit_windows_has_no_redirection() -> None:
    raw = r"%SystemRoot%\System32\x.dll"
    assert wow64_host_path(raw, X86) == host_path(raw, X86) == r"C:\Windows\System32\x.dll"


def test_the_agent_knows_the_same_exempt_folders() -> None:
    agent = agent_script().decode("utf-8-sig")
    body = agent[agent.index("function ConvertTo-Wow64Path"):]
    body = body[: body.index("\n}\n")]
    for folder in ("catroot\\", "catroot2\\", "drivers\\etc\\", "logfiles\\", "spool\\"):
        assert f"'{folder}'" in body
    assert "SysWOW64" in body and "Sysnative" in body and "ProgramFiles(x86)" in body


def test_a_reg_sz_path_is_literal() -> None:
    raw = r"%SystemRoot%\System32\x.dll"
    assert host_path(raw, X64, expand=False) == raw
    assert wow64_host_path(raw, X64, expand=False) == raw  # no %VARS% expansion, no System32 match
    assert wow64_host_path(r"C:\Windows\System32\x.dll", X64, expand=False) == r"C:\Windows\SysWOW64\x.dll"
