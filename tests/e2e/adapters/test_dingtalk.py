"""DingTalk app robot: callback verification and parsing, and sending against the fake platform."""

from __future__ import annotations

import json
import time

import pytest
from pydantic import SecretStr
from starlette.responses import JSONResponse

from adapters.dingtalk import create
from adapters.dingtalk.settings import DingtalkApp
from adapters.dingtalk.signing import sign, signed_robot_url
from bot.channel import AdapterDeps, WebhookError, WebhookRequest
from bot.message import OutboundMessage
from tests.support.fake_platform import FakePlatform

pytestmark = pytest.mark.anyio
APP_KEY, SECRET = "dingappkey", "app secret 123"
BATCH, GROUP = "/v1.0/robot/oToMessages/batchSend", "/v1.0/robot/groupMessages/send"
TOKEN_PATH, SESSION_PATH = "/v1.0/oauth2/accessToken", "/robot/sendBySession"


@pytest.fixture
def fake(fake: FakePlatform) -> FakePlatform:
    """The shared fake platform, with our app's credentials and one live sessionWebhook."""
    fake.state["dingtalk"]["apps"][APP_KEY] = SECRET
    fake.state["dingtalk"]["sessions"]["live"] = True
    return fake


def settings(base: str = "http://127.0.0.1:9", window: int = 3600) -> DingtalkApp:
    return DingtalkApp(
        app_key=APP_KEY, app_secret=SecretStr(SECRET), robot_code="robot1", api_base=base, replay_window_seconds=window
    )


def callback(body: dict | bytes, at: float, *, secret: str = SECRET, headers: dict | None = None) -> WebhookRequest:
    """A callback signed the way DingTalk signs it, at time ``at``."""
    timestamp = str(int(at * 1000))
    signed = {"timestamp": timestamp, "sign": sign(timestamp, secret)} if headers is None else headers
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    return WebhookRequest("POST", {}, signed, raw, at)


def robot_message(**overrides: object) -> dict:
    body = {
        "msgtype": "text",
        "text": {"content": " 我的快递到哪了 "},
        "msgId": "msgABC",
        "createAt": 1700000000123,
        "conversationType": "1",
        "conversationId": "cid1",
        "senderId": "$:LWCP:abc",
        "senderStaffId": "staff7",
        "senderNick": "张三",
        "isInAtList": True,
        "sessionWebhook": "http://x/robot/sendBySession?session=live",
        "sessionWebhookExpiredTime": 1700005400123,
        "chatbotUserId": "$:bot",
    }
    return body | overrides


def outbound(
    route: dict[str, str], text: str = "您好", kind: str = "text", card: dict | None = None
) -> OutboundMessage:
    return OutboundMessage("dingtalk", "default", route, text, "idem-1", kind=kind, card=card)


def test_regression_signature_value() -> None:
    assert sign("1577262236757", "this is secret") == "hmPWwU+7lVdm3ZZz0r9tSfx0L4Q26jWOZr9+Gs6EZQM="


async def test_single_chat_text_is_parsed(deps: AdapterDeps) -> None:
    result = await create("default", settings(), deps).handle(callback(robot_message(), deps.clock()))
    assert (result.status, result.body) == (200, b"{}")
    [m] = result.messages
    assert (m.channel, m.app, m.conversation_id, m.sender_id, m.sender_name) == (
        "dingtalk",
        "default",
        "cid1",
        "staff7",
        "张三",
    )
    assert (m.text, m.message_id, m.sent_at, m.msg_type) == ("我的快递到哪了", "msgABC", 1700000000.123, "text")
    assert m.reply_route["session_webhook"].endswith("session=live")
    assert m.reply_route["conversation_type"] == "1" and m.reply_route["sender_staff_id"] == "staff7"


async def test_group_needs_the_bot_mentioned(deps: AdapterDeps) -> None:
    adapter = create("default", settings(), deps)
    ignored = await adapter.handle(callback(robot_message(conversationType="2", isInAtList=False), deps.clock()))
    assert ignored.status == 200 and ignored.messages == []
    mentioned = robot_message(conversationType="2", text={"content": "@客服机器人 退款进度"})
    [m] = (await adapter.handle(callback(mentioned, deps.clock()))).messages
    assert m.text == "退款进度" and m.reply_route["conversation_type"] == "2"


async def test_external_sender_and_picture(deps: AdapterDeps) -> None:
    body = robot_message(msgtype="picture", content={"downloadCode": "x"}, senderStaffId=None)
    body.pop("text")
    [m] = (await create("default", settings(), deps).handle(callback(body, deps.clock()))).messages
    assert (m.msg_type, m.text, m.sender_id) == ("picture", "", "$:LWCP:abc")


@pytest.mark.parametrize(
    "request_headers",
    [{}, {"timestamp": "1"}, {"sign": "x"}, {"timestamp": "abc", "sign": "x"}],
    ids=["none", "no-sign", "no-timestamp", "bad-timestamp"],
)
async def test_missing_headers_are_refused(deps: AdapterDeps, request_headers: dict) -> None:
    with pytest.raises(WebhookError) as e:
        await create("default", settings(), deps).handle(
            callback(robot_message(), deps.clock(), headers=request_headers)
        )
    assert e.value.status == 403


async def test_bad_signature_and_stale_timestamp_are_refused(deps: AdapterDeps) -> None:
    adapter, now = create("default", settings(), deps), deps.clock()
    for request in (callback(robot_message(), now, secret="wrong"), callback(robot_message(), now - 3700)):
        with pytest.raises(WebhookError) as e:
            await adapter.handle(request)
        assert e.value.status == 403
    # The window is configurable; 0 turns it off (old captured traffic in tests).
    old = callback(robot_message(), now - 86400)
    assert (await create("default", settings(window=0), deps).handle(old)).messages


async def test_malformed_json_is_400(deps: AdapterDeps) -> None:
    adapter = create("default", settings(), deps)
    for raw in (b"{not json", b"[1,2]", json.dumps(robot_message(createAt="soon")).encode()):
        with pytest.raises(WebhookError) as e:
            await adapter.handle(callback(raw, deps.clock()))
        assert e.value.status == 400


def session_route(
    fake: FakePlatform, now: float, session: str = "live", expires_in: float = 3600, conversation: str = "1"
) -> dict[str, str]:
    return {
        "session_webhook": f"{fake.base}{SESSION_PATH}?session={session}",
        "session_webhook_expires": str(int((now + expires_in) * 1000)),
        "conversation_type": conversation,
        "conversation_id": "cidGroup",
        "sender_staff_id": "staff7",
    }


async def test_reply_through_session_webhook(fake: FakePlatform, deps: AdapterDeps) -> None:
    adapter = create("default", settings(fake.base), deps)
    assert (await adapter.send(outbound(session_route(fake, deps.clock())))).ok
    assert (await adapter.send(outbound(session_route(fake, deps.clock()), "## 订单\n已发货", kind="markdown"))).ok
    text, markdown = (r.json() for r in fake.calls(SESSION_PATH))
    assert text == {"msgtype": "text", "text": {"content": "您好"}}
    assert markdown == {"msgtype": "markdown", "markdown": {"title": "订单", "text": "## 订单\n已发货"}}
    assert fake.calls(TOKEN_PATH) == []


async def test_expired_webhook_falls_back_to_robot_api(fake: FakePlatform, deps: AdapterDeps) -> None:
    adapter = create("default", settings(fake.base), deps)
    # Expired by our clock: the webhook is not even tried.
    assert (await adapter.send(outbound(session_route(fake, deps.clock(), expires_in=-10)))).ok
    assert fake.calls(SESSION_PATH) == []
    [single] = fake.calls(BATCH)
    assert single.json()["userIds"] == ["staff7"] and single.json()["robotCode"] == "robot1"
    assert json.loads(single.json()["msgParam"]) == {"content": "您好"} and single.json()["msgKey"] == "sampleText"
    # Expired by the platform's answer (errcode 300001): a group message through the robot API.
    assert (await adapter.send(outbound(session_route(fake, deps.clock(), "gone", conversation="2")))).ok
    [group] = fake.calls(GROUP)
    assert group.json()["openConversationId"] == "cidGroup"
    # One access token served both calls.
    assert len(fake.calls(TOKEN_PATH)) == 1
    assert all(r.headers["x-acs-dingtalk-access-token"] in fake.state["dingtalk"]["tokens"] for r in (single, group))


async def test_card_is_rendered_as_markdown(fake: FakePlatform, deps: AdapterDeps) -> None:
    card = {
        "title": "投诉风险",
        "description": "客户情绪激动",
        "fields": [["客户", "张三"]],
        "buttons": [{"text": "认领", "key": "ack", "style": "primary", "value": {"t": "1"}}],
        "template": "red",
    }
    assert (
        await create("default", settings(fake.base), deps).send(
            outbound(session_route(fake, deps.clock()), "", "card", card)
        )
    ).ok
    body = fake.calls(SESSION_PATH)[0].json()
    assert body["msgtype"] == "markdown" and body["markdown"]["title"] == "投诉风险"
    assert "**客户**：张三" in body["markdown"]["text"] and "「ack」认领" in body["markdown"]["text"]


async def test_failures_are_classified(fake: FakePlatform, deps: AdapterDeps) -> None:
    adapter = create("default", settings(fake.base), deps)
    fake.fail_next(SESSION_PATH, 1)
    first = await adapter.send(outbound(session_route(fake, deps.clock())))
    assert not first.ok and first.retryable
    assert (await adapter.send(outbound(session_route(fake, deps.clock())))).ok  # the retry goes through
    fake.fail_next_json(SESSION_PATH, 1, {"errcode": 130101, "errmsg": "send too fast"})
    assert (await adapter.send(outbound(session_route(fake, deps.clock())))).retryable
    fake.fail_next_json(SESSION_PATH, 1, {"errcode": 400101, "errmsg": "参数错误"})
    refused = await adapter.send(outbound(session_route(fake, deps.clock())))
    assert not refused.ok and not refused.retryable and "参数错误" in refused.error
    expired = session_route(fake, deps.clock(), expires_in=-10)
    fake.fail_next(BATCH, 1, JSONResponse({"code": "Throttling", "message": "限流"}, 429))
    assert (await adapter.send(outbound(expired))).retryable
    fake.fail_next(BATCH, 1, JSONResponse({"code": "invalidParameter", "message": "userIds 无效"}, 400))
    bad = await adapter.send(outbound(expired))
    assert not bad.retryable and "userIds 无效" in bad.error


async def test_rejected_token_is_forgotten_and_retried(fake: FakePlatform, deps: AdapterDeps) -> None:
    adapter = create("default", settings(fake.base), deps)
    expired = session_route(fake, deps.clock(), expires_in=-10)
    assert (await adapter.send(outbound(expired))).ok
    fake.state["dingtalk"]["tokens"].clear()  # the platform revoked it
    rejected = await adapter.send(outbound(expired))
    assert not rejected.ok and rejected.retryable
    assert (await adapter.send(outbound(expired))).ok
    assert len(fake.calls(TOKEN_PATH)) == 2


async def test_wrong_credentials_are_permanent_and_secret_free(fake: FakePlatform, deps: AdapterDeps) -> None:
    fake.state["dingtalk"]["apps"][APP_KEY] = "other"
    result = await create("default", settings(fake.base), deps).send(
        outbound(session_route(fake, deps.clock(), expires_in=-10))
    )
    assert not result.ok and not result.retryable and SECRET not in result.error


async def test_network_failure_is_retryable(deps: AdapterDeps) -> None:
    route = {"session_webhook": "http://127.0.0.1:9/robot/sendBySession?session=x", "conversation_type": "1"}
    result = await create("default", settings(), deps).send(outbound(route))
    assert not result.ok and result.retryable


async def test_custom_robot_signed_url(fake: FakePlatform, deps: AdapterDeps) -> None:
    fake.state["dingtalk"]["robots"]["tok"] = "SEC robot"
    url = signed_robot_url(f"{fake.base}/robot/send?access_token=tok", "SEC robot", time.time())
    answer = await deps.http.post(url, json={"msgtype": "text", "text": {"content": "告警"}})
    assert answer.json() == {"errcode": 0, "errmsg": "ok"}


async def test_headers_reused_later_with_a_new_body_are_refused(deps: AdapterDeps) -> None:
    # The probe: the headers of a callback from 30 minutes earlier carried a manager's /close.
    adapter = create("default", settings(), deps)
    first = callback(robot_message(), deps.clock())
    assert len((await adapter.handle(first)).messages) == 1
    assert len((await adapter.handle(first)).messages) == 1  # DingTalk's retry: the dedupe takes it
    deps.clock.now += 1800  # type: ignore[attr-defined]
    forged = robot_message(senderStaffId="boss", text={"content": "/close T-20261204-0001 x"})
    with pytest.raises(WebhookError) as e:
        await adapter.handle(callback(forged, deps.clock(), headers=first.headers))
    assert e.value.status == 403 and "replay" in e.value.reason


async def test_a_same_millisecond_message_passes_but_never_a_staff_command_on_its_signature(deps: AdapterDeps) -> None:
    adapter = create("default", settings(), deps)
    first = callback(robot_message(), deps.clock())
    await adapter.handle(first)
    sibling = robot_message(msgId="msg2", text={"content": "退款进度"})
    assert len((await adapter.handle(callback(sibling, deps.clock(), headers=first.headers))).messages) == 1
    command = robot_message(msgId="msg3", senderStaffId="boss", text={"content": "/close T-20261204-0001 x"})
    with pytest.raises(WebhookError) as e:
        await adapter.handle(callback(command, deps.clock(), headers=first.headers))
    assert e.value.status == 403
    fresh = callback(command, deps.clock() + 0.001)  # its own signature: a command as any other
    assert (await adapter.handle(fresh)).messages[0].text.startswith("/close")
