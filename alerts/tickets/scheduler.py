"""The one scheduler across all processes: APScheduler with its jobs stored in Redis, run only by
the holder of a leader lock that moves when the leader dies (its lease runs out).

Jobs (idempotent, so a leader change can never send twice): SLA escalations every
``escalation.check_seconds``, the daily digest and the weekly review at the configured times.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from typing import Any

from apscheduler.jobstores.redis import RedisJobStore
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

from alerts.tickets.service import TicketService
from bot import redis_urls
from bot.queue import cancel_requested
from bot.redis_store import Lease

log = logging.getLogger(__name__)
_SERVICES: dict[str, TicketService] = {}  # job functions find their service here by name

_DAYS = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"}


async def run_escalations(name: str) -> None:
    service = _SERVICES.get(name)
    if service is not None:
        await service.escalate_due(service.clock())


async def run_digest(name: str) -> None:
    service = _SERVICES.get(name)
    if service is not None:
        await service.digest(service.clock())


async def run_weekly(name: str) -> None:
    service = _SERVICES.get(name)
    if service is not None:
        await service.weekly(service.clock())


def leader_lock(redis: Any, key: str, ttl_seconds: float) -> Lease:
    """Leadership is a lease: kept by renewing it, moving on when the leader stops renewing."""
    return Lease(redis, key, f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}", int(ttl_seconds * 1000))


class _JobStore(RedisJobStore):
    def shutdown(self) -> None:
        """Close the client, whichever it is (APScheduler's reaches for a one-server pool)."""
        self.redis.close()


def job_store(redis_url: str, keys: Any) -> RedisJobStore:
    """APScheduler's Redis job store needs a sync client: the one ``redis_url`` makes (one server,
    a cluster or Sentinel's master). It writes both of its keys in one MULTI, so they share a hash
    tag (one cluster slot)."""
    store = _JobStore(jobs_key=keys.tagged("scheduler", "jobs"), run_times_key=keys.tagged("scheduler", "run_times"))
    store.redis = redis_urls.sync_client(redis_url)  # the store's own client is made unconnected: replaced
    return store


class TicketScheduler:
    def __init__(self, service: TicketService, redis: Any, redis_url: str, keys: Any, *, name: str = "") -> None:
        self.service = service
        self.redis_url = redis_url
        self.keys = keys
        self.name = name or keys.prefix
        settings = service.settings
        self.lock = leader_lock(redis, keys.of("scheduler", "leader"), settings.schedules.leader_ttl_seconds)
        self.scheduler: AsyncIOScheduler | None = None
        _SERVICES[self.name] = service

    @property
    def is_leader(self) -> bool:
        return self.scheduler is not None

    def _start(self) -> None:
        s = self.service.settings
        scheduler = AsyncIOScheduler(
            jobstores={"default": job_store(self.redis_url, self.keys)}, timezone=s.schedules.timezone,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
        )  # fmt: skip
        scheduler.start()  # jobs are added after start so they go to the store, replacing old ones
        scheduler.add_job(run_escalations, "interval", seconds=s.escalation.check_seconds, args=[self.name],
                          id="tickets.escalations", replace_existing=True)  # fmt: skip
        self._cron(scheduler, "tickets.digest", run_digest, s.schedules.digest, None)
        weekly = s.schedules.weekly.split() if s.schedules.weekly else []
        self._cron(scheduler, "tickets.weekly", run_weekly, weekly[1] if weekly else "", weekly[0] if weekly else None)
        self.scheduler = scheduler
        log.info("ticket scheduler: this process (%s) leads", self.lock.owner)

    def _cron(self, scheduler: AsyncIOScheduler, job_id: str, func: Any, hhmm: str, day: str | None) -> None:
        if not hhmm:
            if scheduler.get_job(job_id):
                scheduler.remove_job(job_id)
            return
        hour, minute = (int(x) for x in hhmm.split(":"))
        extra = {"day_of_week": day} if day in _DAYS else {}
        trigger = CronTrigger(hour=hour, minute=minute, timezone=scheduler.timezone, **extra)
        stored = scheduler.get_job(job_id)
        if stored is not None and repr(stored.trigger) == repr(trigger):
            # Kept as stored, with the next run time the last leader left: a leader that died just
            # before 09:00 leaves 09:00, which this one then runs late (within the misfire grace)
            # rather than computing tomorrow's 09:00 and skipping today's digest.
            return
        scheduler.add_job(func, trigger, args=[self.name], id=job_id, replace_existing=True)

    def _stop(self) -> None:
        if self.scheduler is not None:
            try:
                self.scheduler.shutdown(wait=False)
            except Exception:  # already stopped
                pass
            self.scheduler = None
            log.info("ticket scheduler: this process (%s) no longer leads", self.lock.owner)

    async def step(self) -> bool:
        """One round of the election: take the lock, keep it, or notice it is lost."""
        try:
            held = await self.lock.hold()
            if held and self.scheduler is None:
                await self.service.store.migrate_legacy()  # once per leader: cheap when done
                self._start()
            elif not held:
                self._stop()
        except Exception as e:  # Redis away: stop leading, keep trying
            log.warning("ticket scheduler election failed: %s", e)
            self._stop()
        return self.is_leader

    async def run(self) -> None:
        interval = max(self.lock.ttl_ms / 3000, 0.2)
        try:
            while not cancel_requested():
                await self.step()
                await asyncio.sleep(interval)
        finally:
            was_leader = self.is_leader
            self._stop()
            if was_leader:
                try:
                    await self.lock.release()
                except Exception:
                    pass
