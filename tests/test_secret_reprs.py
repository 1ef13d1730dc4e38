"""Objects that hold secrets print without them (a repr ends up in logs and tracebacks)."""

from __future__ import annotations

from fleetcheck.notify.channels import Redactor, SendContext
from fleetcheck.web.auth import Credentials

SECRET = "Robot-S3cret-签名"


def test_notification_context_and_redactor_hide_what_they_hold() -> None:
    redactor = Redactor()
    redactor.add(SECRET)
    context = SendContext(lang="en", redactor=redactor, now=lambda: 0.0, env={"DINGTALK_SECRET": SECRET})
    assert redactor(f"sign={SECRET}") == "sign=***"  # still redacts
    for text in (repr(redactor), str(context), repr(context)):
        assert SECRET not in text


def test_dashboard_credentials_hide_token_and_hashes() -> None:
    creds = Credentials(users={"admin": "scrypt$HASH-VALUE"}, token="login-token-123")
    assert creds.authenticate("admin", "login-token-123") is None  # users present: the token is not accepted
    for text in (repr(creds), str(creds)):
        assert "login-token-123" not in text and "HASH-VALUE" not in text
