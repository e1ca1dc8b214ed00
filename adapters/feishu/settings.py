"""One Feishu (飞书) app's settings, named after the console's own fields (docs/platforms/feishu.md)."""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator

from bot.settings.base import StrictModel, require_together


class FeishuApp(StrictModel):
    app_id: str = ""
    app_secret: SecretStr = SecretStr("")
    verification_token: SecretStr = SecretStr("")
    encrypt_key: SecretStr = SecretStr("")  # any text the console chose; empty: unencrypted events
    api_base: str = "https://open.feishu.cn"
    replay_window_seconds: int = Field(default=3600, ge=0)

    @model_validator(mode="after")
    def _complete(self) -> FeishuApp:
        require_together(
            self,
            ("app_id", "app_secret", "verification_token"),
            "every event is checked against the verification token",
        )
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.app_id and self.app_secret.get_secret_value())
