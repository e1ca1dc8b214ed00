"""The unit layer: no Redis, no network. The pipeline runs on in-memory fakes of its ports
(tests/support/fakes.py) and a small knowledge base trained once per session; what it sends is
collected by an in-process channel."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.nlu.classifier import TrainParams
from bot.nlu.decide import Thresholds
from bot.nlu.engine import IntentEngine

UNIT_KB = Path(__file__).parents[1] / "data" / "unit_kb.yaml"


@pytest.fixture(scope="session")
def small_engine(tmp_path_factory: pytest.TempPathFactory) -> IntentEngine:
    """The engine over tests/data/unit_kb.yaml, trained without the pretrained vectors."""
    engine = IntentEngine(
        UNIT_KB, tmp_path_factory.mktemp("unit-model") / "intent.bin", TrainParams(bucket=20_000), Thresholds()
    )
    engine.load()
    return engine
