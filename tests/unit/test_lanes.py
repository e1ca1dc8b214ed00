"""Keyed lanes: in order per key, side by side across keys, never more than the limit at once."""

from __future__ import annotations

import asyncio

from bot.lanes import KeyedLanes


def test_work_of_one_key_runs_in_order_and_keys_run_side_by_side() -> None:
    async def scenario() -> tuple[list[str], int]:
        lanes, done, active, peak = KeyedLanes(limit=8), [], 0, 0

        def work(key: str, i: int):  # type: ignore[no-untyped-def]
            async def run() -> None:
                nonlocal active, peak
                active += 1
                peak = max(peak, active)
                # Later work of a key finishes sooner: only the lane keeps the order.
                await asyncio.sleep(0.002 * (5 - i))
                done.append(f"{key}{i}")
                active -= 1

            return run

        for i in range(5):
            for key in "abc":
                await lanes.submit(key, work(key, i))
        while len(done) < 15:
            await asyncio.sleep(0.01)
        return done, peak

    done, peak = asyncio.run(scenario())
    for key in "abc":
        assert [d for d in done if d[0] == key] == [f"{key}{i}" for i in range(5)]
    assert peak == 3  # one per key: a key's next work waits for its previous


def test_no_more_than_the_limit_run_at_once_and_submit_waits_for_a_slot() -> None:
    async def scenario() -> tuple[int, int]:
        lanes, active, peak, release = KeyedLanes(limit=3), 0, 0, asyncio.Event()

        async def work() -> None:
            nonlocal active, peak
            active += 1
            peak = max(peak, active)
            await release.wait()
            active -= 1

        for key in range(3):
            await lanes.submit(key, work)
        fourth = asyncio.create_task(lanes.submit(3, work))
        await asyncio.sleep(0.02)
        waited = not fourth.done()
        release.set()
        await fourth
        await asyncio.sleep(0.02)
        return peak, waited

    peak, waited = asyncio.run(scenario())
    assert peak == 3
    assert waited


def test_a_failed_or_cancelled_predecessor_frees_its_lane(caplog) -> None:  # type: ignore[no-untyped-def]
    async def scenario() -> list[str]:
        lanes, done = KeyedLanes(limit=4), []

        async def fail() -> None:
            raise RuntimeError("boom")

        hanging: list[asyncio.Task] = []

        async def hang() -> None:
            hanging.append(asyncio.current_task())
            await asyncio.Event().wait()

        async def ok() -> None:
            done.append("after")

        await lanes.submit("k", fail)
        await lanes.submit("k", ok)
        await lanes.submit("j", hang)
        await lanes.submit("j", ok)
        await asyncio.sleep(0.02)
        assert done == ["after"]  # k's, after the failure; j's still waits
        hanging[0].cancel()
        await asyncio.sleep(0.02)
        return done

    assert asyncio.run(scenario()) == ["after", "after"]
    assert "boom" in caplog.text


def test_close_lets_running_work_finish_starts_no_more_and_cancels_what_overruns() -> None:
    async def scenario() -> list[str]:
        lanes, events = KeyedLanes(limit=4), []

        async def brief() -> None:
            await asyncio.sleep(0.05)
            events.append("brief finished")

        async def hang() -> None:
            try:
                await asyncio.Event().wait()
            finally:
                events.append("hang stopped")

        async def later() -> None:
            events.append("later ran")  # must not: it had not started when the lanes closed

        await lanes.submit("a", brief)
        await lanes.submit("a", later)
        await lanes.submit("b", hang)
        await asyncio.sleep(0.01)
        await lanes.close(grace=0.2)
        await asyncio.sleep(0.1)
        return events

    assert asyncio.run(scenario()) == ["brief finished", "hang stopped"]


def test_close_cancelled_during_its_grace_still_cancels_the_work() -> None:
    async def scenario() -> bool:
        lanes, stopped = KeyedLanes(limit=4), asyncio.Event()

        async def hang() -> None:
            try:
                await asyncio.Event().wait()
            finally:
                stopped.set()

        await lanes.submit("k", hang)
        await asyncio.sleep(0.01)
        closing = asyncio.create_task(lanes.close(grace=30))
        await asyncio.sleep(0.05)
        closing.cancel()  # as when the process stops during a hand-over
        await asyncio.gather(closing, return_exceptions=True)
        await asyncio.sleep(0.01)
        return stopped.is_set()

    assert asyncio.run(scenario())
