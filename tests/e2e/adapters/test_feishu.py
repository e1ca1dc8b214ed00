"""Feishu: callback checks (official vector, signature, token, freshness), events, card clicks,
and sending against the fake open API."""

from __future__ import annotations

import base64
import hashlib
import json
import random
import uuid

import pytest
from lark_oapi.core.utils import AESCipher
from pydantic import SecretStr

from adapters.feishu import create
from adapters.feishu.adapter import idempotency_uuid
from adapters.feishu.callback_auth import aes_cbc_decrypt, decrypt
from adapters.feishu.cards import render_card
from adapters.feishu.settings import FeishuApp
from bot.channel import (
    AdapterDeps,
    CardAction,
    CardActionAnswer,
    WebhookError,
    WebhookRequest,
)
from bot.message import OutboundMessage
from tests.support.callbacks import feishu_encrypt
from tests.support.fake_platform import FakePlatform

pytestmark = pytest.mark.anyio
APP_ID, APP_SECRET, TOKEN, KEY = "cli_a1b2", "feishu secret", "verif-token", "encrypt key 1"
TOKEN_PATH, MESSAGES = "/open-apis/auth/v3/tenant_access_token/internal", "/open-apis/im/v1/messages"
INBOUND_ID = "om_inbound1"
REPLY = f"{MESSAGES}/{INBOUND_ID}/reply"
CARD = {
    "title": "投诉风险",
    "description": "客户说要投诉",
    "fields": [["客户", "张三"], ["订单", "A1"]],
    "buttons": [{"text": "认领", "key": "claim", "style": "primary", "value": {"ticket": "T1"}}],
    "template": "red",
}


@pytest.fixture
def fake(fake: FakePlatform) -> FakePlatform:
    fake.state["feishu"]["apps"][APP_ID] = APP_SECRET
    return fake


def settings(base: str = "http://127.0.0.1:9", encrypt_key: str = KEY) -> FeishuApp:
    return FeishuApp(
        app_id=APP_ID,
        app_secret=SecretStr(APP_SECRET),
        verification_token=SecretStr(TOKEN),
        encrypt_key=SecretStr(encrypt_key),
        api_base=base,
    )


def callback(
    payload: dict | bytes, now: float, *, key: str = KEY, signed: bool = True, header_case: str = "lower"
) -> WebhookRequest:
    """A callback as Feishu sends it: encrypted and signed when an Encrypt Key is set."""
    if isinstance(payload, bytes):
        raw = payload
    else:
        text = json.dumps(payload, ensure_ascii=False)
        raw = json.dumps({"encrypt": feishu_encrypt(text, key)}).encode() if key else text.encode()
    timestamp, nonce = str(int(now)), "n0nce"
    names = ["X-Lark-Request-Timestamp", "X-Lark-Request-Nonce", "X-Lark-Signature"]
    names = [n.lower() for n in names] if header_case == "lower" else names
    signature = hashlib.sha256((timestamp + nonce + key).encode() + raw).hexdigest()
    headers = dict(zip(names, (timestamp, nonce, signature))) if signed else {}
    return WebhookRequest("POST", {}, headers, raw, now)


def event(event_type: str, body: dict, token: str = TOKEN) -> dict:
    # Every event Feishu sends has its own id; its retries repeat it.
    header = {
        "event_id": f"ev-{uuid.uuid4().hex}",
        "event_type": event_type,
        "create_time": "1700000000000",
        "token": token,
        "app_id": APP_ID,
        "tenant_key": "tk",
    }
    return {"schema": "2.0", "header": header, "event": body}


def message_event(
    chat_type: str = "p2p", message_type: str = "text", text: str = "我要退货", mentions: list | None = None
) -> dict:
    content = json.dumps({"text": text} if message_type == "text" else {"image_key": "img_v2_x"})
    message = {
        "message_id": INBOUND_ID,
        "chat_id": "oc_chat1",
        "chat_type": chat_type,
        "message_type": message_type,
        "content": content,
        "create_time": "1700000000456",
        "mentions": mentions,
    }
    sender = {"sender_id": {"open_id": "ou_user1", "union_id": "on_union1", "user_id": None}, "sender_type": "user"}
    return event("im.message.receive_v1", {"sender": sender, "message": message})


def test_official_decryption_vector() -> None:
    assert decrypt("P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk=", "test key") == b"hello world"


def _outcome(fn, *args):  # type: ignore[no-untyped-def]
    try:
        return fn(*args)
    except ValueError as e:
        return ("ValueError", str(e))


def test_decryption_accepts_and_refuses_exactly_what_the_sdk_does() -> None:
    rng = random.Random(7)
    sdk = AESCipher(KEY)
    cases = [base64.b64decode(feishu_encrypt("x" * n, KEY)) for n in (0, 1, 15, 16, 17, 100)]
    for _ in range(300):  # garbage of every length around the block size, and bad paddings
        raw = rng.randbytes(rng.choice([0, 1, 15, 16, 17, 31, 32, 33, 47, 48, 64, 80]))
        cases.append(raw)
        sealed = base64.b64decode(feishu_encrypt(rng.choice(["", "a", "好" * 7, "b" * 40]), KEY))
        cases.append(sealed[:-1] + bytes([rng.randrange(256)]))  # last byte, so the padding, altered
    for raw in cases:
        assert _outcome(aes_cbc_decrypt, raw, KEY) == _outcome(sdk.decrypt, raw), raw


async def test_url_verification(deps: AdapterDeps) -> None:
    check = {"type": "url_verification", "challenge": "ch-123", "token": TOKEN}
    for key in (KEY, ""):  # sealed with the Encrypt Key, or plain when none is set
        adapter = create("default", settings(encrypt_key=key), deps)
        result = await adapter.handle(callback(check, deps.clock(), key=key, signed=False))
        assert (result.status, json.loads(result.body), result.messages) == (200, {"challenge": "ch-123"}, [])
    with pytest.raises(WebhookError) as e:
        await adapter.handle(callback({**check, "token": "nope"}, deps.clock(), key="", signed=False))
    assert e.value.status == 403


async def test_p2p_text_message(deps: AdapterDeps) -> None:
    result = await create("default", settings(), deps).handle(callback(message_event(), deps.clock()))
    assert (result.status, json.loads(result.body)) == (200, {"msg": "success"})
    assert result.content_type == "application/json; charset=utf-8"
    [m] = result.messages
    assert (m.channel, m.app, m.conversation_id, m.sender_id, m.union_id) == (
        "feishu",
        "default",
        "oc_chat1",
        "ou_user1",
        "on_union1",
    )
    assert (m.text, m.message_id, m.sent_at, m.msg_type) == ("我要退货", INBOUND_ID, 1700000000.456, "text")
    assert m.reply_route == {"message_id": INBOUND_ID, "chat_id": "oc_chat1", "chat_type": "p2p", "open_id": "ou_user1"}


async def test_mixed_case_headers_are_accepted(deps: AdapterDeps) -> None:
    request = callback(message_event(), deps.clock(), header_case="canonical")
    assert (await create("default", settings(), deps).handle(request)).messages


async def test_group_messages_need_a_mention(deps: AdapterDeps) -> None:
    """The bot's own id cannot be looked up here (no API): then any mention counts."""
    adapter = create("default", settings(), deps)
    assert (await adapter.handle(callback(message_event("group"), deps.clock()))).messages == []
    mention = [{"key": "@_user_1", "id": {"open_id": "ou_bot"}, "name": "客服"}]
    mentioned = message_event("group", text="@_user_1 发票怎么开", mentions=mention)
    [m] = (await adapter.handle(callback(mentioned, deps.clock()))).messages
    assert m.text == "发票怎么开" and m.reply_route["chat_type"] == "group"


async def test_a_group_message_is_ours_only_when_it_mentions_the_bot(fake: FakePlatform, deps: AdapterDeps) -> None:
    adapter = create("default", settings(fake.base), deps)
    colleague = [{"key": "@_user_1", "id": {"open_id": "ou_colleague"}, "name": "王经理"}]
    bot = [{"key": "@_user_2", "id": {"open_id": "ou_bot"}, "name": "客服"}]
    to_colleague = message_event("group", text="@_user_1 发票怎么开", mentions=colleague)
    assert (await adapter.handle(callback(to_colleague, deps.clock()))).messages == []
    to_both = message_event("group", text="@_user_1 @_user_2 发票怎么开", mentions=colleague + bot)
    [m] = (await adapter.handle(callback(to_both, deps.clock()))).messages
    assert m.text == "发票怎么开"
    assert (await adapter.handle(callback(message_event(), deps.clock()))).messages  # p2p: no lookup
    assert len(fake.calls("/open-apis/bot/v3/info")) == 1  # looked up once, then known


async def test_image_sets_msg_type(deps: AdapterDeps) -> None:
    [m] = (
        await create("default", settings(), deps).handle(callback(message_event(message_type="image"), deps.clock()))
    ).messages
    assert (m.msg_type, m.text) == ("image", "")


async def test_unknown_event_is_acknowledged(deps: AdapterDeps) -> None:
    result = await create("default", settings(), deps).handle(callback(event("im.chat.updated_v1", {}), deps.clock()))
    assert result.status == 200 and result.messages == []


async def test_refusals(deps: AdapterDeps) -> None:
    adapter, now = create("default", settings(), deps), deps.clock()
    good = callback(message_event(), now)
    forged = WebhookRequest("POST", {}, {**good.headers, "x-lark-signature": "0" * 64}, good.body, now)
    refused_403 = [
        forged,
        callback(message_event(), now, signed=False),  # an Encrypt Key is set: the signature is required
        callback(message_event(), now - 3700),  # stale
        callback(event("im.message.receive_v1", message_event()["event"], token="stolen"), now),
        callback(message_event(), now, key="other key"),  # signed and sealed with another key
    ]
    for request in refused_403:
        with pytest.raises(WebhookError) as e:
            await adapter.handle(request)
        assert e.value.status == 403
    plain = create("default", settings(encrypt_key=""), deps)
    broken = message_event()
    del broken["event"]["message"]["chat_id"]
    far_off = message_event()
    far_off["event"]["message"]["create_time"] = "9" * 400  # overflows a float
    for app, request in [
        (plain, callback(b"{oops", now, key="")),
        (plain, callback(b"[]", now, key="")),
        (plain, callback(broken, now, key="")),
        (plain, callback(far_off, now, key="")),
        (adapter, callback(b'{"encrypt": "bm90IGEgY2lwaGVydGV4dA=="}', now)),
    ]:
        with pytest.raises(WebhookError) as e:
            await app.handle(request)
        assert e.value.status == 400


def card_event(value: dict) -> dict:
    return event(
        "card.action.trigger",
        {
            "operator": {"open_id": "ou_manager", "union_id": "on_m"},
            "token": "c-x",
            "action": {"tag": "button", "value": value},
            "context": {"open_message_id": "om_card1", "open_chat_id": "oc_1"},
        },
    )


async def test_card_click_is_dispatched_and_answered(deps: AdapterDeps) -> None:
    seen: list[CardAction] = []

    async def on_click(action: CardAction) -> CardActionAnswer:
        seen.append(action)
        return CardActionAnswer(toast="已认领", card={**CARD, "template": "green", "buttons": []})

    deps.card_actions = on_click
    result = await create("default", settings(), deps).handle(
        callback(card_event({"key": "claim", "ticket": "T1"}), deps.clock())
    )
    assert seen == [CardAction("feishu", "default", "ou_manager", {"key": "claim", "ticket": "T1"}, "om_card1")]
    answer = json.loads(result.body)
    assert answer["toast"] == {"type": "success", "content": "已认领"}
    assert answer["card"]["type"] == "raw" and answer["card"]["data"]["header"]["template"] == "green"


async def test_card_click_failures_still_answer(deps: AdapterDeps) -> None:
    adapter = create("default", settings(), deps)
    disabled = json.loads((await adapter.handle(callback(card_event({}), deps.clock()))).body)
    assert disabled["toast"]["type"] == "error" and "未启用" in disabled["toast"]["content"]

    async def broken(action: CardAction) -> CardActionAnswer:
        raise RuntimeError("db down")

    deps.card_actions = broken
    result = await adapter.handle(callback(card_event({"key": "claim"}), deps.clock()))
    assert result.status == 200 and json.loads(result.body)["toast"]["type"] == "error"
    assert b"db down" not in result.body


def test_card_rendering() -> None:
    card = render_card(CARD)
    assert card["header"] == {"title": {"tag": "plain_text", "content": "投诉风险"}, "template": "red"}
    description, fields, actions = card["elements"]
    assert description["text"]["content"] == "客户说要投诉"
    assert [f["text"]["content"] for f in fields["fields"]] == ["客户：张三", "订单：A1"]
    [button] = actions["actions"]
    assert button["type"] == "primary" and button["value"] == {"ticket": "T1", "key": "claim"}


def outbound(
    route: dict[str, str], key: str = "reply:om_inbound1", kind: str = "text", text: str = "您好，已为您登记"
) -> OutboundMessage:
    return OutboundMessage("feishu", "default", route, text, key, kind=kind, card=CARD if kind == "card" else None)


async def test_send_wire_format(fake: FakePlatform, deps: AdapterDeps) -> None:
    adapter = create("default", settings(fake.base), deps)
    assert (await adapter.send(outbound({"message_id": INBOUND_ID, "chat_id": "oc_chat1"}))).ok
    assert (await adapter.send(outbound({"chat_id": "oc_staff"}, "alert:1", kind="card"))).ok
    assert (await adapter.send(outbound({"open_id": "ou_boss"}, "digest:1", kind="markdown", text="**日报**"))).ok
    [reply] = fake.calls(REPLY)
    assert reply.headers["authorization"].startswith("Bearer t-")
    assert reply.json() == {
        "msg_type": "text",
        "content": json.dumps({"text": "您好，已为您登记"}, ensure_ascii=False, separators=(",", ":")),
        "uuid": idempotency_uuid("reply:om_inbound1"),
    }
    card, post = fake.calls(MESSAGES)
    assert card.query == {"receive_id_type": "chat_id"} and card.json()["receive_id"] == "oc_staff"
    assert card.json()["msg_type"] == "interactive" and json.loads(card.json()["content"]) == render_card(CARD)
    assert post.query == {"receive_id_type": "open_id"} and post.json()["msg_type"] == "post"
    assert json.loads(post.json()["content"])["zh_cn"]["content"] == [[{"tag": "md", "text": "**日报**"}]]
    assert len(fake.calls(TOKEN_PATH)) == 1  # one tenant token for all three
    assert len(idempotency_uuid("x" * 500)) <= 50


async def test_retry_after_500_keeps_the_uuid(fake: FakePlatform, deps: AdapterDeps) -> None:
    adapter, message = create("default", settings(fake.base), deps), outbound({"chat_id": "oc_staff"}, "alert:7")
    fake.fail_next(MESSAGES, 1)
    first = await adapter.send(message)
    assert not first.ok and first.retryable
    assert (await adapter.send(message)).ok
    assert (await adapter.send(message)).ok  # a retry after a lost answer: the fake dedupes on uuid
    uuids = {r.json()["uuid"] for r in fake.calls(MESSAGES)}
    assert len(fake.calls(MESSAGES)) == 3 and len(uuids) == 1
    assert len(fake.state["feishu"]["sent"]) == 1


async def test_rate_limit_and_token_codes(fake: FakePlatform, deps: AdapterDeps) -> None:
    adapter, message = create("default", settings(fake.base), deps), outbound({"chat_id": "oc_staff"})
    fake.fail_next_json(MESSAGES, 1, {"code": 99991400, "msg": "request trigger frequency limit"})
    limited = await adapter.send(message)
    assert limited.retryable and "99991400" in limited.error
    fake.fail_next_json(MESSAGES, 1, {"code": 99991663, "msg": "Invalid access token for authorization"})
    rejected = await adapter.send(message)
    assert not rejected.ok and rejected.retryable
    assert (await adapter.send(message)).ok
    assert len(fake.calls(TOKEN_PATH)) == 2  # the rejected token was forgotten and refetched


async def test_permanent_failures(fake: FakePlatform, deps: AdapterDeps) -> None:
    adapter = create("default", settings(fake.base), deps)
    recalled = await adapter.send(outbound({"message_id": "bogus"}))
    assert not recalled.ok and not recalled.retryable and "recalled" in recalled.error
    assert not (await adapter.send(outbound({}))).retryable
    fake.state["feishu"]["apps"][APP_ID] = "rotated"
    wrong = await create("other", settings(fake.base), deps).send(outbound({"chat_id": "oc_staff"}))
    assert not wrong.ok and not wrong.retryable and APP_SECRET not in wrong.error


async def test_network_failure_is_retryable(deps: AdapterDeps) -> None:
    result = await create("default", settings(), deps).send(outbound({"chat_id": "oc_staff"}))
    assert not result.ok and result.retryable
