"""Shared fixtures: one real embedded redis-server per test session, a trained model, settings."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from bot.redis_store import EmbeddedRedis
from bot.settings import Settings, load_settings


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server = EmbeddedRedis(tmp_path_factory.mktemp("redis"))
    url = server.start()
    yield url
    server.stop()


@pytest.fixture()
def redis_clean(redis_url: str) -> str:
    """The session's Redis, emptied for this test."""
    redis.Redis.from_url(redis_url).flushall()
    return redis_url


@pytest.fixture(scope="session")
def trained_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data_dir holding the intent model trained once from the shipped knowledge base."""
    from bot.runtime import build_engine

    data_dir = tmp_path_factory.mktemp("model")
    settings = load_settings(None).model_copy(update={"data_dir": data_dir})
    build_engine(settings).load()
    return data_dir


@pytest.fixture()
def settings(tmp_path: Path, trained_model_dir: Path, redis_clean: str) -> Settings:
    """Settings for one test: the shared Redis (emptied), a private data_dir with the trained model."""
    data_dir = tmp_path / "data"
    shutil.copytree(trained_model_dir, data_dir)
    return load_settings(None).model_copy(update={"data_dir": data_dir, "redis_url": redis_clean})
