"""The robot senders' wire formats against the fake platforms (which check keys and
signatures), failure classification, shortening, and delivery through the outbox: a robot
answering 500, then its rate-limit code, then ok gets the alert once, later."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from adapters.robots import (
    DingtalkRobotSender,
    FeishuBotSender,
    WecomRobotSender,
    create_sender,
)
from adapters.robots.dingtalk_robot import sign as dingtalk_sign
from alerts.notify.settings import AlertsSettings
from bot.http import HttpClient
from bot.message import OutboundMessage
from bot.outbox import Outbox, OutboxSender, routing_key
from tests.support.clock import Clock
from tests.support.fake_platform import FakePlatform
from tests.support.fake_platform.robots import FEISHU_HOOK, WECOM_ROBOT
from tests.support.outbox_harness import deliver, drain

KEY = "693a91f6-7a6c-4bc4-97a0-0ec2a1fa5aaa"
DD_TOKEN, DD_SECRET = "ddtoken", "SECdd-secret"
FS_TOKEN, FS_SECRET = "fs-hook-token", "fs-bot-secret"


@pytest.fixture()
def fake() -> FakePlatform:
    with FakePlatform() as platform:
        platform.state["robots"]["wecom"].add(KEY)
        platform.state["robots"]["feishu"][FS_TOKEN] = FS_SECRET
        platform.state["dingtalk"]["robots"][DD_TOKEN] = DD_SECRET
        yield platform


def run(work: Callable[[HttpClient], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        async with HttpClient(timeout=5) as http:
            return await work(http)

    return asyncio.run(main())


def md(text: str, name: str = "r") -> OutboundMessage:
    return OutboundMessage("x", name, {"title": "【严重】投诉风险提醒"}, text, "k1", kind="markdown")


CARD = {"title": "【严重】投诉风险提醒", "description": "最近消息：\n- 你们这什么破服务", "fields": [["客户", "wx***23"]],
        "buttons": [{"text": "认领", "key": "claim:1"}], "template": "red"}  # fmt: skip


def test_dingtalk_signature_regression_value() -> None:
    assert dingtalk_sign("1577262236757", "this is secret") == "hmPWwU+7lVdm3ZZz0r9tSfx0L4Q26jWOZr9+Gs6EZQM="


def test_wecom_robot_wire_format(fake: FakePlatform) -> None:
    sender = WecomRobotSender(HttpClient(), webhook_key=KEY, api_base=fake.base, mentioned_list=["zhangsan"])

    async def work(http: HttpClient) -> None:
        sender._http = http
        assert (await sender.send(md("### 投诉风险\n**客户**：wx***23"))).ok
        assert (await sender.send(OutboundMessage("x", "r", {}, "纯文本", "k2"))).ok

    run(work)
    [markdown, text] = fake.calls(WECOM_ROBOT)
    assert markdown.query == {"key": KEY}
    assert markdown.json() == {
        "msgtype": "markdown",
        "markdown": {"content": "### 投诉风险\n**客户**：wx***23\n<@zhangsan>"},
    }
    assert text.json() == {"msgtype": "text", "text": {"content": "纯文本", "mentioned_list": ["zhangsan"]}}


def test_dingtalk_robot_wire_format_and_signature(fake: FakePlatform) -> None:
    async def work(http: HttpClient) -> Any:
        sender = DingtalkRobotSender(http, access_token=DD_TOKEN, secret=DD_SECRET, api_base=fake.base)
        return await sender.send(md("### 【严重】投诉风险提醒\n\n**客户**：wx***23"))

    assert run(work).ok  # the fake checked the signature
    [call] = fake.calls("/robot/send")
    assert (
        call.query["access_token"] == DD_TOKEN
        and dingtalk_sign(call.query["timestamp"], DD_SECRET) == call.query["sign"]
    )
    body = call.json()
    assert body["msgtype"] == "markdown" and body["markdown"]["title"] == "【严重】投诉风险提醒"
    assert body["markdown"]["text"].startswith("### 【严重】")


def test_feishu_bot_wire_format_and_signature(fake: FakePlatform) -> None:
    async def work(http: HttpClient) -> Any:
        sender = FeishuBotSender(http, webhook=f"{fake.base}{FEISHU_HOOK}{FS_TOKEN}", secret=FS_SECRET)
        return await sender.send(OutboundMessage("feishu_bot", "m", {}, "", "k", kind="card", card=CARD))

    assert run(work).ok
    [call] = fake.calls(FEISHU_HOOK + FS_TOKEN)
    body = call.json()
    assert body["msg_type"] == "interactive" and set(body) == {"timestamp", "sign", "msg_type", "card"}
    assert body["card"]["header"] == {
        "title": {"tag": "plain_text", "content": "【严重】投诉风险提醒"},
        "template": "red",
    }
    content = body["card"]["elements"][0]["text"]["content"]
    assert "客户：wx***23" in content and "你们这什么破服务" in content
    assert "action" not in json.dumps(body["card"])  # custom bots cannot take clicks: no buttons


@pytest.mark.parametrize(
    ("kind", "payload", "retryable", "retry_after", "text"),
    [
        ("wecom", {"errcode": 45009, "errmsg": "api freq out of limit"}, True, 60.0, "45009"),
        ("wecom", {"errcode": 93000, "errmsg": "invalid webhook url"}, False, None, "invalid webhook url"),
        ("dingtalk", {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}, True, 600.0, "130101"),
        ("dingtalk", {"errcode": 310000, "errmsg": "keywords not in content"}, False, None, "keywords not in content"),
        ("feishu", {"code": 11232, "msg": "frequency limited"}, True, 1.0, "11232"),
        ("feishu", {"code": 9499, "msg": "Too Many Request"}, True, 1.0, "9499"),
    ],
)
def test_failures_classified(
    fake: FakePlatform, kind: str, payload: dict[str, Any], retryable: bool, retry_after: float | None, text: str
) -> None:
    path = {"wecom": WECOM_ROBOT, "dingtalk": "/robot/send", "feishu": FEISHU_HOOK + FS_TOKEN}[kind]
    fake.fail_next_json(path, 1, payload)

    async def work(http: HttpClient) -> Any:
        sender = {
            "wecom": WecomRobotSender(http, webhook_key=KEY, api_base=fake.base),
            "dingtalk": DingtalkRobotSender(http, access_token=DD_TOKEN, secret=DD_SECRET, api_base=fake.base),
            "feishu": FeishuBotSender(http, webhook=f"{fake.base}{FEISHU_HOOK}{FS_TOKEN}", secret=FS_SECRET),
        }[kind]
        return await sender.send(md("### 提醒\n正文"))

    result = run(work)
    assert not result.ok and result.retryable is retryable and result.retry_after == retry_after
    assert text in result.error


def test_bad_secrets_are_permanent_with_the_platforms_text(fake: FakePlatform) -> None:
    async def work(http: HttpClient) -> list[Any]:
        return [
            await DingtalkRobotSender(http, access_token=DD_TOKEN, secret="SECwrong", api_base=fake.base).send(md("x")),
            await FeishuBotSender(http, webhook=f"{fake.base}{FEISHU_HOOK}{FS_TOKEN}", secret="wrong").send(md("x")),
            await WecomRobotSender(http, webhook_key="bad-key", api_base=fake.base).send(md("x")),
        ]

    dd, fs, wc = run(work)
    assert (dd.retryable, fs.retryable, wc.retryable) == (False, False, False)
    assert "310000" in dd.error and "sign not match" in dd.error
    assert "19021" in fs.error and "sign match fail" in fs.error
    assert "93000" in wc.error


def test_over_long_alerts_are_shortened_not_rejected(fake: FakePlatform) -> None:
    long = "### 【严重】投诉风险提醒\n" + "你们这什么破服务！" * 3000  # about 81 KB of UTF-8

    async def work(http: HttpClient) -> list[Any]:
        card = dict(CARD, description=long)
        return [
            await WecomRobotSender(http, webhook_key=KEY, api_base=fake.base).send(md(long)),
            await WecomRobotSender(http, webhook_key=KEY, api_base=fake.base).send(
                OutboundMessage("x", "r", {}, long, "t")
            ),
            await DingtalkRobotSender(http, access_token=DD_TOKEN, secret=DD_SECRET, api_base=fake.base).send(md(long)),
            await FeishuBotSender(http, webhook=f"{fake.base}{FEISHU_HOOK}{FS_TOKEN}", secret=FS_SECRET).send(
                OutboundMessage("x", "r", {}, "", "c", kind="card", card=card)
            ),
        ]

    assert all(r.ok for r in run(work))  # the wecom fake refuses content over its limits
    markdown, text = (c.json() for c in fake.calls(WECOM_ROBOT))
    assert 4000 < len(markdown["markdown"]["content"].encode()) <= 4096
    assert text["text"]["content"].endswith("已截断）") and len(text["text"]["content"].encode()) <= 2048
    [dd] = fake.calls("/robot/send")
    assert len(dd.json()["markdown"]["text"].encode()) <= 20000
    [fs] = fake.calls(FEISHU_HOOK + FS_TOKEN)
    assert len(fs.body) <= 30 * 1024 and "已截断" in fs.body.decode()


# -- through the outbox -------------------------------------------------------------------------
ROBOT_ROUTE = {"rate_key": "dingtalk_robot:dd", "rate_per_minute": "20", "rate_burst": "1"}


def test_500_then_blocked_then_ok_arrives_once_later(fake: FakePlatform, redis_clean: str) -> None:
    fake.fail_next("/robot/send", 1)  # HTTP 500
    fake.fail_next_json("/robot/send", 1, {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"})

    async def steps(outbox: Outbox, handler: OutboxSender, clock: Clock) -> None:
        async with HttpClient() as http:
            handler.senders = lambda m: DingtalkRobotSender(
                http, access_token=DD_TOKEN, secret=DD_SECRET, api_base=fake.base
            )  # signs with the real time: the fake checks freshness
            message = OutboundMessage(
                "dingtalk_robot", "dd", ROBOT_ROUTE, "### 提醒\n正文", "alert:b1:dd", kind="markdown"
            )
            assert await outbox.put(message) and not await outbox.put(message)  # once per key
            await drain(outbox, handler)  # 500: retry in 1 s
            clock.now += 1
            await drain(outbox, handler)  # 130101: blocked, retry in 10 min
            for _ in range(5):  # nothing goes out while the robot is blocked
                clock.now += 100
                await drain(outbox, handler)
            assert len(fake.state["dingtalk"]["sent"]) == 0
            clock.now += 101
            await drain(outbox, handler)
            clock.now += 1000
            await drain(outbox, handler)
            assert await outbox.dead_letters() == []

    deliver(redis_clean, None, steps)
    assert len(fake.calls("/robot/send")) == 3
    assert len(fake.state["dingtalk"]["sent"]) == 1  # once, after the block


def test_rate_limit_queues_never_drops(fake: FakePlatform, redis_clean: str) -> None:
    async def steps(outbox: Outbox, handler: OutboxSender, clock: Clock) -> None:
        async with HttpClient() as http:
            handler.senders = lambda m: WecomRobotSender(http, webhook_key=KEY, api_base=fake.base)
            for i in range(25):
                await outbox.put(
                    OutboundMessage(
                        "wecom_robot", "ops", dict(ROBOT_ROUTE, rate_key="w"), f"第{i}条", f"k{i}", kind="markdown"
                    )
                )
            await drain(outbox, handler)
            assert len(fake.state["robots"]["sent"]) == 1  # 20 a minute, burst 1
            for _ in range(90):
                clock.now += 3
                await drain(outbox, handler)

    deliver(redis_clean, None, steps)
    sent = fake.state["robots"]["sent"]
    assert len(sent) == 25 and len({b["markdown"]["content"] for _, b in sent}) == 25


def test_bad_secret_becomes_a_dead_letter_with_the_platform_text(fake: FakePlatform, redis_clean: str) -> None:
    async def steps(outbox: Outbox, handler: OutboxSender, clock: Clock) -> list[dict[str, Any]]:
        async with HttpClient() as http:
            handler.senders = lambda m: FeishuBotSender(
                http, webhook=f"{fake.base}{FEISHU_HOOK}{FS_TOKEN}", secret="bad"
            )
            route = {"rate_key": "feishu_bot:m", "rate_per_minute": "100", "rate_burst": "5"}
            await outbox.put(OutboundMessage("feishu_bot", "m", route, "", "a1", kind="card", card=CARD))
            await drain(outbox, handler)
            return await outbox.dead_letters()

    [dead] = deliver(redis_clean, None, steps)
    assert "19021" in dead["error"] and "sign match fail" in dead["error"] and dead["attempts"] == 1


def test_create_sender_from_settings(fake: FakePlatform) -> None:
    settings = AlertsSettings(receivers={
        "w": {"type": "wecom_robot", "webhook_key": KEY, "api_base": fake.base},
        "a": {"type": "wecom_app", "users": ["u"]},
    })  # fmt: skip
    http = HttpClient()
    assert isinstance(create_sender(settings.receivers["w"], http, lambda: 0.0), WecomRobotSender)
    assert create_sender(settings.receivers["a"], http, lambda: 0.0) is None
    assert routing_key(OutboundMessage("wecom_robot", "w", ROBOT_ROUTE, "", "k")) == "wecom_robot:w:dingtalk_robot:dd"
