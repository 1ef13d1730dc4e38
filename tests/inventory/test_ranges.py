"""Host ranges as Ansible expands them ("Adding ranges of hosts", docs.ansible.com intro_inventory)."""

from __future__ import annotations

import pytest

from fleetcheck.inventory import InventoryError, parse_inventory
from fleetcheck.inventory.ranges import MAX_EXPANDED, RangeError, expand_host_range


@pytest.mark.parametrize(("pattern", "expected"), [
    ("PC-SZ-[001:003]", ["PC-SZ-001", "PC-SZ-002", "PC-SZ-003"]),  # leading zeros kept
    ("db-[99:101]-node", ["db-99-node", "db-100-node", "db-101-node"]),  # no leading zero: no padding
    ("pc-[a:c]", ["pc-a", "pc-b", "pc-c"]),
    ("pc-[y:B]", ["pc-y", "pc-z", "pc-A", "pc-B"]),  # Ansible's letter order: a-z then A-Z
    ("pc[0:10:2]", ["pc0", "pc2", "pc4", "pc6", "pc8", "pc10"]),  # stride
    ("pc[a:g:3]", ["pca", "pcd", "pcg"]),
    ("pc[:2]", ["pc0", "pc1", "pc2"]),  # an empty begin is 0
    ("r[1:2]-[a:b]", ["r1-a", "r1-b", "r2-a", "r2-b"]),  # leftmost range varies slowest
    ("PC-SZ-001", ["PC-SZ-001"]),
])
def test_expansion(pattern: str, expected: list[str]) -> None:
    assert expand_host_range(pattern) == expected


@pytest.mark.parametrize(("pattern", "words"), [
    ("pc[001:3]", "same number of digits"),
    ("pc[5:1]", "begin is greater than end"),
    ("pc[c:a]", "begin comes after end"),
    ("pc[1:5:0]", "step must be a whole number above 0"),
    ("pc[1:x]", "numbers (like [01:20]) or single letters"),
    ("pc[1]", "must be [begin:end]"),
    ("pc[1:]", "has no end value"),
    ("pc[1:3", "unbalanced brackets"),
    ("pc1:3]", "unbalanced brackets"),
    (f"pc[0:{MAX_EXPANDED}]", "more than"),
    ("a[0:200]b[0:200]", "more than"),
])
def test_bad_ranges_are_refused(pattern: str, words: str) -> None:
    with pytest.raises(RangeError) as exc:
        expand_host_range(pattern)
    assert words in exc.value.text.en and exc.value.text.zh


def test_yaml_inventory_range_key_makes_every_host_with_its_variables() -> None:
    inv = parse_inventory(
        "all:\n"
        "  children:\n"
        "    shenzhen:\n"
        "      vars: {branch: 深圳营业部}\n"
        "      hosts:\n"
        "        PC-SZ-[001:003]: {ansible_port: 5985}\n"
        "        PC-SZ-002: {operator: 'OFFICE\\交易员02'}\n",
        "office.yaml",
    )
    assert list(inv.hosts) == ["PC-SZ-001", "PC-SZ-002", "PC-SZ-003"]
    assert inv.groups["shenzhen"] == ("PC-SZ-001", "PC-SZ-002", "PC-SZ-003")
    assert all(inv.hosts[h].effective_port == 5985 and inv.hosts[h].branch == "深圳营业部" for h in inv.hosts)
    assert inv.hosts["PC-SZ-001"].address == "PC-SZ-001"
    assert inv.hosts["PC-SZ-002"].operator == "OFFICE\\交易员02" and inv.hosts["PC-SZ-003"].operator is None


def test_a_bad_range_in_yaml_is_reported_at_its_key() -> None:
    with pytest.raises(InventoryError) as exc:
        parse_inventory("all:\n  hosts:\n    PC-OK-1: {}\n    PC-SZ-[001:3]: {}\n", "office.yaml")
    text = exc.value.format("en")
    assert "office.yaml:4:5:" in text and "same number of digits" in text
    assert "同样位数" in exc.value.format("zh")
