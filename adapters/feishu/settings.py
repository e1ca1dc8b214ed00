"""One Feishu (飞书) app's settings, named after the console's own fields (docs/platforms/feishu.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator

from bot.settings.base import StrictModel, require_together


class FeishuApp(StrictModel):
    app_id: str = ""
    app_secret: SecretStr = SecretStr("")
    verification_token: SecretStr = SecretStr("")
    encrypt_key: SecretStr = SecretStr("")  # any text the console chose; empty: unencrypted events
    api_base: str = "https://open.feishu.cn"
    replay_window_seconds: int = Field(default=3600, ge=0)
    # http: Feishu calls /webhooks/feishu; long_connection: kefu connects to Feishu (no public address)
    mode: Literal["http", "long_connection"] = "http"

    @model_validator(mode="after")
    def _complete(self) -> FeishuApp:
        if self.mode == "long_connection":
            # The connection is opened with the app secret; events on it carry no token to check.
            require_together(self, ("app_id", "app_secret"), "the long connection is opened with the app secret")
        else:
            require_together(
                self,
                ("app_id", "app_secret", "verification_token"),
                "every event is checked against the verification token",
            )
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.app_id and self.app_secret.get_secret_value())
