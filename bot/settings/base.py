"""The one base of every settings model: unknown keys are errors (a typo must not pass for a
default), and a field with an alias (``continue``) may also be given by its Python name."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, SecretStr
from pydantic_core import PydanticCustomError

_WEEKLY = re.compile(r"^(mon|tue|wed|thu|fri|sat|sun) ([01]?\d|2[0-3]):([0-5]\d)$")


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def require_together(app: BaseModel, fields: tuple[str, ...], why: str) -> None:
    """An app whose id (the first of ``fields``) is given needs the rest of ``fields`` too: half a
    configuration would otherwise leave it silently off, or failing on every callback. Secrets
    alone (set in the environment for every deployment, say) do not switch an app on."""

    def given(name: str) -> bool:
        value = getattr(app, name)
        return bool(value.get_secret_value() if isinstance(value, SecretStr) else value)

    missing = [f for f in fields if not given(f)]
    if given(fields[0]) and missing:
        raise PydanticCustomError(
            "missing_credentials",
            "{missing} required with {id} ({why})",
            {"missing": ", ".join(missing), "id": fields[0], "why": why},
        )


def time_zone(v: str) -> str:
    """An IANA time zone name, checked (schedules and report days are in it)."""
    try:
        ZoneInfo(v)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {v!r} (an IANA name such as Asia/Shanghai)") from None
    return v


def weekly_time(v: str, example: str) -> str:
    """A weekly time ``"<mon..sun> HH:MM"``, or "" (off)."""
    if v and not _WEEKLY.match(v):
        raise ValueError(f'expected "<mon..sun> HH:MM", e.g. "{example}"')
    return v
