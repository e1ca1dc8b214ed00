"""The composition root: builds every part from the settings and plugs ``adapters/`` and
``alerts/`` into the core's interfaces. The only module of ``bot`` that imports them."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import redis.asyncio as aredis

from bot.dialogue import DialogueStore
from bot.nlu.classifier import TrainParams
from bot.nlu.decide import Thresholds
from bot.nlu.engine import IntentEngine
from bot.pipeline import Pipeline, PipelineParts
from bot.redis_store import Keys, RedisHandle
from bot.settings import Settings

log = logging.getLogger(__name__)


def train_params(settings: Settings) -> TrainParams:
    n = settings.nlu
    return TrainParams(
        epoch=n.epoch, lr=n.lr, dim=n.dim, word_ngrams=n.word_ngrams, minn=n.minn, maxn=n.maxn, seed=n.seed
    )


def thresholds(settings: Settings) -> Thresholds:
    n = settings.nlu
    return Thresholds(n.answer_threshold, n.margin, n.clarify_threshold, n.max_suggestions)


def build_engine(settings: Settings) -> IntentEngine:
    return IntentEngine(settings.faq_path, settings.intent_model_path, train_params(settings), thresholds(settings))


@dataclass
class Runtime:
    settings: Settings
    redis_handle: RedisHandle
    redis: aredis.Redis
    keys: Keys
    engine: IntentEngine
    pipeline: Pipeline
    clock: Callable[[], float]
    extras: dict[str, object] = field(default_factory=dict)

    @classmethod
    def start(cls, settings: Settings, *, clock: Callable[[], float] = time.time) -> "Runtime":
        """Start Redis (embedded when no URL), load or train the model, wire the pipeline."""
        handle = RedisHandle(settings.redis_url, settings.data_dir)
        handle.start()
        redis = handle.async_client()
        keys = Keys(settings.key_prefix)
        engine = build_engine(settings)
        engine.load()
        parts = PipelineParts(
            engine=engine,
            dialogue=DialogueStore(redis, keys, settings.dialogue.ttl_seconds),
            clock=clock,
        )
        return cls(settings, handle, redis, keys, engine, Pipeline(parts), clock)

    async def close(self) -> None:
        await self.redis.aclose()
        self.redis_handle.stop()
