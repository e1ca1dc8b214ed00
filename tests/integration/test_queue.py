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
from typing import Any

import pytest
import redis
import redis.asyncio as aredis

from bot import queue
from bot.channel import TaskRetry
from bot.queue import GROUP, LeasedConsumer, QueueFull, StreamQueue, fair_share
from bot.redis_pipelining import PipeliningRedis
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


async def _stop(consumer: asyncio.Task[None], r: aredis.Redis) -> None:
    consumer.cancel()
    await asyncio.gather(consumer, return_exceptions=True)
    await r.aclose()


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


# With 8 partitions a, b and c fall in different ones; with 1 they share it, and still
# go side by side (bot/lanes.py).
@pytest.mark.parametrize("partitions", [8, 1])
def test_one_customers_messages_are_handled_in_order_others_in_parallel(redis_clean: str, partitions: int) -> None:
    async def scenario() -> tuple[list[str], int]:
        r = aredis.Redis.from_url(redis_clean)
        q = StreamQueue(r, KEYS, "order", partitions=partitions)
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
    assert len({zlib.crc32(c.encode()) % partitions for c in "abc"}) == min(partitions, 3)
    assert peak == 3


def test_a_retry_holds_up_only_its_own_customer_not_others_in_the_partition(
    redis_clean: str,
) -> None:
    async def scenario() -> list[str]:
        r = aredis.Redis.from_url(redis_clean)
        q = StreamQueue(r, KEYS, "lanes", partitions=1)
        await q.ensure_groups()
        for i in range(3):
            await q.add_once(f"a{i}", 60, "a", f"a{i}")
            await q.add("b", f"b{i}")
        seen: list[str] = []
        failed_once: set[str] = set()

        async def handler(payload: bytes) -> None:
            text = payload.decode()
            if text == "a0" and text not in failed_once:
                failed_once.add(text)
                raise TaskRetry("platform busy")  # tried again 2 s later
            await asyncio.sleep(0.01)
            seen.append(text)

        task = asyncio.create_task(LeasedConsumer(q, handler, identity="w", lease_ms=2000).run())
        while len(seen) < 6:
            await asyncio.sleep(0.05)
        await _stop(task, r)
        return seen

    # b's messages did not wait out a0's retry; a's kept their order through it.
    assert asyncio.run(scenario()) == ["b0", "b1", "b2", "a0", "a1", "a2"]


def test_entries_queued_without_a_routing_key_keep_their_partition_order(redis_clean: str) -> None:
    """Entries written before each recorded its routing key share one lane, as a partition was."""

    async def scenario() -> tuple[list[str], int]:
        r = aredis.Redis.from_url(redis_clean)
        q = StreamQueue(r, KEYS, "legacy", partitions=1)
        await q.ensure_groups()
        for i in range(5):
            await r.xadd(q.stream(0), {"d": f"m{i}"})
        seen: list[str] = []
        active = peak = 0

        async def handler(payload: bytes) -> None:
            nonlocal active, peak
            active += 1
            peak = max(peak, active)
            await asyncio.sleep(0.002 * (5 - len(seen)))
            seen.append(payload.decode())
            active -= 1

        task = asyncio.create_task(LeasedConsumer(q, handler, identity="w", lease_ms=2000).run())
        while len(seen) < 5:
            await asyncio.sleep(0.05)
        await _stop(task, r)
        return seen, peak

    assert asyncio.run(scenario()) == ([f"m{i}" for i in range(5)], 1)


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


def test_add_once_keeps_one_set_per_routing_key_and_honours_old_markers(redis_clean: str) -> None:
    """What was enqueued is remembered in one sorted set per routing key (a customer), not a key
    per message; a marker key from a version before the sets still refuses its message."""

    async def scenario() -> None:
        r = aredis.Redis.from_url(redis_clean)
        q = StreamQueue(r, KEYS, "sets", partitions=2)
        assert [await q.add_once(f"in:{i}", 60, "c1", str(i)) for i in range(30)] == [True] * 30
        assert await q.add_once("in:7", 60, "c1", "7") is False
        assert await q.add_once("in:7", 60, "c2", "7") is True  # another customer's own key space
        await r.set(q.legacy_marker("in:old"), b"1", ex=60)
        assert await q.add_once("in:old", 60, "c1", "old") is False
        markers = [k for k in await r.keys("*") if b"enqueued" in k or b"seen" in k]
        assert sorted(markers) == sorted([q.enqueued_set("c1").encode(), q.enqueued_set("c2").encode(),
                                          q.legacy_marker("in:old").encode()])  # fmt: skip
        assert await r.zcard(q.enqueued_set("c1")) == 30 and 0 < await r.ttl(q.enqueued_set("c1")) <= 61
        await r.aclose()

    asyncio.run(scenario())


def test_a_full_partition_refuses_new_messages_and_keeps_all_it_accepted(
    redis_clean: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queue, "MAX_STREAM_LEN", 3)

    async def scenario() -> None:
        r = aredis.Redis.from_url(redis_clean)
        q = StreamQueue(r, KEYS, "full", partitions=1)
        await q.ensure_groups()
        assert [await q.add_once(f"msg-{i}", 60, "c", str(i)) for i in range(3)] == [True] * 3
        with pytest.raises(QueueFull):
            await q.add_once("msg-3", 60, "c", "3")
        assert await q.add_once("msg-0", 60, "c", "0") is False  # a duplicate is still just a duplicate
        assert [e[1][b"d"] for e in await r.xrange(q.stream(0))] == [b"0", b"1", b"2"]  # nothing dropped

        got = await r.xreadgroup(GROUP, "w", {q.stream(0): ">"}, count=3)
        await r.xack(q.stream(0), GROUP, *[entry_id for entry_id, _ in got[0][1]])
        await q.trim_handled(0)
        assert await q.add_once("msg-3", 60, "c", "3") is True  # the refused one was not marked seen
        await r.aclose()

    asyncio.run(scenario())


def test_handled_entries_are_trimmed_and_unfinished_ones_kept(redis_clean: str) -> None:
    async def scenario() -> None:
        r = aredis.Redis.from_url(redis_clean)
        q = StreamQueue(r, KEYS, "trim", partitions=1)
        stream = q.stream(0)
        assert await q.trim_handled(0) == 0  # no stream yet
        await q.ensure_groups()
        ids = [await r.xadd(stream, {"d": str(i)}) for i in range(10)]
        await r.xreadgroup(GROUP, "c", {stream: ">"}, count=6)  # 0-5 read, 6-9 unread
        await r.xack(stream, GROUP, *ids[:3])  # 0-2 done, 3-5 in flight
        assert await q.trim_handled(0) == 3
        assert [e[0] for e in await r.xrange(stream)] == ids[3:]
        await r.xack(stream, GROUP, *ids[3:6])  # nothing pending: up to the last delivered
        assert await q.trim_handled(0) == 2
        assert [e[0] for e in await r.xrange(stream)] == ids[5:]
        await r.aclose()

    asyncio.run(scenario())


def test_consumers_trim_what_they_handled(redis_clean: str) -> None:
    async def scenario() -> int:
        r = aredis.Redis.from_url(redis_clean)
        q = StreamQueue(r, KEYS, "trimmed", partitions=2)
        handled: list[bytes] = []

        async def handler(payload: bytes) -> None:
            handled.append(payload)

        consumer = asyncio.create_task(LeasedConsumer(q, handler, identity="w", lease_ms=300).run())
        for i in range(30):
            await q.add(f"customer{i}", str(i))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            left = sum([await r.xlen(q.stream(p)) for p in range(2)])
            if len(handled) == 30 and left <= 2:
                break
            await asyncio.sleep(0.05)
        await _stop(consumer, r)
        return left

    assert asyncio.run(scenario()) <= 2  # at most each partition's last delivered entry


@pytest.mark.parametrize("partitions", [8, 32])
def test_fair_shares_add_up_to_the_partitions_exactly(partitions: int) -> None:
    for n in range(1, 6):
        members = [f"worker{i}" for i in range(n)]
        shares = [fair_share(partitions, members, me) for me in members]
        assert sum(shares) == partitions and max(shares) - min(shares) <= 1
    assert fair_share(partitions, ["a"], "b") == partitions // 2  # one not yet announced counts too


def test_consumers_whose_clocks_disagree_still_see_each_other(
    redis_clean: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Who is alive is judged by the Redis server's clock, not by each machine's."""

    async def scenario() -> None:
        r = aredis.Redis.from_url(redis_clean)
        q = StreamQueue(r, KEYS, "clocks", partitions=8)

        async def handler(payload: bytes) -> None:
            pass

        slow = LeasedConsumer(q, handler, identity="slow", lease_ms=5_000)
        fast = LeasedConsumer(q, handler, identity="fast", lease_ms=5_000)
        real = time.time
        monkeypatch.setattr(queue.time, "time", lambda: real() - 60)  # this machine is a minute behind
        assert await slow._fair_share() == 8
        monkeypatch.setattr(queue.time, "time", lambda: real() + 60)  # that one a minute ahead
        assert await fast._fair_share() == 4  # "slow" is alive: announced just now
        assert await slow._fair_share() == 4
        await r.aclose()

    asyncio.run(scenario())


def test_a_joining_consumer_takes_its_share_as_soon_as_it_is_released(redis_clean: str) -> None:
    async def scenario() -> None:
        r = aredis.Redis.from_url(redis_clean)
        q = StreamQueue(r, KEYS, "join", partitions=8)
        await q.ensure_groups()

        async def handler(payload: bytes) -> None:
            pass

        one = LeasedConsumer(q, handler, identity="one", lease_ms=60_000)
        two = LeasedConsumer(q, handler, identity="two", lease_ms=60_000)
        assert await one._rebalance() is False and len(one._tasks) == 8
        assert await two._rebalance() is True and not two._tasks  # short: everything is held
        assert await one._rebalance() is False and len(one._tasks) == 4  # sees "two", hands over
        assert await two._rebalance() is False and len(two._tasks) == 4
        assert not set(one._tasks) & set(two._tasks)
        for task in [*one._tasks.values(), *two._tasks.values()]:
            task.cancel()
        await r.aclose()

    asyncio.run(scenario())


def test_a_handed_over_partition_finishes_what_it_started_and_the_next_owner_handles_the_rest(
    redis_clean: str,
) -> None:
    """Each message started once: its second start would be a second reply where the platform
    offers no idempotency key."""

    async def scenario() -> list[int]:
        r = aredis.Redis.from_url(redis_clean)
        q = StreamQueue(r, KEYS, "handover", partitions=2)
        await q.ensure_groups()
        starts: dict[str, int] = {}
        finished: set[str] = set()

        async def handler(payload: bytes) -> None:
            starts[payload.decode()] = starts.get(payload.decode(), 0) + 1
            await asyncio.sleep(0.3)
            finished.add(payload.decode())

        one = LeasedConsumer(q, handler, identity="one", lease_ms=1500)
        two = LeasedConsumer(q, handler, identity="two", lease_ms=1500)
        first = asyncio.create_task(one.run())
        for i in range(200):
            await q.add(f"customer{i}", str(i))
        while len(starts) < 40:  # both partitions busy
            await asyncio.sleep(0.01)
        second = asyncio.create_task(two.run())  # "one" hands a partition over mid-message
        deadline = time.monotonic() + 30
        while len(finished) < 200 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert len(finished) == 200
        assert len(two._tasks) == 1
        second.cancel()
        await asyncio.gather(second, return_exceptions=True)
        await _stop(first, r)
        return sorted(set(starts.values()))

    assert asyncio.run(scenario()) == [1]


def test_work_of_a_partition_whose_lease_was_lost_stops_at_once(redis_clean: str) -> None:
    """Its next owner is already re-handling it: finishing too would mean a second reply."""

    async def scenario() -> float:
        r = aredis.Redis.from_url(redis_clean)
        q = StreamQueue(r, KEYS, "lost", partitions=1)
        await q.ensure_groups()
        started, stopped = asyncio.Event(), asyncio.Event()

        async def handler(payload: bytes) -> None:
            started.set()
            try:
                await asyncio.Event().wait()
            finally:
                stopped.set()

        # A 5 s read block gives a hand-over 5.5 s of grace; a lost lease must not wait for it.
        consumer = LeasedConsumer(q, handler, identity="one", lease_ms=1500, block_ms=5000)
        task = asyncio.create_task(consumer.run())
        await q.add("customer", "m")
        await asyncio.wait_for(started.wait(), timeout=10)
        await r.set(KEYS.of("lease", "lost", "0"), "someone else", px=60_000)
        stolen = time.monotonic()
        await asyncio.wait_for(stopped.wait(), timeout=10)
        took = time.monotonic() - stolen
        await _stop(task, r)
        return took

    assert asyncio.run(scenario()) < 3  # one lease round (0.5 s) and a margin, not 5.5 s


async def recording_queue(url: str, name: str, partitions: int):  # type: ignore[no-untyped-def]
    """A Redis client, a queue with its groups, and a handler that records what it is given."""
    r = aredis.Redis.from_url(url)
    q = StreamQueue(r, KEYS, name, partitions=partitions)
    await q.ensure_groups()
    handled: list[bytes] = []

    async def handler(payload: bytes) -> None:
        handled.append(payload)

    return r, q, handled, handler


async def until(predicate) -> None:  # type: ignore[no-untyped-def]
    for _ in range(100):
        value = predicate()
        if await value if asyncio.iscoroutine(value) else value:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_a_handed_over_partition_is_no_longer_read_by_its_old_owner(redis_clean: str) -> None:
    async def scenario() -> None:
        r, q, handled, handler = await recording_queue(redis_clean, "handover", 2)
        one = LeasedConsumer(q, handler, identity="one", lease_ms=60_000, block_ms=10_000)
        two = LeasedConsumer(q, handler, identity="two", lease_ms=60_000, block_ms=10_000)
        await one._rebalance()
        await one._restart_reader()
        await until(lambda: one._reading == {0, 1})
        await asyncio.sleep(0.2)  # its reader now waits on both streams, for up to 10 s
        await two._rebalance()
        await one._rebalance()  # sees "two" and hands a partition over
        (given,) = {0, 1} - set(one._tasks)
        await r.xadd(q.stream(given), {"d": "after"})
        await asyncio.sleep(0.3)
        # Not delivered to the old owner, where no one would have handled it.
        assert await r.xpending_range(q.stream(given), GROUP, "-", "+", 10) == []
        await two._rebalance()
        await two._restart_reader()
        await until(lambda: handled == [b"after"])
        for consumer in (one, two):
            consumer._stopping = True
            await consumer._stop_reading()
            for task in consumer._tasks.values():
                task.cancel()
        await r.aclose()

    asyncio.run(scenario())


def test_a_reader_restarted_mid_read_delivers_what_it_read(redis_clean: str) -> None:
    """A hand-over restarts the reader; entries Redis delivered to the read in flight, for the
    partitions kept, must still reach their tasks (cancelled, the read left them pending under
    their live owner, unanswered until the partition changed hands)."""

    async def scenario() -> list[bytes]:
        r, q, handled, handler = await recording_queue(redis_clean, "midread", 2)
        one = LeasedConsumer(q, handler, identity="one", lease_ms=60_000, block_ms=2_000)
        read = r.xreadgroup

        async def reply_in_flight(*args: Any, **kwargs: Any) -> Any:
            got = await read(*args, **kwargs)  # delivered: pending under "one" from now on
            await asyncio.sleep(0.5 if got else 0)  # ... while the reply is still on its way
            return got

        r.xreadgroup = reply_in_flight  # type: ignore[method-assign]
        await one._rebalance()
        one._ensure_reader()
        await until(lambda: one._reading == {0, 1})
        await asyncio.sleep(0.1)  # the reader waits on both streams
        await r.xadd(q.stream(0), {"d": "kept", "k": "c"})
        await asyncio.sleep(0.2)  # read by Redis, not yet handed to the partition's task
        await one._restart_reader()  # as a hand-over of the other partition does
        await until(lambda: handled)
        for task in one._tasks.values():
            task.cancel()
        await one._stop_reading()
        await r.aclose()
        return handled

    assert asyncio.run(scenario()) == [b"kept"]


def test_an_entry_left_pending_by_a_former_owner_is_reclaimed(
    redis_clean: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queue, "ORPHAN_IDLE_MS", 0)

    async def scenario() -> list[bytes]:
        r, q, handled, handler = await recording_queue(redis_clean, "orphan", 1)
        owner = LeasedConsumer(q, handler, identity="owner", lease_ms=60_000)
        await owner._rebalance()  # takes the partition; nothing pending to take over
        await until(lambda: 0 in owner._reading)
        # A former owner's read, still in flight when its lease ran out, delivers an entry to it.
        await r.xadd(q.stream(0), {"d": "orphan"})
        await r.xreadgroup(GROUP, "former", {q.stream(0): ">"}, count=10)
        await owner._reclaim_orphans(0)
        await until(lambda: handled)

        async def acknowledged() -> bool:
            return await r.xpending_range(q.stream(0), GROUP, "-", "+", 10) == []

        await until(acknowledged)
        owner._tasks[0].cancel()
        await r.aclose()
        return handled

    assert asyncio.run(scenario()) == [b"orphan"]


def test_a_reader_that_dies_of_a_bug_is_replaced(redis_clean: str, monkeypatch: pytest.MonkeyPatch) -> None:
    async def scenario() -> list[bytes]:
        r, q, handled, handler = await recording_queue(redis_clean, "reborn", 1)
        consumer = LeasedConsumer(q, handler, identity="w", lease_ms=600)
        broken = {"reads": 0}
        read = LeasedConsumer._read

        async def read_once_broken(self: LeasedConsumer) -> None:
            broken["reads"] += 1
            if broken["reads"] == 1:
                raise RuntimeError("a bug in the reader")
            await read(self)

        monkeypatch.setattr(LeasedConsumer, "_read", read_once_broken)
        task = asyncio.create_task(consumer.run())
        await q.add("customer", "after the crash")
        await until(lambda: handled)
        await _stop(task, r)
        return handled

    assert asyncio.run(scenario()) == [b"after the crash"]


def test_two_processes_split_the_partitions_and_handle_each_message_once(redis_clean: str) -> None:
    async def scenario() -> tuple[dict[str, list[str]], list[int]]:
        r = aredis.Redis.from_url(redis_clean)
        q = StreamQueue(r, KEYS, "split", partitions=8)
        await q.ensure_groups()
        handled: dict[str, list[str]] = {"one": [], "two": []}

        def handler_for(name: str):  # type: ignore[no-untyped-def]
            async def handler(payload: bytes) -> None:
                handled[name].append(payload.decode())

            return handler

        one = LeasedConsumer(q, handler_for("one"), identity="one", lease_ms=600)
        two = LeasedConsumer(q, handler_for("two"), identity="two", lease_ms=600)
        tasks = [asyncio.create_task(one.run())]
        await asyncio.sleep(0.5)  # "one" alone takes every partition ...
        tasks.append(asyncio.create_task(two.run()))
        await asyncio.sleep(2.0)  # ... and hands half over when "two" shows up
        held = [len(one._tasks), len(two._tasks)]
        for i in range(200):
            await q.add(f"customer-{i}", f"m{i}")
        for _ in range(100):
            if sum(len(v) for v in handled.values()) >= 200:
                break
            await asyncio.sleep(0.05)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await r.aclose()
        return handled, held

    handled, held = asyncio.run(scenario())
    assert held == [4, 4]
    everything = handled["one"] + handled["two"]
    assert sorted(everything) == sorted(f"m{i}" for i in range(200))  # each once
    assert handled["one"] and handled["two"]  # both did work


def test_a_consumer_started_while_redis_is_away_works_once_it_is_back(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from bot.redis_store import EmbeddedRedis

    server = EmbeddedRedis(tmp_path)

    async def scenario() -> list[bytes]:
        r = aredis.Redis.from_url(server.url)  # nothing listens there yet
        q = StreamQueue(r, KEYS, "late", partitions=8)
        handled: list[bytes] = []

        async def handler(payload: bytes) -> None:
            handled.append(payload)

        task = asyncio.create_task(LeasedConsumer(q, handler, identity="early", lease_ms=600).run())
        await asyncio.sleep(0.5)  # its first attempts fail
        await asyncio.to_thread(server.start)
        await q.add("customer-1", "hello")
        for _ in range(100):
            if handled:
                break
            await asyncio.sleep(0.05)
        await _stop(task, r)
        return handled

    try:
        assert asyncio.run(scenario()) == [b"hello"]
    finally:
        server.stop()


def test_what_a_handler_did_is_recorded_with_its_acknowledgement_even_if_redis_refuses_writes_then(
    redis_clean: str,
) -> None:
    class BatchLog(PipeliningRedis):
        batches: list[list[str]] = []

        async def _send_batch(self, batch):  # type: ignore[no-untyped-def]
            self.batches.append([str(args[0]) for args, _ in batch])
            return await super()._send_batch(batch)

    async def scenario() -> tuple[list[str], list[bytes | None], int, list[list[str]]]:
        r = BatchLog.from_url(redis_clean)
        admin = aredis.Redis.from_url(redis_clean)
        q = StreamQueue(r, KEYS, "marks", partitions=1)
        await q.ensure_groups()
        for name in ("m1", "m2"):
            await q.add(name, name)
        handled: list[str] = []

        async def writable() -> None:
            await admin.config_set("min-replicas-to-write", 0)

        async def handler(payload: bytes) -> list[tuple[Any, ...]]:
            handled.append(payload.decode())
            if len(handled) == 1:  # the reply went out; just then Redis stops taking writes for 0.3 s
                await admin.config_set("min-replicas-to-write", 1)
                asyncio.get_running_loop().call_later(0.3, lambda: asyncio.ensure_future(writable()))
            return [("SET", f"sent:{payload.decode()}", "1")]

        task = asyncio.create_task(LeasedConsumer(q, handler, identity="w", lease_ms=2000).run())
        for _ in range(100):
            await asyncio.sleep(0.05)
            if (
                await admin.exists("sent:m1", "sent:m2") == 2
                and not (await admin.xpending(q.stream(0), GROUP))["pending"]
            ):
                break
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        marks = [await admin.get("sent:m1"), await admin.get("sent:m2")]
        pending = (await admin.xpending(q.stream(0), GROUP))["pending"]
        await writable()
        await r.aclose()
        await admin.aclose()
        return handled, marks, pending, BatchLog.batches

    handled, marks, pending, batches = asyncio.run(scenario())
    assert handled == ["m1", "m2"]  # written late, not handled (and sent) again
    assert marks == [b"1", b"1"] and pending == 0
    assert ["SET", "XACK"] in batches  # the mark and the acknowledgement in one round trip
