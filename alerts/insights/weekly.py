"""The weekly service report, sent to the managers' chat through the alert receivers (kind
``service_weekly``, audience managers) at ``insights.weekly_report`` in ``insights.timezone``.

Every working process runs the job; each week's report is claimed in Redis (SET NX) before it is
sent, so exactly one process sends it, and one that restarts does not send it again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

from alerts.insights.config import InsightsConfig
from alerts.insights.report import report_fields, service_report
from alerts.insights.store import read_turns
from alerts.notify import Notice, Notifier
from alerts.notify.labels import KINDS, Labeler
from alerts.tickets.store import TicketStore
from bot.redis_store import Keys

log = logging.getLogger(__name__)
KIND = "service_weekly"
CLAIM_SECONDS = 8 * 86400


def trigger(spec: str, tz: ZoneInfo) -> CronTrigger:
    day, hhmm = spec.split()
    hour, minute = (int(x) for x in hhmm.split(":"))
    return CronTrigger(day_of_week=day, hour=hour, minute=minute, timezone=tz)


class WeeklyReport:
    def __init__(
        self,
        settings: InsightsConfig,
        redis: Any,
        keys: Keys,
        notifier: Notifier,
        labeler: Labeler,
        clock: Callable[[], float],
    ) -> None:
        self.settings = settings
        self.redis = redis
        self.keys = keys
        self.notifier = notifier
        self.labeler = labeler
        self.clock = clock
        self.tz = ZoneInfo(settings.insights.timezone)

    async def send(self, now: float) -> bool:
        """The report of the 7 days up to ``now``, unless this week's was claimed already."""
        week = datetime.fromtimestamp(now, self.tz).strftime("%G-W%V")
        claim = self.keys.of("insights", "weekly", week)
        if not await self.redis.set(claim, "1", nx=True, ex=CLAIM_SECONDS):
            return False
        gap = self.settings.tickets.session_gap_minutes * 60
        rows = await read_turns(self.redis, self.keys, now - 7 * 86400 - gap)
        tickets = TicketStore(self.redis, self.keys, self.settings.tickets.schedules.timezone)
        report = await service_report(rows, tickets, now, "week", gap, self.tz)
        try:
            await self.notifier.notify(
                Notice(
                    kind=KIND,
                    severity="info",
                    labels=self.labeler.labels(KIND),
                    title=f"{KINDS[KIND]}（{week}）",
                    fields=report_fields(report),
                    dedupe_key=f"{KIND}:{week}",
                )  # fmt: skip
            )
        except Exception:
            await self.redis.delete(claim)  # the next round tries again
            raise
        return True

    async def run(self) -> None:
        """Wait for each report's time and send it; runs until cancelled."""
        spec = self.settings.insights.weekly_report
        if not spec:
            return
        when = trigger(spec, self.tz)
        while True:
            now = self.clock()
            due = when.get_next_fire_time(None, datetime.fromtimestamp(now, self.tz))
            await asyncio.sleep(max(0.0, min(due.timestamp() - now, 60.0)) if due else 60.0)
            if due is None or self.clock() < due.timestamp():
                continue
            try:
                await self.send(self.clock())
            except Exception as e:  # Redis away: the report waits for the next week
                log.warning("weekly service report not sent: %s", e)
