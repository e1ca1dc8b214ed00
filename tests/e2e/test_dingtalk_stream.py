"""DingTalk Stream mode against a fake gateway speaking its protocol over a real WebSocket: kefu
opens the connection, answers pings, queues robot messages through the same dedupe as webhooks
(acknowledging each once it is queued), and connects again when told to."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from bot.redis_store import EmbeddedRedis
from bot.runtime.settings import Settings
from tests.e2e.adapters.test_dingtalk import robot_message
from tests.support.fake_platform import FakePlatform
from tests.support.serving import served, wait_until

APP_KEY, APP_SECRET = "ding-stream-key", "ding-stream-secret"
ROBOT_TOPIC = "/v1.0/im/bot/messages/get"


def frame(kind: str, topic: str, frame_id: str, data: dict[str, Any]) -> dict[str, Any]:
    headers = {"messageId": frame_id, "topic": topic, "contentType": "application/json", "time": "1"}
    return {"specVersion": "1.0", "type": kind, "headers": headers, "data": json.dumps(data, ensure_ascii=False)}


def acks_of(fake: FakePlatform, frame_id: str) -> list[dict[str, Any]]:
    return [a for a in fake.state["dingtalk_stream"]["acks"] if a["headers"]["messageId"] == frame_id]


@pytest.fixture
def fake() -> Any:
    with FakePlatform() as platform:
        platform.state["dingtalk"]["apps"][APP_KEY] = APP_SECRET
        platform.state["dingtalk"]["sessions"]["live"] = True
        yield platform


def stream_settings(settings: Settings, fake: FakePlatform, redis_url: str | None = None) -> Settings:
    data = settings.model_dump(mode="json")
    data["channels"]["dingtalk"].update(app_key=APP_KEY, app_secret=APP_SECRET, mode="stream", api_base=fake.base)
    data["channels"]["dingtalk"].pop("apps", None)
    data["redis_url"] = redis_url or data["redis_url"]
    return Settings(**{k: v for k, v in data.items() if k in ("redis_url", "data_dir", "channels")})


def test_messages_come_over_the_stream_and_are_answered_once(settings: Settings, fake: FakePlatform) -> None:
    stream = fake.state["dingtalk_stream"]
    with served(stream_settings(settings, fake)):
        wait_until(lambda: stream["opened"] == 1, timeout=30)
        assert stream["subscriptions"] == [[{"type": "CALLBACK", "topic": ROBOT_TOPIC}]]

        stream["frames"].put(frame("SYSTEM", "ping", "p1", {"opaque": "x"}))
        wait_until(lambda: acks_of(fake, "p1"))
        assert acks_of(fake, "p1")[0]["code"] == 200 and json.loads(acks_of(fake, "p1")[0]["data"]) == {"opaque": "x"}

        body = robot_message(
            msgId="stream-1", createAt=int(time.time() * 1000),
            sessionWebhook=f"{fake.base}/robot/sendBySession?session=live",
            sessionWebhookExpiredTime=int(time.time() * 1000) + 3_600_000,
        )  # fmt: skip
        stream["frames"].put(frame("CALLBACK", ROBOT_TOPIC, "f1", body))
        stream["frames"].put(frame("CALLBACK", ROBOT_TOPIC, "f2", body))  # DingTalk delivering it again
        wait_until(lambda: acks_of(fake, "f1") and acks_of(fake, "f2"))
        assert [a["code"] for a in acks_of(fake, "f1") + acks_of(fake, "f2")] == [200, 200]
        fake.wait_for("/robot/sendBySession", 1, timeout=30)
        time.sleep(1.0)
        assert len(fake.calls("/robot/sendBySession")) == 1  # answered once

        stream["frames"].put(frame("SYSTEM", "disconnect", "d1", {}))
        wait_until(lambda: stream["opened"] == 2, timeout=30)  # a new ticket, a new connection
        stream["frames"].put(frame("CALLBACK", ROBOT_TOPIC, "f3", {**body, "msgId": "stream-2"}))
        fake.wait_for("/robot/sendBySession", 2, timeout=30)


def test_frames_that_are_not_robot_messages_are_acknowledged_and_dropped(
    settings: Settings, fake: FakePlatform
) -> None:
    stream = fake.state["dingtalk_stream"]
    with served(stream_settings(settings, fake)):
        wait_until(lambda: stream["opened"] == 1, timeout=30)
        stream["frames"].put(frame("EVENT", "chat_update", "e1", {}))
        stream["frames"].put({**frame("CALLBACK", ROBOT_TOPIC, "bad", {}), "data": "{not json"})
        wait_until(lambda: acks_of(fake, "e1") and acks_of(fake, "bad"))
        assert (acks_of(fake, "e1")[0]["code"], acks_of(fake, "bad")[0]["code"]) == (404, 400)
        assert fake.calls("/robot/sendBySession") == []


def test_without_redis_a_message_is_not_acknowledged_and_the_stream_stays_up(
    settings: Settings, fake: FakePlatform, tmp_path: Path
) -> None:
    stream = fake.state["dingtalk_stream"]
    own = EmbeddedRedis(tmp_path / "own-redis")
    body = robot_message(
        msgId="stream-r", createAt=int(time.time() * 1000),
        sessionWebhook=f"{fake.base}/robot/sendBySession?session=live",
        sessionWebhookExpiredTime=int(time.time() * 1000) + 3_600_000,
    )  # fmt: skip
    try:
        with served(stream_settings(settings, fake, own.start())):
            wait_until(lambda: stream["opened"] == 1, timeout=30)
            own.stop()
            stream["frames"].put(frame("CALLBACK", ROBOT_TOPIC, "r1", body))
            time.sleep(2.0)
            assert acks_of(fake, "r1") == []  # DingTalk will deliver it again
            own.start()
            stream["frames"].put(frame("CALLBACK", ROBOT_TOPIC, "r2", body))
            wait_until(lambda: acks_of(fake, "r2"), timeout=30)
            fake.wait_for("/robot/sendBySession", 1, timeout=30)
            assert stream["opened"] == 1  # the same connection all along
    finally:
        own.stop()
