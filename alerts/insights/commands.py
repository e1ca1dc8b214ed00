"""``kefu insights hot|unanswered`` and ``kefu report`` as plain functions: settings in,
JSON-ready values out."""

from __future__ import annotations

import asyncio
import csv
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from alerts.insights.config import InsightsConfig
from alerts.insights.figures import DAY, TurnRow, hot
from alerts.insights.knowledge import KnowledgeBases, unanswered_groups
from alerts.insights.report import PERIODS, service_report
from alerts.insights.store import read_turns
from alerts.notify.labels import Labeler
from alerts.tickets.store import TicketStore
from bot.redis_store import Keys, connected

T = TypeVar("T")


def _with_redis(settings: InsightsConfig, work: Callable[[Any, Keys], Awaitable[T]]) -> T:
    async def main() -> T:
        async with connected(settings.redis_url, settings.data_dir) as redis:
            return await work(redis, Keys(settings.key_prefix))

    return asyncio.run(main())


def _turns(settings: InsightsConfig, since: float, shop: str) -> list[TurnRow]:
    return of_shop(settings, _with_redis(settings, lambda redis, keys: read_turns(redis, keys, since)), shop)


def of_shop(settings: InsightsConfig, rows: list[TurnRow], shop: str) -> list[TurnRow]:
    """The turns of one shop (``alerts.shops`` names the shop of each channel app); "": all."""
    if not shop:
        return rows
    shop_of = Labeler(settings.alerts.shops).shop_of
    return [r for r in rows if shop_of(r.channel, r.app) == shop]


def insights_hot(
    settings: InsightsConfig, days: int, top: int, now: float | None = None, shop: str = ""
) -> dict[str, Any]:
    """TOP intents and categories of the last ``days`` days, with the change against the days before."""
    now = time.time() if now is None else now
    rows = _turns(settings, now - 2 * days * DAY, shop)
    title_of = KnowledgeBases(settings.faq_path, settings.knowledge_bases).title_of(rows)
    return hot(rows, now, days, top, ZoneInfo(settings.insights.timezone), title_of)


def insights_unanswered(
    settings: InsightsConfig, days: int, top: int, now: float | None = None, shop: str = ""
) -> list[dict[str, Any]]:
    """The unanswered questions of the last ``days`` days in groups of one need, largest first,
    each compared with the intents of the knowledge base its apps answer from."""
    now = time.time() if now is None else now
    rows = _turns(settings, now - days * DAY, shop)
    groups = unanswered_groups(rows, now - days * DAY, now, KnowledgeBases(settings.faq_path, settings.knowledge_bases))
    return [
        {"count": g.count, "examples": g.examples, "suggested_intent": g.suggested_intent, "texts": g.texts}
        for g, _ in groups[:top]
    ]


def write_labelled_csv(groups: list[dict[str, Any]], path: Path) -> int:
    """Every text of the groups as the labelled CSV (``text,intent``), the intent taken from the
    group's suggestion or left empty for a person to fill; the number of rows written."""
    n = 0
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "intent"])
        for group in groups:
            for text in group["texts"]:
                writer.writerow([text, group["suggested_intent"] or ""])
                n += 1
    return n


def report_command(settings: InsightsConfig, period: str, now: float | None = None, shop: str = "") -> dict[str, Any]:
    """The service figures of the last day or week."""
    if period not in PERIODS:
        raise ValueError(f"--period: expected one of {', '.join(PERIODS)}, got {period!r}")
    now = time.time() if now is None else now
    tz = ZoneInfo(settings.insights.timezone)
    gap = settings.tickets.session_gap_minutes * 60

    async def work(redis: Any, keys: Keys) -> dict[str, Any]:
        # A contact of the period is judged on the day after it too, and on the gap before it.
        rows = of_shop(settings, await read_turns(redis, keys, now - PERIODS[period] * DAY - gap), shop)
        tickets = TicketStore(redis, keys, settings.tickets.schedules.timezone) if settings.tickets.enabled else None
        shop_of = Labeler(settings.alerts.shops).shop_of
        report = await service_report(
            rows, tickets, now, period, gap, tz, lambda t: not shop or shop_of(t.channel, t.app) == shop
        )
        return {"shop": shop, **report} if shop else report

    return _with_redis(settings, work)
