"""Feishu's long connection against a fake gateway speaking its protocol (protobuf frames from
lark-oapi's own class) over a real WebSocket: kefu fetches the endpoint, connects, pings, queues
events through the same dedupe as webhooks and acknowledges each only once queued, reassembles
split payloads, connects again after a drop, and replies through the open API as in HTTP mode."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import redis

from bot.redis_store import EmbeddedRedis
from bot.runtime import Runtime
from bot.runtime.settings import Settings
from tests.e2e.adapters.test_feishu import card_event, message_event
from tests.support.fake_platform import FakePlatform
from tests.support.fake_platform.feishu_ws import DROP, event_frames
from tests.support.serving import served, wait_until

APP_ID, APP_SECRET = "cli_ws_app", "ws secret"
MESSAGES = "/open-apis/im/v1/messages"


@pytest.fixture
def fake() -> Any:
    with FakePlatform() as platform:
        platform.state["feishu"]["apps"][APP_ID] = APP_SECRET
        platform.state["feishu_ws"]["ping_interval"] = 1
        yield platform


def long_connection_settings(settings: Settings, fake: FakePlatform, redis_url: str | None = None) -> Settings:
    data = settings.model_dump(mode="json")
    data["channels"]["feishu"] = {"app_id": APP_ID, "app_secret": APP_SECRET, "mode": "long_connection",
                                  "api_base": fake.base}  # fmt: skip
    data["redis_url"] = redis_url or data["redis_url"]
    return Settings(**{k: v for k, v in data.items() if k in ("redis_url", "data_dir", "channels")})


def customer_message(message_id: str, text: str = "怎么开发票") -> dict[str, Any]:
    event = message_event(text=text)
    event["event"]["message"].update(message_id=message_id, create_time=str(int(time.time() * 1000)))
    return event


def acks_of(fake: FakePlatform, frame_id: str) -> list[dict[str, Any]]:
    return [a for a in fake.state["feishu_ws"]["acks"] if a["message_id"] == frame_id]


def replies_to(fake: FakePlatform, message_id: str) -> list[dict[str, Any]]:
    return [m for m in fake.state["feishu"]["sent"] if m.get("reply_to") == message_id]


def queued(runtime: Runtime, message_id: str) -> int:
    """How many times the message went into the inbox (every partition's stream)."""
    inbox, r = runtime.gateway.inbox, redis.Redis.from_url(runtime.redis_handle.url)
    entries = [fields for p in range(inbox.partitions) for _, fields in r.xrange(inbox.stream(p))]
    return sum(message_id.encode() in fields[b"d"] for fields in entries)


def push(fake: FakePlatform, *frames: bytes) -> None:
    for each in frames:
        fake.state["feishu_ws"]["frames"].put(each)


def test_a_message_comes_over_the_long_connection_and_is_answered_once(settings: Settings, fake: FakePlatform) -> None:
    ws = fake.state["feishu_ws"]
    with served(long_connection_settings(settings, fake)) as (_, runtime):
        wait_until(lambda: ws["opened"] == 1, timeout=30)
        assert fake.calls("/callback/ws/endpoint")[0].json() == {"AppID": APP_ID, "AppSecret": APP_SECRET}
        wait_until(lambda: ws["pings"] >= 3)  # every second: the PingInterval the endpoint gave
        ws["ping_interval"] = 120  # a pong now carries a new ClientConfig
        time.sleep(2.5)
        pings = ws["pings"]
        time.sleep(1.5)
        assert ws["pings"] == pings

        frame = event_frames(customer_message("om_ws1"), "f1")
        push(fake, *frame, *frame)  # Feishu pushing it again
        wait_until(lambda: len(acks_of(fake, "f1")) == 2)
        assert [a["code"] for a in acks_of(fake, "f1")] == [200, 200]
        assert acks_of(fake, "f1")[0]["headers"]["type"] == "event"  # the frame itself comes back
        wait_until(lambda: replies_to(fake, "om_ws1"), timeout=30)
        time.sleep(1.0)
        assert len(fake.calls(f"{MESSAGES}/om_ws1/reply")) == 1  # answered once
        assert queued(runtime, "om_ws1") == 1  # by the webhook's de-duplication


def test_a_split_payload_is_put_back_together(settings: Settings, fake: FakePlatform) -> None:
    with served(long_connection_settings(settings, fake)):
        wait_until(lambda: fake.state["feishu_ws"]["opened"] == 1, timeout=30)
        first, second, third = event_frames(customer_message("om_ws2", "我的快递到哪了" * 20), "f2", parts=3)
        push(fake, third, first)
        time.sleep(0.5)
        assert acks_of(fake, "f2") == []  # not whole yet
        push(fake, second)
        wait_until(lambda: acks_of(fake, "f2"))
        assert [a["code"] for a in acks_of(fake, "f2")] == [200]
        wait_until(lambda: replies_to(fake, "om_ws2"), timeout=30)


def test_a_dropped_connection_is_opened_again(settings: Settings, fake: FakePlatform) -> None:
    ws = fake.state["feishu_ws"]
    with served(long_connection_settings(settings, fake)):
        wait_until(lambda: ws["opened"] == 1, timeout=30)
        push(fake, DROP)
        wait_until(lambda: ws["opened"] == 2, timeout=30)  # a new endpoint, a new connection
        assert len(fake.calls("/callback/ws/endpoint")) == 2
        push(fake, *event_frames(customer_message("om_ws3"), "f3"))
        wait_until(lambda: replies_to(fake, "om_ws3"), timeout=30)
    wait_until(lambda: ws["ended"] == 2)  # on the way out kefu closed its connection


def test_without_redis_nothing_is_acknowledged_and_the_push_again_is_answered(
    settings: Settings, fake: FakePlatform, tmp_path: Path
) -> None:
    own = EmbeddedRedis(tmp_path / "own-redis")
    try:
        with served(long_connection_settings(settings, fake, own.start())):
            wait_until(lambda: fake.state["feishu_ws"]["opened"] == 1, timeout=30)
            own.stop()
            frame = event_frames(customer_message("om_ws4"), "f4")
            push(fake, *frame)
            time.sleep(2.0)
            assert acks_of(fake, "f4") == []  # Feishu will push it again
            own.start()
            push(fake, *frame)
            wait_until(lambda: acks_of(fake, "f4"), timeout=30)
            wait_until(lambda: replies_to(fake, "om_ws4"), timeout=30)
            time.sleep(1.0)
            assert len(fake.calls(f"{MESSAGES}/om_ws4/reply")) == 1
    finally:
        own.stop()


def test_card_clicks_are_answered_in_the_ack_and_malformed_events_dropped(
    settings: Settings, fake: FakePlatform
) -> None:
    with served(long_connection_settings(settings, fake)):
        wait_until(lambda: fake.state["feishu_ws"]["opened"] == 1, timeout=30)
        push(fake, *event_frames(card_event({"key": "claim", "ticket": "T-404"}), "c1"))
        push(fake, *event_frames({"schema": "2.0", "header": {"event_type": "im.message.receive_v1"}}, "bad"))
        wait_until(lambda: acks_of(fake, "c1") and acks_of(fake, "bad"))
        (click,), (bad,) = acks_of(fake, "c1"), acks_of(fake, "bad")
        assert click["code"] == 200 and set(click["data"]["toast"]) == {"type", "content"}
        assert bad["code"] == 400 and bad["data"] is None
        assert fake.state["feishu"]["sent"] == []
