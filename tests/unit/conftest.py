"""The unit layer: no Redis, no network. The pipeline runs on in-memory fakes of its ports
(tests/support/fakes.py) and a small knowledge base trained once per session; what it sends is
collected by an in-process channel."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.nlu.decide import Thresholds
from bot.nlu.engine import IntentEngine
from bot.nlu.params import TrainParams

DATA = Path(__file__).parents[1] / "data"


def trained(kb: Path, tmp_path_factory: pytest.TempPathFactory) -> IntentEngine:
    """The engine over a small knowledge base, trained without the pretrained vectors."""
    engine = IntentEngine(
        kb, tmp_path_factory.mktemp("unit-model") / "intent.bin", TrainParams(bucket=20_000), Thresholds()
    )
    engine.load()
    return engine


@pytest.fixture(scope="session")
def small_engine(tmp_path_factory: pytest.TempPathFactory) -> IntentEngine:
    return trained(DATA / "unit_kb.yaml", tmp_path_factory)


@pytest.fixture(scope="session")
def shop2_engine(tmp_path_factory: pytest.TempPathFactory) -> IntentEngine:
    """A second shop's base: the same questions, its own answers."""
    return trained(DATA / "unit_kb_shop2.yaml", tmp_path_factory)
