"""``GET /dashboard`` in headless Chromium against a running bot with seeded conversations: the
figures the page shows, a screenshot, the tokens (401 without one, a shop's token sees its shop
only)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from alerts.insights.settings import InsightsSettings
from alerts.notify.settings import AlertsSettings
from bot.runtime.settings import Settings
from tests.support.serving import served

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
