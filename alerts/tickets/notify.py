"""The port tickets notify staff through, and its implementation over ``alerts.notify.Notifier``.

Ticket logic calls ``TicketNotifier``; tests plug in a recording implementation, production the
``NotifierBridge`` (routing by labels to receivers, then the durable outbox).
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from typing import Any, Protocol

from alerts.notify import Notice, Notifier
from alerts.notify.labels import Labeler
from bot.message import OutboundMessage

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TicketNotice:
    """What ticket logic says; its audience, severity and routing labels follow from ``kind``
    (alerts.notify.labels)."""

    kind: str  # "ticket", "ticket_escalation", "ticket_digest", "ticket_weekly"
    team: str
    title: str
    text: str
    dedupe_key: str  # the same notice is shown once, however often it is sent
    card: dict[str, Any] | None = None  # the neutral card (fields, buttons)
    customer_key: str = ""
    group_key: str = ""
    channel: str = ""  # where the ticket's customer wrote: empty for digests and reviews
    app: str = ""
    category: str = ""


class TicketNotifier(Protocol):
    async def send(self, notice: TicketNotice) -> None: ...

    async def tell(self, channel: str, app: str, user_id: str, text: str) -> None:
        """A direct text to one staff member (a refused card click on WeCom, which has no toast)."""
        ...


class NotifierBridge:
    """``TicketNotifier`` over the alerts feature's ``Notifier`` and the runtime's outbox."""

    def __init__(self, notifier: Notifier, outbox: Any, labeler: Labeler) -> None:
        self._notifier = notifier
        self._outbox = outbox
        self._labeler = labeler

    async def send(self, notice: TicketNotice) -> None:
        labels = self._labeler.labels(notice.kind, team=notice.team, channel=notice.channel, app=notice.app,
                                      category=notice.category)  # fmt: skip
        card = notice.card or {}
        await self._notifier.notify(
            Notice(
                kind=notice.kind, severity=labels["severity"], labels=labels, title=notice.title, text=notice.text,
                fields=[tuple(f) for f in card.get("fields", [])], buttons=list(card.get("buttons", [])),
                group_key="", dedupe_key=notice.dedupe_key,  # a ticket card goes at once, alone
                customer_key=notice.customer_key,
            )
        )  # fmt: skip

    async def tell(self, channel: str, app: str, user_id: str, text: str) -> None:
        if self._outbox is None:
            return
        route = {"wecom": {"touser": user_id}, "feishu": {"open_id": user_id}}.get(channel)
        if route is None:
            return  # DingTalk: commands are answered in the conversation itself
        key = "ticket-tell:" + hashlib.sha1(f"{channel}:{user_id}:{text}:{time.time()}".encode()).hexdigest()
        await self._outbox.put(OutboundMessage(channel, app, route, text, key))


class LoggingNotifier:
    """Used when no notifier is configured: the ticket still exists, staff see it with /tickets."""

    async def send(self, notice: TicketNotice) -> None:
        log.warning("ticket notice not delivered (no notifier): %s %s", notice.kind, notice.title)

    async def tell(self, channel: str, app: str, user_id: str, text: str) -> None:
        # Its text may quote a customer, and the id is a person's: neither goes to the log.
        log.info("ticket message on %s/%s not delivered (no notifier): %d characters", channel, app, len(text))
