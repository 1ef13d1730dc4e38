"""Dashboard password hashes: OWASP's parameters, old hashes still verify and are upgraded at login.

scrypt at N=2^17 costs ~0.5 s per hash here, so these tests make as few as they can.
"""

from __future__ import annotations

import base64
import hashlib
import logging

import pytest

from fleetcheck.web import auth
from fleetcheck.web.auth import (
    Credentials,
    SessionStore,
    hash_password,
    needs_rehash,
    verify_password,
)

SALT = b"fleetcheck-salt!"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def old_scrypt(password: str) -> str:
    """A hash as fleetcheck made them before (scrypt N=2^14)."""
    digest = hashlib.scrypt(password.encode(), salt=SALT, n=2**14, r=8, p=1, dklen=32)
    return f"scrypt$16384$8$1${_b64(SALT)}${_b64(digest)}"


def old_pbkdf2(password: str) -> str:
    """A PBKDF2-HMAC-SHA256 hash at the old floor of 100,000 iterations."""
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), SALT, 100_000)
    return f"pbkdf2_sha256$100000${_b64(SALT)}${_b64(digest)}"


def test_new_hashes_use_owasp_scrypt_parameters() -> None:
    stored = hash_password("correct horse")
    scheme, n, r, p, salt, digest = stored.split("$")
    assert (scheme, n, r, p) == ("scrypt", "131072", "8", "1")
    assert len(base64.b64decode(salt)) == 16 and len(base64.b64decode(digest)) == 32
    assert verify_password("correct horse", stored)
    assert not needs_rehash(stored)


def test_without_scrypt_new_hashes_are_pbkdf2_at_600000(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "_has_scrypt", lambda: False)
    stored = hash_password("correct horse", salt=SALT)
    digest = hashlib.pbkdf2_hmac("sha256", b"correct horse", SALT, 600_000, dklen=32)
    assert stored == f"pbkdf2_sha256$600000${_b64(SALT)}${_b64(digest)}"
    assert not needs_rehash(stored)


def test_old_hashes_still_verify_and_are_marked_for_upgrade() -> None:
    for stored in (old_scrypt("pw"), old_pbkdf2("pw")):
        assert verify_password("pw", stored)
        assert not verify_password("other", stored)
        assert needs_rehash(stored)
    assert not needs_rehash(f"pbkdf2_sha256$600000${_b64(SALT)}$AAAA")


def test_login_upgrades_an_old_hash_in_memory_warns_once_and_keeps_sessions(
        caplog: pytest.LogCaptureFixture) -> None:
    pw = "Tr0ub4dor&3-upgrade"
    old = old_pbkdf2(pw)
    creds = Credentials(users={"admin": old})
    sessions = SessionStore()
    sid, _ = sessions.open("admin", creds.fingerprint("admin"))
    assert creds.authenticate("admin", "wrong") is None
    assert creds.current_hash("admin") == old  # a failed login upgrades nothing

    with caplog.at_level(logging.WARNING, logger="fleetcheck.web.auth"):
        assert creds.authenticate("admin", pw) == "admin"
    upgraded = creds.current_hash("admin")
    assert upgraded is not None and upgraded.startswith("scrypt$131072$8$1$")
    assert verify_password(pw, upgraded)
    assert creds.users["admin"] == old  # the configured hash (the config file) is left as it is
    [record] = [r for r in caplog.records if r.name == "fleetcheck.web.auth"]
    assert "fleetcheck serve --hash-password" in record.getMessage()
    text = record.text  # type: ignore[attr-defined]
    assert "fleetcheck serve --hash-password" in text.zh and "升级" in text.zh
    assert pw not in record.getMessage() and pw not in text.zh  # the password is never logged

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="fleetcheck.web.auth"):
        assert creds.authenticate("admin", pw) == "admin"  # verified against the new hash
        assert creds.authenticate("admin", "wrong") is None
    assert not caplog.records  # warned once
    assert creds.current_hash("admin") == upgraded
    assert sessions.get(sid, creds) is not None  # the upgrade ends no session
