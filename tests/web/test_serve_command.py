"""``fleetcheck serve`` options and the password hashes: clear errors, hashes that verify."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from fleetcheck.cli import main
from fleetcheck.commands.serve import is_loopback, parse_bind
from fleetcheck.web.auth import (
    Credentials,
    LoginThrottle,
    check_hash_format,
    hash_password,
    verify_password,
)


def test_hash_password_prints_a_hash_that_verifies() -> None:
    result = CliRunner().invoke(main, ["serve", "--hash-password"], input="pa55 word\npa55 word\n")
    assert result.exit_code == 0, result.output
    stored = result.stdout.strip().splitlines()[-1]
    assert stored.startswith("scrypt$") and check_hash_format(stored)
    assert verify_password("pa55 word", stored) and not verify_password("pa55 wore", stored)


def test_pbkdf2_hashes_are_accepted_and_garbage_is_not() -> None:
    import base64
    import hashlib

    salt = b"0123456789abcdef"
    digest = hashlib.pbkdf2_hmac("sha256", b"pw", salt, 200_000)
    stored = f"pbkdf2_sha256$200000${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"
    assert verify_password("pw", stored)
    for bad in ("", "plain-password", "scrypt$1$2", "pbkdf2_sha256$10$AA==$AA=="):
        assert not check_hash_format(bad) and not verify_password("pw", bad)


def test_credentials_users_and_token() -> None:
    creds = Credentials(users={"admin": hash_password("pw")})
    assert creds.authenticate("admin", "pw") == "admin"
    assert creds.authenticate("admin", "nope") is None and creds.authenticate("other", "pw") is None
    assert Credentials(token="t0k").authenticate("wang", "t0k") == "wang (token)"
    assert Credentials(token="t0k").authenticate("", "t0k") is None
    assert Credentials().authenticate("admin", "") is None


def test_login_throttle_blocks_after_the_limit() -> None:
    throttle = LoginThrottle(max_failures=3, window_s=60)
    for _ in range(2):
        throttle.failed("admin", "127.0.0.1")
    assert not throttle.blocked("admin", "127.0.0.1")
    throttle.failed("admin", "127.0.0.1")
    assert throttle.blocked("admin", "127.0.0.1")


def test_bind_parsing_and_loopback() -> None:
    assert parse_bind("127.0.0.1:8765") == ("127.0.0.1", 8765)
    assert parse_bind("[::1]:9000") == ("::1", 9000)
    for bad in ("8765", "127.0.0.1:x", "127.0.0.1:0", ":80"):
        with pytest.raises(ValueError):
            parse_bind(bad)
    assert is_loopback("127.0.1.17") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3")


def test_bad_config_and_hash_are_clear_errors(tmp_path: Path) -> None:
    config = tmp_path / "dashboard.yaml"
    config.write_text("users:\n  admin: not-a-hash\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["--lang", "en", "serve", "--db", str(tmp_path / "h.db"), "--config", str(config)])
    assert result.exit_code == 2 and "the password hash of user admin is not valid" in result.output
    assert "Traceback" not in result.output
    config.write_text("userz: {}\n", encoding="utf-8")
    result = CliRunner().invoke(main, ["--lang", "en", "serve", "--db", str(tmp_path / "h.db"), "--config", str(config)])
    assert result.exit_code == 2 and "dashboard.yaml:1:1: unknown key 'userz'" in result.output  # the one YAML loader
    result = CliRunner().invoke(main, ["serve", "--db", str(tmp_path / "h.db"), "--password-hash", "x"])
    assert result.exit_code == 2 and "--password-hash 无效" in result.output
    result = CliRunner().invoke(main, ["--lang", "en", "serve", "--db", str(tmp_path / "h.db"), "--bind", "nope"])
    assert result.exit_code == 2 and "write HOST:PORT" in result.output
    result = CliRunner().invoke(main, ["--lang", "en", "serve", "--db", str(tmp_path / "h.db"),
                                       "-i", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 2 and "missing.yaml" in result.output and "Traceback" not in result.output
