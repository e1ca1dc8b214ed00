"""Insight settings (owned by the insights feature, alerts/insights): how long every turn is kept
for ``kefu insights`` and ``kefu report``, which answers count as unsure, and when the weekly
service report goes to the managers' chat."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field, SecretStr

from bot.settings.base import StrictModel, time_zone, weekly_time


class InsightsSettings(StrictModel):
    enabled: bool = True  # off: turns are not recorded (the commands then show nothing new)
    # Turns older than this are trimmed from Redis as new ones arrive.
    retention_days: int = Field(default=30, ge=1, le=400)
    # An answer below this confidence counts as unanswered for ``kefu insights unanswered``.
    low_confidence: float = Field(default=0.6, ge=0, le=1)
    # The days of ``kefu insights hot`` and the weekly report's time are in this zone.
    timezone: Annotated[str, AfterValidator(time_zone)] = "Asia/Shanghai"
    # When the service report goes to the managers' chat; "" turns it off.
    weekly_report: Annotated[str, AfterValidator(lambda v: weekly_time(v, "mon 09:00"))] = "mon 09:00"
    # GET /dashboard: this token sees every shop; a shop's own token (shop name as alerts.shops
    # names it) sees that shop only. No token at all: the dashboard is off (404).
    dashboard_token: SecretStr = SecretStr("")
    dashboard_shop_tokens: dict[str, SecretStr] = Field(default_factory=dict)
