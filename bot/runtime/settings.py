"""The whole configuration: the core's sections plus each adapter's and feature's own model,
composed here, at the root, so that the core never imports them. ``channels`` has one field per
platform in the registry (adapters.PLATFORMS)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import Field

from adapters import PLATFORMS
from adapters.logistics.settings import LogisticsSettings
from adapters.shop.settings import ShopSettings
from alerts.insights.settings import InsightsSettings
from alerts.notify.settings import AlertsSettings
from alerts.risk.settings import RiskSettings
from alerts.tickets.settings import TicketsSettings
from bot import settings as core
from bot.settings.channels import ChannelsBase, compose_channels

if TYPE_CHECKING:
    Channels = ChannelsBase
else:
    Channels = compose_channels({spec.name: spec.settings for spec in PLATFORMS})


class Settings(core.CoreSettings):
    channels: Channels = Field(default_factory=Channels)
    risk: RiskSettings = Field(default_factory=RiskSettings)
    alerts: AlertsSettings = Field(default_factory=AlertsSettings)
    tickets: TicketsSettings = Field(default_factory=TicketsSettings)
    shop: ShopSettings = Field(default_factory=ShopSettings)
    logistics: LogisticsSettings = Field(default_factory=LogisticsSettings)
    insights: InsightsSettings = Field(default_factory=InsightsSettings)


def load_settings(path: str | Path | None = None) -> Settings:
    """The shipped defaults, then the chosen file, then the environment (bot/settings)."""
    return core.load_settings(Settings, path)
