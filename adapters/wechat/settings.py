"""One WeChat official account (公众号)'s settings, named after the console's own fields (docs/platforms/wechat.md)."""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator

from adapters.wxbiz import AesKey
from bot.settings.base import StrictModel, require_together


class WechatApp(StrictModel):
    app_id: str = ""
    app_secret: SecretStr = SecretStr("")
    token: SecretStr = SecretStr("")
    encoding_aes_key: AesKey = SecretStr("")  # empty: plain mode
    api_base: str = "https://api.weixin.qq.com"
    replay_window_seconds: int = Field(default=3600, ge=0)

    @model_validator(mode="after")
    def _complete(self) -> WechatApp:
        require_together(
            self, ("app_id", "token", "app_secret"), "callbacks are signed with the token, replies need the secret"
        )
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.app_id and self.token.get_secret_value())
