"""The composition root: builds every part from the settings and plugs ``adapters/`` and
``alerts/`` into the core's interfaces. With the CLI, the only place in ``bot`` that imports them."""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis.asyncio as aredis

from bot.channel import AdapterDeps, ChannelAdapter
from bot.dialogue import DialogueStore
from bot.gateway import Gateway
from bot.http import HttpClient
from bot.message import OutboundMessage
from bot.nlu.classifier import TrainParams
from bot.nlu.decide import Thresholds
from bot.nlu.engine import IntentEngine
from bot.outbox import Outbox, OutboxSender, RetryPolicy
from bot.pipeline import Pipeline, PipelineParts
from bot.queue import StreamQueue
from bot.ratelimit import Rate, RateLimiter
from bot.redis_store import Keys, RedisHandle
from bot.settings import Settings
from bot.settings.reload import SettingsListener
from bot.token_cache import TokenCache

log = logging.getLogger(__name__)

PLATFORMS = ("wecom", "wechat", "dingtalk", "feishu")
# Channels whose messages another platform's adapter sends (微信客服 lives in the WeCom app).
_SENT_BY = {"wecom_kf": "wecom"}
TASK_PARTITIONS = 4  # platform follow-up work (微信客服 pulls): little of it


def train_params(settings: Settings) -> TrainParams:
    n = settings.nlu
    return TrainParams(
        epoch=n.epoch,
        lr=n.lr,
        dim=n.dim,
        word_ngrams=n.word_ngrams,
        minn=n.minn,
        maxn=n.maxn,
        seed=n.seed,
        vectors_dir=str(settings.data_dir) if n.pretrained_vectors else None,
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
    http: HttpClient
    gateway: Gateway
    outbox: Outbox
    adapter_deps: AdapterDeps  # shared by every adapter; the tickets feature sets card_actions
    config_path: Path | None = None  # watched for settings that reload without a restart
    adapters: dict[tuple[str, str], ChannelAdapter] = field(default_factory=dict)
    senders: dict[tuple[str, str], object] = field(default_factory=dict)  # channel, app -> sender
    # Further background work (the alerts scheduler...), each a coroutine function run until
    # cancelled by the processes that work; watchers (reloads of settings) run in every process.
    jobs: list[Callable[[], Coroutine[Any, Any, None]]] = field(default_factory=list)
    watchers: list[Callable[[], Coroutine[Any, Any, None]]] = field(default_factory=list)
    # Called with the new settings when the config file changes (bot/settings/reload.py): what
    # takes effect without a restart.
    settings_listeners: list[SettingsListener] = field(default_factory=list)
    notifier: Any = None  # alerts.notify.Notifier once the alerts feature is installed

    @classmethod
    def start(
        cls, settings: Settings, *, clock: Callable[[], float] = time.time, config_path: Path | None = None
    ) -> "Runtime":
        """Start Redis (embedded when no URL), load or train the model, wire everything."""
        handle = RedisHandle(settings.redis_url, settings.data_dir)
        handle.start()
        # Blocking reads: every inbox and outbox partition, and the task queue's 4, in the worst
        # case that this process holds them all; then room for everything else.
        redis = handle.async_client(max_connections=2 * settings.server.partitions + TASK_PARTITIONS + 64)
        keys = Keys(settings.key_prefix)
        engine = build_engine(settings)
        engine.load()
        parts = PipelineParts(
            engine=engine,
            dialogue=DialogueStore(redis, keys, settings.dialogue.ttl_seconds),
            clock=clock,
            handoff_quiet_seconds=settings.dialogue.handoff_quiet_seconds,
        )
        http = HttpClient(timeout=10.0, connect_timeout=5.0)
        partitions = settings.server.partitions
        rt = cls(
            settings, handle, redis, keys, engine, Pipeline(parts), clock, http,
            gateway=Gateway(
                StreamQueue(redis, keys, "inbox", partitions), StreamQueue(redis, keys, "tasks", TASK_PARTITIONS)
            ),
            outbox=Outbox(redis, keys, partitions),
            adapter_deps=AdapterDeps(redis=redis, keys=keys, tokens=TokenCache(redis, keys), http=http, clock=clock),
            config_path=config_path,
        )  # fmt: skip
        rt._build_adapters()
        from alerts.wiring import install  # noqa: PLC0415 (the composition root plugs alerts in)

        install(rt)
        return rt

    def _build_adapters(self) -> None:
        for platform in PLATFORMS:
            apps = self.settings.channels.apps_of(platform)
            if not apps:
                continue
            module = importlib.import_module(f"adapters.{platform}")
            for name, app_settings in apps.items():
                adapter = module.create(name, app_settings, self.adapter_deps)
                self.adapters[(platform, name)] = adapter
                self.senders[(platform, name)] = adapter
                log.info("channel %s/%s on", platform, name)

    def adapter(self, platform: str, app: str) -> ChannelAdapter | None:
        return self.adapters.get((_SENT_BY.get(platform, platform), app))

    def sender_for(self, message: OutboundMessage) -> object | None:
        return self.senders.get((_SENT_BY.get(message.channel, message.channel), message.app))

    def rate_for(self, message: OutboundMessage) -> Rate:
        per_minute = message.route.get("rate_per_minute")
        if per_minute:
            return Rate(float(per_minute), int(message.route.get("rate_burst", "1")))
        return Rate(self.settings.server.reply_rate_per_minute, burst=20)

    def outbox_sender(self) -> OutboxSender:
        o = self.settings.outbox
        return OutboxSender(
            self.outbox, self.sender_for, RateLimiter(self.redis, self.keys), self.rate_for, self.clock,  # type: ignore[arg-type]
            RetryPolicy(o.max_attempts, o.base_delay_seconds, o.max_delay_seconds),
        )  # fmt: skip

    async def close(self) -> None:
        await self.http.aclose()
        await self.redis.aclose()
        self.redis_handle.stop()
