"""No forged message gets in, over real HTTP to the running bot (real Redis, fake platform APIs).

The two probe findings as tests: a WeChat account in safe mode took plaintext callbacks under any
captured signature/timestamp/nonce; DingTalk headers from half an hour earlier carried a new body,
a manager's ``/close``. And the other side of it: the platform's own retry of a callback is
still answered 200 and handled once."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from xml.etree.ElementTree import fromstring

import httpx
import pytest
import redis.asyncio as aredis
from wechatpy.crypto import WeChatCrypto

from adapters.dingtalk.signing import sign as dingtalk_sign
from alerts.tickets.model import Ticket
from bot.runtime.settings import Settings
from tests.support.callbacks import unsecret
from tests.support.fake_platform import FakePlatform
from tests.support.serving import served, wait_until
from tests.support.tickets_helpers import STAFF, build, msg, tickets_settings

WX_APP, WX_TOKEN, WX_KEY = "wx_e2e_app", "wxtok3n", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
DD_KEY, DD_SECRET = "ding_e2e", "dd app secret"
WX_SEND, DD_SESSION = "/cgi-bin/message/custom/send", "/robot/sendBySession"


@pytest.fixture()
def fake() -> FakePlatform:
    with FakePlatform() as platform:
        platform.state["dingtalk"]["apps"][DD_KEY] = DD_SECRET
        platform.state["dingtalk"]["sessions"]["live"] = True
        yield platform


@pytest.fixture()
def configured(settings: Settings, fake: FakePlatform) -> Settings:
    data = unsecret(settings.model_dump())
    data["channels"]["wechat"].update(
        app_id=WX_APP, app_secret="wx-secret", token=WX_TOKEN, encoding_aes_key=WX_KEY, api_base=fake.base
    )
    data["channels"]["dingtalk"].update(app_key=DD_KEY, app_secret=DD_SECRET, robot_code="r1", api_base=fake.base)
    data["tickets"] = unsecret(tickets_settings().model_dump())
    data["outbox"].update(base_delay_seconds=0.2, max_delay_seconds=1.0)
    return Settings(**data)


# -- WeChat official account, safe mode -----------------------------------------------------------
def plain_signed(timestamp: int, nonce: str) -> dict[str, str]:
    signature = hashlib.sha1("".join(sorted([WX_TOKEN, str(timestamp), nonce])).encode()).hexdigest()
    return {"signature": signature, "timestamp": str(timestamp), "nonce": nonce}


def wechat_text(sender: str, text: str, msg_id: str) -> str:
    return (
        f"<xml><ToUserName><![CDATA[gh_shop]]></ToUserName><FromUserName><![CDATA[{sender}]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{text}]]></Content><MsgId>{msg_id}</MsgId></xml>"
    )


def wechat_encrypted(text: str, msg_id: str, nonce: str) -> tuple[dict[str, str], bytes]:
    """A safe-mode callback as WeChat sends it: both signatures in the query, the body sealed."""
    now = int(time.time())
    sealed = fromstring(
        WeChatCrypto(WX_TOKEN, WX_KEY, WX_APP).encrypt_message(wechat_text("oUser1", text, msg_id), nonce, str(now))
    )
    body = f"<xml><ToUserName><![CDATA[gh_shop]]></ToUserName><Encrypt><![CDATA[{sealed.findtext('Encrypt')}]]></Encrypt></xml>"
    query = {**plain_signed(now, nonce), "encrypt_type": "aes", "msg_signature": sealed.findtext("MsgSignature") or ""}
    return query, body.encode()


def test_wechat_safe_mode_refuses_plaintext_under_any_captured_signature(
    configured: Settings, fake: FakePlatform
) -> None:
    with served(configured) as (base, _):
        url = f"{base}/webhooks/wechat"
        check = plain_signed(int(time.time()), "7311")
        assert httpx.get(url, params={**check, "echostr": "5837397520665"}).text == "5837397520665"
        query, body = wechat_encrypted("我的快递到哪了", "6001", "9182")
        assert httpx.post(url, params=query, content=body).status_code == 200
        fake.wait_for(WX_SEND, 1)
        captured = [check, {k: query[k] for k in ("signature", "timestamp", "nonce")}]
        forged = wechat_text("oVictim", "我的快递到哪了", "6666").encode()
        statuses = [httpx.post(url, params=q, content=forged).status_code for q in captured for _ in range(20)]
        assert statuses == [403] * 40
        time.sleep(1.0)  # room for a forged reply to show up, were there one
        assert [sent.json()["touser"] for sent in fake.calls(WX_SEND)] == ["oUser1"]


def test_wechat_retry_of_an_encrypted_callback_is_answered_once(configured: Settings, fake: FakePlatform) -> None:
    with served(configured) as (base, _):
        query, body = wechat_encrypted("怎么退货", "6002", "5521")
        for _ in range(3):  # WeChat resends after 5 s without an answer, same request
            assert httpx.post(f"{base}/webhooks/wechat", params=query, content=body).status_code == 200
        fake.wait_for(WX_SEND, 1)
        time.sleep(1.0)
        assert len(fake.calls(WX_SEND)) == 1


# -- DingTalk app robot -----------------------------------------------------------------------------
def robot_callback(fake: FakePlatform, text: str, staff_id: str, msg_id: str) -> bytes:
    now_ms = int(time.time() * 1000)
    body = {
        "msgtype": "text", "text": {"content": text}, "msgId": msg_id, "createAt": now_ms,
        "conversationType": "1", "conversationId": "cid_e2e", "senderId": f"$:LWCP:{staff_id}",
        "senderStaffId": staff_id, "senderNick": staff_id, "isInAtList": True,
        "sessionWebhook": f"{fake.base}{DD_SESSION}?session=live", "sessionWebhookExpiredTime": now_ms + 3_600_000,
    }  # fmt: skip
    return json.dumps(body, ensure_ascii=False).encode()


def signed_at(seconds: float) -> dict[str, str]:
    timestamp = str(int(seconds * 1000))
    return {"timestamp": timestamp, "sign": dingtalk_sign(timestamp, DD_SECRET)}


async def _tickets(settings: Settings, open_one: bool = False) -> list[tuple[Ticket, list[dict]]]:
    """Every ticket with its audit trail, read (or first opened: three contacts an hour apart)
    straight from the bot's Redis, as the bot's own ticket service would."""
    from tests.support.clock import Clock

    client = aredis.Redis.from_url(settings.redis_url)
    try:
        now = time.time()
        service, recorder, _ = build(client, Clock(now), tickets_settings(), prefix=settings.key_prefix)
        if open_one:
            for i in range(3):
                at = now - (3 - i) * 3600
                await recorder.record(msg("退款怎么还没到", at, n=i), "退款", at)
        return [(t, await service.store.audit(t.id)) for t in await service.store.all()]
    finally:
        await client.aclose()


def test_replayed_dingtalk_headers_cannot_close_a_ticket_as_a_manager(configured: Settings, fake: FakePlatform) -> None:
    assert STAFF["dingtalk"]["staff_boss"]["role"] == "manager"
    with served(configured) as (base, _):
        url = f"{base}/webhooks/dingtalk"
        [(ticket, audit)] = asyncio.run(_tickets(configured, open_one=True))
        # A genuine callback signed half an hour ago (inside DingTalk's one-hour window): an agent
        # lists tickets. Its headers are what an eavesdropper or a log would hold.
        headers = signed_at(time.time() - 1800)
        genuine = robot_callback(fake, "/tickets", "staff_agent", "dd-genuine")
        assert httpx.post(url, headers=headers, content=genuine).status_code == 200
        fake.wait_for(DD_SESSION, 1)
        forged = robot_callback(fake, f"/close {ticket.id} 已处理", "staff_boss", "dd-forged")
        assert [httpx.post(url, headers=headers, content=forged).status_code for _ in range(20)] == [403] * 20
        time.sleep(1.0)
        [(after, after_audit)] = asyncio.run(_tickets(configured))
        assert after.state == ticket.state != "closed" and after_audit == audit
        assert len(fake.calls(DD_SESSION)) == 1
        # The same command signed afresh is the manager's own: it closes the ticket.
        assert httpx.post(url, headers=signed_at(time.time()), content=forged).status_code == 200
        wait_until(lambda: asyncio.run(_tickets(configured))[0][0].state == "closed")
        closed_audit = asyncio.run(_tickets(configured))[0][1]
        assert closed_audit[-1]["action"] == "close" and closed_audit[-1]["actor"]["id"] == "dingtalk:staff_boss"


def test_dingtalk_retry_of_the_same_callback_is_answered_once(configured: Settings, fake: FakePlatform) -> None:
    with served(configured) as (base, _):
        headers, body = signed_at(time.time()), robot_callback(fake, "我的快递到哪了", "staff7", "dd-retry")
        for _ in range(3):
            assert httpx.post(f"{base}/webhooks/dingtalk", headers=headers, content=body).status_code == 200
        fake.wait_for(DD_SESSION, 1)
        time.sleep(1.0)
        assert len(fake.calls(DD_SESSION)) == 1
