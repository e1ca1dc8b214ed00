"""One DingTalk app robot's settings, named after the console's own fields (docs/platforms/dingtalk.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator

from bot.settings.base import StrictModel, require_together


class DingtalkApp(StrictModel):
    app_key: str = ""
    app_secret: SecretStr = SecretStr("")
    robot_code: str = ""
    api_base: str = "https://api.dingtalk.com"
    replay_window_seconds: int = Field(default=3600, ge=0)  # DingTalk's own rule: 1 hour
    # http: DingTalk calls /webhooks/dingtalk; stream: kefu connects to DingTalk (no public address)
    mode: Literal["http", "stream"] = "http"

    @model_validator(mode="after")
    def _complete(self) -> DingtalkApp:
        require_together(self, ("app_key", "app_secret"), "callbacks are signed with the app secret")
        return self

    @property
    def enabled(self) -> bool:
        return bool(self.app_key and self.app_secret.get_secret_value())
