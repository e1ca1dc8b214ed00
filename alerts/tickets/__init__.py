"""Repeat-contact tickets: model and atomic store, staff roles, chat commands and card clicks,
notifications, and the leader-elected scheduler (escalations, digest, weekly review).

``build(settings, labeler, infra, notifier)`` is the feature: what tickets add to the bot.
"""

from __future__ import annotations

import logging
from typing import Any

from alerts.contacts.identity import IdentityLinker
from alerts.contacts.recorder import ContactRecorder
from alerts.contacts.rules import Rule
from alerts.contacts.store import ContactStore
from alerts.notify import Notifier
from alerts.notify.handles import CustomerHandles
from alerts.notify.labels import Labeler
from alerts.tickets.chat import StaffChat
from alerts.tickets.notify import NotifierBridge, TicketNotifier
from alerts.tickets.scheduler import TicketScheduler
from alerts.tickets.service import TicketService
from alerts.tickets.settings import TicketsSettings
from alerts.tickets.staff import StaffDirectory
from alerts.tickets.store import TicketStore
from bot.features import Contribution, Infra

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


def build(settings: TicketsSettings, labeler: Labeler, infra: Infra, notifier: Notifier) -> Contribution:
    """Tickets from repeat contacts, told to staff through ``notifier``: the pipeline's contact
    recorder, the staff commands and card clicks, the scheduler, the staff map's reload."""
    if not settings.enabled:
        return Contribution()
    bridge = NotifierBridge(notifier, infra.outbox, labeler)
    service = build_service(
        infra.redis, infra.keys, settings, bridge, infra.clock,
        category_of=infra.catalog.category_of, title_of=infra.catalog.title_of,
    )  # fmt: skip
    chat = StaffChat(service, bridge, release=infra.release, handles=CustomerHandles(infra.redis, infra.keys))
    scheduler = TicketScheduler(service, infra.redis, infra.redis_url, infra.keys)
    return Contribution(
        contacts=build_recorder(infra.redis, infra.keys, settings, service),
        staff=(chat,),
        card_actions=chat.card_action,
        jobs=[scheduler.run],
        settings_listeners=[service.reload_staff],
    )
