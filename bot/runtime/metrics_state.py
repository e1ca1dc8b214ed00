"""The metrics that are Redis's state rather than counts of what a process did: queue backlogs,
the outbox's delayed messages, dead letters, open tickets by state. Read from Redis at each
scrape (they are the same whichever process serves ``/metrics``), within a bound, and left out
of that scrape when Redis does not answer."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from redis.exceptions import RedisError

from alerts.tickets.model import ACKNOWLEDGED, OPEN, REOPENED
from alerts.tickets.store import TicketStore
from bot.metrics import REDIS_ERRORS
from bot.runtime import Runtime

log = logging.getLogger(__name__)
READ_TIMEOUT_SECONDS = 2.0


class _Snapshot(Collector):
    def __init__(self, families: list[GaugeMetricFamily]) -> None:
        self.families = families

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield from self.families


async def _families(runtime: Runtime) -> list[GaugeMetricFamily]:
    queues = {"inbox": runtime.gateway.inbox, "tasks": runtime.gateway.tasks, "outbox": runtime.outbox.queue}
    backlog = GaugeMetricFamily("kefu_queue_backlog", "Entries not yet handled, by queue", labels=["queue"])
    dead = GaugeMetricFamily("kefu_dead_letters", "Dead letters waiting for kefu dead-letters replay", labels=["queue"])
    for name, queue in queues.items():
        backlog.add_metric([name], await queue.backlog())
        dead.add_metric(
            [name], await runtime.redis.llen(runtime.outbox.dead_key if name == "outbox" else queue.dead_key)
        )
    delayed = GaugeMetricFamily(
        "kefu_outbox_delayed", "Outbound messages waiting for their rate limit or their next retry",
        value=await runtime.redis.zcard(runtime.outbox.delayed_key),
    )  # fmt: skip
    families = [backlog, dead, delayed]
    if runtime.settings.tickets.enabled:
        store = TicketStore(runtime.redis, runtime.keys, runtime.settings.tickets.schedules.timezone)
        states = Counter(t.state for t in await store.active())
        tickets = GaugeMetricFamily("kefu_tickets", "Tickets not closed, by state", labels=["state"])
        for state in (OPEN, ACKNOWLEDGED, REOPENED):
            tickets.add_metric([state], states.get(state, 0))
        families.append(tickets)
    return families


async def state_metrics(runtime: Runtime) -> bytes:
    """The exposition text of the state gauges; empty when Redis cannot be read in time."""
    try:
        families = await asyncio.wait_for(_families(runtime), READ_TIMEOUT_SECONDS)
    except (TimeoutError, RedisError, OSError) as e:
        REDIS_ERRORS.labels("metrics").inc()
        log.warning("/metrics: Redis state left out: %s", type(e).__name__)
        return b""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(families))
    return generate_latest(registry)
