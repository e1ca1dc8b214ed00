"""``/metrics`` on the real app and runtime: messages by channel and outcome, intents, latency
histograms, and the state read from Redis at scrape time (backlogs, dead letters, tickets)."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from bot.message import InboundMessage, OutboundMessage
from bot.runtime import Runtime
from bot.runtime.app import create_app
from bot.runtime.settings import Settings
from bot.worker import InboxHandler
from tests.support.serving import free_port

pytestmark = pytest.mark.anyio


@pytest.fixture
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    rt = Runtime.start(settings)
    yield rt
    await rt.close()


async def scrape(runtime: Runtime) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://kefu.test") as client:
        r = await client.get("/metrics")
    assert r.status_code == 200
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(r.text)
        for s in family.samples
    }


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_messages_intents_and_latencies_are_counted(runtime: Runtime) -> None:
    before = await scrape(runtime)
    transport = httpx.ASGITransport(app=create_app(runtime))
    async with httpx.AsyncClient(transport=transport, base_url="http://kefu.test") as client:
        for text in ("我的快递到哪了", "杯子上面能不能刻字"):
            assert (await client.post("/api/chat", json={"user": "m1", "text": text})).status_code == 200
    delivered: list[OutboundMessage] = []

    async def deliver(message: OutboundMessage) -> None:
        delivered.append(message)

    worker = InboxHandler(runtime.pipeline, deliver, runtime.clock, 600)
    message = InboundMessage(
        channel="wechat", app="default", conversation_id="o1", sender_id="o1", text="怎么退货",
        message_id=uuid.uuid4().hex, sent_at=time.time(),
    )  # fmt: skip
    await worker(message.to_json().encode())
    assert delivered
    after = await scrape(runtime)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("kefu_messages_total", channel="web", outcome="answer") == 1
    assert grew("kefu_messages_total", channel="web", outcome="fallback") == 1
    assert grew("kefu_messages_total", channel="wechat", outcome="answer") == 1
    assert grew("kefu_intents_total", intent="where_is_parcel") == 1
    assert grew("kefu_intents_total", intent="how_to_return") == 1
    assert grew("kefu_pipeline_seconds_count") == 3
    assert grew("kefu_reply_seconds_count") == 1  # the worker's reply, handed to the sender


async def test_state_from_redis_at_scrape_time(runtime: Runtime) -> None:
    samples = await scrape(runtime)
    assert value(samples, "kefu_dead_letters", queue="outbox") == 0
    assert value(samples, "kefu_tickets", state="open") == 0
    assert ("kefu_queue_backlog", (("queue", "inbox"),)) in samples
    assert ("kefu_outbox_delayed", ()) in samples
    await runtime.redis.rpush(runtime.outbox.dead_key, json.dumps({"m": {}, "attempts": 8, "error": "test"}))
    samples = await scrape(runtime)
    assert value(samples, "kefu_dead_letters", queue="outbox") == 1


async def test_redis_down_leaves_the_state_out_and_counts_the_error(settings: Settings) -> None:
    rt = Runtime.start(settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"}))
    try:
        before = value(await scrape(rt), "kefu_redis_errors_total", where="metrics")
        samples = await scrape(rt)  # still 200: the process's own metrics
        assert value(samples, "kefu_redis_errors_total", where="metrics") == before + 1
        assert not any(name == "kefu_queue_backlog" for name, _ in samples)
    finally:
        await rt.close()


async def test_the_grafana_dashboard_queries_only_served_metrics(runtime: Runtime) -> None:
    dashboard = json.loads((Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "kefu.json").read_text())
    queried = {
        re.sub(r"_(bucket|count|sum)$", "", name)
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"kefu_[a-z_]+", target["expr"])
    }
    served = {family.name for family in REGISTRY.collect()} | {name for name, _ in await scrape(runtime)}
    served |= {f"{name}_total" for name in served}  # a counter's family is named without _total
    assert queried and queried <= served, queried - served
