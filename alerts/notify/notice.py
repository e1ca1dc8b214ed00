"""A ``Notice``: one thing staff should be told, before routing, grouping and rendering."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}


@dataclass(frozen=True, slots=True)
class Notice:
    """``labels`` (channel, app, shop, category, team, ...) choose the receivers; ``group_key``
    gathers a burst into one alert (empty: sent at once, alone); ``dedupe_key`` is not alerted
    again within the repeat interval (empty: always); ``customer_key`` and ``reason`` are what
    silences match. ``buttons`` are neutral card buttons ``{"text", "key", "style", "value"}``."""

    kind: str
    severity: str  # "info" | "warning" | "critical"
    labels: dict[str, str]
    title: str
    text: str = ""
    fields: list[tuple[str, str]] = field(default_factory=list)
    buttons: list[dict[str, Any]] = field(default_factory=list)
    group_key: str = ""
    dedupe_key: str = ""
    customer_key: str = ""
    reason: str = ""

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> "Notice":
        data = json.loads(raw)
        data["fields"] = [tuple(pair) for pair in data.get("fields", [])]
        return cls(**data)
