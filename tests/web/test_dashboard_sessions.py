"""Dashboard sessions and login throttling (hostile-input issue, finding 5).

* After logout the old cookie and its CSRF token are worthless (server-side sessions).
* A changed password hash ends that user's sessions; sessions end after their lifetime.
* Failed logins are throttled per (user, address) and per address with backoff:
  ten bad logins from another computer never lock the admin out of theirs.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dashboard_support import ADMIN_PASSWORD, csrf_of, login  # type: ignore[import-not-found]
from starlette.testclient import TestClient

from fleetcheck.web.app import SESSION_COOKIE, create_app
from fleetcheck.web.auth import (
    BASE_LOCKOUT_S,
    MAX_FAILURES,
    Credentials,
    LoginThrottle,
    SessionStore,
    hash_password,
)
from fleetcheck.web.fleet import Fleet, FleetSettings

ADMIN_HASH = hash_password(ADMIN_PASSWORD)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def app(tmp_path: Path) -> Iterator[Any]:
    fleet = Fleet(FleetSettings(db_url=str(tmp_path / "web.db"), inventory=None))
    application = create_app(fleet, Credentials(users={"admin": ADMIN_HASH}))
    yield application
    fleet.close()


def _client(app: Any, address: str = "127.0.0.1") -> TestClient:
    client = TestClient(app, base_url="http://127.0.0.1", follow_redirects=False, client=(address, 50000))
    client.__enter__()
    return client


def test_logout_revokes_the_old_cookie_and_its_csrf_token(app: Any) -> None:
    client = _client(app)
    token = login(client)
    stolen = client.cookies.get(SESSION_COOKIE)
    assert stolen and client.get("/history").status_code == 200
    assert client.post("/logout", data={"csrf": token}).status_code == 303
    replay = _client(app)
    replay.cookies.set(SESSION_COOKIE, stolen)
    assert replay.get("/history").status_code == 303  # back to the login page
    assert replay.post("/logout", headers={"X-CSRF-Token": token}).status_code == 403


def test_a_changed_password_ends_that_users_sessions(app: Any) -> None:
    client = _client(app)
    login(client)
    assert client.get("/").status_code == 200
    app.state.dashboard.update_credentials(Credentials(users={"admin": hash_password("a new password")}))
    assert client.get("/").status_code == 303
    login(client, password="a new password")
    assert client.get("/").status_code == 200


def test_sessions_end_after_their_lifetime() -> None:
    clock = FakeClock()
    store = SessionStore(lifetime_s=60, clock=clock)
    creds = Credentials(users={"admin": ADMIN_HASH})
    sid, _ = store.open("admin", creds.fingerprint("admin"))
    assert store.get(sid, creds) is not None
    clock.now += 61
    assert store.get(sid, creds) is None and len(store) == 0
    with pytest.raises(ValueError):
        SessionStore(lifetime_s=0)


def test_bad_logins_elsewhere_never_lock_the_admin_out(app: Any) -> None:
    attacker = _client(app, "127.0.0.66")
    for _ in range(10):
        page = attacker.get("/login")
        attacker.post("/login", data={"csrf": csrf_of(page.text), "username": "admin", "password": "guess"})
    page = attacker.get("/login")
    refused = attacker.post("/login", data={"csrf": csrf_of(page.text), "username": "admin", "password": ADMIN_PASSWORD})
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
    admin = _client(app, "127.0.0.10")
    login(admin)  # the real admin at their own PC is not locked out
    assert admin.get("/").status_code == 200


def test_throttle_backs_off_per_user_and_address() -> None:
    clock = FakeClock()
    throttle = LoginThrottle(clock=clock)
    for _ in range(MAX_FAILURES - 1):
        throttle.failed("admin", "10.0.0.1")
    assert not throttle.blocked("admin", "10.0.0.1")
    throttle.failed("admin", "10.0.0.1")
    assert throttle.retry_after("admin", "10.0.0.1") == pytest.approx(BASE_LOCKOUT_S)
    assert not throttle.blocked("admin", "10.0.0.2") and not throttle.blocked("other", "10.0.0.1")
    clock.now += BASE_LOCKOUT_S + 1
    assert not throttle.blocked("admin", "10.0.0.1")
    for _ in range(MAX_FAILURES):
        throttle.failed("admin", "10.0.0.1")
    assert throttle.retry_after("admin", "10.0.0.1") == pytest.approx(2 * BASE_LOCKOUT_S)  # doubled
    clock.now += 2 * BASE_LOCKOUT_S + 1
    throttle.succeeded("admin", "10.0.0.1")
    assert not throttle.blocked("admin", "10.0.0.1")


def test_one_address_guessing_many_names_is_throttled_as_an_address() -> None:
    throttle = LoginThrottle(clock=FakeClock())
    for n in range(4 * MAX_FAILURES):
        throttle.failed(f"user{n}", "10.0.0.9")
    assert throttle.blocked("someone-new", "10.0.0.9")
    assert not throttle.blocked("someone-new", "10.0.0.8")
