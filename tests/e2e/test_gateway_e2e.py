"""The gateway end to end: signed callbacks over real HTTP to the running bot, replies to the
fake platform on loopback, a real Redis. Nothing twice, nothing lost."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from bot.runtime.settings import Settings
from tests.support.callbacks import (
    AES_KEY,
    FS_APP,
    FS_KEY,
    FS_SECRET,
    FS_TOKEN,
    SEND,
    feishu_callback,
    unsecret,
    wecom_callback,
    with_channels,
)
from tests.support.fake_platform import FakePlatform
from tests.support.serving import served, wait_until


@pytest.fixture()
def fake() -> FakePlatform:
    with FakePlatform() as platform:
        platform.state["feishu"]["apps"][FS_APP] = FS_SECRET
        yield platform


def test_wecom_callback_delivered_three_times_is_answered_once(settings: Settings, fake: FakePlatform) -> None:
    with served(with_channels(settings, fake)) as (base, _):
        query, body = wecom_callback("我的快递到哪了", "7001")
        for _ in range(3):
            assert httpx.post(f"{base}/webhooks/wecom", params=query, content=body).status_code == 200
        sent = fake.wait_for(SEND, 1)
        time.sleep(1.0)  # give a wrong second reply every chance to appear
        assert len(fake.calls(SEND)) == 1
        payload = sent[0].json()
        assert payload["touser"] == "zhangsan" and "快递" in payload["text"]["content"]


def test_feishu_event_delivered_three_times_is_answered_once_in_thread(settings: Settings, fake: FakePlatform) -> None:
    with served(with_channels(settings, fake)) as (base, _):
        headers, body = feishu_callback("退款多久到账", "om_e2e_1")
        for _ in range(3):
            assert httpx.post(f"{base}/webhooks/feishu", headers=headers, content=body).status_code == 200
        reply_path = "/open-apis/im/v1/messages/om_e2e_1/reply"
        fake.wait_for(reply_path, 1)
        time.sleep(1.0)
        assert len(fake.calls(reply_path)) == 1
        assert json.loads(fake.calls(reply_path)[0].json()["content"])["text"]


def test_platform_failures_delay_the_reply_but_lose_and_duplicate_nothing(
    settings: Settings, fake: FakePlatform
) -> None:
    fake.fail_next(SEND, 2)  # HTTP 500 twice
    with served(with_channels(settings, fake)) as (base, runtime):
        query, body = wecom_callback("怎么退货", "7002")
        assert httpx.post(f"{base}/webhooks/wecom", params=query, content=body).status_code == 200
        fake.wait_for(SEND, 3)
        # then the platform's rate-limit code once
        fake.fail_next_json(SEND, 1, {"errcode": 45009, "errmsg": "api freq out of limit"})
        query, body = wecom_callback("发票怎么开", "7003")
        assert httpx.post(f"{base}/webhooks/wecom", params=query, content=body).status_code == 200
        wait_until(lambda: len(fake.state.get("app_sent", [])) == 2, timeout=15)
        time.sleep(1.5)
        delivered = fake.state["app_sent"]
        assert len(delivered) == 2  # each reply exactly once, after the failures
        assert len(fake.calls(SEND)) == 5  # 2 x 500 + 1 ok, 1 x 45009 + 1 ok


def test_refusals(settings: Settings, fake: FakePlatform) -> None:
    with served(with_channels(settings, fake)) as (base, _):
        query, body = wecom_callback("你好", "7004")
        bad = dict(query, msg_signature="0" * 40)
        assert httpx.post(f"{base}/webhooks/wecom", params=bad, content=body).status_code == 403
        assert httpx.post(f"{base}/webhooks/wecom/nosuchapp", params=query, content=body).status_code == 404
        assert httpx.post(f"{base}/webhooks/wecom", params=query, content=b"<xml>").status_code == 400
        huge = b"x" * (1024 * 1024 + 1)
        assert httpx.post(f"{base}/webhooks/wecom", params=query, content=huge).status_code == 413
        time.sleep(0.5)
        assert fake.calls(SEND) == []


def test_a_permanent_failure_is_a_dead_letter_that_can_be_replayed(settings: Settings, fake: FakePlatform) -> None:
    import asyncio

    from bot.runtime.commands import dead_letters_command

    fake.fail_next_json(SEND, 1, {"errcode": 40003, "errmsg": "invalid userid"})
    configured = with_channels(settings, fake)
    with served(configured) as (base, runtime):
        query, body = wecom_callback("怎么开发票", "7100")
        assert httpx.post(f"{base}/webhooks/wecom", params=query, content=body).status_code == 200
        fake.wait_for(SEND, 1)
        time.sleep(0.5)
        assert fake.state.get("app_sent", []) == []  # refused, not retried
        dead = asyncio.run(dead_letters_command(configured, "list"))
        assert len(dead) == 1 and "invalid userid" in dead[0]["error"]
        assert asyncio.run(dead_letters_command(configured, "replay")) == 1
        wait_until(lambda: len(fake.state.get("app_sent", [])) == 1)
        assert asyncio.run(dead_letters_command(configured, "list")) == []


def test_redis_down_answers_503_and_the_bot_recovers_when_it_returns(
    settings: Settings, fake: FakePlatform, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    from bot.redis_store import EmbeddedRedis

    own = EmbeddedRedis(tmp_path / "own-redis")
    configured = with_channels(settings, fake).model_copy(update={"redis_url": own.start()})
    try:
        with served(configured) as (base, _):
            query, body = wecom_callback("我的快递到哪了", "7200")
            own.stop()
            refused = httpx.post(f"{base}/webhooks/wecom", params=query, content=body)
            assert refused.status_code == 503  # the platform will retry
            not_ready = httpx.get(f"{base}/readyz")
            assert not_ready.status_code == 503
            reasons = not_ready.json()
            assert reasons["ready"] is False and reasons["model"] == "ok"
            assert reasons["redis"].startswith("ConnectionError") and "own-redis" in reasons["redis"]
            own.start()
            # The platform's retry of the same callback now gets through, and is answered once.
            wait_until(lambda: httpx.post(f"{base}/webhooks/wecom", params=query, content=body).status_code == 200)
            assert httpx.get(f"{base}/readyz").json() == {
                "ready": True,
                "model": "ok",
                "redis": "ok",
                "models_in": "this process",
            }
            fake.wait_for(SEND, 1, timeout=20)
            time.sleep(1.0)
            assert len(fake.calls(SEND)) == 1
    finally:
        own.stop()


def test_redis_refusing_writes_just_after_a_reply_went_out_does_not_get_it_sent_twice(
    settings: Settings, fake: FakePlatform, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    import threading

    import redis

    from bot.queue import GROUP
    from bot.redis_store import EmbeddedRedis

    own = EmbeddedRedis(tmp_path / "own-redis")
    url = own.start()
    admin = redis.Redis.from_url(url)

    writable_again = threading.Timer(1.5, admin.config_set, ("min-replicas-to-write", 0))

    def refuse_writes_for_a_while() -> None:
        # What a primary does when it lacks the replicas it was told to wait for.
        if not writable_again.is_alive() and not writable_again.finished.is_set():  # the first send only
            admin.config_set("min-replicas-to-write", 1)
            writable_again.start()

    fake.after(SEND, refuse_writes_for_a_while)
    try:
        with served(with_channels(settings, fake).model_copy(update={"redis_url": url})) as (base, runtime):
            query, body = wecom_callback("怎么退货", "7300", sender="lisi")
            assert httpx.post(f"{base}/webhooks/wecom", params=query, content=body).status_code == 200
            fake.wait_for(SEND, 1)
            # The sent mark and the acknowledgement fail, and the worker handles the message again.
            inbox = runtime.gateway.inbox
            wait_until(lambda: admin.config_get("min-replicas-to-write")["min-replicas-to-write"] == "0"
                       and sum(admin.xpending(inbox.stream(p), GROUP)["pending"] for p in range(inbox.partitions)) == 0,
                       timeout=15)  # fmt: skip
            time.sleep(1.0)
            assert len(fake.calls(SEND)) == 1
            state = json.loads(admin.get("kefu:{c:wecom:lisi}:dialogue"))
            assert [turn["text"] for turn in state["turns"]] == ["怎么退货"]
    finally:
        writable_again.cancel()
        own.stop()


def test_a_full_queue_answers_503_and_the_platforms_retry_is_answered_once(
    settings: Settings, fake: FakePlatform, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    from bot import queue

    with served(with_channels(settings, fake)) as (base, _):
        query, body = wecom_callback("我的快递到哪了", "7250")
        monkeypatch.setattr(queue, "MAX_STREAM_LEN", 0)  # every partition counts as full
        refused = httpx.post(f"{base}/webhooks/wecom", params=query, content=body)
        assert refused.status_code == 503  # the platform will retry
        monkeypatch.undo()
        assert httpx.post(f"{base}/webhooks/wecom", params=query, content=body).status_code == 200
        fake.wait_for(SEND, 1, timeout=20)
        time.sleep(1.0)
        assert len(fake.calls(SEND)) == 1


def test_no_secret_or_phone_number_reaches_the_log(settings: Settings, fake: FakePlatform, caplog) -> None:  # type: ignore[no-untyped-def]
    import logging

    caplog.set_level(logging.DEBUG)
    fake.fail_next(SEND, 1)  # a retry, so that the failure path logs too
    with served(with_channels(settings, fake)) as (base, _):
        query, body = wecom_callback("我手机13812345678，订单怎么还没发货", "7300")
        assert httpx.post(f"{base}/webhooks/wecom", params=query, content=body).status_code == 200
        headers, fbody = feishu_callback("我电话13987654321 退款呢", "om_log_1")
        assert httpx.post(f"{base}/webhooks/feishu", headers=headers, content=fbody).status_code == 200
        fake.wait_for(SEND, 2, timeout=15)
        fake.wait_for("/open-apis/im/v1/messages/om_log_1/reply", 1)
    logged = caplog.text
    assert logged  # the run did log
    for secret in ("s3cret", AES_KEY, FS_SECRET, FS_KEY, "13812345678", "13987654321"):
        assert secret not in logged


def test_many_partitions_each_get_a_reader(settings: Settings, fake: FakePlatform) -> None:
    """64 partitions: one process reads 2 x 64 streams at once, more than redis-py's default pool."""
    server = settings.server.model_copy(update={"partitions": 64})
    many = with_channels(settings, fake).model_copy(update={"server": server})
    with served(many) as (base, _):
        for i in range(8):
            query, body = wecom_callback("我的快递到哪了", f"88{i}", sender=f"user{i}")
            assert httpx.post(f"{base}/webhooks/wecom", params=query, content=body).status_code == 200
        fake.wait_for(SEND, 8)


def test_a_second_app_of_a_platform_has_its_own_route(settings: Settings, fake: FakePlatform) -> None:
    configured = with_channels(settings, fake)
    data = unsecret(configured.model_dump())
    data["channels"]["feishu"]["apps"] = {
        "shop2": {"app_id": FS_APP, "app_secret": FS_SECRET, "verification_token": FS_TOKEN,
                  "encrypt_key": FS_KEY, "api_base": fake.base},
    }  # fmt: skip
    with served(Settings(**data)) as (base, runtime):
        assert ("feishu", "shop2") in runtime.adapters
        headers, body = feishu_callback("发票怎么开", "om_shop2_1")
        assert httpx.post(f"{base}/webhooks/feishu/shop2", headers=headers, content=body).status_code == 200
        fake.wait_for("/open-apis/im/v1/messages/om_shop2_1/reply", 1)


def test_a_message_too_old_to_answer_still_counts_as_a_contact(settings: Settings) -> None:
    import asyncio

    from bot.message import InboundMessage, OutboundMessage
    from bot.runtime import Runtime
    from bot.worker import InboxHandler

    async def scenario() -> tuple[list[OutboundMessage], list]:
        runtime = Runtime.start(settings)
        delivered: list[OutboundMessage] = []

        async def deliver(reply: OutboundMessage) -> None:
            delivered.append(reply)

        try:
            handler = InboxHandler(runtime.pipeline, deliver, runtime.clock, max_answer_age_seconds=600)
            old = InboundMessage("wecom", "default", "lao", "lao", "在吗", "old-1", time.time() - 3600)
            await handler(old.to_json().encode())
            contacts = await runtime.pipeline.p.contacts.store.contacts("wecom:lao", since=0)
            young = InboundMessage("wecom", "default", "lao", "lao", "我的快递到哪了", "new-1", time.time())
            await handler(young.to_json().encode())  # the same path does answer a fresh message
            return delivered, contacts
        finally:
            await runtime.close()

    delivered, contacts = asyncio.run(scenario())
    assert [reply.idempotency_key for reply in delivered] == ["reply:wecom:default:new-1"]  # none an hour late
    assert len(contacts) == 1  # but the old message is on record as a contact


@pytest.mark.parametrize("check_with_save", [True, False], ids=["check-with-the-save", "check-alone"])
def test_a_reply_sent_at_once_is_not_sent_again_when_its_message_is_handled_again(
    settings: Settings, fake: FakePlatform, check_with_save: bool
) -> None:
    import asyncio

    from bot.channel import WebhookRequest
    from bot.redis_pipelining import send_until_taken
    from bot.runtime import Runtime
    from bot.worker import InboxHandler

    batches: list[list[str]] = []

    async def scenario() -> int:
        runtime = Runtime.start(with_channels(settings, fake))
        send = runtime.redis._send_batch  # type: ignore[attr-defined]

        async def watched(batch: list[Any]) -> list[Any]:
            batches.append([str(args[0]) for args, _ in batch])
            return await send(batch)

        runtime.redis._batches._call_batch = watched  # type: ignore[attr-defined]
        try:
            sender = runtime.outbox_sender()
            # As the worker runs it (the reply's check goes with the turn's save), and without.
            prepare = sender.prepare if check_with_save else None
            handler = InboxHandler(runtime.pipeline, sender.send_now, runtime.clock, 600, prepare=prepare)
            query, body = wecom_callback("我的快递到哪了", "7101")
            callback = WebhookRequest("POST", query, {}, body, time.time())
            [message] = (await runtime.adapter("wecom", "default").handle(callback)).messages
            done = await handler(message.to_json().encode())
            # The sent mark written, the acknowledgement sent with it lost with the worker (a
            # connection cut mid-batch): the message is handed over again.
            await send_until_taken(runtime.redis, done or (), "inbox")
            assert not await handler(message.to_json().encode())
            q = runtime.outbox.queue
            return sum([await runtime.redis.xlen(q.stream(p)) for p in range(q.partitions)])
        finally:
            await runtime.close()

    assert asyncio.run(scenario()) == 0  # sent at once: the outbox never held it
    # The turn's save, then (in the worker's wiring) the reply's sent check in the same round trip.
    saves = [batch for batch in batches if batch[:2] == ["SET", "XADD"]]  # the state, the insight record
    assert len(saves) == 1 and ("EXISTS" in saves[0]) is check_with_save
    [sent] = fake.calls(SEND)
    assert sent.json()["touser"] == "zhangsan" and "快递" in sent.json()["text"]["content"]
