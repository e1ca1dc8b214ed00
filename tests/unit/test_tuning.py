"""The settings search of ``kefu train`` (bot/nlu/tuning.py): real training on tiny data, time
from an injected clock."""

from __future__ import annotations

import json
import random
import string
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from bot.nlu.decide import Thresholds
from bot.nlu.engine import IntentEngine
from bot.nlu.intent_model import DEFAULT_BLEND, IntentModel, train_intent_model
from bot.nlu.knowledge import load_knowledge_base
from bot.nlu.params import TrainParams, metadata_path
from bot.nlu.tuning import Choice, candidates, describe, run, search, untuned_fasttext
from bot.runtime import thresholds, train_params
from bot.runtime.commands import train_command
from bot.runtime.settings import load_settings
from tests.unit.conftest import DATA
from tests.unit.test_classifier import LABELS, TEXTS

FIXED = TrainParams(bucket=20_000, epoch=25)  # as many epochs as untuned fastText: steps of equal cost
FEW = [FIXED, untuned_fasttext(FIXED), *(replace(FIXED, lr=lr) for lr in (0.1, 0.25, 0.75, 1.0))]


class Ticking:
    """A clock that moves ``step`` seconds each time it is read: the search reads it once per
    candidate (and once before the first), so every candidate costs one step."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def searched(budget: float, order: list[TrainParams], texts: list[str] = TEXTS, labels: list[str] = LABELS) -> Choice:
    steps = search(texts, labels, kb=None, fixed=order[0], thresholds=Thresholds(), target=0.9, budget=budget,
                   clock=Ticking(10.0), order=order)  # fmt: skip
    return run(steps)


def test_the_search_stops_at_a_candidate_boundary_within_the_budget() -> None:
    # Each candidate costs 10 s of the clock; the data preparation 10 s more before the first.
    tried = [searched(budget, FEW).tried for budget in (0, 45, 55, 1000)]
    assert tried == [2, 3, 4, len(FEW)]  # the fixed and untuned fastText always run
    choice = searched(45, FEW)
    assert choice.seconds <= 45 and choice.metadata()["candidates_tried"] == 3


def test_same_seed_and_data_give_the_same_choice() -> None:
    order = candidates(FIXED)[:6]
    first, again = searched(1000, order).metadata(), searched(1000, order).metadata()
    assert first == again and first["candidates_tried"] == 6
    assert candidates(FIXED) == candidates(FIXED)
    assert candidates(FIXED)[:2] == [FIXED, untuned_fasttext(FIXED)]
    assert candidates(replace(FIXED, seed=7))[2:] != candidates(FIXED)[2:]


def test_the_choice_is_saved_in_the_metadata_and_read_back(tmp_path: Path) -> None:
    choice = searched(0, FEW)
    model = train_intent_model(TEXTS, LABELS, kb=None, params=choice.params, thresholds=choice.thresholds,
                               blend=choice.blend, tuning=choice.metadata())  # fmt: skip
    path = tmp_path / "intent.bin"
    model.save(path)
    assert json.loads(metadata_path(path).read_text(encoding="utf-8"))["tuning"] == choice.metadata()

    configured = Thresholds(answer=0.95, margin=0.45)
    loaded = IntentModel.load(path, replace(configured, from_model=True))
    assert loaded.tuning == choice.metadata() and loaded.blend == choice.blend
    chosen = choice.metadata()["thresholds"]
    assert (loaded.thresholds.answer, loaded.thresholds.margin) == (chosen["answer"], chosen["margin"])
    assert IntentModel.load(path, configured).thresholds == configured  # set in the config: kept


def test_thresholds_come_from_the_model_unless_the_config_sets_them(tmp_path: Path) -> None:
    assert thresholds(load_settings(None)).from_model
    config = tmp_path / "kefu.yaml"
    config.write_text("nlu: {margin: 0.3}\n", encoding="utf-8")
    assert not thresholds(load_settings(config)).from_model


def test_quick_trains_with_the_fixed_settings(tmp_path: Path) -> None:
    data = tmp_path / "train.csv"
    data.write_text("text,intent\n" + "".join(f"{t},{i}\n" for t, i in zip(TEXTS, LABELS)), encoding="utf-8")
    settings = load_settings(None).model_copy(update={"data_dir": tmp_path})
    lines = list(train_command(settings, "intent", data, tmp_path / "m.bin", quick=True))
    assert not any("searching" in line for line in lines)
    model = IntentModel.load(tmp_path / "m.bin", Thresholds())
    assert model.classifier.metadata["params"] == asdict(train_params(settings))
    assert model.blend == DEFAULT_BLEND and model.tuning == {}
    with pytest.raises(ValueError, match="--budget"):
        list(train_command(settings, "intent", data, tmp_path / "m.bin", quick=True, budget=5))


def _suffixed(seed: int) -> tuple[list[str], list[str]]:
    """A word shared by all intents, then one that shares nothing but a suffix per intent: every
    such word is new, so only character n-grams can tell the intents apart."""
    rng = random.Random(seed)
    texts, labels = [], []
    for intent, suffix in (("a", "qzv"), ("b", "wkj"), ("c", "pmx")):
        for _ in range(24):
            texts.append("please " + "".join(rng.choices(string.ascii_lowercase[:8], k=6)) + suffix)
            labels.append(intent)
    return texts, labels


def test_the_search_finds_character_ngrams_where_only_they_work() -> None:
    texts, labels = _suffixed(1)
    fixed = replace(FIXED, minn=0, maxn=0)  # the fixed settings and untuned fastText read whole words
    choice = searched(1000, candidates(fixed)[:12], texts, labels)
    assert describe(choice.params)["maxn"] > 0
    assert choice.report.accuracy >= 0.9
    assert all(accuracy < 0.5 for accuracy, _ in choice.baselines.values())


def test_a_changed_knowledge_base_is_retrained_with_the_searched_settings(tmp_path: Path) -> None:
    kb_path = tmp_path / "faq.yaml"
    kb_path.write_text((DATA / "unit_kb.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    texts, labels = load_knowledge_base(kb_path).training_pairs()
    order = [replace(FIXED, dim=32, lr=0.25), replace(FIXED, dim=32, lr=1.0)]  # neither the engine's own
    choice = searched(0, order, texts, labels)
    model = train_intent_model(texts, labels, kb=load_knowledge_base(kb_path), params=choice.params,
                               thresholds=Thresholds(), blend=choice.blend, tuning=choice.metadata())  # fmt: skip
    model.save(tmp_path / "intent.bin")
    kb_path.write_text(kb_path.read_text(encoding="utf-8").replace("examples: [", "examples: [我想问一下, ", 1))

    engine = IntentEngine(kb_path, tmp_path / "intent.bin", FIXED, replace(Thresholds(), from_model=True))
    retrained = engine.load().model
    assert retrained.kb_digest == load_knowledge_base(kb_path).digest  # retrained for the new version
    assert retrained.classifier.metadata["params"] == asdict(choice.params) and retrained.blend == choice.blend
    assert retrained.tuning == {**choice.metadata(), "carried_over": True}
    assert retrained.thresholds.answer == choice.thresholds.answer  # the searched ones, as after a reload
    assert IntentModel.load(tmp_path / "intent.bin", engine.thresholds).thresholds == retrained.thresholds
