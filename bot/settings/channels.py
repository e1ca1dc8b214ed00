"""Channel credentials, named after the platform consoles' own fields (docs/platforms/).

A channel's top-level fields describe its default app, reached at ``/webhooks/<platform>``;
``apps`` adds further named apps of the same platform at ``/webhooks/<platform>/<name>``.
A channel with no credentials is off.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, SecretStr, model_validator
from pydantic_core import PydanticCustomError

from bot.settings.base import StrictModel

_BASE64_43 = re.compile(r"[A-Za-z0-9+/]{43}")


def _aes_key_shape(key: SecretStr) -> SecretStr:
    """The WXBiz EncodingAESKey: 43 base64 characters, the 32-byte AES key without its "=".
    Checked here so that ``check-config`` and ``serve`` refuse the same keys, before the SDK does
    (it raises a bare AssertionError on a key of the right length with other characters)."""
    value = key.get_secret_value()
    if not value:
        return key
    if len(value) != 43:
        raise PydanticCustomError("aes_key", "must be 43 characters, got {n}", {"n": len(value)})
    if not _BASE64_43.fullmatch(value):  # then key + "=" always decodes to the 32 bytes of the AES key
        raise PydanticCustomError("aes_key", "must be 43 base64 characters (A-Z, a-z, 0-9, + and /)")
    return key


AesKey = Annotated[SecretStr, AfterValidator(_aes_key_shape)]


def _require_together(app: BaseModel, fields: tuple[str, ...], why: str) -> None:
    """An app whose id (the first of ``fields``) is given needs the rest of ``fields`` too: half a
    configuration would otherwise leave it silently off, or failing on every callback. Secrets
    alone (set in the environment for every deployment, say) do not switch an app on."""

    def given(name: str) -> bool:
        value = getattr(app, name)
        return bool(value.get_secret_value() if isinstance(value, SecretStr) else value)

    missing = [f for f in fields if not given(f)]
    if given(fields[0]) and missing:
        raise PydanticCustomError(
            "missing_credentials",
            "{missing} required with {id} ({why})",
            {"missing": ", ".join(missing), "id": fields[0], "why": why},
        )


class WecomApp(StrictModel):
    corp_id: str = ""
    agent_id: int | None = None
    secret: SecretStr = SecretStr("")
    token: SecretStr = SecretStr("")
    encoding_aes_key: AesKey = SecretStr("")
    api_base: str = "https://qyapi.weixin.qq.com"
    # Signed callbacks older than this are refused (0 turns the check off, for official vectors).
    replay_window_seconds: int = Field(default=3600, ge=0)

    @model_validator(mode="after")
    def _complete(self) -> WecomApp:
        _require_together(
            self, ("corp_id", "token", "encoding_aes_key", "secret"),
            "WeCom encrypts every callback and replies need the app's secret",
        )  # fmt: skip
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.corp_id and self.token.get_secret_value())


class WechatApp(StrictModel):
    app_id: str = ""
    app_secret: SecretStr = SecretStr("")
    token: SecretStr = SecretStr("")
    encoding_aes_key: AesKey = SecretStr("")  # empty: plain mode
    api_base: str = "https://api.weixin.qq.com"
    replay_window_seconds: int = Field(default=3600, ge=0)

    @model_validator(mode="after")
    def _complete(self) -> WechatApp:
        _require_together(
            self, ("app_id", "token", "app_secret"), "callbacks are signed with the token, replies need the secret"
        )
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.app_id and self.token.get_secret_value())


class DingtalkApp(StrictModel):
    app_key: str = ""
    app_secret: SecretStr = SecretStr("")
    robot_code: str = ""
    api_base: str = "https://api.dingtalk.com"
    replay_window_seconds: int = Field(default=3600, ge=0)  # DingTalk's own rule: 1 hour

    @model_validator(mode="after")
    def _complete(self) -> DingtalkApp:
        _require_together(self, ("app_key", "app_secret"), "callbacks are signed with the app secret")
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.app_key and self.app_secret.get_secret_value())


class FeishuApp(StrictModel):
    app_id: str = ""
    app_secret: SecretStr = SecretStr("")
    verification_token: SecretStr = SecretStr("")
    encrypt_key: SecretStr = SecretStr("")  # any text the console chose; empty: unencrypted events
    api_base: str = "https://open.feishu.cn"
    replay_window_seconds: int = Field(default=3600, ge=0)

    @model_validator(mode="after")
    def _complete(self) -> FeishuApp:
        _require_together(
            self,
            ("app_id", "app_secret", "verification_token"),
            "every event is checked against the verification token",
        )
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.app_id and self.app_secret.get_secret_value())


class WecomChannel(WecomApp):
    apps: dict[str, WecomApp] = Field(default_factory=dict)


class WechatChannel(WechatApp):
    apps: dict[str, WechatApp] = Field(default_factory=dict)


class DingtalkChannel(DingtalkApp):
    apps: dict[str, DingtalkApp] = Field(default_factory=dict)


class FeishuChannel(FeishuApp):
    apps: dict[str, FeishuApp] = Field(default_factory=dict)


class Channels(StrictModel):
    wecom: WecomChannel = Field(default_factory=WecomChannel)
    wechat: WechatChannel = Field(default_factory=WechatChannel)
    dingtalk: DingtalkChannel = Field(default_factory=DingtalkChannel)
    feishu: FeishuChannel = Field(default_factory=FeishuChannel)

    def apps_of(self, platform: str) -> dict[str, BaseModel]:
        """Every enabled app of a platform by name; the top-level one is "default"."""
        channel = getattr(self, platform)
        base = channel.model_dump(exclude={"apps"})
        apps = {"default": _APP_TYPES[platform](**base)}
        apps.update(channel.apps)
        return {name: app for name, app in apps.items() if getattr(app, "enabled", True)}


_APP_TYPES: dict[str, type[BaseModel]] = {
    "wecom": WecomApp,
    "wechat": WechatApp,
    "dingtalk": DingtalkApp,
    "feishu": FeishuApp,
}
