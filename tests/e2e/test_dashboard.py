"""``GET /dashboard`` in headless Chromium against a running bot with seeded conversations: the
figures the page shows, a screenshot, the tokens (401 without one, a shop's token sees its shop
only); and as an HTTP process that holds no model serves it, each shop's unanswered questions
compared with its own knowledge base."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from alerts.insights.recorder import InsightRecorder
from alerts.insights.settings import InsightsSettings
from alerts.notify.settings import AlertsSettings
from bot.message import InboundMessage
from bot.ports import TurnRecord
from bot.runtime import Runtime
from bot.runtime.app import create_app
from bot.runtime.settings import Settings
from tests.support.serving import served

SHOP2_KB = Path(__file__).parents[1] / "data" / "unit_kb_shop2.yaml"
# Unanswered questions of two shops: 小店A answers from the shipped knowledge base, 小店B from its own.
UNANSWERED = [("default", "发票开错了 能重新开发票吗"), ("default", "发票开错了怎么重新开"),
              ("shop2", "我的包裹到底到哪里了 好几天了"), ("shop2", "快递到哪里了 一直查不到")]  # fmt: skip

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Headless in a closed network: no first run, no background connections that would be refused.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync")  # fmt: skip
CHATS = [("a", "我的快递到哪了"), ("b", "我的快递到哪了"), ("c", "快递到哪了"), ("d", "怎么退货"),
         ("e", "能不能在杯子上刻名字"), ("f", "杯子上可以刻名字吗")]  # fmt: skip


def chromium(tmp_path: Path, *args: str) -> str:
    assert CHROMIUM, "Debian's chromium is needed for the dashboard test (.ci/run installs it)"
    run = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'chromium'}", *args],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return run.stdout


@pytest.fixture
def dashboard_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "insights": InsightsSettings(dashboard_token="all-shops", dashboard_shop_tokens={"小店B": "shop-b"}),
            "alerts": AlertsSettings(shops={"web/default": "小店A"}),
        }
    )


def test_the_dashboard_shows_the_figures_of_the_conversations(dashboard_settings: Settings, tmp_path: Path) -> None:
    with served(dashboard_settings) as (base, runtime):
        replies = [httpx.post(f"{base}/api/chat", json={"user": u, "text": t}).json() for u, t in CHATS]
        assert sum(r["action"] == "answer" for r in replies) >= 4

        for headers, query in (({}, ""), ({}, "?token=wrong"), ({"Authorization": "Bearer wrong"}, "")):
            refused = httpx.get(f"{base}/dashboard{query}", headers=headers)
            assert refused.status_code == 401 and "消息量" not in refused.text

        dom = chromium(tmp_path, "--dump-dom", f"{base}/dashboard?token=all-shops")
        assert '<div class="v" id="volume">6</div>' in dom
        parcel = runtime.engine.current.kb.intents["where_is_parcel"].title
        assert f'<td>{parcel}</td><td class="n">3</td>' in dom  # the top question, three times
        fallbacks = [t for (_, t), r in zip(CHATS, replies) if r["action"] != "answer"]
        assert all(text in dom for text in fallbacks), "the unanswered questions are listed"
        assert "小店A" in dom and "没有未关闭的工单" in dom

        shot = tmp_path / "dashboard.png"
        chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,1600", f"{base}/dashboard?token=all-shops")
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000

        own = chromium(tmp_path, "--dump-dom", f"{base}/dashboard?token=shop-b")
        assert '<div class="v" id="volume">0</div>' in own and "快递" not in own and "小店A" not in own
        assert "小店B" in own


@pytest.mark.anyio
async def test_a_process_without_models_suggests_each_shops_own_intents(settings: Settings) -> None:
    """``kefu serve`` with worker processes: the HTTP process holds no model, yet the unanswered
    groups get the intent they are closest to, read from the knowledge base of their shop's app."""
    two_shops = settings.model_copy(
        update={
            "knowledge_bases": {"web/shop2": SHOP2_KB},
            "insights": InsightsSettings(dashboard_token="all-shops", dashboard_shop_tokens={"小店B": "shop-b"}),
            "alerts": AlertsSettings(shops={"web/default": "小店A", "web/shop2": "小店B"}),
        }
    )
    http_side = Runtime.start(two_shops, models=False)
    try:
        recorder = InsightRecorder(http_side.keys, 30, 0.5)
        now = http_side.clock()
        for n, (app, text) in enumerate(UNANSWERED):
            message = InboundMessage("web", app, f"c{n}", f"c{n}", text, f"m{n}", now - 60)
            await http_side.redis.execute_command(
                *recorder.command(TurnRecord(message, "fallback", None, None, 0.1, now - 60))
            )
        transport = httpx.ASGITransport(app=create_app(http_side))
        async with httpx.AsyncClient(transport=transport, base_url="http://kefu.test") as client:
            every = (await client.get("/dashboard", params={"token": "all-shops"})).text
            shop_a = (await client.get("/dashboard", params={"token": "all-shops", "shop": "小店A"})).text
            shop_b = (await client.get("/dashboard", params={"token": "shop-b"})).text
    finally:
        await http_side.close()
    assert not http_side.engine.ready
    # The shipped knowledge base's titles for 小店A, the second shop's own for 小店B.
    assert "（接近：发票修改重开）" in shop_a and "（接近：查询物流" not in shop_a and "包裹" not in shop_a
    assert "（接近：查询物流）" in shop_b and "发票" not in shop_b and "小店A" not in shop_b
    assert "（接近：发票修改重开）" in every and "（接近：查询物流）" in every
