"""Risk scoring settings (owned by the complaint-risk feature)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class RiskSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
