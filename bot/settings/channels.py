"""Channel credentials, named after the platform consoles' own fields (docs/platforms/).

A channel's top-level fields describe its default app, reached at ``/webhooks/<platform>``;
``apps`` adds further named apps of the same platform at ``/webhooks/<platform>/<name>``.
A channel with no credentials is off.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WecomApp(_Strict):
    corp_id: str = ""
    agent_id: int | None = None
    secret: SecretStr = SecretStr("")
    token: SecretStr = SecretStr("")
    encoding_aes_key: SecretStr = SecretStr("")
    api_base: str = "https://qyapi.weixin.qq.com"
    # Signed callbacks older than this are refused (0 turns the check off, for official vectors).
    replay_window_seconds: int = Field(default=3600, ge=0)

    @property
    def enabled(self) -> bool:
        return bool(self.corp_id and self.token.get_secret_value())


class WechatApp(_Strict):
    app_id: str = ""
    app_secret: SecretStr = SecretStr("")
    token: SecretStr = SecretStr("")
    encoding_aes_key: SecretStr = SecretStr("")
    api_base: str = "https://api.weixin.qq.com"
    replay_window_seconds: int = Field(default=3600, ge=0)

    @property
    def enabled(self) -> bool:
        return bool(self.app_id and self.token.get_secret_value())


class DingtalkApp(_Strict):
    app_key: str = ""
    app_secret: SecretStr = SecretStr("")
    robot_code: str = ""
    api_base: str = "https://api.dingtalk.com"
    replay_window_seconds: int = Field(default=3600, ge=0)  # DingTalk's own rule: 1 hour

    @property
    def enabled(self) -> bool:
        return bool(self.app_key and self.app_secret.get_secret_value())


class FeishuApp(_Strict):
    app_id: str = ""
    app_secret: SecretStr = SecretStr("")
    verification_token: SecretStr = SecretStr("")
    encrypt_key: SecretStr = SecretStr("")
    api_base: str = "https://open.feishu.cn"
    replay_window_seconds: int = Field(default=3600, ge=0)

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


class Channels(_Strict):
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
