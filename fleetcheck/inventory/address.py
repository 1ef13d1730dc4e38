"""Is this a usable PC address: an IPv4 or IPv6 address, or a DNS host name (pure)?

``10.0.0.300`` and ``999.1.1.1`` look like IPv4 addresses but are none (each of
the four parts is 0-255); they are refused rather than handed to DNS. Host
names follow RFC 1123 (labels of letters, digits and hyphens, at most 63
characters each, 253 in all; ``_`` tolerated as Windows networks use it).
"""

from __future__ import annotations

import ipaddress
import re

from fleetcheck.i18n import T, Text

_DOTTED = re.compile(r"^[0-9]+(\.[0-9]+)+$")  # anything made of digits and dots is meant as IPv4
_LABEL = re.compile(r"^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$")


def address_problem(address: str) -> Text | None:
    """Why ``address`` is no IP address or host name; None when it is one.

    >>> address_problem("10.0.0.300").en
    "'10.0.0.300' is not a valid IPv4 address (each of the four parts is 0-255)"
    >>> address_problem("PC-SZ-001.office.example") is None
    True
    """
    text = address.strip()
    if _DOTTED.match(text):
        try:
            ipaddress.IPv4Address(text)
        except ValueError:
            return T(f"{address!r} 不是有效的 IPv4 地址（四段，每段 0–255）",
                     f"{address!r} is not a valid IPv4 address (each of the four parts is 0-255)")
        return None
    if ":" in text:
        try:
            ipaddress.IPv6Address(text.strip("[]"))
        except ValueError:
            return T(f"{address!r} 不是有效的 IPv6 地址", f"{address!r} is not a valid IPv6 address")
        return None
    labels = text.rstrip(".").split(".")
    if not text or len(text) > 253 or not all(_LABEL.match(label) for label in labels):
        return T(f"{address!r} 不是有效的 IP 地址或主机名", f"{address!r} is not a valid IP address or host name")
    return None
