"""Notifications: the routing table, /silence parsing, and the decision timeline (grouping,
repeat interval, silences, restart) with an injected clock over a real Redis."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis.asyncio as aredis

from alerts.notify import Notice, Notifier
from alerts.notify.decide import Outcome, decide
from alerts.notify.routing import route_receivers, severity_of
from alerts.notify.settings import AlertsSettings, Severity
from alerts.notify.silences import (
    Silence,
    SilenceError,
    parse_duration,
    parse_silence_command,
)
from bot.message import OutboundMessage
from bot.outbox import Outbox
from bot.redis_store import Keys
from tests.support.clock import Clock

RECEIVERS = {
    "ops": {"type": "wecom_robot", "webhook_key": "693a91f6-7a6c-4bc4-97a0-0ec2a1fa5aaa"},
    "mgr": {"type": "feishu_bot", "webhook": "https://open.feishu.cn/open-apis/bot/v2/hook/x", "secret": "s"},
    "dd": {"type": "dingtalk_robot", "access_token": "t", "secret": "SECx"},
    "leads": {"type": "wecom_app", "users": ["zhangsan", "lisi"]},
}
ROUTED = AlertsSettings(
    receivers=RECEIVERS,
    routes=[
        {"match": {"severity": "critical"}, "receivers": ["mgr"], "continue": True},
        {"match": {"channel": ["wecom", "wecom_kf"], "category": "售后"}, "receivers": ["ops"]},
        {"match": {"shop": "旗舰店"}, "receivers": ["dd", "ops"]},
        {"match": {"app": "b2b", "severity": "warning"}, "receivers": ["leads"]},
        {"match": {"kind": "ticket_escalation", "audience": "managers"}, "receivers": ["mgr"]},
    ],
    default_receivers=["ops"],
)


@pytest.mark.parametrize(
    ("labels", "severity", "expected"),
    [
        ({"channel": "wecom", "category": "售后"}, "warning", ["ops"]),
        ({"channel": "wecom_kf", "category": "售后"}, "critical", ["mgr", "ops"]),  # continue
        ({"channel": "feishu", "shop": "旗舰店"}, "info", ["dd", "ops"]),
        ({"channel": "web", "app": "b2b"}, "warning", ["leads"]),
        ({"channel": "web", "app": "b2b"}, "info", ["ops"]),  # below the route's severity: default
        ({"channel": "web"}, "critical", ["mgr"]),  # matched (continue) but nothing after: no default
        ({}, "info", ["ops"]),
        ({"kind": "ticket_escalation", "audience": "managers"}, "info", ["mgr"]),
        ({"kind": "ticket_escalation", "audience": "team"}, "info", ["ops"]),
        ({"team": "logistics", "receivers": "dd,leads"}, "info", ["dd", "leads"]),  # a team's own
        ({"team": "logistics", "receivers": "gone"}, "info", ["ops"]),  # unknown names: routes
    ],
)
def test_routing_table(labels: dict[str, str], severity: str, expected: list[str]) -> None:
    assert route_receivers(ROUTED, labels, severity) == expected


def test_severity_thresholds() -> None:
    t = Severity(warning=0.6, critical=0.85)
    assert [severity_of(s, t) for s in (0.1, 0.6, 0.84, 0.85, 1.0)] == [
        "info",
        "warning",
        "warning",
        "critical",
        "critical",
    ]


def test_unknown_receiver_names_the_key() -> None:
    with pytest.raises(ValueError, match=r"routes\.0\.receivers: unknown receiver\(s\) nobody"):
        AlertsSettings(receivers=RECEIVERS, routes=[{"receivers": ["nobody"]}])


@pytest.mark.parametrize(
    ("text", "seconds", "matcher"),
    [("/silence 2h wx_abc123", 7200, "wx_abc123"), ("/silence 30m 物流 太慢", 1800, "物流 太慢"),
     ("/silence 1h30m ab***yz", 5400, "ab***yz"), ("/silence 1d 威胁投诉", 86400, "威胁投诉"),
     ("/silence 2小时 客户A", 7200, "客户A")],
)  # fmt: skip
def test_silence_command_parsing(text: str, seconds: float, matcher: str) -> None:
    assert parse_silence_command(text) == (seconds, matcher)


@pytest.mark.parametrize("text", ["/silence", "/silence 2h", "/silence soon 客户", "/silence 0m x", "/silence 40d x"])
def test_silence_command_errors_say_how(text: str) -> None:
    with pytest.raises(SilenceError, match="用法"):
        parse_silence_command(text)
    with pytest.raises(SilenceError):
        parse_duration("2 hours")


def notice(customer: str = "wecom:wx_abc123", reason: str = "威胁投诉12315", severity: str = "warning") -> Notice:
    return Notice(
        kind="risk", severity=severity, labels={"channel": "wecom", "app": "default"}, title="投诉风险提醒",
        text="最近消息：\n- 你们这什么破服务", fields=[("客户", "wx***23")], group_key=f"customer:{customer}",
        dedupe_key=f"{customer}|{reason}", customer_key=customer, reason=reason,
    )  # fmt: skip


def test_decide_is_pure() -> None:
    n = notice()
    silence = Silence("s1", "wx***23", starts_at=100, ends_at=200)
    assert decide(n, 150, [silence], None, 3600) is Outcome.SILENCED  # by the masked id staff see
    assert decide(n, 200, [silence], None, 3600) is Outcome.SEND  # ended
    assert decide(n, 150, [Silence("s2", "12315", 0, 1e9)], None, 3600) is Outcome.SILENCED  # by reason
    assert decide(n, 150, [Silence("s3", "wx_other", 0, 1e9)], None, 3600) is Outcome.SEND
    assert decide(n, 1000, [], 500, 3600) is Outcome.REPEAT
    assert decide(n, 4100, [], 500, 3600) is Outcome.SEND


async def outbox_messages(outbox: Outbox) -> list[OutboundMessage]:
    found = []
    for p in range(outbox.queue.partitions):
        for _, fields in await outbox.redis.xrange(outbox.queue.stream(p)):
            found.append(OutboundMessage(**json.loads(fields[b"d"])["m"]))
    return found


def run_with_notifier(
    redis_url: str, settings: AlertsSettings, clock: Clock, scenario: Callable[[Notifier], Awaitable[Any]]
) -> Any:
    async def main() -> Any:
        redis = aredis.Redis.from_url(redis_url)
        keys = Keys("t")
        try:
            return await scenario(Notifier(settings, redis, keys, Outbox(redis, keys, 4), clock))
        finally:
            await redis.aclose()

    return asyncio.run(main())


TIMELINE = AlertsSettings(
    receivers=RECEIVERS, default_receivers=["ops"], group_wait_seconds=30, repeat_interval_seconds=4 * 3600
)


def test_burst_grouped_then_repeat_interval(redis_clean: str) -> None:
    clock = Clock()

    async def scenario(n: Notifier) -> None:
        assert await n.notify(notice(reason="情绪激动")) == ["ops"]
        clock.now += 10
        assert await n.notify(notice(reason="威胁投诉12315", severity="critical")) == ["ops"]
        clock.now += 5
        assert await n.notify(notice(reason="情绪激动")) == []  # same customer and reason: a repeat
        clock.now += 14  # 29 s after the first: still waiting for the rest of the burst
        assert await n.flush_due() == 0 and await outbox_messages(n.outbox) == []
        clock.now += 1
        assert await n.flush_due() == 1
        [sent] = await outbox_messages(n.outbox)
        assert sent.channel == "wecom_robot" and sent.app == "ops"
        assert "【严重】投诉风险提醒" in sent.text  # the most severe notice heads the alert
        assert "同一客户的其他 1 条提醒" in sent.text and "情绪激动" in sent.text
        assert sent.route["rate_per_minute"] == "20.0"
        assert await n.flush_due() == 0  # sent once
        clock.now += 3600
        assert await n.notify(notice(reason="情绪激动")) == []  # within 4 h
        clock.now += 3 * 3600 + 1
        assert await n.notify(notice(reason="情绪激动")) == ["ops"]  # 4 h after: again
        assert [r["status"] for r in await n.recent(10)] == ["queued", "repeat", "repeat", "queued", "queued"]

    run_with_notifier(redis_clean, TIMELINE, clock, scenario)


def test_silence_then_expiry(redis_clean: str) -> None:
    clock = Clock()

    async def scenario(n: Notifier) -> None:
        await n.silences.add("wx_abc123", 7200, clock.now, "cli")
        await n.silences.add("物流", 60, clock.now, "cli")
        assert await n.notify(notice()) == []
        assert await n.notify(notice(customer="feishu:ou_1", reason="物流太慢")) == []
        clock.now += 7200
        assert await n.notify(notice()) == ["ops"]  # the silence has ended
        assert [r["status"] for r in await n.recent(3)] == ["queued", "silenced", "silenced"]
        [active] = [s for s in await n.silences.all() if s.matcher == "物流"]
        assert not active.active(clock.now)

    run_with_notifier(redis_clean, TIMELINE, clock, scenario)


def test_pending_group_survives_a_restart(redis_clean: str) -> None:
    clock = Clock()

    async def before(n: Notifier) -> None:
        await n.notify(notice())
        assert await n.groups.pending() == 1

    async def after(n: Notifier) -> None:  # a new process, the same Redis
        clock.now += 31
        assert await n.flush_due() == 1
        assert len(await outbox_messages(n.outbox)) == 1

    run_with_notifier(redis_clean, TIMELINE, clock, before)
    run_with_notifier(redis_clean, TIMELINE, clock, after)


def test_a_flush_repeated_after_a_crash_sends_once(redis_clean: str) -> None:
    clock = Clock()

    async def scenario(n: Notifier) -> None:
        member = await n.groups.add(notice(), ["ops", "leads"], clock.now)
        batch, entries = await n.groups.take(member)  # crashed after reading, before done()
        await n._flush(member)
        await n._flush(member)
        sent = await outbox_messages(n.outbox)
        assert sorted(m.channel for m in sent) == ["wecom", "wecom_robot"]
        leads = next(m for m in sent if m.channel == "wecom")
        assert leads.route["touser"] == "zhangsan|lisi" and leads.kind == "markdown"

    run_with_notifier(redis_clean, TIMELINE, clock, scenario)


def test_no_receivers_records_only(redis_clean: str) -> None:
    clock = Clock()

    async def scenario(n: Notifier) -> None:
        assert await n.notify(notice()) == []
        [entry] = await n.recent()
        assert entry["status"] == "unrouted" and entry["customer"] == "wecom:wx***23"
        assert await n.groups.pending() == 0

    run_with_notifier(redis_clean, AlertsSettings(), clock, scenario)


def test_ungrouped_notice_goes_at_once(redis_clean: str) -> None:
    clock = Clock()
    card = Notice(kind="ticket", severity="warning", labels={}, title="工单 T-1", text="客户三次催发货",
                  buttons=[{"text": "认领", "key": "claim:T-1", "style": "primary"}])  # fmt: skip

    async def scenario(n: Notifier) -> None:
        assert await n.notify(card) == ["leads"]
        [sent] = await outbox_messages(n.outbox)
        assert sent.kind == "card" and sent.card["buttons"][0]["key"] == "claim:T-1"

    run_with_notifier(redis_clean, TIMELINE.model_copy(update={"default_receivers": ["leads"]}), clock, scenario)
