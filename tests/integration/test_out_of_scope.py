"""Chit-chat and general questions are never answered as shop questions: the out_of_scope intent.
Over /api/chat: tests/e2e/test_web.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.nlu.decide import OUT_OF_SCOPE, Action, Thresholds, decide
from bot.nlu.engine import IntentEngine
from bot.nlu.knowledge import KnowledgeBaseError
from bot.nlu.params import TrainParams
from bot.nlu.scope import load_out_of_scope
from bot.runtime import train_params
from bot.runtime.settings import Settings
from bot.settings import SHIPPED_OUT_OF_SCOPE, NluSettings


def test_out_of_scope_first_is_neither_answered_nor_clarified() -> None:
    t = Thresholds()
    decision = decide([(OUT_OF_SCOPE, 0.4), ("promotion_event", 0.35), ("coupon", 0.2)], t)
    assert decision.action is Action.OUT_OF_SCOPE and decision.intent is None and not decision.suggestions
    # A shop intent first but unsure: the candidates offered back never include out_of_scope.
    unsure = decide([("coupon", 0.3), (OUT_OF_SCOPE, 0.25), ("promotion_event", 0.2)], t)
    assert unsure.action is Action.CLARIFY and unsure.suggestions == ("coupon", "promotion_event")


def test_examples_file_skips_comments_and_names_itself_when_unreadable(tmp_path: Path) -> None:
    shipped = load_out_of_scope(SHIPPED_OUT_OF_SCOPE)
    assert "九九乘法表背一下" in shipped and not any(line.startswith("#") or not line for line in shipped)
    with pytest.raises(KnowledgeBaseError, match="nope.txt: out-of-scope examples file not found"):
        load_out_of_scope(tmp_path / "nope.txt")
    gbk = tmp_path / "gbk.txt"
    gbk.write_bytes("讲个笑话".encode("gbk"))
    with pytest.raises(KnowledgeBaseError, match="not UTF-8"):
        load_out_of_scope(gbk)


def test_settings_choose_the_examples_or_none(settings: Settings, tmp_path: Path) -> None:
    assert train_params(settings).out_of_scope_file == str(SHIPPED_OUT_OF_SCOPE)
    own = tmp_path / "mine.txt"
    mine = settings.model_copy(update={"nlu": NluSettings(out_of_scope_examples=own)})
    assert train_params(mine).out_of_scope_file == str(own)
    assert train_params(settings.model_copy(update={"nlu": NluSettings(out_of_scope=False)})).out_of_scope_file is None


def test_a_changed_examples_file_retrains_the_knowledge_bases_model(tmp_path: Path) -> None:
    kb = tmp_path / "faq.yaml"
    kb.write_text(
        "intents:\n"
        "  - {name: parcel, category: logistics, answer: 在路上, examples: [快递到哪了, 包裹到哪里了, 物流查一下]}\n"
        "  - {name: refund, category: after_sales, answer: 三天到账, examples: [退款多久到, 钱怎么没退, 退款进度]}\n",
        encoding="utf-8",
    )
    examples = tmp_path / "outside.txt"
    examples.write_text("# chit-chat\n讲个笑话\n今天下雨吗\n", encoding="utf-8")
    params = TrainParams(bucket=50_000, out_of_scope_file=str(examples))
    engine = IntentEngine(kb, tmp_path / "intent.bin", params, Thresholds())
    first = engine.load().model
    assert OUT_OF_SCOPE in first.labels and first.out_of_scope_digest
    assert engine.load().model.classifier.metadata["trained_at"] == first.classifier.metadata["trained_at"]
    examples.write_text("讲个笑话\n今天下雨吗\n一加一等于几\n", encoding="utf-8")
    second = engine.load().model
    assert second.out_of_scope_digest != first.out_of_scope_digest
    assert second.classifier.metadata["n_examples"] == first.classifier.metadata["n_examples"] + 1
