"""Several shops in one deployment: a channel app that names its own knowledge base gets its own
model, built and watched by the runtime; a broken one is named by the startup checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.message import InboundMessage
from bot.runtime import Runtime
from bot.runtime.checks import startup_problems
from bot.runtime.settings import Settings

SHOP2 = Path(__file__).parents[1] / "data" / "unit_kb_shop2.yaml"
pytestmark = pytest.mark.anyio


def message(channel: str, app: str) -> InboundMessage:
    return InboundMessage(channel=channel, app=app, conversation_id="c", sender_id="c", text="能退货吗",
                          message_id=f"{channel}-{app}", sent_at=0.0)  # fmt: skip


async def test_apps_with_their_own_knowledge_base_get_its_model(settings: Settings) -> None:
    shops = settings.model_copy(update={"knowledge_bases": {"wecom_kf/shop2": SHOP2, "shop3": SHOP2}})
    runtime = Runtime.start(shops)
    try:
        default, own = runtime.engines  # the two apps share one engine: one file, one model
        assert default is runtime.engine and own.kb_path == SHOP2 and own.ready
        assert own.model_path.parent == settings.data_dir and own.model_path != default.model_path
        pick = runtime.pipeline.engine_for
        assert pick(message("wecom_kf", "shop2")) is own and pick(message("feishu", "shop3")) is own
        assert pick(message("wecom_kf", "shop1")) is default and pick(message("web", "default")) is default
        reply = await runtime.pipeline.handle(message("wecom_kf", "shop2"))
        assert "15天" in (reply.text or "")
    finally:
        await runtime.close()


def test_a_broken_knowledge_base_of_an_app_is_named(settings: Settings, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("intents: []\n", encoding="utf-8")
    problems = startup_problems(settings.model_copy(update={"knowledge_bases": {"wecom_kf/shop2": broken}}))
    assert len(problems) == 1 and problems[0].startswith("knowledge_bases.wecom_kf/shop2: ")
