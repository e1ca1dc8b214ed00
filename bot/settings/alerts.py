"""Staff notification settings: receivers, routing rules, grouping, repeat intervals, silences
(owned by the alerts feature)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class AlertsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
