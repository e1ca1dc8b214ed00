"""Tickets: staff commands and card clicks arriving signed as each platform signs them, from a
manager, an agent and a stranger; bad input leaves the ticket unchanged."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
import redis.asyncio as aredis
from pydantic import SecretStr

from adapters import dingtalk, feishu, wecom
from adapters.dingtalk.settings import DingtalkApp
from alerts.tickets.chat import StaffChat
from bot.channel import AdapterDeps, WebhookError
from bot.redis_store import Keys
from bot.token_cache import TokenCache
from tests.e2e.adapters import test_dingtalk as dt
from tests.e2e.adapters import test_feishu as fs
from tests.e2e.adapters import test_wecom as wc
from tests.e2e.adapters.conftest import encrypted_post
from tests.support.tickets_helpers import (
    HOUR,
    STAFF,
    T0,
    Clock,
    build,
    msg,
    tickets_settings,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
async def env(redis_clean: str) -> AsyncIterator[dict]:
    redis = aredis.Redis.from_url(redis_clean)
    clock = Clock(T0 + 3 * HOUR)
    service, recorder, notifier = build(redis, clock)
    for i in range(3):
        await recorder.record(msg("退款怎么还没到", T0 + i * HOUR, n=i), "退款", T0 + i * HOUR)
    [ticket] = await service.store.all()
    chat = StaffChat(service, notifier)
    async with httpx.AsyncClient() as http:
        deps = AdapterDeps(
            redis=redis,
            keys=Keys("t"),
            tokens=TokenCache(redis, Keys("t")),
            http=http,
            clock=clock,
            card_actions=chat.card_action,
        )
        yield {
            "service": service,
            "chat": chat,
            "notifier": notifier,
            "tid": ticket.id,
            "deps": deps,
            "clock": clock,
            "redis": redis,
        }
    await redis.aclose()


async def snapshot(env: dict) -> tuple[str, int]:
    t = await env["service"].store.get(env["tid"])
    return t.to_json(), len(await env["service"].store.audit(env["tid"]))


# -- text commands, through each platform's adapter -------------------------------------------
async def dingtalk_says(env: dict, text: str, staff_id: str, n: int = 1) -> str | None:
    adapter = dingtalk.create(
        "default", DingtalkApp(app_key=dt.APP_KEY, app_secret=SecretStr(dt.SECRET), robot_code="r1"), env["deps"]
    )
    body = dt.robot_message(text={"content": text}, senderStaffId=staff_id, msgId=f"dm{n}")
    # Each message signed at its own millisecond, as DingTalk signs separate messages.
    [message] = (await adapter.handle(dt.callback(body, env["clock"]() + n / 1000))).messages
    return await env["chat"].handle(message)


async def feishu_says(env: dict, text: str, open_id: str) -> str | None:
    adapter = feishu.create("default", fs.settings(), env["deps"])
    event = fs.event(
        "im.message.receive_v1",
        {
            "sender": {"sender_id": {"open_id": open_id, "union_id": "on_1", "user_id": "u1"}},
            "message": {
                "message_id": "om_x",
                "chat_id": "oc_1",
                "chat_type": "p2p",
                "message_type": "text",
                "content": json.dumps({"text": text}),
                "create_time": str(int(T0 * 1000)),
            },
        },
    )
    [message] = (await adapter.handle(fs.callback(event, env["clock"]()))).messages
    return await env["chat"].handle(message)


async def wecom_says(env: dict, text: str, user: str) -> str | None:
    adapter = wecom.create("default", wc.settings(), env["deps"])
    now = env["clock"]()
    body = wc.xml_message(
        "text", now, f"<Content><![CDATA[{text}]]></Content><MsgId>{abs(hash(text))}</MsgId>", sender=user
    )
    [message] = (await adapter.handle(encrypted_post(wc.sdk(), body, now))).messages
    return await env["chat"].handle(message)


async def test_commands_on_all_three_platforms(env: dict) -> None:
    tid = env["tid"]
    listing = await dingtalk_says(env, "/tickets", "staff_agent")
    assert tid in listing and "待处理" in listing
    assert "退款" in await feishu_says(env, f"/ticket {tid}", "ou_agent")
    assert "已确认工单" in await wecom_says(env, f"/ack {tid}", "agent1")
    assert "无需重复" in await wecom_says(env, f"/ack {tid}", "agent1")  # idempotent
    assert "指派给 小赵" in await feishu_says(env, f"/assign {tid} @小赵", "ou_boss")
    assert "只有主管可以关闭" in await dingtalk_says(env, f"/close {tid} 已退款", "staff_agent", 2)
    assert "已关闭" in await dingtalk_says(env, f"/close {tid} 已退款", "staff_boss", 3)
    t = await env["service"].store.get(tid)
    assert t.state == "closed" and t.close_reason == "已退款" and t.assignee_name == "小赵"
    assert "已经关闭" in await wecom_says(env, f"/close {tid} 再关一次", "boss")
    assert "只有主管可以重开" in await feishu_says(env, f"/reopen {tid}", "ou_agent")
    assert "已重开" in await feishu_says(env, f"/reopen {tid}", "ou_boss")
    audit = await env["service"].store.audit(tid)
    assert [a["action"] for a in audit] == ["create", "ack", "assign", "close", "reopen"]
    assert audit[1]["actor"] == {"id": "wecom:agent1", "name": "小李", "via": "chat:wecom/default"}
    assert audit[3]["actor"]["via"] == "chat:dingtalk/default"


async def test_bad_commands_get_clear_answers_and_change_nothing(env: dict) -> None:
    before = await snapshot(env)
    assert "找不到工单 T-20990101-0001" in await wecom_says(env, "/ack T-20990101-0001", "boss")
    assert "格式不对" in await wecom_says(env, "/ack 12345", "boss")
    assert "找不到员工" in await wecom_says(env, f"/assign {env['tid']} @nobody", "boss")
    assert "不在工单人员名单" in await wecom_says(env, f"/close {env['tid']} x", "stranger")
    assert await env["chat"].handle(msg("/unknowncmd", T0)) is None  # not ours: a customer message
    # A staff member removed from the map (the config file reloaded) is refused from then on.
    removed = {**STAFF, "wecom": {"agent1": STAFF["wecom"]["agent1"]}}
    env["service"].reload_staff(tickets_settings(staff=removed))
    assert "不在工单人员名单" in await wecom_says(env, f"/close {env['tid']} x", "boss")
    assert await snapshot(env) == before


# -- card clicks ----------------------------------------------------------------------------
def feishu_click(env: dict, key: str, open_id: str, *, now: float | None = None):  # type: ignore[no-untyped-def]
    event = fs.event(
        "card.action.trigger",
        {
            "operator": {"open_id": open_id},
            "token": "c-token",
            "action": {"tag": "button", "value": {"key": key, "ticket": env["tid"]}},
            "context": {"open_message_id": "om_card1", "open_chat_id": "oc_1"},
        },
    )
    return fs.callback(event, now if now is not None else env["clock"]())


async def test_feishu_card_clicks(env: dict) -> None:
    adapter = feishu.create("default", fs.settings(), env["deps"])
    tid = env["tid"]
    refused = json.loads((await adapter.handle(feishu_click(env, f"ticket:close:{tid}", "ou_agent"))).body)
    assert refused["toast"] == {"type": "error", "content": "只有主管可以关闭工单"}
    assert "待处理" in refused["card"]["data"]["header"]["title"]["content"]
    before = await snapshot(env)
    stranger = json.loads((await adapter.handle(feishu_click(env, f"ticket:ack:{tid}", "ou_who"))).body)
    assert stranger["toast"]["type"] == "error" and "名单" in stranger["toast"]["content"]
    unknown = json.loads((await adapter.handle(feishu_click(env, "ticket:ack:T-20990101-0001", "ou_boss"))).body)
    assert unknown["toast"]["content"] == "找不到工单 T-20990101-0001"
    # Forged: signed with the wrong key -> refused before it reaches us.
    forged = feishu_click(env, f"ticket:close:{tid}", "ou_boss")
    with pytest.raises(WebhookError) as e:
        await adapter.handle(
            forged.__class__(
                forged.method,
                forged.query,
                {**forged.headers, "x-lark-signature": "0" * 64},
                forged.body,
                forged.received_at,
            )
        )
    assert e.value.status == 403
    # Replayed long after: stale timestamp refused.
    with pytest.raises(WebhookError):
        await adapter.handle(feishu_click(env, f"ticket:close:{tid}", "ou_boss", now=env["clock"]() - 2 * HOUR))
    assert await snapshot(env) == before
    ack = feishu_click(env, f"ticket:ack:{tid}", "ou_boss")
    answer = json.loads((await adapter.handle(ack)).body)
    assert answer["toast"]["type"] == "success" and "已确认" in answer["card"]["data"]["header"]["title"]["content"]
    after_ack = await snapshot(env)
    again = json.loads((await adapter.handle(ack)).body)  # the same callback replayed in the window
    assert "已处理" in again["toast"]["content"] and await snapshot(env) == after_ack
    twice = json.loads((await adapter.handle(feishu_click(env, f"ticket:ack:{tid}", "ou_boss"))).body)
    assert "无需重复" in twice["toast"]["content"] and await snapshot(env) == after_ack  # a second, real click
    closed = json.loads((await adapter.handle(feishu_click(env, f"ticket:close:{tid}", "ou_boss"))).body)
    assert "已关闭" in closed["card"]["data"]["header"]["title"]["content"]
    buttons = closed["card"]["data"]["elements"][-1]["actions"]
    assert [b["value"]["key"] for b in buttons] == [f"ticket:reopen:{tid}"]


async def test_wecom_card_clicks(env: dict) -> None:
    from xml.etree.ElementTree import fromstring

    adapter = wecom.create("default", wc.settings(), env["deps"])
    tid = env["tid"]

    def click(user: str, key: str, at: float) -> object:
        body = wc.xml_message(
            "event",
            at,
            f"<Event>template_card_event</Event><EventKey>{key}</EventKey>"
            f"<TaskId>{tid}-1</TaskId><CardType>button_interaction</CardType>"
            "<ResponseCode>RC1</ResponseCode>",
            sender=user,
        )
        return encrypted_post(wc.sdk(), body, at)

    now = env["clock"]()
    before = await snapshot(env)
    refused = await adapter.handle(click("agent1", f"ticket:close:{tid}", now))
    assert refused.body == b"" and env["notifier"].told == [("wecom", "default", "agent1", "只有主管可以关闭工单")]
    assert await snapshot(env) == before
    result = await adapter.handle(click("boss", f"ticket:ack:{tid}", now + 1))
    sealed = fromstring(result.body)
    plain = wc.sdk().decrypt_message(
        result.body, sealed.findtext("MsgSignature"), sealed.findtext("TimeStamp"), "nonce123"
    )
    assert fromstring(plain).findtext("Button/ReplaceName") == "已确认·王经理"
    assert (await env["service"].store.get(tid)).state == "acknowledged"
    # WeCom's retry of the same click: handled once.
    assert (await adapter.handle(click("boss", f"ticket:ack:{tid}", now + 1))).body == b""
    assert len(await env["service"].store.audit(tid)) == 2
