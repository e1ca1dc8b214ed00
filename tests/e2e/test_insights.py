"""Insight from every conversation: turns recorded by the real pipeline (over /api/chat, on the
real runtime and Redis), read back by ``kefu insights hot|unanswered`` and ``kefu report``."""

from __future__ import annotations

import asyncio
import csv
import json
import os
import time
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from typer.testing import CliRunner, Result

from alerts.insights.grouping import group_texts
from alerts.insights.recorder import stream_key
from alerts.insights.settings import InsightsSettings
from alerts.insights.store import read_turns
from alerts.insights.weekly import WeeklyReport, trigger
from alerts.notify import Notifier
from alerts.notify.notifier import recent_key
from bot.message import InboundMessage
from bot.nlu.knowledge import load_knowledge_base
from bot.runtime import Runtime, labeler
from bot.runtime.app import create_app
from bot.runtime.cli import app
from bot.runtime.settings import Settings
from bot.settings import SHIPPED_FAQ

pytestmark = pytest.mark.anyio

# What the shipped model does with these (trained with a fixed seed): answers, a fallback, an
# answer below the test's low_confidence, clarifying questions, a hand-over.
ASKED = [
    ("a", "我的快递到哪了"), ("b", "我的快递到哪了"), ("c", "快递到哪了"), ("d", "怎么退货"),
    ("e", "杯子上面能不能刻字"),  # fallback
    ("f", "可以定制刻字吗"),  # answered, unsure
    ("g", "我想问问"),  # clarifying question nobody picks (far below the answer threshold: robust to retraining)
    ("h", "这个东西"), ("h", "1"),  # clarifying question, offer picked
    ("k", "转人工"),
]  # fmt: skip


@pytest.fixture
def insight_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"insights": InsightsSettings(low_confidence=0.7)})


@pytest.fixture
async def runtime(insight_settings: Settings) -> AsyncIterator[Runtime]:
    rt = Runtime.start(insight_settings)
    yield rt
    await rt.close()


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    for name in list(os.environ):
        if name.startswith("KEFU_"):
            monkeypatch.delenv(name)
    return CliRunner()


def config_file(tmp_path: Path, settings: Settings) -> str:
    path = tmp_path / "kefu.yaml"
    path.write_text(
        f"redis_url: {settings.redis_url}\ndata_dir: {settings.data_dir}\ninsights: {{low_confidence: 0.7}}\n",
        encoding="utf-8",
    )
    return str(path)


async def seed(runtime: Runtime) -> list[dict[str, Any]]:
    transport = httpx.ASGITransport(app=create_app(runtime))
    replies = []
    async with httpx.AsyncClient(transport=transport, base_url="http://kefu.test") as client:
        for user, text in ASKED:
            r = await client.post("/api/chat", json={"user": user, "text": text})
            assert r.status_code == 200
            replies.append(r.json())
    return replies


async def invoke(runner: CliRunner, *args: str) -> Result:
    """The command as a shell runs it, in a thread: it runs its own event loop."""
    return await asyncio.to_thread(runner.invoke, app, list(args))


async def kefu(runner: CliRunner, *args: str) -> Any:
    result = await invoke(runner, *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


async def test_turns_over_the_web_channel_show_in_hot_unanswered_and_report(
    runtime: Runtime, runner: CliRunner, tmp_path: Path
) -> None:
    replies = await seed(runtime)
    actions = [r["action"] for r in replies]
    assert actions == [
        "answer", "answer", "answer", "answer", "fallback", "answer", "clarify", "clarify", "answer", "handoff",
    ]  # fmt: skip
    cfg = config_file(tmp_path, runtime.settings)

    hot = await kefu(runner, "insights", "hot", "--days", "7", "--top", "3", "--json", "-c", cfg)
    assert hot["top"][0] == {
        "intent": "where_is_parcel", "title": hot["top"][0]["title"], "category": "logistics",
        "count": 3, "previous": 0, "change": 3, "change_pct": None,
    }  # fmt: skip
    assert len(hot["top"]) == 3 and hot["total"] == 7  # answers and the hand-over name what was asked
    assert hot["categories"][0] == {
        "category": "logistics", "count": 3, "previous": 0, "change": 3, "change_pct": None,
        "top": [{"intent": "where_is_parcel", "count": 3}],
    }  # fmt: skip
    assert [d["count"] for d in hot["by_day"]] == [7] or sum(d["count"] for d in hot["by_day"]) == 7

    csv_path = tmp_path / "unanswered.csv"
    groups = await kefu(runner, "insights", "unanswered", "--top", "20", "--json", "--csv", str(csv_path), "-c", cfg)
    assert [sorted(g["examples"]) for g in groups] == [["可以定制刻字吗", "杯子上面能不能刻字"], ["我想问问"]]
    assert all({"count", "examples", "suggested_intent"} <= set(g) for g in groups)
    assert groups[0]["count"] == 2
    with csv_path.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["text"] for r in rows) == ["可以定制刻字吗", "我想问问", "杯子上面能不能刻字"]
    assert set(rows[0]) == {"text", "intent"}

    report = await kefu(runner, "report", "--period", "day", "--json", "-c", cfg)
    assert (report["volume"], report["answered"], report["clarified"]) == (10, 6, 2)
    assert (report["fallback"], report["handed_over"]) == (1, 1)
    assert report["contacts"] == 9  # h's two turns are one contact
    assert report["handoff_rate"] == round(1 / 9, 4)
    assert report["resolution_rate"] == round(6 / 9, 4)  # a b c d f h: answered, no hand-over, no return
    assert report["resolved_pending"] == 6
    assert report["first_response_seconds"]["median"] is not None
    assert report["tickets"] == {"opened": 0, "by_state": {}}

    for command, shown in (("hot", "where_is_parcel"), ("unanswered", "杯子上面能不能刻字")):
        printed = await invoke(runner, "insights", command, "-c", cfg)
        assert printed.exit_code == 0 and shown in printed.stdout
    text = await invoke(runner, "report", "--period", "week", "-c", cfg)
    assert text.exit_code == 0 and "volume:" in text.stdout
    bad = await invoke(runner, "report", "--period", "month", "-c", cfg)
    assert bad.exit_code == 2 and "month" in bad.output


async def test_figures_of_one_shop_leave_out_the_others(runtime: Runtime, tmp_path: Path, runner: CliRunner) -> None:
    await seed(runtime)
    cfg = config_file(tmp_path, runtime.settings)
    Path(cfg).write_text(Path(cfg).read_text(encoding="utf-8") + "alerts: {shops: {web/default: 小店A}}\n", "utf-8")
    mine = await kefu(runner, "report", "--period", "day", "--json", "--shop", "小店A", "-c", cfg)
    other = await kefu(runner, "report", "--period", "day", "--json", "--shop", "小店B", "-c", cfg)
    assert (mine["shop"], mine["volume"], other["shop"], other["volume"]) == ("小店A", 10, "小店B", 0)
    assert await kefu(runner, "insights", "unanswered", "--json", "--shop", "小店B", "-c", cfg) == []
    hot = await kefu(runner, "insights", "hot", "--json", "--shop", "小店A", "-c", cfg)
    assert hot["total"] > 0


async def test_a_turn_is_recorded_in_the_round_trip_of_its_dialogue_save(runtime: Runtime) -> None:
    batches: list[list[str]] = []
    send = runtime.redis._send_batch  # type: ignore[attr-defined]

    async def watched(batch: list[Any]) -> list[Any]:
        batches.append([str(args[0]) for args, _ in batch])
        return await send(batch)

    runtime.redis._batches._call_batch = watched  # type: ignore[attr-defined]
    message = InboundMessage(
        channel="web", app="default", conversation_id="u1", sender_id="u1", text="我的快递到哪了",
        message_id=uuid.uuid4().hex, sent_at=time.time(),
    )  # fmt: skip
    await runtime.pipeline.handle(message)
    assert ["SET", "XADD"] in batches
    assert sum(1 for b in batches if "XADD" in b) == 1
    assert await runtime.redis.xlen(stream_key(runtime.keys)) == 1


async def test_old_turns_are_trimmed_as_new_ones_arrive(runtime: Runtime) -> None:
    key = stream_key(runtime.keys)
    for n in range(1, 301):  # turns from 1970, far past the retention
        await runtime.redis.xadd(key, {"t": "1"}, id=f"{n}-0")
    message = InboundMessage(
        channel="web", app="default", conversation_id="u2", sender_id="u2", text="怎么退货",
        message_id=uuid.uuid4().hex, sent_at=time.time(),
    )  # fmt: skip
    await runtime.pipeline.handle(message)
    assert await runtime.redis.xlen(key) < 101  # whole nodes go at once (MINID ~): cheap for Redis


async def test_turns_before_the_period_are_not_read(runtime: Runtime) -> None:
    key = stream_key(runtime.keys)
    message = InboundMessage(
        channel="web", app="default", conversation_id="u3", sender_id="u3", text="怎么退货",
        message_id=uuid.uuid4().hex, sent_at=time.time(),
    )  # fmt: skip
    await runtime.pipeline.handle(message)
    [(_, recorded)] = await runtime.redis.xrange(key)
    # The same turn, also under an id of a day ago: the read starts at the period's ids (less
    # a margin for clocks), so that entry is never reached.
    await runtime.redis.delete(key)
    await runtime.redis.xadd(key, recorded, id=f"{int((time.time() - 86400) * 1000)}-0")
    await runtime.redis.xadd(key, recorded)
    assert len(await read_turns(runtime.redis, runtime.keys, since=time.time() - 600)) == 1
    assert len(await read_turns(runtime.redis, runtime.keys)) == 2


async def test_weekly_report_goes_out_once_a_week(runtime: Runtime, insight_settings: Settings) -> None:
    await seed(runtime)
    weekly = WeeklyReport(
        insight_settings,
        runtime.redis,
        runtime.keys,
        Notifier(insight_settings.alerts, runtime.redis, runtime.keys, runtime.outbox, runtime.clock),
        labeler(insight_settings),
        runtime.clock,
    )
    assert await weekly.send(time.time()) is True
    assert await weekly.send(time.time()) is False  # claimed: another process, or a restart
    recent = [json.loads(x) for x in await runtime.redis.lrange(recent_key(runtime.keys), 0, -1)]
    recent = [a for a in recent if a["kind"] == "service_weekly"]
    assert len(recent) == 1
    assert recent[0]["title"].startswith("客服周报") and recent[0]["labels"]["audience"] == "managers"


def test_paraphrases_group_together_and_needs_apart() -> None:
    kb = load_knowledge_base(SHIPPED_FAQ)
    needs = {
        "trade_in": ["手机能以旧换新吗", "旧手机回收抵钱吗", "旧机器可以折价换新不", "以旧换新怎么弄"],
        "student": ["学生证能打折吗", "学生买便宜吗", "大学生有优惠不", "学生有特价没"],
        "delete_account": ["怎么注销账户", "账号怎么永久删除", "我要销户", "注销会员账号"],
    }
    noise = ["今天好热", "哈哈"]
    groups = group_texts(
        [t for texts in needs.values() for t in texts] + noise, {n: i.examples for n, i in kb.intents.items()}
    )
    as_sets = [set(g.texts) for g in groups]
    for texts in needs.values():
        assert set(texts) in as_sets
    assert {"今天好热"} in as_sets and {"哈哈"} in as_sets
    assert [g.count for g in groups][:3] == [4, 4, 4]
    deletion = next(g for g in groups if "我要销户" in g.texts)
    assert deletion.suggested_intent == "account_login"  # the nearest the knowledge base has
    assert next(g for g in groups if "哈哈" in g.texts).suggested_intent is None


async def test_the_weekly_job_sends_at_the_configured_time(runtime: Runtime, insight_settings: Settings) -> None:
    tz = ZoneInfo(insight_settings.insights.timezone)
    due = trigger(insight_settings.insights.weekly_report, tz).get_next_fire_time(None, datetime.now(tz))
    assert due is not None
    started = time.monotonic()

    def clock() -> float:  # a little before the report's time, then running as time does
        return due.timestamp() - 0.3 + (time.monotonic() - started)

    notifier = Notifier(insight_settings.alerts, runtime.redis, runtime.keys, runtime.outbox, clock)
    job = asyncio.create_task(
        WeeklyReport(insight_settings, runtime.redis, runtime.keys, notifier, labeler(insight_settings), clock).run()
    )
    try:
        for _ in range(50):
            if await runtime.redis.llen(recent_key(runtime.keys)):
                break
            await asyncio.sleep(0.1)
        recent = [json.loads(x) for x in await runtime.redis.lrange(recent_key(runtime.keys), 0, -1)]
        assert [a["kind"] for a in recent] == ["service_weekly"]
    finally:
        job.cancel()
