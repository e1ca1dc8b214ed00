"""What a feature (risk scoring, staff notifications, tickets, and those to come) is to the
composition root: a ``build(settings, infra, ...)`` that takes its own settings section and the
shared infrastructure and returns a ``Contribution``. The root (bot/runtime/__init__.py) builds each feature once, in an explicit order, and
assembles the pipeline and the runtime from what they contribute; nothing is patched afterwards.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol

import redis.asyncio as aredis
from starlette.routing import BaseRoute

from bot.channel import CardActionHandler
from bot.http import HttpClient
from bot.outbox import Outbox, Sender
from bot.ports import ContactRecorder, EscalationSink, RiskAssessor, StaffCommands, TurnLog
from bot.redis_store import Keys
from bot.settings import CoreSettings
from bot.settings.reload import SettingsListener

Job = Callable[[], Coroutine[Any, Any, None]]  # run until cancelled


class Catalog(Protocol):
    """The live knowledge base as features see it (it changes when the model reloads)."""

    def category_of(self, intent: str) -> str | None: ...

    def title_of(self, intent: str) -> str: ...


@dataclass(frozen=True)
class Infra:
    """What every feature is built from: the settings and the shared connections."""

    settings: CoreSettings  # the core's sections; each feature is given its own section by the root
    redis: aredis.Redis
    redis_url: str  # for what needs its own (synchronous) connection: the scheduler's job store
    keys: Keys
    clock: Callable[[], float]
    http: HttpClient
    outbox: Outbox
    catalog: Catalog
    release: Callable[[str], Awaitable[bool]]  # hand a customer's conversation back to the bot


@dataclass
class Contribution:
    """What one feature adds; every field may stay empty."""

    risk: RiskAssessor | None = None
    escalations: EscalationSink | None = None
    contacts: ContactRecorder | None = None
    turns: TurnLog | None = None  # keeps every turn for insight
    staff: tuple[StaffCommands, ...] = ()  # asked in this order, before the next feature's
    card_actions: CardActionHandler | None = None
    senders: dict[tuple[str, str], Sender] = field(default_factory=dict)  # (channel, app) -> sender
    jobs: list[Job] = field(default_factory=list)  # in the processes that work
    watchers: list[Job] = field(default_factory=list)  # in every process (reloads)
    routes: list[BaseRoute] = field(default_factory=list)  # pages of the HTTP server (the dashboard)
    settings_listeners: list[SettingsListener] = field(default_factory=list)  # given the feature's own section
