"""The outbox and its sender on a real Redis, driven by hand with an injected clock."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aredis

from bot.message import OutboundMessage
from bot.outbox import Outbox, OutboxSender, RetryPolicy
from bot.ratelimit import Rate, RateLimiter
from bot.redis_pipelining import send_until_taken
from bot.redis_store import Keys
from tests.support.clock import Clock


async def drain(outbox: Outbox, handler: OutboxSender) -> None:
    """Handle every entry now in the streams (as the outbox consumer would)."""
    await outbox.move_due(handler.clock())
    for p in range(outbox.queue.partitions):
        stream = outbox.queue.stream(p)
        for entry_id, fields in await outbox.redis.xrange(stream):
            await outbox.redis.xdel(stream, entry_id)
            await send_until_taken(outbox.redis, await handler(fields[b"d"]), "outbox")


async def send_now(handler: OutboxSender, message: OutboundMessage) -> None:
    """``send_now`` and its sent mark written, as the inbox consumer writes it with its acknowledgement."""
    await send_until_taken(handler.outbox.redis, await handler.send_now(message), "outbox")


def deliver(redis_url: str, sender: Any, steps: Callable[[Outbox, OutboxSender, Clock], Awaitable[Any]]) -> Any:
    """Run ``steps`` with an outbox whose messages go through ``sender`` at the rate their route
    names (``rate_per_minute``, ``rate_burst``)."""

    async def main() -> Any:
        redis = aredis.Redis.from_url(redis_url)
        keys = Keys("r")
        outbox = Outbox(redis, keys, 2)
        clock = Clock()

        def rate_for(m: OutboundMessage) -> Rate:
            return Rate(float(m.route["rate_per_minute"]), int(m.route["rate_burst"]))

        handler = OutboxSender(outbox, lambda m: sender, RateLimiter(redis, keys), rate_for, clock,
                               RetryPolicy(max_attempts=5, base_delay=1, max_delay=60))  # fmt: skip
        try:
            return await steps(outbox, handler, clock)
        finally:
            await redis.aclose()

    return asyncio.run(main())
