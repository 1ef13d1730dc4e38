"""Parameter types shared by check types: CLSIDs and version specs.

Their error messages are what a policy author reads (through the loader's
``file:line:col`` mapping), so they say what is wrong and how to write it.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, PlainSerializer, PlainValidator, WithJsonSchema

from fleetcheck.i18n import T, TextValueError
from fleetcheck.versions import VersionError, VersionSpec

_CLSID_RE = re.compile(
    r"^\{[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\}$"
)
_CLSID_SHAPE = re.compile(r"^\{\w{8}-\w{4}-\w{4}-\w{4}-\w{12}\}$")


def _check_clsid(value: str) -> str:
    """Accept ``{XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}`` of hex digits; return it upper-case.

    The SCCC guide prints JITVCTKEx's CLSID as ``{BOEF56AD-…}`` with the letter O;
    that must be rejected loudly, not silently never match.
    """
    if not isinstance(value, str):
        raise TextValueError(T("CLSID 必须是文本，例如 '{33BBBFD1-0A97-4339-9032-F68F19CB3030}'",
                                "a CLSID must be text like '{33BBBFD1-0A97-4339-9032-F68F19CB3030}'"))
    text = value.strip()
    if _CLSID_RE.match(text):
        return text.upper()
    if _CLSID_SHAPE.match(text):
        bad = sorted({c for c in text if c not in "{}-0123456789abcdefABCDEF"})
        hint_zh = hint_en = ""
        if "O" in bad or "o" in bad:
            hint_zh, hint_en = "（是否把数字 0 写成了字母 O？）", " (the letter O where the digit 0 is meant?)"
        chars = ", ".join(repr(c) for c in bad)
        raise TextValueError(T(f"CLSID {text} 不是十六进制：含有 {chars}{hint_zh}",
                               f"CLSID {text} is not hexadecimal: it contains {chars}{hint_en}"))
    raise TextValueError(T(
        f"{text!r} 不是 CLSID：请写成 {{XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}}（十六进制数字，含花括号）",
        f"{text!r} is not a CLSID: write it as {{XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}} "
        "with hexadecimal digits, braces included",
    ))


def _check_spec(value: object) -> VersionSpec:
    if isinstance(value, VersionSpec):
        return value
    try:
        return VersionSpec.parse(value)  # type: ignore[arg-type]
    except VersionError as exc:
        raise TextValueError(T(
            f"{value!r} 不是版本条件：请写运算符（==、>=、>、<=、<、!=）加最多四段用点分隔的数字，例如 '>=2.0.24.42'",
            str(exc),
        )) from None


Clsid = Annotated[
    str,
    AfterValidator(_check_clsid),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^\{[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\}$",
        }
    ),
]
VersionSpecField = Annotated[
    VersionSpec,
    PlainValidator(_check_spec),
    PlainSerializer(str, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^(==|>=|<=|!=|>|<)\d+(\.\d+){0,3}$",
            "description": "operator and dotted version, e.g. '>=2.0.24.42'",
        }
    ),
]
