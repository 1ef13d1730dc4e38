"""The notification config: the shipped example loads; mistakes are reported at their line."""

from __future__ import annotations

from pathlib import Path

import pytest

from fleetcheck.notify import NotifyConfigError, load_notify_config
from fleetcheck.notify.config import EnvSecret, SecretUnavailable, resolve_secret


def _load(tmp_path: Path, text: str) -> NotifyConfigError:
    path = tmp_path / "notify.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(NotifyConfigError) as info:
        load_notify_config(path)
    return info.value


def test_shipped_example_loads(repo_root: Path) -> None:
    cfg = load_notify_config(repo_root / "notify.example.yaml")
    assert cfg.notify_on == "change" and cfg.expiring_days == 30
    assert [c.type for c in cfg.channels] == ["email", "wecom", "dingtalk", "feishu", "webhook"]
    assert cfg.base_dir == repo_root


def test_literal_password_is_refused_at_its_line(tmp_path: Path) -> None:
    err = _load(tmp_path, """\
channels:
  - type: email
    host: smtp.example.com
    username: u
    password: hunter2
    from: a@example.com
    to: [b@example.com]
""")
    text = err.format("zh")
    assert "notify.yaml:5:15" in text and "不接受明文密码" in text and "{env: 变量名}" in text
    assert "a literal password is refused: write {env: NAME}" in err.format("en")


def test_all_problems_reported_together(tmp_path: Path) -> None:
    err = _load(tmp_path, """\
notify_on: sometimes
expiring_days: -1
channels:
  - type: slack
    webhook: https://example.com
  - type: dingtalk
    webhook: https://oapi.dingtalk.com/robot/send?access_token=x
    secret: SECplain
""")
    lines = {(i.line, i.col) for i in err.issues}
    assert {(1, 12), (2, 16), (4, 11), (8, 13)} <= lines
    text = err.format("zh")
    assert "未知的通知渠道类型 'slack'" in text


def test_password_over_plain_smtp_is_refused_off_loopback(tmp_path: Path) -> None:
    err = _load(tmp_path, """\
channels:
  - type: email
    host: mail.example.com
    security: none
    username: u
    password: {env: P}
    from: a@example.com
    to: [b@example.com]
""")
    assert "明文传输" in err.format("zh") and "notify.yaml:2" in err.format("zh")


def test_non_ascii_header_refused(tmp_path: Path) -> None:
    err = _load(tmp_path, """\
channels:
  - type: webhook
    url: https://hooks.example.com/x
    headers: {X-Office: 深圳}
""")
    assert "ASCII" in err.format("zh")


def test_missing_env_secret_says_what_to_do() -> None:
    with pytest.raises(SecretUnavailable) as info:
        resolve_secret(EnvSecret(env="FLEETCHECK_NOT_SET"), {})
    assert "FLEETCHECK_NOT_SET" in info.value.text.zh and "EnvironmentFile" in info.value.text.en
