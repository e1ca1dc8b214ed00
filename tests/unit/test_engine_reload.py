"""The intent engine: trains when needed, notices a changed knowledge base, survives a broken edit."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import pytest

from bot.nlu.decide import Action, Thresholds
from bot.nlu.engine import IntentEngine
from bot.nlu.intent_model import MODEL_VERSION, linear_path
from bot.nlu.knowledge import KnowledgeBaseError
from bot.nlu.normalize import normalize
from bot.nlu.params import TrainParams, metadata_path

PARAMS = TrainParams(bucket=50_000)

BASE = """\
intents:
  - name: where_is_parcel
    category: logistics
    answer: 快递在路上
    examples: [我的快递到哪了, 包裹到哪里了, 快递怎么还没到, 物流信息查一下, 快递到哪儿了呀, 我的包裹在哪]
  - name: greeting
    category: chitchat
    answer: 您好
    examples: [你好, 在吗, 您好, 有人吗, 哈喽, 你好呀]
"""
INVOICE = """\
  - name: invoice
    category: invoice
    answer: 可以开发票
    examples: [能开发票吗, 开个发票, 发票怎么开, 我要发票, 要开增值税发票, 电子发票有吗]
"""


def touch_later(path: Path, text: str) -> None:
    """Write and move the mtime on, so a change is visible even on coarse-grained filesystems."""
    before = os.stat(path).st_mtime if path.exists() else time.time()
    path.write_text(text, encoding="utf-8")
    os.utime(path, (before + 2, before + 2))


@pytest.fixture
def engine(tmp_path: Path) -> IntentEngine:
    kb = tmp_path / "faq.yaml"
    kb.write_text(BASE, encoding="utf-8")
    return IntentEngine(kb, tmp_path / "model" / "intent.bin", PARAMS, Thresholds())


def test_not_loaded_is_not_ready(engine: IntentEngine) -> None:
    assert not engine.ready
    with pytest.raises(RuntimeError, match="load"):
        _ = engine.current


def test_first_load_trains_and_saves(engine: IntentEngine) -> None:
    loaded = engine.load()
    assert engine.ready and engine.current is loaded
    assert engine.model_path.exists() and metadata_path(engine.model_path).exists()
    assert loaded.decide(normalize("我的快递到哪了").text).intent == "where_is_parcel"
    assert loaded.answer("where_is_parcel") == "快递在路上"
    assert loaded.title("where_is_parcel") == "我的快递到哪了"
    assert loaded.decide("").action is Action.FALLBACK
    assert not engine.changed()


def test_second_engine_reuses_the_saved_model(engine: IntentEngine) -> None:
    engine.load()
    mtime = os.stat(engine.model_path).st_mtime_ns
    other = IntentEngine(engine.kb_path, engine.model_path, PARAMS, Thresholds())
    other.load()
    assert os.stat(engine.model_path).st_mtime_ns == mtime  # not retrained: the digest matches


def test_a_model_of_an_older_version_is_retrained_at_load(engine: IntentEngine) -> None:
    # An upgrade finds the previous version's fastText-only model (no linear half): the engine
    # retrains rather than refusing to start.
    engine.load()
    meta = json.loads(metadata_path(engine.model_path).read_text(encoding="utf-8"))
    metadata_path(engine.model_path).write_text(json.dumps(dict(meta, version="intent-1")), encoding="utf-8")
    linear_path(engine.model_path).unlink()
    other = IntentEngine(engine.kb_path, engine.model_path, PARAMS, Thresholds())
    loaded = other.load()
    assert loaded.decide(normalize("我的快递到哪了").text).intent == "where_is_parcel"
    assert linear_path(engine.model_path).exists()
    assert json.loads(metadata_path(engine.model_path).read_text(encoding="utf-8"))["version"] == MODEL_VERSION


def test_a_model_trained_with_other_hashed_slots_is_retrained_at_load(engine: IntentEngine) -> None:
    # The bucket decides the model's size in every answering process: a model of the knowledge
    # base trained with another one (an upgrade that changed the default) is retrained.
    engine.load()
    assert engine.current.model.bucket == PARAMS.bucket
    smaller = TrainParams(bucket=PARAMS.bucket // 2)
    loaded = IntentEngine(engine.kb_path, engine.model_path, smaller, Thresholds()).load()
    assert loaded.model.bucket == smaller.bucket
    saved = json.loads(metadata_path(engine.model_path).read_text(encoding="utf-8"))
    assert saved["params"]["bucket"] == smaller.bucket


def test_changed_knowledge_base_is_picked_up_by_the_same_engine(engine: IntentEngine) -> None:
    first = engine.load()
    assert "invoice" not in first.kb.intents
    touch_later(engine.kb_path, BASE + INVOICE)
    assert engine.changed()
    second = engine.load()
    assert engine.current is second and second is not first
    assert "invoice" in second.kb.intents
    assert "invoice" in second.model.labels  # retrained, not just re-read
    assert second.decide(normalize("能开发票吗").text).intent == "invoice"
    assert not engine.changed()
    # The old model object still answers for requests that were in flight.
    assert first.decide(normalize("你好").text).intent == "greeting"


def test_a_replaced_model_file_is_noticed(engine: IntentEngine) -> None:
    engine.load()
    st = os.stat(engine.model_path)
    os.utime(engine.model_path, (st.st_atime, st.st_mtime + 5))
    assert engine.changed()


def test_broken_edit_keeps_the_previous_model_on_load(engine: IntentEngine) -> None:
    good = engine.load()
    touch_later(engine.kb_path, BASE + "  - name: broken\n    category: [\n")
    with pytest.raises(KnowledgeBaseError):
        engine.load()
    assert engine.current is good
    assert engine.current.decide(normalize("你好").text).intent == "greeting"


def test_watch_reloads_and_survives_a_broken_edit(engine: IntentEngine) -> None:
    good = engine.load()

    async def scenario() -> None:
        watcher = asyncio.create_task(engine.watch(interval=0.02))
        try:
            touch_later(engine.kb_path, BASE + "intents: [oops\n")  # broken YAML
            for _ in range(250):
                await asyncio.sleep(0.02)
                if not engine.changed():
                    break
            assert not engine.changed()  # the broken file was looked at once, not retried forever
            assert engine.current is good
            assert engine.current.decide(normalize("我的快递到哪了").text).intent == "where_is_parcel"

            touch_later(engine.kb_path, BASE + INVOICE)  # fixed: the watcher picks it up
            for _ in range(500):
                await asyncio.sleep(0.02)
                if engine.current is not good:
                    break
            assert "invoice" in engine.current.kb.intents
            assert not watcher.done()  # still watching
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)

    asyncio.run(scenario())
