"""Work queues: a worker killed mid-message loses nothing; one key's messages stay in order."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
import zlib

import pytest
import redis
import redis.asyncio as aredis

from bot.queue import LeasedConsumer, StreamQueue
from bot.redis_store import Keys

KEYS = Keys("qtest")

# A worker in its own process: reads a message, says so, then hangs until killed.
_DOOMED_WORKER = textwrap.dedent(
    """
    import asyncio, sys
    import redis.asyncio as aredis
    from bot.queue import LeasedConsumer, StreamQueue
    from bot.redis_store import Keys

    async def main():
        r = aredis.Redis.from_url(sys.argv[1])
        q = StreamQueue(r, Keys("qtest"), "work", partitions=2)
        async def handler(payload):
            await r.rpush("qtest:started", payload)
            await asyncio.Event().wait()  # mid-message, forever
        await LeasedConsumer(q, handler, identity="doomed", lease_ms=1000).run()

    asyncio.run(main())
    """
)


def test_a_worker_killed_mid_message_loses_nothing(redis_clean: str) -> None:
    async def enqueue() -> None:
        r = aredis.Redis.from_url(redis_clean)
        q = StreamQueue(r, KEYS, "work", partitions=2)
        await q.ensure_groups()
        await q.add("customer-1", "hello")
        await r.aclose()

    asyncio.run(enqueue())
    doomed = subprocess.Popen([sys.executable, "-c", _DOOMED_WORKER, redis_clean])
    sync = redis.Redis.from_url(redis_clean)
    try:
        deadline = time.monotonic() + 20
        while not sync.lrange("qtest:started", 0, -1):
            assert time.monotonic() < deadline, "the doomed worker never started the message"
            time.sleep(0.05)
    finally:
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.wait()

    async def survivor() -> list[bytes]:
        r = aredis.Redis.from_url(redis_clean)
        q = StreamQueue(r, KEYS, "work", partitions=2)
        done: list[bytes] = []
        got_it = asyncio.Event()

        async def handler(payload: bytes) -> None:
            done.append(payload)
            got_it.set()

        task = asyncio.create_task(LeasedConsumer(q, handler, identity="survivor", lease_ms=1000).run())
        await asyncio.wait_for(got_it.wait(), timeout=15)
        await asyncio.sleep(0.3)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        backlog = await q.backlog()
        await r.aclose()
        assert backlog == 0
        return done

    assert asyncio.run(survivor()) == [b"hello"]


def test_one_customers_messages_are_handled_in_order_others_in_parallel(redis_clean: str) -> None:
    async def scenario() -> tuple[list[str], int]:
        r = aredis.Redis.from_url(redis_clean)
        q = StreamQueue(r, KEYS, "order", partitions=8)
        await q.ensure_groups()
        for i in range(20):
            for customer in ("a", "b", "c"):
                await q.add(customer, f"{customer}{i}")
        seen: list[str] = []
        active = 0
        peak = 0
        finished = asyncio.Event()

        async def handler(payload: bytes) -> None:
            nonlocal active, peak
            active += 1
            peak = max(peak, active)
            await asyncio.sleep(0.005)
            seen.append(payload.decode())
            active -= 1
            if len(seen) == 60:
                finished.set()

        task = asyncio.create_task(LeasedConsumer(q, handler, identity="w", lease_ms=2000).run())
        await asyncio.wait_for(finished.wait(), timeout=20)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await r.aclose()
        return seen, peak

    seen, peak = asyncio.run(scenario())
    for customer in ("a", "b", "c"):
        mine = [s for s in seen if s[0] == customer]
        assert mine == [f"{customer}{i}" for i in range(20)]
    # a, b and c fall in different partitions, so their messages were handled side by side.
    assert len({zlib.crc32(c.encode()) % 8 for c in "abc"}) == 3
    assert peak > 1


@pytest.mark.parametrize("times", [3])
def test_add_once_enqueues_one_per_key(redis_clean: str, times: int) -> None:
    async def scenario() -> int:
        r = aredis.Redis.from_url(redis_clean)
        q = StreamQueue(r, KEYS, "once", partitions=2)
        added = [await q.add_once("msg-1", 60, "c", "x") for _ in range(times)]
        assert added == [True] + [False] * (times - 1)
        total = sum([await r.xlen(q.stream(p)) for p in range(2)])
        await r.aclose()
        return total

    assert asyncio.run(scenario()) == 1
