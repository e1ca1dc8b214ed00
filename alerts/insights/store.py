"""Reading the recorded turns back (alerts/insights/recorder.py writes them)."""

from __future__ import annotations

from typing import Any

from alerts.insights.figures import TurnRow
from alerts.insights.recorder import stream_key
from bot.redis_store import Keys

PAGE = 5000
# Entry ids are Redis's clock, a turn's time the worker's: read from this much before ``since``.
CLOCK_MARGIN_SECONDS = 3600


async def read_turns(redis: Any, keys: Keys, since: float = 0.0) -> list[TurnRow]:
    """Every kept turn from ``since`` on, oldest first. The stream holds the retention's turns
    at most; it is read from the entries of ``since`` on (their ids are times), in pages so that
    no single reply is large."""
    key = stream_key(keys)
    start = f"{int((since - CLOCK_MARGIN_SECONDS) * 1000)}-0" if since > CLOCK_MARGIN_SECONDS else "-"
    rows: list[TurnRow] = []
    while True:
        page = await redis.xrange(key, min=start, max="+", count=PAGE)
        for _, fields in page:
            row = TurnRow.from_value(fields.get(b"v", b""))
            if row is not None and row.at >= since:
                rows.append(row)
        if len(page) < PAGE:
            return rows
        last = page[-1][0]
        start = "(" + (last.decode() if isinstance(last, bytes) else str(last))
