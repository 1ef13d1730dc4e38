"""Who may use the dashboard: password hashes, the start-up token, CSRF tokens, login throttling.

Decisions (README "Dashboard / 仪表盘"):

* Passwords are stored only as hashes made by :func:`hash_password`, at the
  parameters of the OWASP Password Storage Cheat Sheet
  (https://cheatsheetseries.owasp.org/cheatsheets/Password_Storage_Cheat_Sheet.html,
  "scrypt" and "PBKDF2"): scrypt from :mod:`hashlib`, N=2^17, r=8, p=1,
  16-byte salt, written ``scrypt$131072$8$1$<salt b64>$<hash b64>``;
  ``fleetcheck serve --hash-password`` prints one. Where this Python's OpenSSL
  lacks scrypt, PBKDF2-HMAC-SHA256 at 600,000 iterations
  (``pbkdf2_sha256$600000$<salt>$<hash>``).
* Older hashes (scrypt N=2^14, PBKDF2 from 100,000 iterations) still verify.
  At the next successful login such a hash is *upgraded*: rehashed at the
  current parameters and kept in memory (:meth:`Credentials.authenticate`;
  later logins of that user verify against the new hash), and a warning is
  logged once per user telling the admin to re-run ``fleetcheck serve
  --hash-password`` and put the new hash into the config. The config file is
  not rewritten: it is the admin's file (comments, layout, often read-only or
  under configuration management), and ``--password-hash`` has no file at all.
  The upgrade does not end the user's sessions (a session's fingerprint is of
  the configured hash).
* With no password configured, a random token is made at start and printed on
  the console (like Jupyter's): whoever sees the server's console may log in
  with it, under any user name they type, recorded as ``<name> (token)``. It
  is valid until the server stops.
* Each session carries its own CSRF token (random, 32 bytes); every POST must
  echo it (form field ``csrf`` or header ``X-CSRF-Token``), compared in
  constant time.
* Sessions live on the server (:class:`SessionStore`): the cookie carries only
  a random session id. Logout revokes it at once (the old cookie and its CSRF
  token stop working), so does a change of that user's password hash (the
  session remembers a fingerprint of the credential it was opened with), and
  every session ends after its lifetime (``fleetcheck serve --session-hours``,
  default 8). A restart ends every session.
* Failed logins are throttled per (user name, client address) and per client
  address, never for the whole server (:class:`LoginThrottle`): after
  :data:`MAX_FAILURES` failures within :data:`FAILURE_WINDOW_S` seconds that key
  waits :data:`BASE_LOCKOUT_S` seconds, doubling with each further failure up to
  :data:`MAX_LOCKOUT_S`. Somebody guessing from another PC cannot lock the admin
  out of theirs; a success clears that user's counter at that address.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import logging
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from fleetcheck.i18n import T

__all__ = [
    "Credentials",
    "LoginThrottle",
    "Session",
    "SessionStore",
    "hash_password",
    "needs_rehash",
    "new_csrf_token",
    "new_token",
    "verify_password",
]

#: OWASP Password Storage Cheat Sheet's scrypt and PBKDF2-HMAC-SHA256 parameters.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**17, 8, 1
PBKDF2_ITERATIONS = 600_000
#: The oldest hashes still accepted (fleetcheck's earlier defaults); upgraded at login.
PBKDF2_MIN_ITERATIONS = 100_000
SCRYPT_MAXMEM = 256 * 1024 * 1024  # 128 * r * N = 128 MiB at N=2^17, r=8; hashlib's default is 32 MiB
MAX_FAILURES = 5  # per (user, address); an address alone gets ADDRESS_FACTOR times as many
ADDRESS_FACTOR = 4
FAILURE_WINDOW_S = 300.0
BASE_LOCKOUT_S = 30.0
MAX_LOCKOUT_S = 900.0
MAX_TRACKED_KEYS = 10_000  # bounded memory under a flood of names/addresses
DEFAULT_SESSION_S = 8 * 3600.0
MAX_SESSIONS = 10_000


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


_log = logging.getLogger(__name__)


def _has_scrypt() -> bool:
    return hasattr(hashlib, "scrypt")


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """A storable hash of ``password``: scrypt at OWASP's parameters (PBKDF2 where scrypt is missing).

    >>> verify_password("s3cret", hash_password("s3cret"))
    True
    """
    salt = salt if salt is not None else secrets.token_bytes(16)
    if not _has_scrypt():
        digest = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, PBKDF2_ITERATIONS, dklen=32)
        return f"pbkdf2_sha256${PBKDF2_ITERATIONS}${_b64(salt)}${_b64(digest)}"
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32,
                            maxmem=SCRYPT_MAXMEM)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


def needs_rehash(stored: str) -> bool:
    """Whether a (valid) ``stored`` hash is below the current parameters and should be upgraded."""
    parts = stored.split("$")
    if parts[0] == "scrypt":
        return int(parts[1]) < SCRYPT_N or int(parts[2]) < SCRYPT_R
    return int(parts[1]) < PBKDF2_ITERATIONS  # PBKDF2 at OWASP's count is kept as it is


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
                                 maxmem=SCRYPT_MAXMEM)
        except ValueError:  # parameters beyond what this OpenSSL allows
            return False
    else:
        iterations = int(parts[1])
        salt, expected = base64.b64decode(parts[2]), base64.b64decode(parts[3])
        got = hashlib.pbkdf2_hmac("sha256", password.encode("utf-8"), salt, iterations, dklen=len(expected))
    return hmac.compare_digest(got, expected)


@functools.cache
def _dummy_hash() -> str:
    """A hash at the current parameters to verify unknown users against (made once)."""
    return hash_password("x", salt=b"0" * 16)


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
    #: Hashes rehashed at the current parameters at a login (user -> new hash); see the module docstring.
    _upgraded: dict[str, str] = field(default_factory=dict, init=False, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    def current_hash(self, user: str) -> str | None:
        """The hash ``user``'s password is verified against: the upgraded one, else the configured one."""
        with self._lock:
            upgraded = self._upgraded.get(user)
        return upgraded if upgraded is not None else self.users.get(user)

    def authenticate(self, user: str, password: str) -> str | None:
        """The name to record for this login, or None when refused."""
        user = user.strip()
        if not user or not password:
            return None
        if self.users:
            stored = self.current_hash(user)
            if stored is None:
                # Spend the same time as for a real user, so names cannot be probed by timing.
                verify_password(password, _dummy_hash())
                return None
            if not verify_password(password, stored):
                return None
            if needs_rehash(stored):
                self._upgrade(user, password)
            return user
        if self.token is not None and same_token(password, self.token):
            return f"{user} (token)"
        return None

    def _upgrade(self, user: str, password: str) -> None:
        new = hash_password(password)
        with self._lock:
            self._upgraded[user] = new
        text = T(
            f"用户 {user} 的密码哈希低于当前参数（scrypt N=2^17 / PBKDF2 600,000 次），已在内存中升级；"
            "请运行 fleetcheck serve --hash-password 生成新哈希并写入配置文件",
            f"the password hash of user {user} is below the current parameters (scrypt N=2^17 / "
            "PBKDF2 600,000 iterations); upgraded in memory for this run: make a new one with "
            "fleetcheck serve --hash-password and put it into the config",
        )
        _log.warning("%s", text.en, extra={"text": text})

    def fingerprint(self, name: str) -> str | None:
        """A digest of the credential a login ``name`` was accepted with (None: no longer valid).

        Sessions compare it on every request, so changing a user's password hash
        (or losing the user) ends that user's sessions.
        """
        user = name[: -len(" (token)")] if name.endswith(" (token)") and not self.users else name
        stored = self.users.get(user) if self.users else self.token
        if stored is None:
            return None
        return hashlib.sha256(stored.encode("utf-8")).hexdigest()


@dataclass
class _Failures:
    times: deque[float] = field(default_factory=deque)
    blocked_until: float = 0.0
    lockouts: int = 0


class LoginThrottle:
    """Failed logins per (user, client address) and per address, with exponential backoff.

    ``clock`` is injectable for tests (monotonic seconds).
    """

    def __init__(self, max_failures: int = MAX_FAILURES, window_s: float = FAILURE_WINDOW_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._clock = clock
        self._keys: OrderedDict[str, _Failures] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _pair(user: str, address: str) -> str:
        return f"u:{user.strip().lower()}\x1f{address}"

    def _wait(self, key: str, now: float) -> float:
        entry = self._keys.get(key)
        return max(0.0, entry.blocked_until - now) if entry is not None else 0.0

    def retry_after(self, user: str, address: str) -> float:
        """Seconds until this user may try again from this address (0: now)."""
        with self._lock:
            now = self._clock()
            return max(self._wait(self._pair(user, address), now), self._wait(f"a:{address}", now))

    def blocked(self, user: str, address: str) -> bool:
        return self.retry_after(user, address) > 0

    def _count(self, key: str, limit: int, now: float) -> None:
        entry = self._keys.pop(key, None) or _Failures()
        self._keys[key] = entry  # most recent last
        while entry.times and now - entry.times[0] > self.window_s:
            entry.times.popleft()
        entry.times.append(now)
        if len(entry.times) >= limit:
            entry.lockouts += 1
            entry.blocked_until = now + min(MAX_LOCKOUT_S, BASE_LOCKOUT_S * 2 ** (entry.lockouts - 1))
            entry.times.clear()
        while len(self._keys) > MAX_TRACKED_KEYS:
            self._keys.popitem(last=False)

    def failed(self, user: str, address: str) -> None:
        with self._lock:
            now = self._clock()
            self._count(self._pair(user, address), self.max_failures, now)
            self._count(f"a:{address}", self.max_failures * ADDRESS_FACTOR, now)

    def succeeded(self, user: str, address: str) -> None:
        with self._lock:
            self._keys.pop(self._pair(user, address), None)


@dataclass(frozen=True)
class Session:
    """One logged-in browser: who, its CSRF token, when it ends, the credential it was opened with."""

    user: str
    csrf: str = field(repr=False)
    expires: float
    fingerprint: str | None = field(repr=False)


class SessionStore:
    """Server-side sessions keyed by a random id (the only thing in the cookie)."""

    def __init__(self, lifetime_s: float = DEFAULT_SESSION_S, clock: Callable[[], float] = time.monotonic) -> None:
        if lifetime_s <= 0:
            raise ValueError("session lifetime must be positive")
        self.lifetime_s = lifetime_s
        self._clock = clock
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    def open(self, user: str, fingerprint: str | None) -> tuple[str, Session]:
        """A new session (id, session); the oldest is dropped beyond :data:`MAX_SESSIONS`."""
        sid = secrets.token_urlsafe(32)
        session = Session(user, new_csrf_token(), self._clock() + self.lifetime_s, fingerprint)
        with self._lock:
            self._sessions[sid] = session
            while len(self._sessions) > MAX_SESSIONS:
                self._sessions.popitem(last=False)
        return sid, session

    def get(self, sid: object, credentials: Credentials) -> Session | None:
        """The live session for ``sid``; None (and revoked) when unknown, expired or its password changed."""
        if not isinstance(sid, str) or not sid:
            return None
        with self._lock:
            session = self._sessions.get(sid)
            if session is None:
                return None
            if self._clock() >= session.expires or credentials.fingerprint(session.user) != session.fingerprint:
                del self._sessions[sid]
                return None
            return session

    def revoke(self, sid: object) -> None:
        if isinstance(sid, str):
            with self._lock:
                self._sessions.pop(sid, None)

    def revoke_user(self, user: str) -> int:
        """End every session of ``user``; how many there were."""
        with self._lock:
            gone = [sid for sid, s in self._sessions.items() if s.user == user]
            for sid in gone:
                del self._sessions[sid]
        return len(gone)

    def __len__(self) -> int:
        return len(self._sessions)
