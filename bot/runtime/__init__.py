"""The composition root: builds every part once from the settings, the features of ``alerts/``
(each a ``build`` returning its ``Contribution``, bot/features.py) in an explicit order, and the
channel adapters of ``adapters/``, then assembles the pipeline and the runtime from them.

A runtime built with ``models=False`` (an HTTP process that leaves the answering to worker
processes) loads no model: neither the intent model nor the risk feature's emotion model.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import redis.asyncio as aredis
from starlette.routing import BaseRoute

import alerts.insights
import alerts.notify
import alerts.risk
import alerts.tickets
from adapters import PLATFORMS, platform_of, staff_channels
from adapters.lookups import build_lookups
from adapters.robots import create_sender as create_robot_sender
from alerts.notify.labels import Labeler
from bot.channel import AdapterDeps, ChannelAdapter
from bot.dialogue import Dialogues, DialogueStore
from bot.features import Contribution, Infra, Job
from bot.gateway import Gateway
from bot.http import HttpClient
from bot.lookups import Lookups, NoLookups
from bot.message import OutboundMessage
from bot.metrics import MODELS_LOADED
from bot.nlu.decide import Thresholds
from bot.nlu.engine import IntentEngine
from bot.nlu.params import TrainParams
from bot.outbox import Outbox, OutboxSender, RetryPolicy, Sender
from bot.pipeline import Pipeline, PipelineParts
from bot.ports import NoContacts, NoEscalations, NoRisk, NoTurnLog, StaffChain
from bot.queue import StreamQueue
from bot.ratelimit import Rate, RateLimiter
from bot.redis_store import Keys, RedisHandle
from bot.runtime.settings import Settings
from bot.settings import SHIPPED_OUT_OF_SCOPE
from bot.settings.reload import SettingsListener
from bot.token_cache import TokenCache
from bot.web_chat import WebReplies

log = logging.getLogger(__name__)

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
        bucket=n.bucket,
        vectors_dir=str(settings.data_dir) if n.pretrained_vectors else None,
        out_of_scope_file=str(n.out_of_scope_examples or SHIPPED_OUT_OF_SCOPE) if n.out_of_scope else None,
    )


def thresholds(settings: Settings) -> Thresholds:
    """The decision settings; the model's own answer threshold and margin unless either is set."""
    n = settings.nlu
    from_model = not ({"answer_threshold", "margin"} & n.model_fields_set)
    return Thresholds(n.answer_threshold, n.margin, n.clarify_threshold, n.max_suggestions, from_model)


def build_engine(settings: Settings) -> IntentEngine:
    return IntentEngine(settings.faq_path, settings.intent_model_path, train_params(settings), thresholds(settings))


def build_app_engines(settings: Settings) -> dict[str, IntentEngine]:
    """An engine per knowledge base that ``knowledge_bases`` names, shared by the apps naming the
    same file; each model beside the default one, named after the file."""
    engines: dict[Path, IntentEngine] = {}
    for path in settings.knowledge_bases.values():
        if path not in engines:
            model = settings.intent_model_path.with_name(f"intent-{path.stem}-{_digest(path)}.bin")
            engines[path] = IntentEngine(path, model, train_params(settings), thresholds(settings))
    return {app: engines[path] for app, path in settings.knowledge_bases.items()}


def _digest(path: Path) -> str:
    return hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:8]


class EngineCatalog:
    """The knowledge base of the model that is loaded now, for features (ticket titles, teams)."""

    def __init__(self, engine: IntentEngine) -> None:
        self._engine = engine

    def category_of(self, intent: str) -> str | None:
        if not self._engine.ready:  # a process that holds no model
            return None
        kb = self._engine.current.kb
        found = kb.intents.get(intent) if kb else None
        return found.category if found else None

    def title_of(self, intent: str) -> str:
        try:
            return self._engine.current.title(intent) or intent
        except Exception:  # no model loaded yet: the intent's own name will do
            return intent


def labeler(settings: Settings) -> Labeler:
    """The labels of every notice, from the shops and teams the settings name."""
    return Labeler(settings.alerts.shops, settings.tickets.teams, settings.tickets.default_team)


def build_features(settings: Settings, infra: Infra, *, models: bool = True) -> list[Contribution]:
    """Every feature, built once from its own settings section, in order: risk, notifications,
    tickets and insights (which notify through the notifier). Their staff commands are asked in
    this order too (``/silence`` first). Without ``models``, no risk scoring: it serves only the
    pipeline, and its emotion model is the largest part of a process that does not answer."""
    labels = labeler(settings)
    notify, notifier = alerts.notify.build(settings.alerts, labels, infra, create_robot_sender)
    return [
        _fed(lambda s: s.risk, alerts.risk.build(settings.risk, infra)) if models else Contribution(),
        notify,
        _fed(lambda s: s.tickets, alerts.tickets.build(settings.tickets, labels, infra, notifier)),
        alerts.insights.build(settings, labels, infra, notifier),
    ]


def prepare_models(settings: Settings) -> None:
    """Train the models the answering processes will load, where missing or stale, and keep none
    of them: for the ``kefu serve`` that starts those processes, so that they do not all train at
    once (bot/runtime/server.py runs it in a process of its own, whose memory goes with it)."""
    for engine in [build_engine(settings), *dict.fromkeys(build_app_engines(settings).values())]:
        engine.load()  # trains and saves when missing or stale
    if settings.risk.enabled and settings.risk.emotion.enabled:
        from alerts.risk.emotion import ensure_emotion_model  # fastText: only where models are trained

        ensure_emotion_model(settings.risk.emotion, settings.data_dir)


def _fed(section: Callable[[Settings], Any], contribution: Contribution) -> Contribution:
    """The contribution with its reload listeners given their own section of the new settings."""

    def feeding(listen: SettingsListener) -> SettingsListener:
        return lambda new: listen(section(new))

    return replace(contribution, settings_listeners=[feeding(listen) for listen in contribution.settings_listeners])


def pipeline_parts(
    engine: IntentEngine, dialogue: Dialogues, clock: Callable[[], float], settings: Settings,
    features: list[Contribution], lookups: Lookups | None = None,
    engines_by_app: Mapping[str, IntentEngine] | None = None,
) -> PipelineParts:  # fmt: skip
    """The pipeline's ports from the features' contributions; null objects where none gives one."""

    def first(name: str, default: Any) -> Any:
        return next((getattr(f, name) for f in features if getattr(f, name) is not None), default)

    return PipelineParts(
        engine=engine, dialogue=dialogue, clock=clock, handoff_quiet_seconds=settings.dialogue.handoff_quiet_seconds,
        risk=first("risk", NoRisk()), escalations=first("escalations", NoEscalations()),
        contacts=first("contacts", NoContacts()), turns=first("turns", NoTurnLog()), staff=StaffChain([h for f in features for h in f.staff]),
        staff_channels=staff_channels(), lookups=lookups or NoLookups(),
        lookup_timeout_seconds=settings.shop.timeout_seconds, engines_by_app=engines_by_app or {},
    )  # fmt: skip


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
    adapter_deps: AdapterDeps  # shared by every adapter
    web_replies: WebReplies
    # False in an HTTP process that leaves the answering to worker processes: the engine is not
    # loaded, the pipeline has no risk scoring and must not be used; /api/chat asks a worker.
    holds_models: bool = True
    config_path: Path | None = None  # watched for settings that reload without a restart
    adapters: dict[tuple[str, str], ChannelAdapter] = field(default_factory=dict)
    senders: dict[tuple[str, str], Sender] = field(default_factory=dict)  # channel, app -> sender
    # Background work, each a coroutine function run until cancelled: jobs in the processes that
    # work (the alerts flush, the ticket scheduler), watchers (reloads) in every process.
    jobs: list[Job] = field(default_factory=list)
    watchers: list[Job] = field(default_factory=list)
    # Called with the new settings when the config file changes (bot/settings/reload.py): what
    # takes effect without a restart.
    settings_listeners: list[SettingsListener] = field(default_factory=list)
    routes: list[BaseRoute] = field(default_factory=list)  # the features' pages (the dashboard)

    @classmethod
    def start(
        cls,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        config_path: Path | None = None,
        models: bool = True,
    ) -> Runtime:
        """Start Redis (embedded when no URL), load or train the models (unless ``models`` is
        off), build everything once."""
        handle = RedisHandle(settings.redis_url, settings.data_dir)
        handle.start()
        # Blocking reads: every inbox and outbox partition, and the task queue's 4, in the worst
        # case that this process holds them all; then room for everything else.
        redis = handle.async_client(max_connections=2 * settings.server.partitions + TASK_PARTITIONS + 64)
        keys = Keys(settings.key_prefix)
        engine = build_engine(settings)
        by_app = build_app_engines(settings)
        if models:
            for each in [engine, *dict.fromkeys(by_app.values())]:
                each.load()
        MODELS_LOADED.set(1 if models else 0)
        dialogue = DialogueStore(redis, keys, settings.dialogue.ttl_seconds)
        http = HttpClient(timeout=10.0, connect_timeout=5.0)
        partitions = settings.server.partitions
        outbox = Outbox(redis, keys, partitions)
        infra = Infra(settings, redis, handle.url, keys, clock, http, outbox, EngineCatalog(engine), dialogue.release)
        features = build_features(settings, infra, models=models)
        card_actions = next((f.card_actions for f in features if f.card_actions is not None), None)
        rt = cls(
            settings, handle, redis, keys, engine, Pipeline(
                pipeline_parts(engine, dialogue, clock, settings, features, build_lookups(settings.shop, settings.logistics, redis, keys, http), by_app)
            ),
            clock, http,
            gateway=Gateway(
                StreamQueue(redis, keys, "inbox", partitions), StreamQueue(redis, keys, "tasks", TASK_PARTITIONS)
            ),
            outbox=outbox,
            adapter_deps=AdapterDeps(
                redis=redis, keys=keys, tokens=TokenCache(redis, keys), http=http, clock=clock, card_actions=card_actions
            ),
            web_replies=WebReplies(redis, keys), holds_models=models, config_path=config_path,
            jobs=[job for f in features for job in f.jobs],
            watchers=[watch for f in features for watch in f.watchers],
            settings_listeners=[listener for f in features for listener in f.settings_listeners],
            routes=[route for f in features for route in f.routes],
        )  # fmt: skip
        rt._build_adapters()
        for feature in features:
            rt.senders.update(feature.senders)
        return rt

    def _build_adapters(self) -> None:
        for spec in PLATFORMS:
            for name, app_settings in self.settings.channels.apps_of(spec.name).items():
                adapter = spec.create(name, app_settings, self.adapter_deps)
                if spec.listen is not None and (
                    connection := spec.listen(adapter, app_settings, self.gateway.enqueue_all)
                ):
                    self.jobs.append(connection)  # held by the processes that work
                self.adapters[(spec.name, name)] = adapter
                self.senders[(spec.name, name)] = adapter
                log.info("channel %s/%s on", spec.name, name)

    @property
    def engines(self) -> list[IntentEngine]:
        """Every intent engine: the default one, then those of apps with their own knowledge base."""
        return list(dict.fromkeys([self.engine, *self.pipeline.p.engines_by_app.values()]))

    def adapter(self, channel: str, app: str) -> ChannelAdapter | None:
        """The adapter of a channel's app (微信客服's is the WeCom app's)."""
        spec = platform_of(channel)
        return self.adapters.get((spec.name if spec else channel, app))

    def sender_for(self, message: OutboundMessage) -> Sender | None:
        spec = platform_of(message.channel)
        return self.senders.get((spec.name if spec else message.channel, message.app))

    def rate_for(self, message: OutboundMessage) -> Rate:
        per_minute = message.route.get("rate_per_minute")
        if per_minute:
            return Rate(float(per_minute), int(message.route.get("rate_burst", "1")))
        return Rate(self.settings.server.reply_rate_per_minute, burst=20)

    def outbox_sender(self) -> OutboxSender:
        o = self.settings.outbox
        return OutboxSender(
            self.outbox, self.sender_for, RateLimiter(self.redis, self.keys), self.rate_for, self.clock,
            RetryPolicy(o.max_attempts, o.base_delay_seconds, o.max_delay_seconds),
        )  # fmt: skip

    async def close(self) -> None:
        await self.http.aclose()
        await self.redis.aclose()
        self.redis_handle.stop()
