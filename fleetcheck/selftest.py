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

Pure: the requests are built and the answers judged here; the command does
the I/O through a ``probe`` callable: one round trip read-only, six with
``--write`` (the agent runs a request's reads before its actions, so reading
back what an action did takes the next request).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass

from fleetcheck.agent.contract import (
    Answer,
    DeleteKey,
    DirQuery,
    FileQuery,
    PnpQuery,
    ProbeRequest,
    ProbeResponse,
    RegistryQuery,
    RegKey,
    RegValue,
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
    items.append(
        _item(
            "USB 设备查询（WMI）",
            "USB device query (WMI)",
            pnp is not None and pnp.status == "ok",
            f"飞天设备 {len(pnp.devices) if pnp else 0} 个" + (f"；错误：{pnp.error}" if pnp and pnp.error else ""),
            f"{len(pnp.devices) if pnp else 0} Feitian devices" + (f"; error: {pnp.error}" if pnp and pnp.error else ""),
        )
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


Probe = Callable[[ProbeRequest], ProbeResponse]


def run_selftest(probe: Probe, *, write: bool) -> list[SelftestItem]:
    """Run the self-test through ``probe`` (one WinRM round trip per call).

    The agent runs a request's reads before its actions, so a read of what an
    action restores needs the next request; the sequence is: read-only facts;
    then with ``write``: writes; read back + delete (backup); restore; read the
    restored tree + final clean-up; verify clean.
    """
    items = judge_read(probe(read_request()))
    if not write:
        return items
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
