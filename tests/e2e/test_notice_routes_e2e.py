"""Every kind of staff notice through the real path, routed by labels as the docs show them.

One running bot (HTTP, worker, outbox, ticket scheduler) with a clock the test can move forward,
customers on WeCom and the web channel, and one fake WeCom group robot per receiver: risk and
hand-over alerts come from the pipeline, ticket cards from repeat contacts, the escalation, the
digest and the weekly review from the scheduler. Each must reach the receiver its route names.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
import pytest

from alerts.insights.weekly import WeeklyReport
from alerts.notify import Notifier
from alerts.notify.commands import alerts_recent
from alerts.notify.labels import KINDS, LABEL_NAMES
from alerts.tickets.scheduler import TicketScheduler
from bot.outbox import Outbox
from bot.redis_store import Keys, connected
from bot.runtime import labeler
from bot.runtime.settings import Settings
from tests.support.callbacks import SEND, wecom_callback, with_alerts, with_channels
from tests.support.fake_platform import FakePlatform
from tests.support.fake_platform.robots import WECOM_ROBOT
from tests.support.serving import served, wait_until

RECEIVERS = ("risk_group", "handoff_group", "ticket_group", "wecom_group", "managers", "digest_group")
KEY = {name: str(uuid.UUID(int=i + 1)) for i, name in enumerate(RECEIVERS)}
# As docs/alerts.md writes them: first match wins.
ROUTES = [
    {"match": {"kind": "ticket"}, "receivers": ["ticket_group"]},
    {"match": {"kind": "ticket_escalation", "audience": "managers"}, "receivers": ["managers"]},
    {"match": {"kind": "ticket_weekly"}, "receivers": ["managers"]},
    {"match": {"kind": "service_weekly"}, "receivers": ["managers"]},
    {"match": {"kind": "ticket_digest", "team": "kefu"}, "receivers": ["digest_group"]},
    {"match": {"channel": "wecom"}, "receivers": ["wecom_group"]},
    {"match": {"kind": "handoff"}, "receivers": ["handoff_group"]},
    {"match": {"kind": "risk", "severity": "warning"}, "receivers": ["risk_group"]},
]
RISKY = "再不处理我就给差评了"  # risky (about 0.9), not handed over at this test's handoff_threshold


class MovableClock:
    """Real time plus an offset the test moves forward (the scheduler's SLA checks read it)."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


@pytest.fixture()
def fake() -> FakePlatform:
    with FakePlatform() as platform:
        platform.state["robots"]["wecom"].update(KEY.values())
        yield platform


def robot_texts(fake: FakePlatform, receiver: str) -> list[str]:
    calls = [c for c in fake.calls(WECOM_ROBOT) if c.query.get("key") == KEY[receiver]]
    return [c.json()["markdown"]["content"] for c in calls]


def staff_settings(settings: Settings, fake: FakePlatform) -> Settings:
    settings = with_alerts(with_channels(settings, fake), {
        "receivers": {n: {"type": "wecom_robot", "webhook_key": KEY[n], "api_base": fake.base} for n in RECEIVERS},
        "routes": ROUTES, "group_wait_seconds": 0,
    })  # fmt: skip
    data = settings.model_dump()
    data["tickets"].update(
        session_gap_minutes=0.5, staff={"wecom": {"boss": {"name": "王经理", "role": "manager", "team": "kefu"}}},
        escalation={"unacked_minutes": 30, "open_hours": 24, "check_seconds": 1},
    )  # fmt: skip
    data["risk"]["handoff_threshold"] = 0.99
    data["alerts"] = settings.alerts
    return Settings(**{**data, "channels": settings.channels})


def run_job_now(runtime, job_id: str) -> None:  # type: ignore[no-untyped-def]
    """Make the leading scheduler run a cron job now, as it would at its time of day."""
    [scheduler] = [j.__self__ for j in runtime.jobs if isinstance(getattr(j, "__self__", None), TicketScheduler)]
    wait_until(lambda: scheduler.is_leader)
    scheduler.scheduler.modify_job(job_id, next_run_time=datetime.now(ZoneInfo("Asia/Shanghai")))


async def send_weekly_report(settings: Settings) -> None:
    async with connected(settings.redis_url, settings.data_dir) as redis:
        keys = Keys(settings.key_prefix)
        notifier = Notifier(settings.alerts, redis, keys, Outbox(redis, keys, settings.server.partitions), time.time)
        assert await WeeklyReport(settings, redis, keys, notifier, labeler(settings), time.time).send(time.time())


def test_every_kind_of_notice_reaches_the_receiver_its_route_names(settings: Settings, fake: FakePlatform) -> None:
    clock = MovableClock()
    with served(staff_settings(settings, fake), clock) as (base, runtime):
        # risk: an angry web customer
        httpx.post(f"{base}/api/chat", json={"user": "angry1", "text": RISKY}, timeout=10)
        wait_until(lambda: robot_texts(fake, "risk_group"))
        assert "投诉风险提醒" in robot_texts(fake, "risk_group")[0]

        # handoff: the alert offers a number for /release, never the raw customer id
        reply = httpx.post(f"{base}/api/chat", json={"user": "h_13800138000", "text": "转人工"}, timeout=10).json()
        assert reply["handoff"] is True
        wait_until(lambda: robot_texts(fake, "handoff_group"))
        [handoff] = robot_texts(fake, "handoff_group")
        assert "转人工提醒" in handoff and "web:h_***00" in handoff and "h_13800138000" not in handoff
        handle = re.search(r"/release (\d+)", handoff).group(1)  # type: ignore[union-attr]
        query, body = wecom_callback(f"/release {handle}", "m-release", sender="boss")
        assert httpx.post(f"{base}/webhooks/wecom", params=query, content=body).status_code == 200
        [answer] = fake.wait_for(SEND, 1)
        assert answer.json()["text"]["content"].startswith(f"已交还机器人接待：{handle}（web:h_***00）")

        # ticket: a WeCom customer writes in three sessions (session gap 30 s)
        for i in range(3):
            query, body = wecom_callback("在吗", f"m-contact-{i}", sender="cust7")
            assert httpx.post(f"{base}/webhooks/wecom", params=query, content=body).status_code == 200
            wait_until(lambda i=i: len(fake.calls(SEND)) >= 2 + i)  # answered before the next session
            clock.offset += 60
        wait_until(lambda: robot_texts(fake, "ticket_group"))
        [ticket] = robot_texts(fake, "ticket_group")
        tid = re.search(r"T-\d{8}-\d{4}", ticket).group()  # type: ignore[union-attr]
        assert "重复进线工单" in ticket and "wecom:cu***t7" in ticket
        assert robot_texts(fake, "wecom_group") == []  # the ticket route matched first

        # escalation: 31 minutes later nobody has acknowledged it
        clock.offset += 31 * 60
        wait_until(lambda: robot_texts(fake, "managers"))
        [escalation] = robot_texts(fake, "managers")
        assert tid in escalation and "未确认" in escalation

        # digest and weekly review: the scheduler's cron jobs run as at their time
        run_job_now(runtime, "tickets.digest")
        wait_until(lambda: robot_texts(fake, "digest_group"))
        assert "每日工单摘要" in robot_texts(fake, "digest_group")[0] and tid in robot_texts(fake, "digest_group")[0]
        run_job_now(runtime, "tickets.weekly")
        wait_until(lambda: len(robot_texts(fake, "managers")) == 2)
        assert "重复进线周报" in robot_texts(fake, "managers")[1]

        # the weekly service report, sent as its job sends it at its time
        asyncio.run(send_weekly_report(runtime.settings))
        wait_until(lambda: len(robot_texts(fake, "managers")) == 3)
        assert "客服周报" in robot_texts(fake, "managers")[2]

        # what `kefu alerts recent` shows: every notice routed, every label present
        recent = alerts_recent(runtime.settings, 50)
        assert {e["kind"] for e in recent} == set(KINDS)
        assert all(e["status"] == "queued" and e["receivers"] for e in recent)
        assert all(set(LABEL_NAMES) <= set(e["labels"]) for e in recent)
