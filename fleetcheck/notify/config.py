"""The notification config file (``notify.yaml``): when to send, to whom, through what.

```yaml
notify_on: problems        # always | change | problems
expiring_days: 30          # certificates expiring within this many days are listed
lang: zh                   # zh | en (omit: the CLI's --lang)
report_url: https://intranet.example/fleetcheck/{run_id}/report.html   # optional link in messages
channels:
  - type: email
    host: smtp.example.com
    security: starttls     # starttls | ssl | none
    username: fleetcheck@example.com
    password: {env: FLEETCHECK_SMTP_PASSWORD}
    from: fleetcheck@example.com
    to: [it-ops@example.com]
    attach_report: true    # true | inline | false
  - type: dingtalk
    webhook: https://oapi.dingtalk.com/robot/send?access_token=…
    secret: {env: DINGTALK_SECRET}
```

Decisions:

- Secrets are never written in the file. ``password`` (SMTP), ``secret``
  (DingTalk, Feishu) and ``hmac_secret`` (webhook) must be references:
  ``{env: NAME}`` (environment variable) or ``{keyring: service/user}`` (the OS
  keyring). A literal value is *refused* with an error at its line: a config
  file is copied, committed and mailed around far more than a password should be.
- Webhook URLs of WeCom/DingTalk/Feishu carry their key in the URL. A literal
  URL is accepted (that is how the robots hand them out) or a reference; either
  way the key is masked in every message fleetcheck prints.
- ``security: none`` with a password is refused unless the server is on
  loopback: the password would cross the network in clear text.
- Relative ``ca_file`` paths are relative to the config file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from fleetcheck.errors import FleetcheckError
from fleetcheck.i18n import Lang, T
from fleetcheck.loopback import is_loopback
from fleetcheck.yamlfile import UserFileError, load_model

__all__ = [
    "Channel",
    "DingTalkChannel",
    "EmailChannel",
    "EnvSecret",
    "FeishuChannel",
    "KeyringSecret",
    "NotifyConfig",
    "NotifyConfigError",
    "SecretRef",
    "SecretUnavailable",
    "WeComChannel",
    "WebhookChannel",
    "load_notify_config",
    "resolve_secret",
]

class NotifyConfigError(UserFileError):
    """A notification config file that cannot be used (every issue at ``file:line:col``)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class EnvSecret(_Strict):
    """``{env: NAME}``: the secret is in environment variable NAME."""

    env: str = Field(min_length=1)


class KeyringSecret(_Strict):
    """``{keyring: service/user}``: the secret is in the OS keyring."""

    keyring: str = Field(pattern=r"^[^/]+/.+$")


SecretRef = EnvSecret | KeyringSecret


def _refuse_literal(value: Any, what_zh: str, what_en: str) -> Any:
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        raise ValueError(  # pydantic turns a ValueError into a located issue
            f"不接受明文{what_zh}，请写成 {{env: 变量名}} 或 {{keyring: 服务/用户}} / "
            f"a literal {what_en} is refused: write {{env: NAME}} or {{keyring: service/user}}"
        )
    return value


class SecretUnavailable(FleetcheckError):
    """A referenced secret could not be read; ``text`` says which and what to do."""


def resolve_secret(ref: SecretRef | str, env: Mapping[str, str] | None = None) -> str:
    """The value behind a reference (a plain string is returned as is: only URLs allow it).

    >>> resolve_secret(EnvSecret(env="X"), {"X": "s3cret"})
    's3cret'
    """
    if isinstance(ref, str):
        return ref
    if isinstance(ref, EnvSecret):
        value = (os.environ if env is None else env).get(ref.env)
        if not value:
            raise SecretUnavailable(
                T(
                    f"环境变量 {ref.env} 未设置或为空：请在运行 fleetcheck 的环境中设置它"
                    "（定时任务请放入 EnvironmentFile）。",
                    f"environment variable {ref.env} is not set or empty: set it where fleetcheck"
                    " runs (for scheduled runs, in the EnvironmentFile).",
                )
            )
        return value
    service, _, user = ref.keyring.partition("/")
    try:
        import keyring  # optional dependency: pip install 'fleetcheck[keyring]'

        value = keyring.get_password(service, user)
    except Exception as exc:  # noqa: BLE001 - keyring backends raise many types; none may reach the scan
        raise SecretUnavailable(
            T(
                f"无法读取密钥环 {service}/{user}：{type(exc).__name__}；请确认已安装 keyring 并可用。",
                f"cannot read keyring entry {service}/{user}: {type(exc).__name__}; check that"
                " keyring is installed and has a usable backend.",
            )
        ) from None
    if not value:
        raise SecretUnavailable(
            T(
                f"密钥环中没有 {service}/{user}：请用 `keyring set {service} {user}` 保存。",
                f"keyring has no entry {service}/{user}: store it with `keyring set {service} {user}`.",
            )
        )
    return str(value)


class EmailChannel(_Strict):
    """SMTP e-mail with a plain-text and an HTML part, the HTML report attached or inline."""

    type: Literal["email"]
    name: str | None = None
    host: str = Field(min_length=1)
    port: int | None = Field(default=None, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None
    password: SecretRef | None = None
    sender: str = Field(alias="from", min_length=3)
    to: list[str] = Field(min_length=1)
    attach_report: bool | Literal["inline"] = True
    ca_file: str | None = None
    timeout: float = Field(default=30.0, gt=0, le=300)

    @field_validator("password", mode="before")
    @classmethod
    def _no_literal(cls, value: Any) -> Any:
        return _refuse_literal(value, "密码", "password")

    @model_validator(mode="after")
    def _safe_auth(self) -> EmailChannel:
        if self.password is not None and self.username is None:
            raise ValueError("password 需要同时给出 username / a password needs a username")
        if self.security == "none" and self.password is not None and not is_loopback(self.host):
            raise ValueError(
                "security: none 时不能带密码登录（密码会明文传输），请改用 starttls 或 ssl / "
                "refusing to send a password over an unencrypted connection: use starttls or ssl"
            )
        return self

    @property
    def effective_port(self) -> int:
        return self.port or {"starttls": 587, "ssl": 465, "none": 25}[self.security]


class WeComChannel(_Strict):
    """WeCom (企业微信) group robot: ``msgtype: markdown``."""

    type: Literal["wecom"]
    name: str | None = None
    webhook: str | SecretRef


class _SignedRobot(_Strict):
    """A chat robot whose requests are signed with a shared secret (by reference only)."""

    name: str | None = None
    webhook: str | SecretRef
    secret: SecretRef | None = None

    @field_validator("secret", mode="before")
    @classmethod
    def _no_literal(cls, value: Any) -> Any:
        return _refuse_literal(value, "签名密钥", "secret")


class DingTalkChannel(_SignedRobot):
    """DingTalk (钉钉) custom robot: ``msgtype: markdown``, signed when ``secret`` is given."""

    type: Literal["dingtalk"]


class FeishuChannel(_SignedRobot):
    """Feishu/Lark (飞书) custom bot: ``msg_type: post``, signed when ``secret`` is given."""

    type: Literal["feishu"]


class WebhookChannel(_Strict):
    """Generic JSON POST; optional headers and an HMAC-SHA256 signature header over the body."""

    type: Literal["webhook"]
    name: str | None = None
    url: str | SecretRef
    headers: dict[str, str] = Field(default_factory=dict)
    hmac_secret: SecretRef | None = None
    hmac_header: str = Field(default="X-Fleetcheck-Signature", pattern=r"^[A-Za-z0-9-]+$")

    @field_validator("hmac_secret", mode="before")
    @classmethod
    def _no_literal(cls, value: Any) -> Any:
        return _refuse_literal(value, "签名密钥", "hmac_secret")

    @field_validator("headers")
    @classmethod
    def _header_names(cls, value: dict[str, str]) -> dict[str, str]:
        for key, val in value.items():
            if not key or any(c in key for c in " :\r\n") or any(c in val for c in "\r\n"):
                raise ValueError(f"HTTP 头 {key!r} 无效 / header {key!r} is not valid")
            if not (key + val).isascii():
                raise ValueError(
                    f"HTTP 头 {key!r} 只能用 ASCII 字符（HTTP 头不能直接放中文）/ "
                    f"header {key!r} must be ASCII (HTTP headers cannot carry Chinese text)"
                )
        return value


Channel = Annotated[
    EmailChannel | WeComChannel | DingTalkChannel | FeishuChannel | WebhookChannel,
    Field(discriminator="type"),
]


class NotifyConfig(_Strict):
    """The whole notification file."""

    notify_on: Literal["always", "change", "problems"] = "problems"
    expiring_days: int = Field(default=30, ge=0, le=3650)
    lang: Lang | None = None
    report_url: str | None = None
    channels: list[Channel] = Field(min_length=1)
    base_dir: Path | None = Field(default=None, exclude=True)  # set by the loader, not in YAML

    @field_validator("report_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("report_url 必须以 https:// 或 http:// 开头 / must start with https:// or http://")
        return value

    @model_validator(mode="before")
    @classmethod
    def _no_base_dir_in_yaml(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and "base_dir" in data:
            raise ValueError("未知的键 'base_dir' / unknown key 'base_dir'")
        return data


def channel_labels(channels: list[Channel]) -> list[str]:
    """How channels are named in messages: their ``name``, else ``type`` (``type#2`` for a second one)."""
    seen: dict[str, int] = {}
    labels = []
    for channel in channels:
        seen[channel.type] = seen.get(channel.type, 0) + 1
        n = seen[channel.type]
        labels.append(channel.name or (channel.type if n == 1 else f"{channel.type}#{n}"))
    return labels


def load_notify_config(path: str | Path) -> NotifyConfig:
    """Read and validate ``path``; raise :class:`NotifyConfigError` listing every ``file:line:col`` issue."""
    config = load_model(
        path, NotifyConfig, labels={"type": T("通知渠道类型", "channel type")}, error=NotifyConfigError
    )
    return config.model_copy(update={"base_dir": Path(path).resolve().parent})
