"""WeCom adapter: official vectors, callback safety, 微信客服 sync and sending, against a real Redis
and the fake platform on loopback."""

from __future__ import annotations

import asyncio
from xml.etree.ElementTree import fromstring

import pytest
from pydantic import SecretStr
from wechatpy.enterprise import WeChatCrypto

from adapters import wecom
from adapters.wecom.kf import KfSyncFailed
from adapters.wecom.settings import WecomApp
from bot.channel import (
    AdapterDeps,
    CardAction,
    CardActionAnswer,
    PlatformTask,
    WebhookError,
)
from bot.message import OutboundMessage
from tests.e2e.adapters.conftest import encrypted_post, request

pytestmark = pytest.mark.anyio

# Official vectors (docs/protocols.md).
V1 = {"token": "QDG6eK", "key": "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "corp": "wx5823bf96d3bd56c7"}
V2 = {
    "token": "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo",
    "key": "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt",
    "corp": "ww1436e0e65a779aee",
}
V1_POST_ENCRYPT = (
    "RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/"
    "sYYvuJTs3TUUkSUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+"
    "LtwGc2hgf5gsijff0ekUNXZiqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9"
    "EL4EhzJWrQUax5wLVMNS0+rUPA3k22Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ"
    "2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q=="
)
V1_POST_QUERY = {
    "msg_signature": "477715d11cdb4164915debcba66cb864d751f3e6",
    "timestamp": "1409659813",
    "nonce": "1372623149",
}
V1_POST_BODY = (
    "<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName>"
    f"<Encrypt><![CDATA[{V1_POST_ENCRYPT}]]></Encrypt><AgentID><![CDATA[218]]></AgentID></xml>"
).encode()

# Fresh traffic uses a key of our own.
TOKEN, AES_KEY, CORP = "tok3n", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "ww_test_corp"


def settings(
    vector: dict[str, str] | None = None, window: int = 3600, api_base: str = "http://127.0.0.1:9"
) -> WecomApp:
    v = vector or {"token": TOKEN, "key": AES_KEY, "corp": CORP}
    return WecomApp(
        corp_id=v["corp"],
        agent_id=1000002,
        secret=SecretStr("s3cret"),
        token=SecretStr(v["token"]),
        encoding_aes_key=SecretStr(v["key"]),
        api_base=api_base,
        replay_window_seconds=window,
    )


def sdk() -> WeChatCrypto:
    return WeChatCrypto(TOKEN, AES_KEY, CORP)


def xml_message(msg_type: str, now: float, extra: str = "", sender: str = "zhangsan") -> str:
    return (
        f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><FromUserName><![CDATA[{sender}]]></FromUserName>"
        f"<CreateTime>{int(now)}</CreateTime><MsgType><![CDATA[{msg_type}]]></MsgType>{extra}"
        "<AgentID>1000002</AgentID></xml>"
    )


# -- official vectors -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "vector, query, answer",
    [
        (
            V1,
            {
                "msg_signature": "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3",
                "timestamp": "1409659589",
                "nonce": "263014780",
                "echostr": "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ==",
            },
            b"1616140317555161061",
        ),
        (
            V2,
            {
                "msg_signature": "012bc692d0a58dd4b10f8dfe5c4ac00ae211ebeb",
                "timestamp": "1476416373",
                "nonce": "47744683",
                "echostr": "fsi1xnbH4yQh0+PJxcOdhhK6TDXkjMyhEPA7xB2TGz6b+g7xyAbEkRxN/3cNXW9qdqjnoVzEtpbhnFyq6SVHyA==",
            },
            b"1288432023552776189",
        ),
    ],
)
async def test_url_verification_vectors(deps: AdapterDeps, vector, query, answer) -> None:
    adapter = wecom.create("default", settings(vector, window=0), deps)
    result = await adapter.handle(request("GET", query))
    assert result.status == 200 and result.body == answer


async def test_post_vector_is_text_hello(deps: AdapterDeps) -> None:
    adapter = wecom.create("default", settings(V1, window=0), deps)
    result = await adapter.handle(request("POST", V1_POST_QUERY, V1_POST_BODY))
    [msg] = result.messages
    assert (msg.channel, msg.text, msg.sender_id, msg.conversation_id) == ("wecom", "hello", "mycreate", "mycreate")
    assert msg.message_id == "4561255354251345929" and msg.msg_type == "text"
    assert msg.sent_at == 1409659813 and msg.reply_route == {"touser": "mycreate", "agent_id": "218"}
    assert result.body == b"" and result.status == 200


async def test_old_vector_is_stale_when_the_window_is_on(deps: AdapterDeps) -> None:
    adapter = wecom.create("default", settings(V1, window=3600), deps)
    with pytest.raises(WebhookError) as err:
        await adapter.handle(request("POST", V1_POST_QUERY, V1_POST_BODY))
    assert err.value.status == 403


# -- refused callbacks ----------------------------------------------------------------------------
async def test_bad_signature_is_403(deps: AdapterDeps) -> None:
    adapter = wecom.create("default", settings(), deps)
    req = encrypted_post(
        sdk(), xml_message("text", deps.clock(), "<Content>hi</Content><MsgId>1</MsgId>"), deps.clock()
    )
    forged = request("POST", {**req.query, "msg_signature": "0" * 40}, req.body)
    with pytest.raises(WebhookError) as err:
        await adapter.handle(forged)
    assert err.value.status == 403
    with pytest.raises(WebhookError) as err:
        await adapter.handle(request("POST", {}, req.body))
    assert err.value.status == 403


async def test_stale_timestamp_is_403(deps: AdapterDeps) -> None:
    adapter = wecom.create("default", settings(window=300), deps)
    sent_at = deps.clock() - 301
    req = encrypted_post(sdk(), xml_message("text", sent_at, "<Content>hi</Content><MsgId>1</MsgId>"), sent_at)
    with pytest.raises(WebhookError) as err:
        await adapter.handle(req)
    assert err.value.status == 403


async def test_a_message_sealed_for_another_corp_is_400(deps: AdapterDeps) -> None:
    # Same token and key, another corp id inside the ciphertext: signed right, still refused.
    adapter = wecom.create("default", settings(), deps)
    other = WeChatCrypto(TOKEN, AES_KEY, "ww_other_corp")
    plain = xml_message("text", deps.clock(), "<Content>hi</Content><MsgId>1</MsgId>")
    req = encrypted_post(other, plain, deps.clock())
    with pytest.raises(WebhookError, match="InvalidCorpId") as err:
        await adapter.handle(req)
    assert err.value.status == 400


@pytest.mark.parametrize(
    "body",
    [
        b"<xml><Encrypt>abc",
        b"not xml at all",
        b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x "boom">]><xml><Encrypt>&x;</Encrypt></xml>',
        b'<!DOCTYPE xml SYSTEM "http://evil.example/x.dtd"><xml><Encrypt>a</Encrypt></xml>',
    ],
)
async def test_malformed_or_unsafe_xml_is_400(deps: AdapterDeps, body: bytes) -> None:
    adapter = wecom.create("default", settings(), deps)
    with pytest.raises(WebhookError) as err:
        await adapter.handle(request("POST", {"msg_signature": "x", "timestamp": "1", "nonce": "1"}, body))
    assert err.value.status == 400


async def test_entity_inside_the_encrypted_message_is_400(deps: AdapterDeps) -> None:
    adapter = wecom.create("default", settings(), deps)
    bomb = '<!DOCTYPE xml [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>' + xml_message(
        "text", deps.clock(), "<Content>&b;</Content><MsgId>1</MsgId>"
    )
    with pytest.raises(WebhookError) as err:
        await adapter.handle(encrypted_post(sdk(), bomb, deps.clock()))
    assert err.value.status == 400


@pytest.mark.parametrize("create_time", ["soon", "nan", "9" * 400])
async def test_a_create_time_that_is_not_a_time_is_400(deps: AdapterDeps, create_time: str) -> None:
    adapter = wecom.create("default", settings(), deps)
    now = deps.clock()
    bad = xml_message("text", now, "<Content>hi</Content><MsgId>1</MsgId>").replace(str(int(now)), create_time)
    with pytest.raises(WebhookError) as err:
        await adapter.handle(encrypted_post(sdk(), bad, now))
    assert err.value.status == 400


async def test_a_bad_aes_key_is_a_clear_error(deps: AdapterDeps) -> None:
    with pytest.raises(ValueError, match="encoding_aes_key\n  must be 43 characters, got 5"):  # the settings refuse it
        wecom.create("default", settings({"token": "t", "key": "short", "corp": CORP}), deps)


# -- messages and events --------------------------------------------------------------------------
async def test_fresh_text_and_image_messages(deps: AdapterDeps) -> None:
    adapter = wecom.create("default", settings(), deps)
    now = deps.clock()
    text = await adapter.handle(
        encrypted_post(
            sdk(), xml_message("text", now, "<Content><![CDATA[我的快递到哪了]]></Content><MsgId>77</MsgId>"), now
        )
    )
    assert text.messages[0].text == "我的快递到哪了" and text.messages[0].message_id == "77"
    image = await adapter.handle(
        encrypted_post(
            sdk(),
            xml_message("image", now, "<PicUrl>http://x/y.jpg</PicUrl><MediaId>m1</MediaId><MsgId>78</MsgId>"),
            now,
        )
    )
    [msg] = image.messages
    assert (msg.msg_type, msg.text, msg.message_id) == ("image", "", "78")


async def test_kf_event_becomes_a_sync_task(deps: AdapterDeps) -> None:
    adapter = wecom.create("default", settings(), deps)
    now = deps.clock()
    event = xml_message(
        "event", now, "<Event>kf_msg_or_event</Event><Token>ENCAPI123</Token><OpenKfId>wkABC</OpenKfId>", sender="sys"
    )
    result = await adapter.handle(encrypted_post(sdk(), event, now))
    assert result.messages == [] and result.body == b""
    [task] = result.tasks
    assert (task.channel, task.kind) == ("wecom_kf", "kf_sync")
    assert task.payload == {"open_kfid": "wkABC", "token": "ENCAPI123"} and "ENCAPI123" in task.dedupe_key


async def test_other_events_answer_empty(deps: AdapterDeps) -> None:
    adapter = wecom.create("default", settings(), deps)
    now = deps.clock()
    result = await adapter.handle(encrypted_post(sdk(), xml_message("event", now, "<Event>enter_agent</Event>"), now))
    assert (result.body, result.messages, result.tasks) == (b"", [], [])


def card_event(now: float) -> str:
    return xml_message(
        "event",
        now,
        "<Event>template_card_event</Event><EventKey>ack:T1</EventKey>"
        "<TaskId>T1-alert</TaskId><CardType>button_interaction</CardType>"
        "<ResponseCode>RC1</ResponseCode>",
        sender="lisi",
    )


async def test_card_click_goes_to_the_handler_and_updates_the_button(deps: AdapterDeps) -> None:
    clicks: list[CardAction] = []

    async def on_click(action: CardAction) -> CardActionAnswer:
        clicks.append(action)
        return CardActionAnswer(toast="已确认")

    deps.card_actions = on_click
    adapter = wecom.create("default", settings(), deps)
    now = deps.clock()
    result = await adapter.handle(encrypted_post(sdk(), card_event(now), now, nonce="n1"))
    [action] = clicks
    assert (action.operator_id, action.message_ref, action.value["key"]) == ("lisi", "T1-alert", "ack:T1")
    assert action.value["response_code"] == "RC1"
    # The passive reply is sealed: open it the way WeCom would.
    sealed = fromstring(result.body)
    plain = sdk().decrypt_message(result.body, sealed.findtext("MsgSignature"), sealed.findtext("TimeStamp"), "n1")
    reply = fromstring(plain)
    assert reply.findtext("MsgType") == "update_button" and reply.findtext("Button/ReplaceName") == "已确认"
    assert reply.findtext("ToUserName") == "lisi"
    # WeCom's retry of the same click is not handled twice.
    again = await adapter.handle(encrypted_post(sdk(), card_event(now), now, nonce="n2"))
    assert again.body == b"" and len(clicks) == 1


async def test_card_click_without_a_handler_answers_empty(deps: AdapterDeps) -> None:
    adapter = wecom.create("default", settings(), deps)
    now = deps.clock()
    assert (await adapter.handle(encrypted_post(sdk(), card_event(now), now))).body == b""


# -- 微信客服 sync --------------------------------------------------------------------------------
def kf_msg(n: int, origin: int = 3, msgtype: str = "text") -> dict:
    item = {
        "msgid": f"msg{n}",
        "open_kfid": "wkABC",
        "external_userid": f"wm{n % 2}",
        "send_time": 1700000000 + n,
        "origin": origin,
        "msgtype": msgtype,
    }
    if msgtype == "text":
        item["text"] = {"content": f"问题{n}"}
    elif msgtype == "image":
        item["image"] = {"media_id": "MEDIA"}
    return item


def kf_task(token: str = "TOK1") -> PlatformTask:
    return PlatformTask(
        channel="wecom_kf", app="default", kind="kf_sync", payload={"open_kfid": "wkABC", "token": token}
    )


async def pull(adapter, task) -> list:
    """Run a kf_sync task and collect what it hands to the inbox, page by page."""
    got: list = []

    async def emit(messages: list) -> None:
        got.extend(messages)

    await adapter.run_task(task, emit)
    return got


async def test_kf_sync_pages_filters_and_keeps_the_cursor(deps: AdapterDeps, fake) -> None:
    fake.state["kf_page_size"] = 2
    fake.state["kf_messages"] = {
        "wkABC": [
            kf_msg(1),
            kf_msg(2, msgtype="image"),
            kf_msg(3, origin=5),
            kf_msg(4, origin=4, msgtype="event"),
            kf_msg(5),
        ]
    }
    adapter = wecom.create("default", settings(api_base=fake.base), deps)
    got = await pull(adapter, kf_task())
    assert [(m.message_id, m.msg_type, m.text) for m in got] == [
        ("msg1", "text", "问题1"),
        ("msg2", "image", ""),
        ("msg5", "text", "问题5"),
    ]
    first = got[0]
    assert (first.channel, first.conversation_id, first.sender_id, first.sent_at) == (
        "wecom_kf",
        "wm1",
        "wm1",
        1700000001,
    )
    assert first.reply_route == {"open_kfid": "wkABC", "external_userid": "wm1"}
    pulls = [c.json() for c in fake.calls("/cgi-bin/kf/sync_msg")]
    assert [p["cursor"] for p in pulls] == ["", "2", "4"]
    assert all(p["limit"] == 1000 and p["token"] == "TOK1" and p["open_kfid"] == "wkABC" for p in pulls)
    assert await deps.redis.get(deps.keys.of("kf_cursor", "default", "wkABC")) == b"5"

    # A second sync (another adapter instance, as after a restart) starts from the saved cursor.
    fake.state["kf_messages"]["wkABC"] += [kf_msg(6), kf_msg(7)]
    again = await pull(wecom.create("default", settings(api_base=fake.base), deps), kf_task("TOK2"))
    assert [m.message_id for m in again] == ["msg6", "msg7"]
    assert fake.calls("/cgi-bin/kf/sync_msg")[3].json()["cursor"] == "5"


async def test_kf_sync_waits_for_the_lock_holder(deps: AdapterDeps, fake) -> None:
    fake.state["kf_messages"] = {"wkABC": [kf_msg(1)]}
    adapter = wecom.create("default", settings(api_base=fake.base), deps)
    lock = deps.keys.of("kf_lock", "default", "wkABC")
    await deps.redis.set(lock, "someone-else", ex=60)
    assert await pull(adapter, kf_task()) == [] and fake.calls("/cgi-bin/kf/sync_msg") == []
    # The holder's release and its own follow-up pull are simulated by the next task.
    await deps.redis.delete(lock)
    assert [m.message_id for m in await pull(adapter, kf_task("TOK2"))] == ["msg1"]


async def test_concurrent_kf_syncs_never_pull_twice(deps: AdapterDeps, fake) -> None:
    fake.state["kf_page_size"] = 1
    fake.state["kf_messages"] = {"wkABC": [kf_msg(n) for n in range(1, 7)]}
    adapter = wecom.create("default", settings(api_base=fake.base), deps)
    results = await asyncio.gather(*(pull(adapter, kf_task(f"T{n}")) for n in range(4)))
    ids = [m.message_id for batch in results for m in batch]
    assert sorted(ids) == [f"msg{n}" for n in range(1, 7)]  # each once, none lost
    # Every page was pulled once; only the "anything new?" re-checks at the end repeat a cursor.
    pages = [c.json()["cursor"] for c in fake.calls("/cgi-bin/kf/sync_msg")]
    assert sorted(p for p in pages if p != "6") == ["", "1", "2", "3", "4", "5"]


async def test_kf_sync_failure_before_any_page_raises_and_the_retry_pulls(deps: AdapterDeps, fake) -> None:
    fake.state["kf_messages"] = {"wkABC": [kf_msg(1)]}
    fake.fail_next("/cgi-bin/kf/sync_msg", 1)
    adapter = wecom.create("default", settings(api_base=fake.base), deps)
    with pytest.raises(KfSyncFailed, match="HTTP 500"):
        await pull(adapter, kf_task())
    # The queue retries the task (KfSyncFailed is a TaskRetry): the token was kept for it.
    assert [m.message_id for m in await pull(adapter, kf_task())] == ["msg1"]


# -- sending ----------------------------------------------------------------------------------------
def out(kind: str = "text", key: str = "k1", **kw) -> OutboundMessage:
    route = kw.pop("route", {"touser": "zhangsan", "agent_id": "1000002"})
    return OutboundMessage(
        channel=kw.pop("channel", "wecom"),
        app="default",
        route=route,
        text=kw.pop("text", "新工单"),
        idempotency_key=key,
        kind=kind,
        **kw,
    )


async def test_app_text_markdown_and_card_wire_format(deps: AdapterDeps, fake) -> None:
    adapter = wecom.create("default", settings(api_base=fake.base), deps)
    assert (await adapter.send(out())).ok
    assert (await adapter.send(out("markdown", text="**紧急**"))).ok
    card = {
        "title": "投诉风险提醒",
        "description": "客户连续催单",
        "fields": [["客户", "wm1"]],
        "buttons": [{"text": "确认", "key": "ack:T1", "style": "primary"}],
        "task_id": "T1-alert",
    }
    assert (await adapter.send(out("card", card=card, text="请处理"))).ok
    text, markdown, tcard = [c.json() for c in fake.calls("/cgi-bin/message/send")]
    assert text == {"touser": "zhangsan", "agentid": 1000002, "msgtype": "text", "text": {"content": "新工单"}}
    assert markdown["msgtype"] == "markdown" and markdown["markdown"] == {"content": "**紧急**"}
    assert tcard["msgtype"] == "template_card" and tcard["template_card"] == {
        "card_type": "button_interaction",
        "main_title": {"title": "投诉风险提醒", "desc": "客户连续催单"},
        "task_id": "T1-alert",
        "sub_title_text": "请处理",
        "horizontal_content_list": [{"keyname": "客户", "value": "wm1"}],
        "button_list": [{"text": "确认", "key": "ack:T1", "style": 1}],
    }
    # One token for all three sends, and it is the one the fake issued.
    [token_call] = fake.calls("/cgi-bin/gettoken")
    assert token_call.query == {"corpid": CORP, "corpsecret": "s3cret"}
    assert {c.query["access_token"] for c in fake.calls("/cgi-bin/message/send")} == fake.state["wecom_tokens"]


async def test_update_card_button_by_response_code(deps: AdapterDeps, fake) -> None:
    adapter = wecom.create("default", settings(api_base=fake.base), deps)
    msg = out(route={"touser": "lisi", "agent_id": "1000002", "response_code": "RC1"}, text="已处理")
    assert (await adapter.send(msg)).ok
    assert fake.calls("/cgi-bin/message/update_template_card")[0].json() == {
        "userids": ["lisi"],
        "agentid": 1000002,
        "response_code": "RC1",
        "button": {"replace_name": "已处理"},
    }


async def test_server_error_is_retryable(deps: AdapterDeps, fake) -> None:
    adapter = wecom.create("default", settings(api_base=fake.base), deps)
    fake.fail_next("/cgi-bin/message/send", 1)
    first = await adapter.send(out())
    assert not first.ok and first.retryable
    assert (await adapter.send(out())).ok


async def test_busy_is_retryable_and_bad_request_permanent(deps: AdapterDeps, fake) -> None:
    adapter = wecom.create("default", settings(api_base=fake.base), deps)
    fake.fail_next_json("/cgi-bin/message/send", 1, {"errcode": 45009, "errmsg": "api freq out of limit"})
    assert (await adapter.send(out())).retryable
    fake.fail_next_json("/cgi-bin/message/send", 1, {"errcode": 81013, "errmsg": "user & party & tag all invalid"})
    result = await adapter.send(out())
    assert not result.ok and not result.retryable and "81013" in result.error


async def test_expired_token_is_invalidated_and_retryable(deps: AdapterDeps, fake) -> None:
    adapter = wecom.create("default", settings(api_base=fake.base), deps)
    assert (await adapter.send(out())).ok
    fake.fail_next_json("/cgi-bin/message/send", 1, {"errcode": 42001, "errmsg": "access_token expired"})
    result = await adapter.send(out())
    assert not result.ok and result.retryable
    assert await deps.redis.get(deps.keys.of("token", "wecom:default")) is None
    assert (await adapter.send(out())).ok
    assert len(fake.calls("/cgi-bin/gettoken")) == 2


async def test_unreachable_platform_is_retryable(deps: AdapterDeps) -> None:
    adapter = wecom.create("default", settings(api_base="http://127.0.0.1:9"), deps)
    result = await adapter.send(out())
    assert not result.ok and result.retryable and "network" in result.error


# -- 微信客服 sending --------------------------------------------------------------------------------
KF_ROUTE = {"open_kfid": "wkABC", "external_userid": "wm1"}


async def test_kf_send_wire_format_and_duplicate_msgid(deps: AdapterDeps, fake) -> None:
    adapter = wecom.create("default", settings(api_base=fake.base), deps)
    msg = out(channel="wecom_kf", route=KF_ROUTE, text="您好，已为您查询", key="reply:wecom_kf:msg1")
    assert (await adapter.send(msg)).ok
    [sent] = fake.state["kf_sent"]
    assert sent["touser"] == "wm1" and sent["open_kfid"] == "wkABC" and sent["msgtype"] == "text"
    assert sent["text"] == {"content": "您好，已为您查询"}
    assert len(sent["msgid"]) <= 32 and sent["msgid"].replace("_", "").replace("-", "").isalnum()
    # The outbox retries after a lost answer: the platform refuses the msgid, which means delivered.
    assert (await adapter.send(msg)).ok
    assert len(fake.state["kf_sent"]) == 1


async def test_kf_wrong_session_state_is_permanent(deps: AdapterDeps, fake) -> None:
    fake.state["kf_session_state"] = {("wkABC", "wm1"): 3}
    adapter = wecom.create("default", settings(api_base=fake.base), deps)
    result = await adapter.send(out(channel="wecom_kf", route=KF_ROUTE))
    assert not result.ok and not result.retryable and "95018" in result.error


async def test_kf_handoff_transfers_after_the_text(deps: AdapterDeps, fake) -> None:
    adapter = wecom.create("default", settings(api_base=fake.base), deps)
    result = await adapter.send(out(channel="wecom_kf", route=KF_ROUTE, text="正在为您转接人工", handoff=True))
    assert result.ok
    assert fake.state["kf_sent"][0]["text"]["content"] == "正在为您转接人工"
    [trans] = fake.calls("/cgi-bin/kf/service_state/trans")
    assert trans.json() == {"open_kfid": "wkABC", "external_userid": "wm1", "service_state": 2}
    assert fake.state["kf_session_state"][("wkABC", "wm1")] == 2
