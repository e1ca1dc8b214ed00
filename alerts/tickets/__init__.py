"""Repeat-contact tickets: model and atomic store, staff roles, chat commands and card clicks,
notifications, and the leader-elected scheduler (escalations, digest, weekly review).

``install(runtime)`` plugs it all into a running bot.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from alerts.contacts.identity import IdentityLinker
from alerts.contacts.recorder import ContactRecorder
from alerts.contacts.rules import Rule
from alerts.contacts.store import ContactStore
from alerts.notify.handles import CustomerHandles
from alerts.notify.labels import Labeler
from alerts.tickets.chat import StaffChat
from alerts.tickets.notify import LoggingNotifier, NotifierBridge, TicketNotifier
from alerts.tickets.scheduler import TicketScheduler
from alerts.tickets.service import TicketService
from alerts.tickets.staff import StaffDirectory
from alerts.tickets.store import TicketStore
from bot.settings.tickets import TicketsSettings

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)


def build_service(
    redis: Any, keys: Any, settings: TicketsSettings, notifier: TicketNotifier, clock: Any,
    *, category_of: Any = None, title_of: Any = None,
) -> TicketService:  # fmt: skip
    extra = {k: v for k, v in {"category_of": category_of, "title_of": title_of}.items() if v is not None}
    return TicketService(
        TicketStore(redis, keys, settings.schedules.timezone), settings, notifier,
        StaffDirectory(settings.staff), clock=clock, **extra,
    )  # fmt: skip


def build_recorder(redis: Any, keys: Any, settings: TicketsSettings, service: TicketService) -> ContactRecorder:
    return ContactRecorder(
        ContactStore(redis, keys), IdentityLinker(settings.identity_map),
        [Rule(r.contacts, r.within_hours) for r in settings.rules], service,
        gap_seconds=settings.session_gap_minutes * 60, excerpt_chars=settings.excerpt_chars,
    )  # fmt: skip


def _catalog(runtime: "Runtime") -> tuple[Any, Any]:
    def category_of(intent: str) -> str | None:
        kb = runtime.engine.current.kb
        found = kb.intents.get(intent) if kb else None
        return found.category if found else None

    def title_of(intent: str) -> str:
        try:
            return runtime.engine.current.title(intent) or intent
        except Exception:
            return intent

    return category_of, title_of


def install(runtime: "Runtime") -> TicketService | None:
    settings = runtime.settings.tickets
    if not settings.enabled:
        return None
    notifier_impl = getattr(runtime, "notifier", None)
    notifier: TicketNotifier = (
        NotifierBridge(notifier_impl, runtime.outbox, Labeler.from_settings(runtime.settings))
        if notifier_impl is not None
        else LoggingNotifier()
    )
    if notifier_impl is None:
        log.warning("tickets: no runtime.notifier; ticket cards are not delivered (install alerts.notify first)")
    category_of, title_of = _catalog(runtime)
    service = build_service(runtime.redis, runtime.keys, settings, notifier, runtime.clock,
                            category_of=category_of, title_of=title_of)  # fmt: skip
    chat = StaffChat(service, notifier, release=runtime.pipeline.p.dialogue.release,
                     handles=CustomerHandles(runtime.redis, runtime.keys))  # fmt: skip
    runtime.pipeline.p.contacts = build_recorder(runtime.redis, runtime.keys, settings, service)
    runtime.pipeline.p.staff = chat
    runtime.settings_listeners.append(service.reload_staff)
    runtime.adapter_deps.card_actions = chat.card_action
    scheduler = TicketScheduler(service, runtime.redis, runtime.redis_handle.url, runtime.keys)
    runtime.jobs.append(scheduler.run)
    runtime.tickets = service  # type: ignore[attr-defined]
    return service
