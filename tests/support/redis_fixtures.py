"""Real-Redis fixtures for the integration and e2e layers (their conftest imports them): one
embedded redis-server per layer and session, emptied for each test, and settings on it."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis
import redis.asyncio as aredis

from bot.redis_store import EmbeddedRedis
from bot.runtime.settings import Settings, load_settings


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


def _fingerprint(directory: Path) -> dict[str, tuple[int, int]]:
    return {f.name: (f.stat().st_size, f.stat().st_mtime_ns) for f in directory.iterdir() if f.is_file()}


@pytest.fixture()
def settings(tmp_path: Path, trained_model_dir: Path, redis_clean: str) -> Iterator[Settings]:
    """Settings for one test: the shared Redis (emptied), a private data_dir with the trained model.

    The model files are hard links, not copies: a 75 MB copy and a 22 MB emotion model trained
    for each of about sixty tests wrote 5.5 GB per session, and pytest keeps three sessions.
    kefu replaces a model file (written beside it, then renamed) and never writes into one, so
    a test that retrains leaves the shared files alone; the check after the test keeps it that
    way for tests too."""
    data_dir = tmp_path / "data"
    shutil.copytree(trained_model_dir, data_dir, copy_function=os.link)
    shared = _fingerprint(trained_model_dir)
    yield load_settings(None).model_copy(update={"data_dir": data_dir, "redis_url": redis_clean})
    assert _fingerprint(trained_model_dir) == shared, "a test wrote into the shared trained model's files"


@pytest.fixture
async def client(redis_clean: str) -> AsyncIterator[aredis.Redis]:
    """An asyncio client of the session's Redis, emptied for this test."""
    c = aredis.Redis.from_url(redis_clean)
    yield c
    await c.aclose()
