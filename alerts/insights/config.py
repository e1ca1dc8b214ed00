"""The settings insights read: its own section, the tickets' session gap and time zone, the shops
of the channel apps, the knowledge bases (titles, intents) and where Redis is. The root's ``Settings`` has them all."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from alerts.insights.settings import InsightsSettings
from alerts.notify.settings import AlertsSettings
from alerts.tickets.settings import TicketsSettings


class InsightsConfig(Protocol):
    @property
    def insights(self) -> InsightsSettings: ...
    @property
    def tickets(self) -> TicketsSettings: ...
    @property
    def alerts(self) -> AlertsSettings: ...  # its shops: which shop each channel app serves
    @property
    def faq_path(self) -> Path: ...
    @property
    def knowledge_bases(self) -> dict[str, Path]: ...  # a channel app's own knowledge base
    @property
    def redis_url(self) -> str: ...
    @property
    def data_dir(self) -> Path: ...
    @property
    def key_prefix(self) -> str: ...
