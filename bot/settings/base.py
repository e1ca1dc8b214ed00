"""The one base of every settings model: unknown keys are errors (a typo must not pass for a
default), and a field with an alias (``continue``) may also be given by its Python name."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
