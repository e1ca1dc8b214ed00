"""Fixtures of every layer: the intent and emotion models trained once per session from the
shipped data. Redis and settings fixtures are in tests/support/redis_fixtures.py, for the layers
that use a real Redis (integration, e2e); the unit layer has none."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.runtime.settings import load_settings


@pytest.fixture(scope="session")
def trained_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data_dir holding the intent model trained once from the shipped knowledge base, and the
    default risk emotion model (every runtime built on ``settings`` would otherwise train its own)."""
    from alerts.risk.emotion import ensure_emotion_model
    from bot.runtime import build_engine

    data_dir = tmp_path_factory.mktemp("model")
    settings = load_settings(None).model_copy(update={"data_dir": data_dir})
    build_engine(settings).load()
    ensure_emotion_model(settings.risk.emotion, data_dir)
    return data_dir


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
