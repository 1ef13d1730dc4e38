""".reg files (``reg export`` / regedit, version 5 UTF-16 and REGEDIT4 ANSI) into simulator
registry trees and back, ``registry_import:`` of .reg files in images, and the
``fleetcheck sim image from-reg`` / ``to-reg`` commands: a real PC's export becomes an
image that loads, and .reg -> image -> .reg keeps every key, value and type."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from click.testing import CliRunner

from fleetcheck.agent.contract import RegValue
from fleetcheck.cli import main
from fleetcheck.sim import regimport
from fleetcheck.sim.image import (
    ImageError,
    KeyNode,
    image_to_reg,
    image_yaml_from_reg,
    instantiate,
    load_spec,
    spec_trees,
)

from .conftest import NOW, OPERATOR_SID

SID = "S-1-5-21-111-222-333-1001"
CRLF = "\r\n"


def _reg(*lines: str, header: str = regimport.REG5_HEADER) -> str:
    return CRLF.join([header, "", *lines, ""])


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _hex(data: bytes) -> str:
    return ",".join(f"{b:02x}" for b in data)


def _utf16z(text: str) -> bytes:
    return (text + "\x00").encode("utf-16-le")


EXPAND_TEXT = "%SystemRoot%\\系统"
EXPAND_HEX = _hex(_utf16z(EXPAND_TEXT))
LINES_HEX = _hex(_utf16z("a\r\nb"))
GBK_PATH = _hex("%TEMP%\\日志".encode("gbk") + b"\x00")
GBK_LIST = _hex("甲".encode("gbk") + b"\x00b\x00\x00")

# Every kind of line `reg export` writes, and the edge cases of real data.
SAMPLE = _reg(
    "; a comment",
    r"[HKEY_LOCAL_MACHINE\SOFTWARE\Fleet\Values]",
    '@=""',
    r'"Text"="交易 \"客户端\" C:\\Program Files\\x"',
    r'"na\"me\\with=eq]"="v"',
    '"Num"=dword:0000002a',
    '"Neg"=dword:ffffffff',
    f'"Expand"=hex(2):{EXPAND_HEX}',
    '"Multi"=hex(7):61,00,00,00,00,00,62,00,00,00,00,00',
    '"EmptyMulti"=hex(7):00,00',
    '"Q"=hex(b):01,00,00,00,00,00,00,80',
    '"Bin"=hex:00,01,02,\\',
    "  03,04",
    '"Nothing"=hex(0):',
    '"NoneData"=hex(0):de,ad',
    f'"Lines"=hex(1):{LINES_HEX}',
    '"Gone"="x"',
    '"Gone"=-',
    r"[HKEY_LOCAL_MACHINE\SOFTWARE\Fleet\Empty]",
    r"[HKEY_LOCAL_MACHINE\SOFTWARE\Fleet\Doomed\Child]",
    '"x"=dword:00000001',
    r"[-HKEY_LOCAL_MACHINE\SOFTWARE\Fleet\Doomed]",
    r"[HKEY_CURRENT_USER\Software\Microsoft\Windows\CurrentVersion\Internet Settings\Zones\2]",
    '"1201"=dword:00000000',
    '"1004"="0"',
    r"[HKEY_USERS\S-1-5-21-9-9-9-1002\Software\Other]",
    '"u"="第二个用户"',
    r"[HKEY_USERS\S-1-5-21-9-9-9-1002_Classes\CLSID\{00000000-0000-0000-0000-000000000001}]",
    '@="Per-user class"',
    r"[HKEY_USERS\.DEFAULT\Software\Ignored]",
    '"i"="skipped"',
    r"[HKEY_CLASSES_ROOT\.fleet]",
    '@="fleetfile"',
)


def _trees(text: str, name: str = "sample.reg") -> regimport.Trees:
    trees = regimport.Trees()
    regimport.apply_reg(regimport.parse_reg(text, name), trees, SID)
    return trees


def test_every_reg_export_line_kind_is_read_as_the_agent_sees_it() -> None:
    trees = _trees(SAMPLE)
    key = trees.hklm.find(r"SOFTWARE\Fleet\Values")
    assert key is not None
    got = {name: (v.t, v.v) for name, v in key.values.values()}
    assert got == {
        "": ("SZ", ""),
        "Text": ("SZ", '交易 "客户端" C:\\Program Files\\x'),
        'na"me\\with=eq]': ("SZ", "v"),
        "Num": ("DWORD", 42),
        "Neg": ("DWORD", 2**32 - 1),
        "Expand": ("EXPAND_SZ", EXPAND_TEXT),
        "Multi": ("MULTI_SZ", ["a", "", "b"]),
        "EmptyMulti": ("MULTI_SZ", []),
        "Q": ("QWORD", 2**63 + 1),
        "Bin": ("BINARY", _b64(bytes([0, 1, 2, 3, 4]))),
        "Nothing": ("NONE", ""),
        "NoneData": ("NONE", _b64(b"\xde\xad")),
        "Lines": ("SZ", "a\r\nb"),
    }
    assert trees.hklm.find(r"SOFTWARE\Fleet\Empty") is not None
    assert trees.hklm.find(r"SOFTWARE\Fleet\Doomed") is None  # [-KEY] removes the tree
    zones = trees.users[SID].find(
        r"Software\Microsoft\Windows\CurrentVersion\Internet Settings\Zones\2"
    )
    assert zones is not None and zones.get("1004") == RegValue(t="SZ", v="0")
    other = trees.users["S-1-5-21-9-9-9-1002"]
    assert other.find(r"Software\Other").get("u").v == "第二个用户"  # type: ignore[union-attr]
    # HKU\<SID>_Classes is that user's Software\Classes
    assert other.find(r"Software\Classes\CLSID\{00000000-0000-0000-0000-000000000001}")
    assert set(trees.users) == {SID, "S-1-5-21-9-9-9-1002"}  # .DEFAULT is not a profile
    assert any(".DEFAULT" in line for line in trees.notes.lines())
    assert trees.hklm.find(r"SOFTWARE\Classes\.fleet").get("").v == "fleetfile"  # type: ignore[union-attr]


def test_utf16_with_bom_as_reg_export_writes_it(tmp_path: Path) -> None:
    path = tmp_path / "export.reg"
    path.write_bytes(regimport.encode_reg_text(SAMPLE))
    assert path.read_bytes()[:2] == b"\xff\xfe"
    parsed = regimport.read_reg_file(path)
    assert parsed.version == 5 and parsed.counts() == regimport.parse_reg(SAMPLE).counts()


def test_regedit4_ansi_file(tmp_path: Path) -> None:
    text = _reg(
        r"[HKEY_LOCAL_MACHINE\SOFTWARE\Old]",
        '"Name"="交易员"',
        f'"Path"=hex(2):{GBK_PATH}',
        f'"List"=hex(7):{GBK_LIST}',
        header=regimport.REG4_HEADER,
    )
    path = tmp_path / "old.reg"
    path.write_bytes(text.encode("gbk"))
    trees = regimport.Trees()
    regimport.apply_reg(regimport.read_reg_file(path), trees)
    key = trees.hklm.find(r"SOFTWARE\Old")
    assert key is not None
    assert key.get("Name") == RegValue(t="SZ", v="交易员")
    assert key.get("Path") == RegValue(t="EXPAND_SZ", v="%TEMP%\\日志")
    assert key.get("List") == RegValue(t="MULTI_SZ", v=["甲", "b"])


@pytest.mark.parametrize(
    ("lines", "line", "message"),
    [
        (["[HKEY_LOCAL_MACHINE\\SOFTWARE\\A]", '"a"=dword:xyz'], 4, "unrecognised value data"),
        (["[HKEY_LOCAL_MACHINE\\SOFTWARE\\A]", '"a"=hex:0g,01'], 4, "bad hex data"),
        (["[HKEY_LOCAL_MACHINE\\SOFTWARE\\A]", '"a"=hex:001,01'], 4, "more than 2 digits"),
        (["[HKEY_LOCAL_MACHINE\\SOFTWARE\\A]", '"a="x"'], 4, "missing '='"),
        (["[HKEY_LOCAL_MACHINE\\SOFTWARE\\A]", '"a"="x'], 4, "unterminated"),
        (["[HKEY_LOCAL_MACHINE\\SOFTWARE\\A]", '"a"="x" junk'], 4, "unexpected text"),
        (["[HKEY_LOCAL_MACHINE\\SOFTWARE\\A]", "a=1"], 4, "unrecognised line"),
        (['"a"="x"'], 3, "before any"),
        (["[HKEY_LOCAL_MACHINE\\SOFTWARE\\A"], 3, "closing ']'"),
        (["[HKEY_NOWHERE\\A]"], 3, "unknown root key"),
        (["[-HKEY_LOCAL_MACHINE\\SOFTWARE\\A]", '"a"="x"'], 4, "deletes"),
        (["[HKEY_LOCAL_MACHINE\\SOFTWARE\\A]", '"a"=hex:01,\\'], 4, "continuation"),
        (["[HKEY_CURRENT_USER\\Software\\A]"], 3, "no user profile"),
    ],
)
def test_malformed_lines_name_file_and_line(lines: list[str], line: int, message: str) -> None:
    with pytest.raises(regimport.RegImportError) as caught:
        regimport.apply_reg(regimport.parse_reg(_reg(*lines), "pc.reg"), regimport.Trees())
    assert f"pc.reg:{line}:" in str(caught.value) and message in str(caught.value)
    assert f"pc.reg:{line}:" in caught.value.text.zh  # the Chinese text names the place too


def test_a_file_without_the_header_is_refused() -> None:
    with pytest.raises(regimport.RegImportError, match=r"x\.reg:1: not a \.reg file"):
        regimport.parse_reg('[HKEY_LOCAL_MACHINE\\A]\r\n"a"="b"\r\n', "x.reg")


def test_values_decode_as_dotnet_getvalue() -> None:
    # one trailing NUL dropped, not two; an odd length padded; inner empty strings kept
    assert regimport.decode_data(1, "ab\x00\x00".encode("utf-16-le")).v == "ab\x00"
    assert regimport.decode_data(1, b"a\x00b").v == "ab"
    assert regimport.decode_data(7, "a\x00\x00b\x00".encode("utf-16-le")).v == ["a", "", "b"]
    assert regimport.decode_data(7, b"").v == []
    assert regimport.decode_data(4, b"\x05\x01") == RegValue(t="DWORD", v=0x105)
    assert regimport.decode_data(5, b"\x00\x00\x00\x01") == RegValue(t="NONE", v=_b64(b"\0\0\0\1"))
    notes: list[str] = []
    assert regimport.decode_data(6, b"\x01\x02", warn=notes.append) == RegValue(t="NONE", v="")
    assert notes and "not visible to .NET" in notes[0]


def test_long_binary_is_wrapped_like_regedit_and_reads_back() -> None:
    value = RegValue(t="BINARY", v=_b64(bytes(range(256)) * 4))
    lines = regimport.format_value("Blob", value)
    assert len(lines) > 10 and all(len(line) <= 80 for line in lines)
    assert all(line.endswith(",\\") for line in lines[:-1])
    text = _reg(r"[HKEY_LOCAL_MACHINE\SOFTWARE\B]", *lines)
    assert _trees(text).hklm.find(r"SOFTWARE\B").get("Blob") == value  # type: ignore[union-attr]


def _flat(trees: regimport.Trees) -> tuple[dict[str, dict[str, RegValue]], ...]:
    return (regimport.flatten(trees.hklm), *(regimport.flatten(trees.users[sid]) for sid in sorted(trees.users)))


def _spec_reg(image_file: Path) -> str:
    hklm, users = spec_trees(load_spec(image_file))
    roots = [("HKEY_LOCAL_MACHINE", hklm)]
    roots += [(f"HKEY_USERS\\{sid}", users[sid]) for sid in sorted(users)]
    return regimport.format_reg(roots)


def test_reg_to_image_to_reg_keeps_every_key_value_and_type(tmp_path: Path) -> None:
    original = SAMPLE.replace(
        '"Gone"=-', '"Gone"=-' + CRLF + '"Dollar"="${operator} stays literal ${x}"'
    )
    reg_file = tmp_path / "pc.reg"
    reg_file.write_bytes(regimport.encode_reg_text(original))
    text, _ = image_yaml_from_reg([regimport.read_reg_file(reg_file)], user_sid=SID)
    image_file = tmp_path / "pc.yaml"
    image_file.write_text(text, encoding="utf-8")
    again = _spec_reg(image_file)
    assert _flat(_trees(again, "again.reg")) == _flat(_trees(original))
    # the image is a PC: it builds, and HKCU became the console user's hive
    image = instantiate(image_file, now=NOW)
    console = [p for p in image.profiles if p.console]
    assert [p.sid for p in console] == [SID]
    dollar = image.hklm.find(r"SOFTWARE\Fleet\Values").get("Dollar")  # type: ignore[union-attr]
    assert dollar is not None and dollar.v == "${operator} stays literal ${x}"


def test_export_of_an_image_imports_back_to_the_same_registry(tmp_path: Path) -> None:
    shipped = instantiate("win10-compliant", now=NOW)
    exported = image_to_reg(shipped)
    reg_file = tmp_path / "pc07.reg"
    reg_file.write_bytes(regimport.encode_reg_text(exported))
    text, _ = image_yaml_from_reg([regimport.read_reg_file(reg_file)])
    (tmp_path / "pc07.yaml").write_text(text, encoding="utf-8")
    copy = instantiate(tmp_path / "pc07.yaml", now=NOW)
    assert _flat(_trees(image_to_reg(copy))) == _flat(_trees(exported))
    assert copy.os.build == shipped.os.build and copy.os.ie_version == shipped.os.ie_version
    assert {p.sid for p in copy.profiles} == {p.sid for p in shipped.profiles if p.loaded}


def test_image_takes_reg_files_in_order_with_deletions(tmp_path: Path) -> None:
    (tmp_path / "base.reg").write_bytes(regimport.encode_reg_text(_reg(
        r"[HKEY_LOCAL_MACHINE\SOFTWARE\Vendor\App]",
        '"Keep"="1"',
        '"Drop"="1"',
        r"[HKEY_LOCAL_MACHINE\SOFTWARE\Vendor\Old]",
        '"x"=dword:00000001',
        r"[HKEY_CURRENT_USER\Software\Vendor]",
        '"Mine"="operator"',
    )))
    (tmp_path / "patch.reg").write_bytes(regimport.encode_reg_text(_reg(
        r"[-HKEY_LOCAL_MACHINE\SOFTWARE\Vendor\Old]",
        r"[HKEY_LOCAL_MACHINE\SOFTWARE\Vendor\App]",
        '"Drop"=-',
    )))
    (tmp_path / "pc.yaml").write_text(
        "extends: win10-compliant\n"
        "registry_import:\n"
        "  - {file: base.reg, profile: '${operator_sid}'}\n"
        "  - {file: patch.reg}\n"
        "registry:\n"
        "  'SOFTWARE\\Vendor\\App': {Added: by-image}\n",
        encoding="utf-8",
    )
    image = instantiate(tmp_path / "pc.yaml", now=NOW)
    app = image.hklm.find(r"SOFTWARE\Vendor\App")
    assert app is not None
    assert {n: v.v for n, v in app.values.values()} == {"Keep": "1", "Added": "by-image"}
    assert image.hklm.find(r"SOFTWARE\Vendor\Old") is None
    prof = image.profile(OPERATOR_SID)
    assert prof is not None and prof.hive.find(r"Software\Vendor").get("Mine").v == "operator"  # type: ignore[union-attr]
    # the parent's own keys are still there: imports come first, the image patches them
    assert image.hklm.find(r"SOFTWARE\Policies\Microsoft\Edge") is not None


def test_image_reg_import_errors_name_the_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "bad.reg").write_bytes(regimport.encode_reg_text(_reg(
        r"[HKEY_LOCAL_MACHINE\SOFTWARE\A]", '"a"=dword:nothex'
    )))
    (tmp_path / "pc.yaml").write_text(
        "extends: win10-compliant\nregistry_import: [{file: bad.reg}]\n", encoding="utf-8"
    )
    with pytest.raises(ImageError, match=r"bad\.reg:4: unrecognised value data"):
        instantiate(tmp_path / "pc.yaml", now=NOW)
    (tmp_path / "hkcu.reg").write_bytes(regimport.encode_reg_text(_reg(
        r"[HKEY_USERS\S-1-5-21-5-5-5-5\Software\A]"
    )))
    (tmp_path / "pc.yaml").write_text(
        "extends: win10-compliant\nregistry_import: [{file: hkcu.reg}]\n", encoding="utf-8"
    )
    with pytest.raises(ImageError, match=r"hkcu\.reg:3: the image has no profile"):
        instantiate(tmp_path / "pc.yaml", now=NOW)


def test_key_walk_never_loops_on_a_linked_tree() -> None:
    root = KeyNode()
    child = root.ensure(r"A\B")
    child.subkeys["loop"] = ("Loop", root)
    assert regimport.count_tree(root) == (3, 0)  # bounded, no hang
    assert "[X\\A\\B]" in regimport.format_reg([("X", root)])
    assert "Loop" not in regimport.format_reg([("X", root)])


# --------------------------------------------------------------------------- CLI


def _run(args: list[str], lang: str = "en") -> tuple[int, str]:
    result = CliRunner().invoke(main, ["--lang", lang, *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.output


def test_cli_from_reg_writes_an_image_that_loads(tmp_path: Path) -> None:
    reg_file = tmp_path / "pc.reg"
    reg_file.write_bytes(regimport.encode_reg_text(SAMPLE))
    out = tmp_path / "pc.yaml"
    code, output = _run(["sim", "image", "from-reg", str(reg_file), "--out", str(out),
                         "--os", "win7", "--hostname", "TRADE-PC42", "--user", "TRADE\\zhang",
                         "--user-sid", SID])
    assert code == 0, output
    assert "Wrote image" in output and "2 user profile(s)" in output
    spec = load_spec(out)
    assert spec.os.build == 7601 and spec.vars["hostname"] == "TRADE-PC42"
    assert next((p.sid, p.user, p.console) for p in spec.profiles) == (SID, "TRADE\\zhang", True)
    code, output = _run(["sim", "image", "from-reg", str(reg_file), "--out", str(out)])
    assert code == 2 and "--force" in output
    code, output = _run(["sim", "image", "from-reg", str(reg_file), "--out", str(out), "--force"],
                        lang="zh")
    assert code == 0 and "已写出镜像" in output


def test_cli_from_reg_malformed_line_is_a_clear_error(tmp_path: Path) -> None:
    reg_file = tmp_path / "broken.reg"
    reg_file.write_bytes(regimport.encode_reg_text(_reg(
        r"[HKEY_LOCAL_MACHINE\SOFTWARE\A]", '"ok"=dword:00000001', '"bad"=hex:zz'
    )))
    code, output = _run(["sim", "image", "from-reg", str(reg_file), "--out",
                         str(tmp_path / "x.yaml")])
    assert code == 2 and f"{reg_file}:5: bad hex data" in output
    assert "Traceback" not in output and not (tmp_path / "x.yaml").exists()
    code, output = _run(["sim", "image", "from-reg", str(reg_file), "--out",
                         str(tmp_path / "x.yaml")], lang="zh")
    assert code == 2 and f"{reg_file}:5: 十六进制数据有误" in output
    code, output = _run(["sim", "image", "from-reg", str(tmp_path / "none.reg"), "--out",
                         str(tmp_path / "x.yaml")])
    assert code == 2 and "cannot read" in output


def test_cli_to_reg_writes_utf16_that_from_reg_reads(tmp_path: Path) -> None:
    out = tmp_path / "pc.reg"
    code, output = _run(["sim", "image", "to-reg", "win10-compliant", "--out", str(out)])
    assert code == 0 and "Wrote" in output
    raw = out.read_bytes()
    assert raw.startswith(b"\xff\xfe" + regimport.REG5_HEADER.encode("utf-16-le"))
    code, output = _run(["sim", "image", "from-reg", str(out), "--out", str(tmp_path / "pc.yaml")])
    assert code == 0, output
    code, output = _run(["sim", "image", "to-reg", "no-such-image", "--out",
                         str(tmp_path / "y.reg")])
    assert code == 2 and "Bad image" in output


def test_characters_yaml_forbids_raw_survive_reg_to_image(tmp_path: Path) -> None:
    nasty = "a\x81b\ufeffc\td\x7fe\u200bf\ud800g"  # C1 control, BOM, tab, DEL, ZWSP, lone surrogate
    text = _reg(
        r"[HKEY_LOCAL_MACHINE\SOFTWARE\Nasty]",
        f'"{nasty}"="{nasty}"',
        f'"Multi"=hex(7):{_hex((nasty + chr(0) + chr(0)).encode("utf-16-le", "surrogatepass"))}',
    )
    reg_file = tmp_path / "nasty.reg"
    reg_file.write_bytes(regimport.encode_reg_text(text))
    yaml_text, _ = image_yaml_from_reg([regimport.read_reg_file(reg_file)])
    (tmp_path / "nasty.yaml").write_text(yaml_text, encoding="utf-8")
    hklm, _users = spec_trees(load_spec(tmp_path / "nasty.yaml"))
    key = hklm.find(r"SOFTWARE\Nasty")
    assert key is not None
    assert key.get(nasty) == RegValue(t="SZ", v=nasty)
    assert key.get("Multi") == RegValue(t="MULTI_SZ", v=[nasty])


def test_a_real_hive_exported_as_reg_becomes_an_image_with_the_same_tree(tmp_path: Path) -> None:
    hive = regimport.read_hive(Path(__file__).resolve().parents[1] / "data" / "real-hives"
                               / "NTUSER.DAT.xz")
    reg_file = tmp_path / "ntuser.reg"
    reg_file.write_bytes(regimport.encode_reg_text(
        regimport.format_reg([(f"HKEY_USERS\\{SID}", hive.root)])
    ))
    yaml_text, _ = image_yaml_from_reg([regimport.read_reg_file(reg_file)])
    (tmp_path / "ntuser.yaml").write_text(yaml_text, encoding="utf-8")
    _hklm, users = spec_trees(load_spec(tmp_path / "ntuser.yaml"))
    assert regimport.flatten(users[SID]) == regimport.flatten(hive.root)
