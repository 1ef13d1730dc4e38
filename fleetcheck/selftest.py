"""``fleetcheck selftest``: hold the agent to its contract on a real PC.

The simulator implements the agent's semantics a second time, in Python; its
fidelity to Windows is a declared limit. This self-test is how an admin checks
that limit on the first real PC of each kind (Windows 7 / 10 / 11, 32/64-bit,
Chinese Windows): it runs the shipped agent with requests whose answers are
known in advance and compares, so an encoding or PowerShell 2.0 surprise shows
up as a named failing item instead of a wrong finding in a sweep.

Read-only items (always): the agent answers the contract; OS and profile facts
are sane; the registry, file, directory, PnP and TCP primitives answer.
Write items (``--write``): round trips under a scratch key
``HKLM\\SOFTWARE\\fleetcheck\\selftest`` and a scratch folder
``C:\\ProgramData\\fleetcheck\\selftest`` — every registry type with edge
values (Chinese text, quotes, backslashes, DWORD 0xFFFFFFFF, QWORD 2^63-1,
binary with NUL bytes), delete-with-backup and exact restore, a UTF-8 file
with Chinese content — and then the scratch key and file are removed again
(the empty folders ``SOFTWARE\fleetcheck`` and ``C:\\ProgramData\fleetcheck``
stay: fleetcheck's fixes use them too).

Windows rules observed on this PC (rule ids of docs/windows-semantics.md, section
"What cannot be verified without Windows"):

* read-only, x64/arm64: the two registry views — ``ProgramFilesDir`` under
  ``SOFTWARE\\Microsoft\\Windows\\CurrentVersion`` is the 64-bit folder at the
  native path and the ``(x86)`` folder at ``SOFTWARE\\WOW6432Node\\...``, so the
  agent is a 64-bit process and WOW6432Node is the 32-bit view (W01, W09, W10); and
  whether the literal ``SOFTWARE\\WOW6432Node\\Policies`` path shows the shared
  ``SOFTWARE\\Policies`` key or a separate one (W02, W03). On x86: no WOW6432Node.
* ``--write``, x64/arm64: a value written under
  ``HKLM\\SOFTWARE\\WOW6432Node\\fleetcheck\\selftest`` is not seen at the native
  path (redirected), a value under ``HKLM\\SOFTWARE\\Policies\\fleetcheck-selftest``
  is (shared), and both are removed again.
* ``--write --cert``, with an operator logged on: a throw-away self-signed
  certificate is imported into the operator's Personal store (the agent's
  scheduled-task import), looked for in the registry store and in the
  ``%APPDATA%`` file store (with the user's ``User Shell Folders\\AppData``),
  and removed again (W41-W43).
* a USB item says how many of the token's instance IDs carry no serial number
  (Windows then makes one instance per USB port, W48), and how many are
  phantoms (W47).

An item that cannot be observed on this PC (e.g. no operator logged on) is
``skipped``: neither a pass nor a failure.

Pure: the requests are built and the answers judged here; the command does
the I/O through a ``probe`` callable: one round trip read-only, six with
``--write`` (the agent runs a request's reads before its actions, so reading
back what an action did takes the next request), three more for the registry
views on a 64-bit PC and three for ``--cert`` (whose throw-away key and
password are the only inputs not fixed in advance: fresh random ones each run).
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from fleetcheck.agent.contract import (
    Answer,
    DeleteKey,
    DirQuery,
    FileQuery,
    ImportPfx,
    PnpDevice,
    PnpQuery,
    ProbeRequest,
    ProbeResponse,
    Profile,
    RegistryQuery,
    RegKey,
    RegValue,
    RemoveCert,
    RestoreKey,
    SetValue,
    TcpQuery,
    WriteFile,
)
from fleetcheck.i18n import T, Text

SCRATCH_KEY = r"SOFTWARE\fleetcheck\selftest"
SCRATCH_DIR = r"C:\ProgramData\fleetcheck\selftest"
SCRATCH_FILE = SCRATCH_DIR + "\\自检 selftest.txt"
FILE_TEXT = "深证通证书更新自检 — fleetcheck selftest\r\n引号 \" 反斜杠 \\ 结束\r\n"

# Values chosen to break naive encoders: Chinese, JSON metacharacters, the
# largest DWORD (.NET hands it back as Int32 -1), a QWORD near 2^63, NUL bytes.
# The registry views (x64/arm64). ProgramFilesDir is a sentinel Windows keeps
# in both views with different data (64-bit folder / "(x86)" folder).
WOW_PREFIX = "SOFTWARE\\WOW6432Node\\"
VIEW_PROBE_KEY = r"SOFTWARE\Microsoft\Windows\CurrentVersion"
VIEW_PROBE_VALUE = "ProgramFilesDir"
SHARED_KEY = r"SOFTWARE\Policies"
WOW_SCRATCH_KEY = r"SOFTWARE\WOW6432Node\fleetcheck\selftest"  # redirected: the 32-bit view only
WOW_SCRATCH_NATIVE = SCRATCH_KEY  # where a 64-bit reader would see it if it were not redirected
SHARED_SCRATCH_KEY = r"SOFTWARE\Policies\fleetcheck-selftest"  # shared: one key in both views
SHARED_SCRATCH_WOW = r"SOFTWARE\WOW6432Node\Policies\fleetcheck-selftest"  # the literal 32-bit-style path
VIEW_PROBE_NAME = "selftest-view-probe"
WOW_PROBE = RegValue(t="SZ", v="32 位视图 / 32-bit view")
SHARED_PROBE = RegValue(t="SZ", v="共享键 / shared key")

# The user's Personal store (--cert): where Windows keeps CurrentUser\My.
CERT_REG_KEY = r"Software\Microsoft\SystemCertificates\My\Certificates"
CERT_FILE_DIR = r"AppData\Roaming\Microsoft\SystemCertificates\My\Certificates"
SHELL_FOLDERS_KEY = r"Software\Microsoft\Windows\CurrentVersion\Explorer\User Shell Folders"
CERT_CN = "fleetcheck selftest 自检 (throw-away)"
CM_PROB_PHANTOM = 45  # Win32_PnPEntity.ConfigManagerErrorCode: "not connected to the computer"

ROUND_TRIP_VALUES: dict[str, RegValue] = {
    "sz_chinese": RegValue(t="SZ", v='交易员 "引号" \\反斜杠\\ tab\tend'),
    "expand": RegValue(t="EXPAND_SZ", v=r"%SystemRoot%\System32\自检.dll"),
    "multi": RegValue(t="MULTI_SZ", v=["第一行", "second", 'with "quote"']),
    "dword_max": RegValue(t="DWORD", v=4294967295),
    "dword_zero": RegValue(t="DWORD", v=0),
    "qword_big": RegValue(t="QWORD", v=9223372036854775807),
    "binary": RegValue(t="BINARY", v=base64.b64encode(b"\x00\x01\xfe\xffFC\x00").decode()),
    "": RegValue(t="SZ", v="默认值 default value"),
}


@dataclass(frozen=True)
class SelftestItem:
    """One verdict: ``ok`` with a short bilingual detail."""

    name: Text
    ok: bool
    detail: Text
    skipped: bool = False  # not observable on this PC: neither a pass nor a failure


def _read(path: str, depth: int = 1) -> RegistryQuery:
    return RegistryQuery(id=f"selftest-reg:{path}", hive="HKLM", path=path, depth=depth)


def _file(content: bool = True) -> FileQuery:
    return FileQuery(id="selftest-file", path=SCRATCH_FILE, content=content)


READ_QUERIES: list[RegistryQuery | FileQuery | DirQuery | PnpQuery | TcpQuery] = [
    RegistryQuery(id="selftest-winver", hive="HKLM", path=r"SOFTWARE\Microsoft\Windows NT\CurrentVersion"),
    RegistryQuery(
        id="selftest-user-ie",
        hive="HKU",
        per_user=True,
        path=r"Software\Microsoft\Windows\CurrentVersion\Internet Settings",
    ),
    RegistryQuery(id="selftest-absent", hive="HKLM", path=r"SOFTWARE\fleetcheck\selftest\does-not-exist"),
    FileQuery(id="selftest-absent-file", path=r"%SystemRoot%\fleetcheck-selftest-absent.dll"),
    PnpQuery(id="selftest-pnp", vendor_id="096E"),
    # The two registry views (x64/arm64): a redirected key at both paths, and
    # the shared SOFTWARE\Policies at both paths.
    RegistryQuery(id="selftest-view-64", hive="HKLM", path=VIEW_PROBE_KEY),
    RegistryQuery(id="selftest-view-32", hive="HKLM", path=WOW_PREFIX + VIEW_PROBE_KEY[len("SOFTWARE\\") :]),
    RegistryQuery(id="selftest-shared-64", hive="HKLM", path=SHARED_KEY, depth=1),
    RegistryQuery(id="selftest-shared-32", hive="HKLM", path=WOW_PREFIX + SHARED_KEY[len("SOFTWARE\\") :], depth=1),
]


def read_request() -> ProbeRequest:
    """Round trip 1 (always): facts and the read primitives, nothing written."""
    return ProbeRequest(queries=list(READ_QUERIES), want_processes=True)


def write_request() -> ProbeRequest:
    """Round trip 2 (``--write``): write the scratch values and file."""
    actions: list[SetValue | WriteFile] = [
        SetValue(id=f"selftest-set-{name or 'default'}", hive="HKLM", path=SCRATCH_KEY, name=name, value=value)
        for name, value in ROUND_TRIP_VALUES.items()
    ]
    actions.append(
        SetValue(
            id="selftest-set-sub",
            hive="HKLM",
            path=SCRATCH_KEY + r"\子键 subkey",
            name="nested",
            value=RegValue(t="DWORD", v=7),
        )
    )
    actions.append(
        WriteFile(id="selftest-write-file", path=SCRATCH_FILE, content=base64.b64encode(FILE_TEXT.encode()).decode())
    )
    return ProbeRequest(actions=list(actions), want_processes=False)


def readback_request() -> ProbeRequest:
    """Round trip 3: read the scratch key and file back, then delete the key (backup returned)."""
    return ProbeRequest(
        queries=[_read(SCRATCH_KEY), _file(), DirQuery(id="selftest-dir", path=SCRATCH_DIR)],
        actions=[
            DeleteKey(id="selftest-delete", hive="HKLM", path=SCRATCH_KEY),
            WriteFile(id="selftest-delete-file", path=SCRATCH_FILE, content="", delete=True),
        ],
        want_processes=False,
    )


# --------------------------------------------------------------------------- judging


def _item(zh: str, en: str, ok: bool, detail_zh: str = "", detail_en: str = "") -> SelftestItem:
    return SelftestItem(T(zh, en), ok, T(detail_zh or ("通过" if ok else "失败"), detail_en or ("ok" if ok else "failed")))


def judge_read(resp: ProbeResponse) -> list[SelftestItem]:
    """Verdicts on the read-only round trip."""
    items: list[SelftestItem] = []
    os = resp.os
    items.append(
        _item(
            "代理按契约应答",
            "agent answers the contract",
            True,
            f"PowerShell {os.ps_version}，CLR {os.clr_version}，代理耗时 {resp.elapsed_ms} ms",
            f"PowerShell {os.ps_version}, CLR {os.clr_version}, agent time {resp.elapsed_ms} ms",
        )
    )
    sane = bool(os.version) and os.build > 0 and os.acp > 0 and bool(os.hostname)
    items.append(
        _item(
            "操作系统信息",
            "OS facts",
            sane,
            f"{os.caption} {os.version} ({os.arch})，代码页 ACP {os.acp}/OEM {os.oem_cp}",
            f"{os.caption} {os.version} ({os.arch}), code pages ACP {os.acp}/OEM {os.oem_cp}",
        )
    )
    loaded = [p for p in resp.profiles if p.loaded]
    console = [p.user or p.sid for p in resp.profiles if p.console]
    items.append(
        _item(
            "用户配置文件",
            "user profiles",
            bool(resp.profiles),
            f"{len(resp.profiles)} 个，已加载 {len(loaded)} 个，控制台用户：{', '.join(console) or '无'}",
            f"{len(resp.profiles)} profiles, {len(loaded)} loaded, console user: {', '.join(console) or 'none'}",
        )
    )
    winver = resp.answer("selftest-winver")
    product = winver.key.value("ProductName") if winver and winver.key else None
    items.append(
        _item(
            "注册表读取（HKLM）",
            "registry read (HKLM)",
            bool(winver and winver.status == "ok" and product is not None),
            f"ProductName = {product.v if product else '—'}",
            f"ProductName = {product.v if product else '—'}",
        )
    )
    per_user = [a for a in resp.answers if a.id == "selftest-user-ie"]
    items.append(
        _item(
            "按用户读取（HKU）",
            "per-user read (HKU)",
            len(per_user) == len(loaded) and all(a.sid for a in per_user),
            f"已加载的 {len(loaded)} 个用户配置单元各应答一次：{len(per_user)} 个应答",
            f"one answer per loaded user hive ({len(loaded)}): {len(per_user)} answers",
        )
    )
    absent = [resp.answer("selftest-absent"), resp.answer("selftest-absent-file")]
    items.append(
        _item(
            "不存在的键和文件答“absent”",
            "missing key and file answer 'absent'",
            all(a is not None and a.status == "absent" for a in absent),
            " / ".join(a.status if a else "no answer" for a in absent),
            " / ".join(a.status if a else "no answer" for a in absent),
        )
    )
    pnp = resp.answer("selftest-pnp")
    devices = pnp.devices if pnp else []
    items.append(
        _item(
            "USB 设备查询（WMI）",
            "USB device query (WMI)",
            pnp is not None and pnp.status == "ok",
            f"飞天设备 {len(devices)} 个" + (f"；错误：{pnp.error}" if pnp and pnp.error else ""),
            f"{len(devices)} Feitian devices" + (f"; error: {pnp.error}" if pnp and pnp.error else ""),
        )
    )
    if pnp is not None and pnp.status == "ok":
        items.append(judge_pnp_presence(devices))
    items += judge_views(resp)
    return items


def has_serial_instance_id(device_id: str) -> bool:
    """Whether a USB device instance ID ends in the device's serial number.

    ``USB\\VID_096E&PID_0807\\5&2A3F1C0&0&2`` has none: without a serial number
    the instance part is made by Windows from the parent and the port (it holds
    ``&``), so the same token in another port is another device (W48).
    """
    instance = device_id.rsplit("\\", 1)[-1] if "\\" in device_id else ""
    return bool(instance) and "&" not in instance


def is_phantom(device: PnpDevice) -> bool | None:
    """Whether Windows reports the device as not connected; None when it does not say (Windows 7)."""
    if device.error_code == CM_PROB_PHANTOM or device.present is False:
        return True
    if device.present is True:
        return False
    return None


def judge_pnp_presence(devices: list[PnpDevice]) -> SelftestItem:
    """Present vs phantom token instances and instance IDs without a serial number (W47, W48).

    Fails when Windows contradicts itself (``Present`` true with error 45): then
    neither field can be trusted to count tokens on this PC.
    """
    tokens = [d for d in devices if "&MI_" not in d.device_id.upper()]
    name = T("USB 令牌：在位与幻影设备", "USB tokens: present and phantom devices")
    if not tokens:
        return SelftestItem(name, True, T("没有飞天令牌实例，无法观察", "no Feitian token instance: not observable"),
                            skipped=True)
    states = [is_phantom(d) for d in tokens]
    present, phantom, unknown = states.count(False), states.count(True), states.count(None)
    contradictions = [d.device_id for d in tokens if d.present is True and d.error_code == CM_PROB_PHANTOM]
    no_serial = sum(not has_serial_instance_id(d.device_id) for d in tokens)
    zh = (f"{len(tokens)} 个实例：在位 {present}，幻影（未连接）{phantom}，未说明 {unknown}；"
          f"{no_serial} 个无序列号（每个 USB 口一个实例）")
    en = (f"{len(tokens)} instances: {present} present, {phantom} phantom (not connected), {unknown} unreported;"
          f" {no_serial} without a serial number (one instance per USB port)")
    if contradictions:
        zh += "；Present 为真却报错误 45：" + ", ".join(contradictions)
        en += "; Present true yet error 45: " + ", ".join(contradictions)
    return SelftestItem(name, not contradictions, T(zh, en))


def _value_text(answer: Answer | None, name: str) -> str | None:
    value = answer.key.value(name) if answer and answer.key else None
    return value.as_str() if value is not None else None


def judge_views(resp: ProbeResponse) -> list[SelftestItem]:
    """The two registry views, read-only (W01-W03): what the agent's literal paths reach."""
    view64, view32 = resp.answer("selftest-view-64"), resp.answer("selftest-view-32")
    shared64, shared32 = resp.answer("selftest-shared-64"), resp.answer("selftest-shared-32")
    if resp.os.arch == "x86":
        none = all(a is not None and a.status == "absent" for a in (view32, shared32))
        return [
            _item(
                "注册表视图（32 位 Windows）",
                "registry views (32-bit Windows)",
                none,
                "只有一个视图，没有 WOW6432Node" if none else "32 位 Windows 上竟有 WOW6432Node",
                "one view, no WOW6432Node" if none else "WOW6432Node exists on 32-bit Windows",
            )
        ]
    items: list[SelftestItem] = []
    pf64, pf32 = _value_text(view64, VIEW_PROBE_VALUE), _value_text(view32, VIEW_PROBE_VALUE)
    shown = f"{VIEW_PROBE_VALUE}: 64 = {pf64 or '—'}, WOW6432Node = {pf32 or '—'}"
    if pf64 is None and pf32 is None:
        items.append(
            SelftestItem(
                T("注册表视图：64 位代理、32 位视图", "registry views: 64-bit agent, 32-bit view"),
                True,
                T(f"两个视图都没有 {VIEW_PROBE_VALUE}，无法观察", f"{VIEW_PROBE_VALUE} in neither view: not observable"),
                skipped=True,
            )
        )
    else:
        agent32 = pf64 is not None and "(x86)" in pf64.lower()
        ok = pf64 is not None and pf32 is not None and not agent32 and "(x86)" in pf32.lower()
        if agent32:
            why = T(
                f"{shown}：代理是 32 位进程，它读的“64 位”路径其实是 32 位视图",
                f"{shown}: the agent runs as a 32-bit process, its 'native' reads land in the 32-bit view",
            )
        elif not ok:
            why = T(f"{shown}：WOW6432Node 不像 32 位视图", f"{shown}: WOW6432Node does not look like the 32-bit view")
        else:
            why = T(f"{shown}：与文档一致", f"{shown}: as documented")
        items.append(SelftestItem(T("注册表视图：64 位代理、32 位视图", "registry views: 64-bit agent, 32-bit view"), ok, why))
    native_ok = shared64 is not None and shared64.status == "ok" and shared64.key is not None
    names64 = sorted(n.lower() for n in shared64.key.subkeys) if shared64 and shared64.key else []
    names32 = sorted(n.lower() for n in shared32.key.subkeys) if shared32 and shared32.key else []
    if not native_ok:
        zh, en = "读不到 SOFTWARE\\Policies", "SOFTWARE\\Policies cannot be read"
    elif shared32 is None or shared32.status != "ok":
        zh = "WOW6432Node\\Policies 不存在：共享键只在原路径（fleetcheck 只从原路径读共享键）"
        en = "WOW6432Node\\Policies absent: the shared key is at the native path only (fleetcheck reads it there)"
    elif names64 == names32:
        zh = f"两条路径子键相同（{len(names64)} 个）：WOW6432Node 路径显示的是同一个共享键"
        en = f"same subkeys at both paths ({len(names64)}): the WOW6432Node path shows the one shared key"
    else:
        zh = (f"两条路径子键不同（原路径 {len(names64)} 个，WOW6432Node {len(names32)} 个）：是另一个物理键，"
              "32 位程序看不到它；fleetcheck 只从原路径读共享键")
        en = (f"different subkeys (native {len(names64)}, WOW6432Node {len(names32)}): a separate physical key that"
              " 32-bit programs do not see; fleetcheck reads shared keys at the native path only")
    items.append(
        SelftestItem(T("共享键 SOFTWARE\\Policies 的两条路径", "shared key SOFTWARE\\Policies at both paths"), native_ok, T(zh, en))
    )
    return items


def _action_errors(resp: ProbeResponse) -> list[str]:
    return [f"{r.id}: {r.error}" for r in resp.actions if r.status == "error"]


def judge_write(resp: ProbeResponse) -> list[SelftestItem]:
    errors = _action_errors(resp)
    return [
        _item(
            "写入注册表值和文件",
            "write registry values and a file",
            not errors and len(resp.actions) == len(ROUND_TRIP_VALUES) + 2,
            "；".join(errors) or f"{len(resp.actions)} 个写操作完成",
            "; ".join(errors) or f"{len(resp.actions)} writes done",
        )
    ]


def _diff_values(key: RegKey | None) -> list[str]:
    if key is None:
        return ["key missing"]
    problems = []
    for name, want in ROUND_TRIP_VALUES.items():
        got = key.value(name)
        if got is None:
            problems.append(f"{name or '(default)'}: missing")
        elif got != want:
            problems.append(f"{name or '(default)'}: wrote {want.t} {want.v!r}, read {got.t} {got.v!r}")
    sub = key.subkey("子键 subkey")
    if sub is None or sub.value("nested") != RegValue(t="DWORD", v=7):
        problems.append("subkey 子键 subkey: missing or wrong")
    return problems


def judge_readback(resp: ProbeResponse) -> tuple[list[SelftestItem], RegKey | None]:
    """Verdicts on reading back what was written; the delete's backup for the restore step."""
    key_answer = resp.answer(f"selftest-reg:{SCRATCH_KEY}")
    problems = _diff_values(key_answer.key if key_answer else None)
    items = [
        _item(
            "注册表往返（各类型、中文、边界值）",
            "registry round trip (every type, Chinese, edge values)",
            not problems,
            "；".join(problems) or f"{len(ROUND_TRIP_VALUES)} 个值逐字节一致",
            "; ".join(problems) or f"{len(ROUND_TRIP_VALUES)} values identical",
        )
    ]
    file_answer: Answer | None = resp.answer("selftest-file")
    content = file_answer.file.content_bytes() if file_answer and file_answer.file else None
    items.append(
        _item(
            "文件往返（UTF-8 中文内容）",
            "file round trip (UTF-8 Chinese content)",
            content == FILE_TEXT.encode(),
            "内容一致" if content == FILE_TEXT.encode() else f"读回 {len(content or b'')} 字节，与写入不同",
            "content identical" if content == FILE_TEXT.encode() else f"read back {len(content or b'')} bytes, differs",
        )
    )
    listing = resp.answer("selftest-dir")
    names = [f.path.rsplit("\\", 1)[-1] for f in (listing.files if listing else [])]
    items.append(
        _item(
            "目录列表",
            "directory listing",
            "自检 selftest.txt" in names,
            f"文件：{', '.join(names) or '无'}",
            f"files: {', '.join(names) or 'none'}",
        )
    )
    backup = next((r.before_tree for r in resp.actions if r.id == "selftest-delete"), None)
    backup_problems = _diff_values(backup)
    errors = _action_errors(resp)
    items.append(
        _item(
            "删除键并返回备份",
            "delete a key, returning its backup",
            not backup_problems and not errors,
            "；".join(backup_problems + errors) or "备份与写入一致",
            "; ".join(backup_problems + errors) or "backup matches what was written",
        )
    )
    return items, backup


def judge_restore(resp: ProbeResponse) -> list[SelftestItem]:
    """The restore round trip: reads happen before the clean-up actions of the same request."""
    errors = _action_errors(resp)
    return [
        _item(
            "按备份原样恢复",
            "restore a key exactly from its backup",
            not errors,
            "；".join(errors) or "恢复并清理完成",
            "; ".join(errors) or "restored, then cleaned up",
        )
    ]


# --------------------------------------------------------------------------- registry views, written (--write)


def view_write_request() -> ProbeRequest:
    """A value in the 32-bit view (literal WOW6432Node path) and one under the shared SOFTWARE\\Policies."""
    return ProbeRequest(
        actions=[
            SetValue(id="selftest-view-set-32", hive="HKLM", path=WOW_SCRATCH_KEY, name=VIEW_PROBE_NAME, value=WOW_PROBE),
            SetValue(
                id="selftest-view-set-shared", hive="HKLM", path=SHARED_SCRATCH_KEY, name=VIEW_PROBE_NAME,
                value=SHARED_PROBE,
            ),
        ],
        want_processes=False,
    )


def _view_reads() -> list[RegistryQuery | FileQuery | DirQuery | PnpQuery | TcpQuery]:
    return [_read(path, depth=0) for path in (WOW_SCRATCH_KEY, WOW_SCRATCH_NATIVE, SHARED_SCRATCH_KEY, SHARED_SCRATCH_WOW)]


def view_readback_request() -> ProbeRequest:
    """Read both values at both paths, then remove the two scratch keys."""
    return ProbeRequest(
        queries=_view_reads(),
        actions=[
            DeleteKey(id="selftest-view-delete-32", hive="HKLM", path=WOW_SCRATCH_KEY),
            DeleteKey(id="selftest-view-delete-shared", hive="HKLM", path=SHARED_SCRATCH_KEY),
        ],
        want_processes=False,
    )


def _probe_value(resp: ProbeResponse, path: str) -> RegValue | None:
    answer = resp.answer(f"selftest-reg:{path}")
    return answer.key.value(VIEW_PROBE_NAME) if answer and answer.key else None


def judge_view_write(written: ProbeResponse, readback: ProbeResponse, after: ProbeResponse) -> list[SelftestItem]:
    """Redirected vs shared, as a 64-bit agent writing literal paths sees them (W01-W03)."""
    errors = _action_errors(written) + _action_errors(readback)
    in_32 = _probe_value(readback, WOW_SCRATCH_KEY)
    at_native = _probe_value(readback, WOW_SCRATCH_NATIVE)
    redirected_ok = not errors and in_32 == WOW_PROBE and at_native is None
    if at_native is not None:
        zh = "写在 WOW6432Node 的值在原路径也看得到：代理是 32 位进程或该键未重定向，64 位视图的检查不可信"
        en = ("the value written under WOW6432Node is also seen at the native path: the agent runs as a 32-bit"
              " process or the key is not redirected, so 64-bit-view checks cannot be trusted")
    elif in_32 != WOW_PROBE:
        zh, en = "写入的值读不回来", "the written value does not read back"
    else:
        zh = "只在 32 位视图（WOW6432Node），原路径没有：重定向与文档一致"
        en = "in the 32-bit view (WOW6432Node) only, not at the native path: redirected as documented"
    items = [
        SelftestItem(
            T("重定向键：写入 SOFTWARE\\WOW6432Node", "redirected key: a value written under SOFTWARE\\WOW6432Node"),
            redirected_ok,
            T("；".join([zh, *errors]), "; ".join([en, *errors])),
        )
    ]
    shared_native = _probe_value(readback, SHARED_SCRATCH_KEY)
    shared_wow = _probe_value(readback, SHARED_SCRATCH_WOW)
    if shared_native != SHARED_PROBE:
        zh, en = "写入 SOFTWARE\\Policies 的值读不回来", "the value written under SOFTWARE\\Policies does not read back"
    elif shared_wow == SHARED_PROBE:
        zh = "原路径和 WOW6432Node\\Policies 路径看到同一个值：一个物理键"
        en = "the same value at the native and the WOW6432Node\\Policies path: one physical key"
    else:
        zh = ("原路径可读；字面路径 WOW6432Node\\Policies 看不到它（那里是另一个键，32 位程序不被重定向到那里）："
              "fleetcheck 只从原路径读共享键")
        en = ("readable at the native path; the literal WOW6432Node\\Policies path does not show it (a separate key,"
              " 32-bit programs are not redirected there): fleetcheck reads shared keys at the native path only")
    items.append(
        SelftestItem(
            T("共享键：写入 SOFTWARE\\Policies", "shared key: a value written under SOFTWARE\\Policies"),
            shared_native == SHARED_PROBE,
            T(zh, en),
        )
    )
    left = [
        path
        for path in (WOW_SCRATCH_KEY, SHARED_SCRATCH_KEY, SHARED_SCRATCH_WOW)
        if (a := after.answer(f"selftest-reg:{path}")) is None or a.status != "absent"
    ]
    items.append(
        _item(
            "清理：视图测试键已删除",
            "clean-up: view scratch keys removed",
            not left,
            "；".join(left) or "已删除",
            "; ".join(left) or "removed",
        )
    )
    return items


def run_view_write(probe: Probe) -> list[SelftestItem]:
    """Three round trips: write both values; read at both paths and delete; check the keys are gone."""
    written = probe(view_write_request())
    readback = probe(view_readback_request())
    after = probe(ProbeRequest(queries=_view_reads(), want_processes=False))
    return judge_view_write(written, readback, after)


# --------------------------------------------------------------------------- the Personal store (--cert)


@dataclass(frozen=True)
class ThrowawayCert:
    """A self-signed certificate with its key, as a PFX a Windows 7 CryptoAPI can read."""

    pfx: str = field(repr=False)  # base64
    password: str = field(repr=False)
    thumbprint: str


def throwaway_certificate(now: datetime) -> ThrowawayCert:
    """A one-day self-signed RSA certificate (3DES/SHA-1 PFX: Windows 7 reads no AES PFX)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CERT_CN)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    password = secrets.token_urlsafe(18)
    encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(2048)
        .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
        .hmac_hash(hashes.SHA1())
        .build(password.encode())
    )
    data = pkcs12.serialize_key_and_certificates(b"fleetcheck selftest", key, cert, None, encryption)
    der = cert.public_bytes(serialization.Encoding.DER)
    return ThrowawayCert(
        pfx=base64.b64encode(data).decode("ascii"),
        password=password,
        thumbprint=hashlib.sha1(der).hexdigest().upper(),  # Windows' thumbprint is SHA-1 of the DER
    )


def cert_operator(resp: ProbeResponse) -> Profile | None:
    """The user whose store is tried: the console user with a session, else any interactive user."""
    loaded = [p for p in resp.profiles if p.loaded and p.interactive]
    return next((p for p in loaded if p.console), loaded[0] if loaded else None)


def _shell_folders() -> RegistryQuery:
    return RegistryQuery(id="selftest-shell-folders", hive="HKU", per_user=True, path=SHELL_FOLDERS_KEY)


def redirected_appdata(shell_folders: Answer | None, profile_path: str) -> str | None:
    """The user's AppData when ``User Shell Folders`` moves it away from ``{profile}\\AppData\\Roaming``.

    The value is REG_EXPAND_SZ in the user's terms: ``%USERPROFILE%`` is that
    user's profile folder (not the agent's), so it is replaced here; any other
    variable is left as it is (the path is then reported, not read).

    >>> from fleetcheck.agent.contract import Answer, RegKey, RegValue
    >>> def folders(v): return Answer(id="x", status="ok", key=RegKey(values={"AppData": RegValue(t="EXPAND_SZ", v=v)}))
    >>> redirected_appdata(folders(r"%USERPROFILE%\\AppData\\Roaming"), r"C:\\Users\\op") is None
    True
    >>> redirected_appdata(folders(r"\\\\fs\\home$\\op\\AppData"), r"C:\\Users\\op")
    '\\\\\\\\fs\\\\home$\\\\op\\\\AppData'
    """
    raw = _value_text(shell_folders, "AppData")
    if raw is None or not profile_path:
        return None
    resolved = _replace_ci(raw.strip(), "%USERPROFILE%", profile_path.rstrip("\\")).rstrip("\\")
    default = profile_path.rstrip("\\") + "\\AppData\\Roaming"
    return None if resolved.lower() == default.lower() else resolved


def _replace_ci(text: str, old: str, new: str) -> str:
    at = text.lower().find(old.lower())
    return text if at < 0 else text[:at] + new + text[at + len(old) :]


def _readable_local(path: str | None) -> str | None:
    """A redirected AppData the agent can look into: local, fully resolved (no UNC: second hop)."""
    if path is None or path.startswith("\\\\") or "%" in path:
        return None
    return path


def _cert_reads(
    thumbprint: str, moved_local: str | None
) -> list[RegistryQuery | FileQuery | DirQuery | PnpQuery | TcpQuery]:
    queries: list[RegistryQuery | FileQuery | DirQuery | PnpQuery | TcpQuery] = [
        RegistryQuery(id="selftest-cert-reg", hive="HKU", per_user=True, path=CERT_REG_KEY + "\\" + thumbprint),
        FileQuery(id="selftest-cert-file", per_user=True, path="{profile}\\" + CERT_FILE_DIR + "\\" + thumbprint),
    ]
    if moved_local is not None:
        queries.append(FileQuery(id="selftest-cert-moved", path=_moved_cert_file(moved_local, thumbprint)))
    # The user's AppData as the agent itself resolves it (contract ``{appdata}``;
    # refused with an error when it is a share the WinRM session cannot reach).
    queries.append(
        FileQuery(
            id="selftest-cert-appdata",
            per_user=True,
            path="{appdata}\\" + CERT_FILE_DIR.split("\\", 2)[2] + "\\" + thumbprint,
        )
    )
    return queries


def _moved_cert_file(appdata: str, thumbprint: str) -> str:
    return appdata + "\\" + CERT_FILE_DIR.split("\\", 2)[2] + "\\" + thumbprint


def cert_import_request(sid: str, cert: ThrowawayCert) -> ProbeRequest:
    """The user's shell folders (read first), then the import in the user's session."""
    return ProbeRequest(
        queries=[_shell_folders()],
        actions=[ImportPfx(id="selftest-cert-import", sid=sid, pfx=cert.pfx, password=cert.password)],
        want_processes=False,
    )


def cert_locate_request(sid: str, thumbprint: str, moved_local: str | None) -> ProbeRequest:
    """Look in every home of the Personal store, then remove the certificate from all of them."""
    actions: list[RemoveCert | WriteFile] = [RemoveCert(id="selftest-cert-remove", sid=sid, thumbprint=thumbprint)]
    if moved_local is not None:  # RemoveCert knows {profile}\\AppData\\Roaming only
        actions.append(
            WriteFile(id="selftest-cert-remove-moved", path=_moved_cert_file(moved_local, thumbprint), content="",
                      delete=True)
        )
    return ProbeRequest(queries=_cert_reads(thumbprint, moved_local), actions=list(actions), want_processes=False)


def _found(resp: ProbeResponse, query_id: str, sid: str | None) -> bool:
    answer = resp.answer(query_id, sid)
    return answer is not None and answer.status == "ok"


def _places(resp: ProbeResponse, sid: str, moved: str | None) -> list[tuple[str, str]]:
    """(zh, en) names of the store homes where the certificate was found.

    With AppData not redirected, the agent's ``{appdata}`` is ``{profile}\\AppData\\Roaming``
    itself: one home, named once.
    """
    in_moved = _found(resp, "selftest-cert-moved", None) or (moved is not None and _found(resp, "selftest-cert-appdata", sid))
    in_default = _found(resp, "selftest-cert-file", sid) or (moved is None and _found(resp, "selftest-cert-appdata", sid))
    homes = [
        (("注册表", "registry"), _found(resp, "selftest-cert-reg", sid)),
        (("{profile}\\AppData\\Roaming 文件", "{profile}\\AppData\\Roaming file"), in_default),
        (("重定向 AppData 的文件", "file in the redirected AppData"), in_moved),
    ]
    return [name for name, hit in homes if hit]


def _appdata_error(resp: ProbeResponse, sid: str) -> str | None:
    """The agent's reason when it refused to resolve the user's ``{appdata}`` (e.g. a share)."""
    answer = resp.answer("selftest-cert-appdata", sid)
    return answer.error if answer is not None and answer.status == "error" else None


def judge_cert(
    operator: Profile, cert: ThrowawayCert, imported: ProbeResponse, located: ProbeResponse, after: ProbeResponse
) -> list[SelftestItem]:
    """Where Windows put a certificate imported into CurrentUser\\My, and that it is gone again."""
    sid = operator.sid
    result = next((r for r in imported.actions if r.id == "selftest-cert-import"), None)
    moved = redirected_appdata(imported.answer("selftest-shell-folders", sid), operator.path or "")
    places = _places(located, sid, moved)
    refused = _appdata_error(located, sid)
    moved_zh = (f"；AppData 重定向到 {moved}" if moved else "") + (f"；代理：{refused}" if refused else "")
    moved_en = (f"; AppData is redirected to {moved}" if moved else "") + (f"; agent: {refused}" if refused else "")
    if result is None or result.status != "ok":
        error = (result.error if result else None) or "no answer"
        ok, zh, en = False, f"导入失败：{error}", f"import failed: {error}"
    elif not places:
        ok = False
        zh, en = "注册表和 AppData 里都找不到", "in neither the registry nor AppData"
        if moved and _readable_local(moved) is None:
            zh += f"：多半在重定向的 AppData（{moved}），代理从 WinRM 会话读不到那里"
            en += f": probably in the redirected AppData ({moved}), which the agent cannot read from a WinRM session"
        if refused:
            zh, en = zh + f"；代理：{refused}", en + f"; agent: {refused}"
    else:
        ok = True
        zh = f"Windows 把它放在：{'、'.join(p[0] for p in places)}{moved_zh}"
        en = f"Windows put it in: {', '.join(p[1] for p in places)}{moved_en}"
    who = operator.user or sid
    items = [SelftestItem(T(f"用户个人证书存储（{who}）", f"user's Personal store ({who})"), ok, T(zh, en))]
    errors = _action_errors(located)
    left = _places(after, sid, moved)
    problems_zh = [*(f"仍在{p[0]}" for p in left), *errors]
    problems_en = [*(f"still in the {p[1]}" for p in left), *errors]
    if result is not None and result.status == "ok" and not places and moved and _readable_local(moved) is None:
        # Imported, yet in no home the agent can see: it cannot be removed from here.
        problems_zh.append(f"无法从这里删除，请在 {who} 的会话里用 certmgr.msc 手工删除“{CERT_CN}”")
        problems_en.append(f"cannot be removed from here: remove '{CERT_CN}' by hand in {who}'s session (certmgr.msc)")
    removed = not problems_en and any(r.id == "selftest-cert-remove" for r in located.actions)
    items.append(
        _item(
            "清理：临时证书已删除",
            "clean-up: throw-away certificate removed",
            removed,
            "；".join(problems_zh) or f"已删除（{cert.thumbprint}）",
            "; ".join(problems_en) or f"removed ({cert.thumbprint})",
        )
    )
    return items


def run_cert(probe: Probe, facts: ProbeResponse, now: datetime) -> list[SelftestItem]:
    """Import, locate + remove, verify: three round trips; skipped without an operator in session."""
    operator = cert_operator(facts)
    if operator is None:
        return [
            SelftestItem(
                T("用户个人证书存储", "user's Personal store"),
                True,
                T("没有登录的操作员，无法观察", "no operator logged on: not observable"),
                skipped=True,
            )
        ]
    cert = throwaway_certificate(now)
    imported = probe(cert_import_request(operator.sid, cert))
    moved = redirected_appdata(imported.answer("selftest-shell-folders", operator.sid), operator.path or "")
    moved_local = _readable_local(moved)
    # Removed by our own thumbprint whatever the import answered: a timed-out
    # import may still have added it.
    located = probe(cert_locate_request(operator.sid, cert.thumbprint, moved_local))
    after = probe(ProbeRequest(queries=_cert_reads(cert.thumbprint, moved_local), want_processes=False))
    return judge_cert(operator, cert, imported, located, after)


Probe = Callable[[ProbeRequest], ProbeResponse]


def run_selftest(
    probe: Probe, *, write: bool, cert: bool = False, now: datetime | None = None
) -> list[SelftestItem]:
    """Run the self-test through ``probe`` (one WinRM round trip per call).

    The agent runs a request's reads before its actions, so a read of what an
    action restores needs the next request; the sequence is: read-only facts;
    then with ``write``: writes; read back + delete (backup); restore; read the
    restored tree + final clean-up; verify clean; on a 64-bit PC the registry
    views (write, read + delete, verify); with ``cert`` the Personal store
    (import, locate + remove, verify).
    """
    facts = probe(read_request())
    items = judge_read(facts)
    if not write:
        return items
    items += _run_round_trips(probe)
    if facts.os.arch != "x86":
        items += run_view_write(probe)
    if cert:
        items += run_cert(probe, facts, now or datetime.now(timezone.utc))
    return items


def _run_round_trips(probe: Probe) -> list[SelftestItem]:
    """The registry and file round trips under the scratch key and folder."""
    items: list[SelftestItem] = []
    items += judge_write(probe(write_request()))
    readback_items, backup = judge_readback(probe(readback_request()))
    items += readback_items
    if backup is None:
        return items
    restore = probe(
        ProbeRequest(
            actions=[RestoreKey(id="selftest-restore", hive="HKLM", path=SCRATCH_KEY, tree=backup)],
            want_processes=False,
        )
    )
    items += judge_restore(restore)
    final = probe(
        ProbeRequest(
            queries=[_read(SCRATCH_KEY)],
            actions=[DeleteKey(id="selftest-cleanup", hive="HKLM", path=SCRATCH_KEY)],
            want_processes=False,
        )
    )
    restored = final.answer(f"selftest-reg:{SCRATCH_KEY}")
    problems = _diff_values(restored.key if restored else None)
    items.append(
        _item(
            "恢复后的键与原值一致",
            "restored key equals the original",
            not problems,
            "；".join(problems) or "逐值一致",
            "; ".join(problems) or "every value identical",
        )
    )
    clean = probe(ProbeRequest(queries=[_read(SCRATCH_KEY)], want_processes=False)).answer(
        f"selftest-reg:{SCRATCH_KEY}"
    )
    items.append(
        _item(
            "清理：自检键已删除",
            "clean-up: scratch key removed",
            clean is not None and clean.status == "absent",
            clean.status if clean else "no answer",
            clean.status if clean else "no answer",
        )
    )
    return items
