"""Auto-pipelining against a real Redis: concurrent commands share round trips, and every
caller still gets its own result or its own error."""

from __future__ import annotations

import asyncio

import pytest
from redis.exceptions import ConnectionError, DataError, ResponseError, TimeoutError

from bot.coalesce import Coalescer
from bot.redis_pipelining import IDLE_CHECK_SECONDS, PipeliningRedis


class CountingRedis(PipeliningRedis):
    batches: list[int]

    async def _send_batch(self, batch):  # type: ignore[no-untyped-def]
        self.batches.append(len(batch))
        return await super()._send_batch(batch)


def test_concurrent_commands_go_out_together_and_each_caller_gets_its_result(redis_clean: str) -> None:
    async def scenario() -> tuple[list[object], list[int]]:
        r = CountingRedis.from_url(redis_clean)
        r.batches = []
        await r.set("n", 0)
        r.batches.clear()
        results = await asyncio.gather(*(r.incr("n") for _ in range(50)), r.get("n"))
        await r.aclose()
        return results, r.batches

    results, batches = asyncio.run(scenario())
    assert sorted(results[:50]) == list(range(1, 51))  # in order, once each
    assert results[50] == b"50"  # submitted last, runs after every INCR
    assert sum(batches) == 51 and len(batches) < 5  # one round trip for many commands


def test_a_failing_command_fails_only_its_own_caller(redis_clean: str) -> None:
    async def scenario() -> list[object]:
        r = PipeliningRedis.from_url(redis_clean)
        await r.set("text", "not a number")
        out = await asyncio.gather(r.incr("text"), r.set("k", "v"), r.get("k"), return_exceptions=True)
        await r.aclose()
        return out

    failed, set_ok, value = asyncio.run(scenario())
    assert isinstance(failed, ResponseError)
    assert set_ok is True and value == b"v"


def test_an_argument_that_cannot_be_sent_fails_only_its_caller(redis_clean: str) -> None:
    async def scenario() -> list[object]:
        r = PipeliningRedis.from_url(redis_clean)
        out = await asyncio.gather(r.set("a", "中文"), r.set("b", None), r.get("a"), return_exceptions=True)
        await r.aclose()
        return out

    ok, refused, value = asyncio.run(scenario())
    assert ok is True and isinstance(refused, DataError) and value == "中文".encode()


def test_scripts_load_themselves_through_the_batches(redis_clean: str) -> None:
    async def scenario() -> list[int]:
        r = PipeliningRedis.from_url(redis_clean)
        await r.script_flush()
        double = r.register_script("return tonumber(ARGV[1]) * 2")
        out = await asyncio.gather(*(double(args=[i]) for i in range(5)))  # NOSCRIPT, then loaded
        await r.aclose()
        return out

    assert asyncio.run(scenario()) == [0, 2, 4, 6, 8]


def test_a_blocking_read_does_not_hold_up_other_commands(redis_clean: str) -> None:
    async def scenario() -> tuple[object, float]:
        r = PipeliningRedis.from_url(redis_clean)
        loop = asyncio.get_running_loop()
        blocked = asyncio.create_task(r.blpop(["nothing-here"], timeout=2))
        await asyncio.sleep(0.05)
        started = loop.time()
        value = await r.ping()
        elapsed = loop.time() - started
        blocked.cancel()
        await r.aclose()
        return value, elapsed

    value, elapsed = asyncio.run(scenario())
    assert value is True and elapsed < 1.0


def test_a_lost_connection_fails_every_command_of_the_batch() -> None:
    async def scenario() -> list[object]:
        r = PipeliningRedis.from_url("redis://127.0.0.1:1", socket_connect_timeout=0.5, retry=None)
        out = await asyncio.gather(r.get("a"), r.get("b"), return_exceptions=True)
        await r.aclose()
        return out

    assert all(isinstance(e, ConnectionError) for e in asyncio.run(scenario()))


@pytest.mark.parametrize("max_batch", [1, 3])
def test_coalescer_keeps_submission_order_across_batches(max_batch: int) -> None:
    seen: list[list[int]] = []

    async def call_batch(items: list[int]) -> list[int]:
        seen.append(items)
        await asyncio.sleep(0)
        return [i * 10 for i in items]

    async def scenario() -> list[int]:
        coalescer: Coalescer[int, int] = Coalescer(call_batch, max_batch=max_batch)
        return await asyncio.gather(*(coalescer.submit(i) for i in range(7)))

    assert asyncio.run(scenario()) == [i * 10 for i in range(7)]
    assert [i for batch in seen for i in batch] == list(range(7))
    assert max(len(batch) for batch in seen) == max_batch


def test_coalescer_sends_a_callers_items_together_and_a_failed_batch_fails_each_of_its_callers() -> None:
    seen: list[list[int]] = []

    async def call_batch(items: list[int]) -> list[int | BaseException]:
        seen.append(items)
        await asyncio.sleep(0)
        if 99 in items:
            raise ConnectionError("lost")
        return [ValueError(i) if i < 0 else i * 10 for i in items]

    async def scenario() -> list[object]:
        coalescer: Coalescer[int, int] = Coalescer(call_batch, max_batch=3)
        return await asyncio.gather(
            coalescer.submit(0),  # straight out, alone
            coalescer.submit_many([1, 2]),  # the next batch: a caller's items are never split
            coalescer.submit_many([3, -4]),  # its own batch: with the first caller's it would be 4 items
            coalescer.submit(5),
            coalescer.submit_many([99, 6]),  # the batch fails: every item of every caller with it
            coalescer.submit(7),
            return_exceptions=True,
        )

    zero, pair, with_error, five, failed, seven = asyncio.run(scenario())
    assert (zero, pair, five) == (0, [10, 20], 50)
    assert with_error[0] == 30 and isinstance(with_error[1], ValueError)
    assert [type(e) for e in failed] == [ConnectionError, ConnectionError] and isinstance(seven, ConnectionError)
    assert seen == [[0], [1, 2], [3, -4, 5], [99, 6, 7]]


def test_a_batch_connection_closed_while_idle_is_replaced_before_use(redis_clean: str) -> None:
    async def scenario() -> tuple[int, int, list[object]]:
        r = PipeliningRedis.from_url(redis_clean)
        await r.set("k", "v")
        first = await r.client_id()  # the id of the connection the batches use
        killer = PipeliningRedis.from_url(redis_clean)
        await killer.client_kill_filter(_id=first)  # as a server timeout or a proxy would
        await killer.aclose()
        await asyncio.sleep(IDLE_CHECK_SECONDS + 0.1)
        out = await asyncio.gather(r.get("k"), r.incr("n"), r.get("k"))
        second = await r.client_id()
        await r.aclose()
        return first, second, out

    first, second, out = asyncio.run(scenario())
    assert out == [b"v", 1, b"v"] and second != first


def test_a_batch_connection_lost_while_busy_fails_that_batch_and_the_next_reconnects(redis_clean: str) -> None:
    async def scenario() -> tuple[list[object], list[object]]:
        r = PipeliningRedis.from_url(redis_clean)
        await r.set("k", "v")
        killer = PipeliningRedis.from_url(redis_clean)
        await killer.client_kill_filter(_id=await r.client_id())
        await killer.aclose()
        failed = await asyncio.gather(r.get("k"), r.get("k"), return_exceptions=True)
        recovered = await asyncio.gather(r.get("k"), r.incr("n"))
        await r.aclose()
        return failed, recovered

    failed, recovered = asyncio.run(scenario())
    # The batch on the lost connection fails (a RedisError: callers retry); none gets a wrong value.
    assert isinstance(failed[0], ConnectionError) and all(
        f in (b"v",) or isinstance(f, ConnectionError) for f in failed
    )
    assert recovered == [b"v", 1]


def test_a_caller_cancelled_mid_reply_leaves_no_reply_for_the_next_one(redis_clean: str) -> None:
    # The interrupted command's reply is still on its way: read by the next command, it would
    # shift every later caller's result by one.
    async def scenario() -> list[object]:
        r = PipeliningRedis.from_url(redis_clean)
        await r.set("k", "v")
        slow = asyncio.create_task(r.execute_command("DEBUG", "SLEEP", "0.3"))
        await asyncio.sleep(0.05)
        slow.cancel()
        out = [await r.get("k"), await r.incr("n"), await r.ping()]
        await r.aclose()
        return out

    assert asyncio.run(scenario()) == [b"v", 1, True]


def test_a_batch_without_a_reply_within_the_socket_timeout_fails_and_the_next_reconnects(redis_clean: str) -> None:
    async def scenario() -> tuple[list[object], list[object]]:
        r = PipeliningRedis.from_url(redis_clean, socket_timeout=0.2, retry=None)
        await r.set("k", "v")
        failed = await asyncio.gather(r.execute_command("DEBUG", "SLEEP", "0.5"), r.get("k"), return_exceptions=True)
        recovered = await asyncio.gather(r.get("k"), r.incr("n"))
        await r.aclose()
        return failed, recovered

    failed, recovered = asyncio.run(scenario())
    assert all(isinstance(f, TimeoutError) for f in failed), failed
    assert recovered == [b"v", 1]  # no late reply read as another command's


def test_one_client_serves_one_event_loop_after_another(redis_clean: str) -> None:
    r = PipeliningRedis.from_url(redis_clean)
    assert asyncio.run(r.set("k", "v")) is True
    assert asyncio.run(r.get("k")) == b"v"  # the first loop's connection is gone with it


def test_batches_in_flight_together_on_first_use_share_one_connection_in_order(redis_clean: str) -> None:
    # The first command goes out directly and the next ones in the drainer's batch, both before
    # any connection exists: on two connections, the read could overtake the write.
    async def scenario() -> tuple[list[object], int]:
        r = PipeliningRedis.from_url(redis_clean, client_name="first-use")
        out = await asyncio.gather(r.set("n", "1"), r.incr("n"), r.get("n"))
        connections = [c for c in await r.client_list() if c["name"] == "first-use"]
        await r.aclose()
        return out, len(connections)

    for _ in range(5):
        (written, incremented, read), connections = asyncio.run(scenario())
        assert (written, incremented, read) == (True, 2, b"2")
        assert connections == 1


def test_commands_sent_together_share_one_batch_alone_or_behind_another(redis_clean: str) -> None:
    """``execute_together``: one batch when nothing is in flight, and when it has to wait for a
    batch in flight its commands still go out together, each with its own result or error."""

    async def scenario() -> tuple[list[object], list[object], list[int]]:
        r = CountingRedis.from_url(redis_clean)
        r.batches = []
        await r.set("text", "not a number")
        r.batches.clear()
        alone = await r.execute_together([("SET", "a", "1"), ("INCR", "text"), ("GET", "a")])
        _, behind = await asyncio.gather(r.get("a"), r.execute_together([("INCR", "n"), ("GET", "n")]))
        await r.aclose()
        return alone, behind, r.batches

    alone, behind, batches = asyncio.run(scenario())
    assert alone[0] is True and isinstance(alone[1], ResponseError) and alone[2] == b"1"
    assert behind == [1, b"1"]
    assert batches == [3, 1, 2]
