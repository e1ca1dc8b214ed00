"""Settings sections for alerts and tickets (filled in by their own issues)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AlertsSettings(_Strict):
    pass


class TicketsSettings(_Strict):
    pass
