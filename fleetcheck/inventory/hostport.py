"""``host:port`` host keys, as Ansible's YAML and INI inventory plugins read them (pure).

Ansible (``_expand_hostpattern`` in ``ansible/plugins/inventory/__init__.py``,
``parse_address`` in ``ansible/parsing/utils/addresses.py``; docs.ansible.com,
*How to build your inventory*, "Hosts in multiple groups" / non-standard ports):

* ``badwolf.example.com:5309`` and ``10.0.0.1:5985`` name the host without the
  port and set its ``ansible_port``; so does ``PC-SZ-[001:003]:5985`` for every
  host of the range; an IPv6 address takes a port only in brackets
  (``[fe80::1]:5986``);
* what is left must read as an IPv4 address, an IPv6 address or a host name
  (labels of letters, digits, ``-`` and ``_``, not ending in ``-``/``_``; ranges
  allowed); otherwise the key is taken whole, as a name, with no port;
* the port is given to the host when it is first listed (later ``name:port``
  entries of the same host do not change it), and the host's own variables,
  ``ansible_port`` included, are set after it: an explicit ``ansible_port``
  wins over the one in the key.

``ansible-inventory --list`` JSON has no such keys (its ports are in
``hostvars``), so it is not read this way.
"""

from __future__ import annotations

import ipaddress
import re

__all__ = ["split_host_port"]

_BRACKETED = re.compile(r"^\[(.+)\]:([0-9]+)$")
_WITH_PORT = re.compile(r"^((?:[^:\[\]]|\[[^\]]*\])*):([0-9]+)$")
_RANGE = re.compile(r"\[[0-9a-zA-Z]*:[0-9a-zA-Z]*(?::[0-9]+)?\]")
_LABEL = re.compile(r"^\w(?:[\w-]*)$", re.UNICODE)


def _is_host(text: str) -> bool:
    """Whether ``text`` (ranges allowed) reads as an IPv4/IPv6 address or a host name, as Ansible checks it."""
    plain = _RANGE.sub("0", text)
    if "[" in plain or "]" in plain or not plain:
        return False
    try:
        ipaddress.ip_address(plain)
        return True
    except ValueError:
        pass
    labels = plain.split(".")
    return all(_LABEL.match(label) and not label.endswith(("-", "_")) for label in labels)


def split_host_port(pattern: str) -> tuple[str, int | None]:
    """``("host", port)`` of a host key; ``(pattern, None)`` when it has no port Ansible would split off.

    >>> split_host_port("host.example:5986")
    ('host.example', 5986)
    >>> split_host_port("PC-SZ-[001:003]:5985")
    ('PC-SZ-[001:003]', 5985)
    >>> split_host_port("[fe80::1]:5986")
    ('fe80::1', 5986)
    >>> split_host_port("PC-SZ-[001:003]")
    ('PC-SZ-[001:003]', None)
    """
    for shape in (_BRACKETED, _WITH_PORT):
        match = shape.match(pattern)
        if match and _is_host(match.group(1)):
            return match.group(1), int(match.group(2))
    return pattern, None
