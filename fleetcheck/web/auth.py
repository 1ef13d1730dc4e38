"""Who may use the dashboard: password hashes, the start-up token, CSRF tokens, login throttling.

Decisions (README "Dashboard / 仪表盘"):

* Passwords are stored only as hashes made by :func:`hash_password` (scrypt
  from :mod:`hashlib`, N=2^14, r=8, p=1, 16-byte salt), written
  ``scrypt$16384$8$1$<salt b64>$<hash b64>``; ``fleetcheck serve
  --hash-password`` prints one. ``pbkdf2_sha256$<iterations>$<salt>$<hash>``
  is accepted too (for systems whose OpenSSL lacks scrypt).
* With no password configured, a random token is made at start and printed on
  the console (like Jupyter's): whoever sees the server's console may log in
  with it, under any user name they type, recorded as ``<name> (token)``. It
  is valid until the server stops.
* Each session carries its own CSRF token (random, 32 bytes); every POST must
  echo it (form field ``csrf`` or header ``X-CSRF-Token``), compared in
  constant time.
* Failed logins are throttled: more than :data:`MAX_FAILURES` in
  :data:`FAILURE_WINDOW_S` seconds and further attempts are refused until the
  window has passed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["Credentials", "LoginThrottle", "hash_password", "new_csrf_token", "new_token", "verify_password"]

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
PBKDF2_MIN_ITERATIONS = 100_000
MAX_FAILURES = 10
FAILURE_WINDOW_S = 60.0


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """A storable scrypt hash of ``password``.

    >>> verify_password("s3cret", hash_password("s3cret"))
    True
    """
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def check_hash_format(stored: str) -> bool:
    """Whether ``stored`` looks like a hash this module can verify (for config validation)."""
    parts = stored.split("$")
    try:
        if parts[0] == "scrypt" and len(parts) == 6:
            int(parts[1]), int(parts[2]), int(parts[3])
            base64.b64decode(parts[4], validate=True), base64.b64decode(parts[5], validate=True)
            return True
        if parts[0] == "pbkdf2_sha256" and len(parts) == 4:
            return int(parts[1]) >= PBKDF2_MIN_ITERATIONS and bool(base64.b64decode(parts[3], validate=True))
    except (ValueError, TypeError):
        return False
    return False


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches ``stored``; False for a wrong password or an unusable hash."""
    if not check_hash_format(stored):
        return False
    parts = stored.split("$")
    if parts[0] == "scrypt":
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt, expected = base64.b64decode(parts[4]), base64.b64decode(parts[5])
        try:
            got = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=len(expected),
                                 maxmem=256 * 1024 * 1024)
        except ValueError:  # parameters beyond what this OpenSSL allows
            return False
    else:
        iterations = int(parts[1])
        salt, expected = base64.b64decode(parts[2]), base64.b64decode(parts[3])
        got = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations, dklen=len(expected))
    return hmac.compare_digest(got, expected)


def new_token() -> str:
    """The start-up login token (URL-safe, 32 characters)."""
    return secrets.token_urlsafe(24)


def new_csrf_token() -> str:
    return secrets.token_urlsafe(32)


def same_token(given: str | None, expected: str | None) -> bool:
    """Constant-time comparison; a missing token on either side never matches."""
    if not given or not expected:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


@dataclass(frozen=True)
class Credentials:
    """Who may log in: named users with password hashes, or (when none) the start-up token."""

    users: Mapping[str, str] = field(default_factory=dict, repr=False)  # user name -> hash
    token: str | None = field(default=None, repr=False)  # the login token is a password

    def authenticate(self, user: str, password: str) -> str | None:
        """The name to record for this login, or None when refused."""
        user = user.strip()
        if not user or not password:
            return None
        if self.users:
            stored = self.users.get(user)
            if stored is None:
                # Spend the same time as for a real user, so names cannot be probed by timing.
                verify_password(password, hash_password("x", salt=b"0" * 16))
                return None
            return user if verify_password(password, stored) else None
        if self.token is not None and same_token(password, self.token):
            return f"{user} (token)"
        return None


class LoginThrottle:
    """Counts failed logins in a sliding window (whole server: it is a single-admin tool)."""

    def __init__(self, max_failures: int = MAX_FAILURES, window_s: float = FAILURE_WINDOW_S) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._failures: deque[float] = deque(maxlen=max_failures + 1)
        self._lock = threading.Lock()

    def _trim(self, now: float) -> None:
        while self._failures and now - self._failures[0] > self.window_s:
            self._failures.popleft()

    def blocked(self) -> bool:
        with self._lock:
            self._trim(time.monotonic())
            return len(self._failures) >= self.max_failures

    def failed(self) -> None:
        with self._lock:
            self._failures.append(time.monotonic())
