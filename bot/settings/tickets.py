"""Repeat-contact and ticket settings: contact rules, teams, staff roles, schedules
(owned by the tickets feature)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class TicketsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
