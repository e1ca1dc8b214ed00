"""Alerts end to end: an angry customer through the running bot reaches a Feishu custom bot on
the fake platform once; staff silence a customer from chat; check-config names bad receivers."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
import redis.asyncio as aredis

from alerts.notify.checks import check_alerts, describe_alerts
from bot.runtime.settings import Settings
from tests.support.callbacks import FS_APP, feishu_callback, with_alerts, with_channels
from tests.support.callbacks import FS_SECRET as FS_APP_SECRET
from tests.support.fake_platform import FakePlatform
from tests.support.fake_platform.robots import FEISHU_HOOK
from tests.support.serving import served, wait_until

FS_TOKEN, FS_SECRET = "fs-e2e-hook", "fs-e2e-secret"
ANGRY = "你们这什么破服务！！！我要去12315投诉你们"


@pytest.fixture()
def fake() -> FakePlatform:
    with FakePlatform() as platform:
        platform.state["robots"]["feishu"][FS_TOKEN] = FS_SECRET
        yield platform


def feishu_receiver(fake: FakePlatform, secret: str = FS_SECRET) -> dict:  # type: ignore[type-arg]
    return {"type": "feishu_bot", "webhook": f"{fake.base}{FEISHU_HOOK}{FS_TOKEN}", "secret": secret}


def test_angry_customer_alerts_the_feishu_bot_once(settings: Settings, fake: FakePlatform) -> None:
    fake.state["feishu"]["apps"][FS_APP] = FS_APP_SECRET
    settings = with_alerts(with_channels(settings, fake), {
        "receivers": {"managers": feishu_receiver(fake)}, "default_receivers": ["managers"],
        "group_wait_seconds": 0.5, "silencers": ["feishu:ou_boss"],
    })  # fmt: skip
    with served(settings) as (base, runtime):
        fake.fail_next(FEISHU_HOOK + FS_TOKEN, 1)  # the first try gets a 500: retried
        reply = httpx.post(f"{base}/api/chat", json={"user": "cust_13800138000", "text": ANGRY}, timeout=10).json()
        assert reply["risk"] >= settings.risk.alert_threshold
        httpx.post(
            f"{base}/api/chat", json={"user": "cust_13800138000", "text": "气死我了，马上给我退款！！"}, timeout=10
        )
        wait_until(lambda: len(fake.state["robots"]["sent"]) >= 1)
        time.sleep(1.5)  # room for a duplicate to show up, were there one
        [(_, body)] = fake.state["robots"]["sent"]
        assert body["msg_type"] == "interactive"
        content = body["card"]["elements"][0]["text"]["content"]
        assert "客户：web:cu***00" in content and "13800138000" not in content
        assert "12315" in content and "请尽快联系客户" in content
        assert body["card"]["header"]["title"]["content"].startswith("【")
        assert len(fake.calls(FEISHU_HOOK + FS_TOKEN)) == 2  # 500, then delivered
        # A manager silences the customer from their Feishu chat; the next outburst is recorded, not sent.
        headers, body = feishu_callback("/silence 2h cu***00", "om_silence_1", open_id="ou_boss")
        assert httpx.post(f"{base}/webhooks/feishu", headers=headers, content=body).status_code == 200
        [sent] = fake.wait_for("/open-apis/im/v1/messages/om_silence_1/reply", 1)
        assert json.loads(sent.json()["content"])["text"].startswith("已静默 2 小时")
        for user in ("boss", "cust_13800138000"):  # on the open web channel "/silence" is only text
            denied = httpx.post(f"{base}/api/chat", json={"user": user, "text": "/silence 2h cu***00"}, timeout=10)
            assert not (denied.json()["reply"] or "").startswith("已静默")
        httpx.post(
            f"{base}/api/chat", json={"user": "cust_13800138000", "text": "我要给差评，还要打12345投诉！！"}, timeout=10
        )
        time.sleep(1.0)
        assert len(fake.state["robots"]["sent"]) == 1


def test_bad_secret_at_send_time_is_a_dead_letter(settings: Settings, fake: FakePlatform) -> None:
    settings = with_alerts(settings, {
        "receivers": {"managers": feishu_receiver(fake, "wrong-secret")}, "default_receivers": ["managers"],
        "group_wait_seconds": 0,
    })  # fmt: skip
    with served(settings) as (base, runtime):
        httpx.post(f"{base}/api/chat", json={"user": "c2", "text": ANGRY}, timeout=10)
        dead: list = []  # type: ignore[type-arg]

        async def read() -> list:  # type: ignore[type-arg]
            client = aredis.Redis.from_url(settings.redis_url)
            try:
                return [json.loads(r) for r in await client.lrange(runtime.outbox.dead_key, 0, -1)]
            finally:
                await client.aclose()

        def has_dead() -> bool:
            dead[:] = asyncio.run(read())
            return bool(dead)

        wait_until(has_dead)
        assert "19021" in dead[0]["error"] and "sign match fail" in dead[0]["error"]


def test_check_config_names_bad_receivers(settings: Settings) -> None:
    assert describe_alerts(settings) == [
        "alerts: no receivers configured: alerts are recorded (kefu alerts recent) but sent nowhere"
    ]
    bad = with_alerts(settings, {"receivers": {
        "ops": {"type": "wecom_robot", "webhook_key": "not-a-key"},
        "dd": {"type": "dingtalk_robot", "access_token": "t", "secret": "plain"},
        "fs": {"type": "feishu_bot", "webhook": "https://open.feishu.cn/hook/x"},
        "app": {"type": "feishu_app", "chat_id": "oc_1"},
    }})  # fmt: skip
    problems = check_alerts(bad)
    assert "alerts.receivers.ops.webhook_key: not a WeCom robot key" in problems[0]
    assert problems[1] == "alerts.receivers.dd.secret: a DingTalk robot signing secret starts with SEC"
    assert problems[2].startswith("alerts.receivers.fs.webhook: does not look like a webhook URL")
    assert problems[3].startswith("alerts.receivers.fs.secret: missing")
    assert problems[4].startswith("alerts.receivers.app.app: channel feishu app 'default' is not configured")
    assert "wrong" not in "".join(problems)  # secrets never echoed
