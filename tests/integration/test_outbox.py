"""The outbox's delayed entries (retries waiting out their backoff) go back to their lane, and
``send_now`` delivers a reply at once with the outbox's guarantees: once, retried, rate-limited,
dead-lettered."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as aredis

from adapters.robots import WecomRobotSender
from bot.http import HttpClient
from bot.message import OutboundMessage, SendResult
from bot.outbox import SENT_TTL_SECONDS, Outbox, OutboxSender, routing_key
from bot.redis_store import Keys
from tests.support.clock import Clock
from tests.support.fake_platform import FakePlatform
from tests.support.fake_platform.robots import WECOM_ROBOT
from tests.support.outbox_harness import deliver, drain, send_now

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


# -- send_now: a reply delivered at once, with the outbox's guarantees --------------------------
ROBOT_KEY = "693a91f6-7a6c-4bc4-97a0-0ec2a1fa5aaa"
ROUTE = {"rate_key": "wecom_robot:ops", "rate_per_minute": "20", "rate_burst": "1"}
UNLIMITED = dict(ROUTE, rate_per_minute="60000", rate_burst="100")


@pytest.fixture()
def fake() -> FakePlatform:
    with FakePlatform() as platform:
        platform.state["robots"]["wecom"].add(ROBOT_KEY)
        yield platform


def robot_message(text: str, key: str, route: dict[str, str] = UNLIMITED) -> OutboundMessage:
    return OutboundMessage("wecom_robot", "ops", route, text, key)


def send_now_then(fake: FakePlatform, redis_url: str, steps: Callable[..., Awaitable[Any]]) -> Any:
    """``steps(outbox, handler, clock)`` with the handler sending to the fake WeCom robot (to
    the one that the route's "robot" names, if any)."""

    async def with_sender(outbox: Outbox, handler: OutboxSender, clock: Clock) -> Any:
        async with HttpClient(timeout=5) as http:
            handler.senders = lambda m: WecomRobotSender(
                http, webhook_key=m.route.get("robot", ROBOT_KEY), api_base=fake.base
            )
            return await steps(outbox, handler, clock)

    return deliver(redis_url, None, with_sender)


def sent_texts(fake: FakePlatform) -> list[str]:
    return [body["text"]["content"] for _, body in fake.state["robots"]["sent"]]


async def queued(outbox: Outbox) -> int:
    return sum([await outbox.redis.xlen(outbox.queue.stream(p)) for p in range(outbox.queue.partitions)])


def test_send_now_delivers_at_once_without_the_stream_and_never_twice(fake: FakePlatform, redis_clean: str) -> None:
    async def steps(outbox: Outbox, handler: OutboxSender, clock: Clock) -> int:
        message = robot_message("您好，退款已受理", "reply:1")
        await send_now(handler, message)
        assert sent_texts(fake) == ["您好，退款已受理"]
        await send_now(handler, message)  # the inbound message handled again after a crash
        await drain(outbox, handler)
        return await queued(outbox)

    assert send_now_then(fake, redis_clean, steps) == 0
    assert sent_texts(fake) == ["您好，退款已受理"]


def test_one_destination_holds_one_set_of_sent_marks_and_old_marks_still_count(
    fake: FakePlatform, redis_clean: str
) -> None:
    """Sent marks are members of one sorted set per destination, forgotten when older than
    ``SENT_TTL_SECONDS`` at the next send there; a mark left by a version before the sets still
    stops a second send."""

    async def steps(outbox: Outbox, handler: OutboxSender, clock: Clock) -> tuple[int, list[bytes]]:
        for n in range(20):
            await send_now(handler, robot_message(f"第{n}条", f"reply:many:{n}"))
        await send_now(handler, robot_message("第3条", "reply:many:3"))  # handled again: not sent again
        old = robot_message("旧版本发过", "reply:old")
        await outbox.redis.set(outbox.keys.of("sent", old.idempotency_key), b"1", ex=60)
        await send_now(handler, old)
        clock.now += SENT_TTL_SECONDS + 1
        await send_now(handler, robot_message("三天后", "reply:later"))  # marking it forgets the twenty
        await send_now(handler, robot_message("三天后同一个键", "reply:many:0"))
        return await outbox.redis.zcard(outbox.sent_set(old)), await outbox.redis.keys("*sent*")

    marks, keys = send_now_then(fake, redis_clean, steps)
    assert sent_texts(fake) == [f"第{n}条" for n in range(20)] + ["三天后", "三天后同一个键"]
    assert marks == 2
    assert sorted(keys) == sorted(
        [b"r:sent:reply:old", f"r:{{q:outbox}}:sent-to:{routing_key(robot_message('', ''))}".encode()]
    )


def test_send_now_leaves_a_message_already_in_the_outbox_to_it(fake: FakePlatform, redis_clean: str) -> None:
    async def steps(outbox: Outbox, handler: OutboxSender, clock: Clock) -> None:
        message = robot_message("已为您登记", "reply:2")
        assert await outbox.put(message)
        await send_now(handler, message)
        assert sent_texts(fake) == []
        await drain(outbox, handler)

    send_now_then(fake, redis_clean, steps)
    assert sent_texts(fake) == ["已为您登记"]


def test_send_now_failures_take_the_outbox_retries(fake: FakePlatform, redis_clean: str) -> None:
    fake.fail_next(WECOM_ROBOT, 1)  # HTTP 500: retryable

    async def steps(outbox: Outbox, handler: OutboxSender, clock: Clock) -> list[dict[str, Any]]:
        await send_now(handler, robot_message("第一条", "reply:3"))
        assert sent_texts(fake) == [] and await outbox.redis.zcard(outbox.delayed_key) == 1
        await drain(outbox, handler)  # not due yet: 1 s of backoff
        assert sent_texts(fake) == []
        clock.now += 1
        await drain(outbox, handler)
        await send_now(handler, robot_message("第二条", "reply:4", dict(UNLIMITED, robot="gone")))  # 93000: permanent
        return await outbox.dead_letters()

    [dead] = send_now_then(fake, redis_clean, steps)
    assert sent_texts(fake) == ["第一条"]
    assert dead["m"]["text"] == "第二条" and dead["attempts"] == 1 and "93000" in dead["error"]


def test_send_now_over_the_rate_limit_waits_its_turn(fake: FakePlatform, redis_clean: str) -> None:
    async def steps(outbox: Outbox, handler: OutboxSender, clock: Clock) -> None:
        for i in range(3):  # 20 a minute, burst 1: one now, the others 3 s apart
            await send_now(handler, robot_message(f"第{i}条", f"reply:r{i}", ROUTE))
        assert sent_texts(fake) == ["第0条"]
        for _ in range(4):
            clock.now += 3
            await drain(outbox, handler)

    send_now_then(fake, redis_clean, steps)
    assert sent_texts(fake) == ["第0条", "第1条", "第2条"]


def test_a_reply_the_platform_took_is_marked_sent_even_if_redis_refuses_writes_just_then(
    fake: FakePlatform, redis_clean: str
) -> None:
    async def steps(outbox: Outbox, handler: OutboxSender, clock: Clock) -> None:
        robot = handler.senders(robot_message("", ""))
        admin = aredis.Redis.from_url(redis_clean)

        class RedisRefusesWritesOnceSent:
            """The platform takes the reply; at that moment Redis stops taking writes (as a
            primary does when it lacks replicas) and takes them again 0.3 s later."""

            async def send(self, message: OutboundMessage) -> SendResult:
                result = await robot.send(message)
                await admin.config_set("min-replicas-to-write", 1)
                asyncio.get_running_loop().call_later(0.3, lambda: asyncio.ensure_future(writable()))
                return result

        async def writable() -> None:
            await admin.config_set("min-replicas-to-write", 0)

        handler.senders = lambda m: RedisRefusesWritesOnceSent()
        message = robot_message("退款已原路退回", "reply:5")
        try:
            await send_now(handler, message)  # returns once the mark is written, not with the error
            handler.senders = lambda m: robot
            await send_now(handler, message)  # the inbound message handled again
        finally:
            await writable()
            await admin.aclose()

    send_now_then(fake, redis_clean, steps)
    assert sent_texts(fake) == ["退款已原路退回"]
