"""One WeCom (企业微信) self-built app's settings, named after the console's own fields (docs/platforms/wecom.md)."""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator

from adapters.wxbiz import AesKey
from bot.settings.base import StrictModel, require_together


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
        require_together(
            self, ("corp_id", "token", "encoding_aes_key", "secret"),
            "WeCom encrypts every callback and replies need the app's secret",
        )  # fmt: skip
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.corp_id and self.token.get_secret_value())
