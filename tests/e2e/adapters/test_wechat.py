"""WeChat official account adapter: the official crypto vector, plain and safe mode callbacks,
and customer-service messages against the fake platform."""

from __future__ import annotations

import hashlib

import pytest
from pydantic import SecretStr
from wechatpy.crypto import PrpCrypto, WeChatCrypto

from adapters import wechat
from adapters.wechat.settings import WechatApp
from adapters.wxbiz import Envelope
from bot.channel import AdapterDeps, WebhookError
from bot.message import OutboundMessage
from tests.e2e.adapters.conftest import encrypted_post, request

pytestmark = pytest.mark.anyio

# Official sample (docs/protocols.md).
KEY, TOKEN, APP_ID = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", "pamtest", "wxb11529c136998cb6"
VECTOR = "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg=="


def settings(aes: bool = True, window: int = 3600, api_base: str = "http://127.0.0.1:9") -> WechatApp:
    return WechatApp(
        app_id=APP_ID,
        app_secret=SecretStr("appsecret"),
        token=SecretStr(TOKEN),
        encoding_aes_key=SecretStr(KEY if aes else ""),
        api_base=api_base,
        replay_window_seconds=window,
    )


def sign(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def plain_query(now: float, nonce: str = "n1") -> dict[str, str]:
    ts = str(int(now))
    return {"signature": sign(TOKEN, ts, nonce), "timestamp": ts, "nonce": nonce}


def text_xml(now: float, content: str = "退货地址是什么") -> str:
    return (
        "<xml><ToUserName><![CDATA[gh_shop]]></ToUserName><FromUserName><![CDATA[oUser1]]></FromUserName>"
        f"<CreateTime>{int(now)}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content><MsgId>1234567890123456</MsgId></xml>"
    )


async def test_official_vector() -> None:
    class FixedRandom(PrpCrypto):
        def get_random_string(self) -> str:
            return "aaaabbbbccccdddd"

    crypto = WeChatCrypto(TOKEN, KEY, APP_ID)
    assert FixedRandom(crypto.key).encrypt("我是中文abcd123", APP_ID).decode() == VECTOR
    # And our envelope opens it, signature checked, replay window off for the fixed timestamp.
    query = {"msg_signature": sign(TOKEN, "1409304348", "xxxxxx", VECTOR), "timestamp": "1409304348", "nonce": "xxxxxx"}
    envelope = Envelope(TOKEN, crypto, replay_window_seconds=0)
    assert envelope.open_verified(query, 0, VECTOR) == "我是中文abcd123"


async def test_url_check_echoes(deps: AdapterDeps) -> None:
    adapter = wechat.create("default", settings(), deps)
    result = await adapter.handle(request("GET", {**plain_query(deps.clock()), "echostr": "5837397520665"}))
    assert result.body == b"5837397520665"
    with pytest.raises(WebhookError) as err:
        await adapter.handle(request("GET", {**plain_query(deps.clock()), "signature": "f" * 40, "echostr": "1"}))
    assert err.value.status == 403


async def test_plain_mode_text(deps: AdapterDeps) -> None:
    adapter = wechat.create("default", settings(aes=False), deps)
    now = deps.clock()
    result = await adapter.handle(request("POST", plain_query(now), text_xml(now).encode()))
    assert result.body in (b"success", b"") and result.status == 200
    [msg] = result.messages
    assert (msg.channel, msg.conversation_id, msg.sender_id, msg.text) == (
        "wechat",
        "oUser1",
        "oUser1",
        "退货地址是什么",
    )
    assert msg.message_id == "1234567890123456" and msg.reply_route == {"touser": "oUser1"}


async def test_safe_mode_text_and_image(deps: AdapterDeps) -> None:
    adapter = wechat.create("default", settings(), deps)
    now = deps.clock()
    sealed = encrypted_post(WeChatCrypto(TOKEN, KEY, APP_ID), text_xml(now), now, nonce="n9")
    req = request("POST", {**sealed.query, **plain_query(now, "n9"), "encrypt_type": "aes"}, sealed.body)
    [msg] = (await adapter.handle(req)).messages
    assert msg.text == "退货地址是什么"
    image = (
        text_xml(now)
        .replace("[text]", "[image]")
        .replace("<Content><![CDATA[退货地址是什么]]></Content>", "<PicUrl>http://x/p.jpg</PicUrl>")
    )
    sealed = encrypted_post(WeChatCrypto(TOKEN, KEY, APP_ID), image, now)
    [msg] = (await adapter.handle(request("POST", {**sealed.query, "encrypt_type": "aes"}, sealed.body))).messages
    assert (msg.msg_type, msg.text) == ("image", "")


async def test_events_are_acknowledged_without_messages(deps: AdapterDeps) -> None:
    adapter = wechat.create("default", settings(aes=False), deps)
    now = deps.clock()
    event = text_xml(now).replace("[text]", "[event]").replace("<Content>", "<Event>subscribe</Event><X>")
    event = event.replace("</Content>", "</X>")
    result = await adapter.handle(request("POST", plain_query(now), event.encode()))
    assert result.messages == [] and result.body == b"success"


@pytest.mark.parametrize("case", ["bad_signature", "stale", "malformed", "doctype"])
async def test_refused_callbacks(deps: AdapterDeps, case: str) -> None:
    adapter = wechat.create("default", settings(aes=False, window=300), deps)
    now = deps.clock()
    query, body, status = plain_query(now), text_xml(now).encode(), 403
    if case == "bad_signature":
        query["signature"] = "0" * 40
    elif case == "stale":
        query = plain_query(now - 301)
    elif case == "malformed":
        body, status = b"<xml><Content>half", 400
    else:
        body, status = b'<!DOCTYPE xml [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><Content>&e;</Content></xml>', 400
    with pytest.raises(WebhookError) as err:
        await adapter.handle(request("POST", query, body))
    assert err.value.status == status


def reply(text: str = "您好，退货地址已发送", key: str = "k1") -> OutboundMessage:
    return OutboundMessage(channel="wechat", app="default", route={"touser": "oUser1"}, text=text, idempotency_key=key)


async def test_send_customer_service_message(deps: AdapterDeps, fake) -> None:
    adapter = wechat.create("default", settings(api_base=fake.base), deps)
    assert (await adapter.send(reply())).ok
    assert (await adapter.send(reply("第二条"))).ok
    first, second = fake.state["wechat_sent"]
    assert first == {"touser": "oUser1", "msgtype": "text", "text": {"content": "您好，退货地址已发送"}}
    [token_call] = fake.calls("/cgi-bin/token")
    assert token_call.query == {"grant_type": "client_credential", "appid": APP_ID, "secret": "appsecret"}


async def test_send_failures_are_classified(deps: AdapterDeps, fake) -> None:
    adapter = wechat.create("default", settings(api_base=fake.base), deps)
    path = "/cgi-bin/message/custom/send"
    fake.fail_next(path, 1)
    assert (await adapter.send(reply())).retryable
    fake.fail_next_json(path, 1, {"errcode": 40001, "errmsg": "invalid credential"})
    assert (await adapter.send(reply())).retryable
    assert (await adapter.send(reply())).ok
    assert len(fake.calls("/cgi-bin/token")) == 2  # the refused token was dropped and refetched
    fake.fail_next_json(path, 1, {"errcode": 45015, "errmsg": "response out of time limit"})
    result = await adapter.send(reply())
    assert not result.ok and not result.retryable and "48 h" in result.error


async def test_safe_mode_refuses_a_plaintext_callback_with_a_borrowed_signature(deps: AdapterDeps) -> None:
    # The probe: signature, timestamp and nonce taken from a verification GET, a plaintext body
    # naming any customer: accepted 40 of 40 times while an EncodingAESKey was configured.
    adapter = wechat.create("default", settings(aes=True), deps)
    now = deps.clock()
    with pytest.raises(WebhookError) as e:
        await adapter.handle(request("POST", plain_query(now), text_xml(now).encode()))
    assert e.value.status == 403 and "safe mode" in e.value.reason


async def test_plain_mode_signature_carries_one_body(deps: AdapterDeps) -> None:
    adapter = wechat.create("default", settings(aes=False), deps)
    now = deps.clock()
    query = plain_query(now)
    assert len((await adapter.handle(request("POST", query, text_xml(now).encode()))).messages) == 1
    assert len((await adapter.handle(request("POST", query, text_xml(now).encode()))).messages) == 1  # a retry
    with pytest.raises(WebhookError) as e:
        await adapter.handle(request("POST", query, text_xml(now, "帮我退款到这个账户").encode()))
    assert e.value.status == 403


async def test_the_url_checks_signature_cannot_carry_a_message(deps: AdapterDeps) -> None:
    # In plain mode the verification GET's signature is the very one a message POST needs.
    adapter, now = wechat.create("default", settings(aes=False), deps), deps.clock()
    query = plain_query(now, "n5")
    for _ in range(2):  # WeChat may repeat its URL check: the same check passes again
        assert (await adapter.handle(request("GET", {**query, "echostr": "42"}))).body == b"42"
    with pytest.raises(WebhookError) as e:
        await adapter.handle(request("POST", query, text_xml(now).encode()))
    assert e.value.status == 403
