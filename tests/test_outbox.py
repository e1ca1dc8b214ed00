"""The outbox's delayed entries (retries waiting out their backoff) go back to their lane."""

from __future__ import annotations

import asyncio
import json

import redis.asyncio as aredis

from bot.message import OutboundMessage
from bot.outbox import Outbox, routing_key
from bot.redis_store import Keys

MESSAGE = OutboundMessage("wecom", "default", {"touser": "u|1"}, "您好，退款已受理 😊", "k1")


def _moved(redis_url: str, schedule) -> tuple[int, list[dict[bytes, bytes]]]:  # type: ignore[no-untyped-def]
    async def main() -> tuple[int, list[dict[bytes, bytes]]]:
        redis = aredis.Redis.from_url(redis_url)
        outbox = Outbox(redis, Keys("ob"), 4)
        await schedule(outbox)
        moved = await outbox.move_due(now=2_000.0)
        stream = outbox.queue.stream(outbox.queue.partition_of(routing_key(MESSAGE)))
        entries = [fields for _, fields in await redis.xrange(stream)]
        await redis.aclose()
        return moved, entries

    return asyncio.run(main())


def test_a_due_retry_returns_to_its_stream_with_its_routing_key(redis_clean: str) -> None:
    async def schedule(outbox: Outbox) -> None:
        await outbox.schedule(MESSAGE, {"m": json.loads(MESSAGE.to_json()), "attempts": 1}, due=1_000.0)
        await outbox.schedule(MESSAGE, {"m": json.loads(MESSAGE.to_json()), "attempts": 2}, due=3_000.0)

    moved, [entry] = _moved(redis_clean, schedule)
    assert moved == 1  # the other is not due yet
    assert entry[b"k"].decode() == routing_key(MESSAGE)
    envelope = json.loads(entry[b"d"])
    assert envelope["attempts"] == 1
    assert OutboundMessage(**envelope["m"]) == MESSAGE


def test_a_retry_scheduled_before_routing_keys_were_recorded_still_returns(redis_clean: str) -> None:
    async def schedule(outbox: Outbox) -> None:
        stream = outbox.queue.stream(outbox.queue.partition_of(routing_key(MESSAGE)))
        envelope = json.dumps({"m": json.loads(MESSAGE.to_json()), "attempts": 1}, ensure_ascii=False)
        await outbox.redis.zadd(outbox.delayed_key, {f"{stream}|{envelope}": 1_000.0})

    moved, [entry] = _moved(redis_clean, schedule)
    assert moved == 1
    assert b"k" not in entry
    assert OutboundMessage(**json.loads(entry[b"d"])["m"]) == MESSAGE
