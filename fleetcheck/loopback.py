"""Is an address this computer's own? (dashboard binding, SMTP without TLS, the test-suite guard)."""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback IPs (127.0.0.0/8, ::1); names other than localhost are not.

    >>> is_loopback("127.0.1.17"), is_loopback("[::1]"), is_loopback("10.0.0.1"), is_loopback("pc-01")
    (True, True, False, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
