"""The Notifier: route, silence, repeat interval, group, then put each alert in the outbox.

``await notifier.notify(notice)`` returns the receivers the notice is for (empty when silenced,
a repeat, or routed nowhere); the alert goes out when its group flushes (``group_wait_seconds``
after the group's first notice, by the ``run`` job). Every notice is also recorded in a capped
Redis list that ``kefu alerts recent`` shows, whatever became of it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import redis.asyncio as aredis
from redis.exceptions import RedisError

from alerts.notify.decide import Outcome, decide, group_due_at, is_due
from alerts.notify.notice import Notice
from alerts.notify.render import merge, messages_for
from alerts.notify.routing import route_receivers
from alerts.notify.settings import AlertsSettings
from alerts.notify.silences import SilenceStore
from alerts.notify.state import GroupStore, RepeatStore
from bot.metrics import ALERTS
from bot.nlu.normalize import mask_customer
from bot.outbox import Postbox
from bot.queue import cancel_requested
from bot.redis_store import Keys

log = logging.getLogger(__name__)


def recent_key(keys: Keys) -> str:
    return keys.of("alerts", "recent")


class Notifier:
    def __init__(
        self, settings: AlertsSettings, redis: aredis.Redis, keys: Keys, outbox: Postbox,
        clock: Callable[[], float] = time.time,
    ) -> None:  # fmt: skip
        self.settings = settings
        self.outbox = outbox
        self.clock = clock
        self.silences = SilenceStore(redis, keys)
        self.groups = GroupStore(redis, keys)
        self.repeats = RepeatStore(redis, keys)
        self._redis = redis
        self._recent = recent_key(keys)

    async def notify(self, notice: Notice) -> list[str]:
        now = self.clock()
        receivers = route_receivers(self.settings, notice.labels, notice.severity)
        last = await self.repeats.last_sent(notice.dedupe_key) if notice.dedupe_key else None
        outcome = decide(notice, now, await self.silences.active(now), last, self.settings.repeat_interval_seconds)
        status = outcome.value if outcome is not Outcome.SEND else ("queued" if receivers else "unrouted")
        await self._record(notice, receivers, status, now)
        ALERTS.labels(notice.kind, status).inc()
        if outcome is not Outcome.SEND:
            return []
        if notice.dedupe_key:
            await self.repeats.mark(notice.dedupe_key, now, self.settings.repeat_interval_seconds)
        if not receivers:
            return []
        due_at = group_due_at(now, self.settings.group_wait_seconds, bool(notice.group_key))
        member = await self.groups.add(notice, receivers, due_at)
        if is_due(due_at, now):
            await self._flush(member)
        return receivers

    async def flush_due(self) -> int:
        """Send every group whose wait is over; the number of alerts flushed."""
        members = await self.groups.due(self.clock())
        for member in members:
            try:
                await self._flush(member)
            except RedisError:
                raise  # Redis away: the group waits for the next round
            except Exception:
                # One group that cannot be rendered must not hold up every alert behind it.
                log.exception("alert group %s could not be sent; dropped from the queue", member[:80])
                await self.groups.done(member)
        return len(members)

    async def _flush(self, member: str) -> None:
        batch, entries = await self.groups.take(member)
        if entries:
            alert = merge(entries)
            for name in alert.receivers:
                receiver = self.settings.receivers.get(name)
                if receiver is None:
                    log.warning("alert %s: receiver %s is no longer configured", batch, name)
                    continue
                for message in messages_for(name, receiver, alert, batch, self.settings):
                    await self.outbox.put(message)  # once per idempotency key, even if flushed twice
        await self.groups.done(member)

    async def run(self, interval: float = 1.0) -> None:
        """The flush job: run in every worker; a group is sent once whichever process gets it."""
        while not cancel_requested():
            try:
                await self.flush_due()
            except Exception as e:  # Redis away: groups wait in Redis for the next round
                log.warning("alert groups not flushed: %s", e)
            await asyncio.sleep(interval)

    async def _record(self, notice: Notice, receivers: list[str], status: str, now: float) -> None:
        entry = {
            "at": now, "kind": notice.kind, "severity": notice.severity, "title": notice.title,
            "customer": mask_customer(notice.customer_key) if notice.customer_key else "", "reason": notice.reason,
            "labels": notice.labels, "receivers": receivers, "status": status,
        }  # fmt: skip
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.lpush(self._recent, json.dumps(entry, ensure_ascii=False))
            pipe.ltrim(self._recent, 0, self.settings.keep_recent_alerts - 1)
            await pipe.execute()

    async def recent(self, limit: int = 20) -> list[dict[str, Any]]:
        return [json.loads(r) for r in await self._redis.lrange(self._recent, 0, limit - 1)]
