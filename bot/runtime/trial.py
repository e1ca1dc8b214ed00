"""``kefu alerts test --kind K``: a sample notice of one kind through the real routing and delivery.

The sample is built by the code that builds real notices of that kind (the escalation sink for
risk and hand-over alerts, the ticket card and the tickets' bridge for ticket notices), routed by
the configured routes and delivered at once by the outbox's sender, so an operator sees in the
work chat where that kind of notice lands. Titles start with 【测试】.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Any
from zoneinfo import ZoneInfo

from alerts.notify.escalations import notice_from_escalation
from alerts.notify.labels import KINDS
from alerts.notify.notifier import Notifier
from alerts.tickets.cards import ticket_card
from alerts.tickets.model import Ticket
from alerts.tickets.notify import NotifierBridge, TicketNotice
from bot.dialogue import Turn
from bot.message import InboundMessage, OutboundMessage
from bot.nlu.normalize import mask_customer
from bot.outbox import OutboxSender
from bot.ports import Escalation, RiskResult
from bot.redis_pipelining import send_until_taken
from bot.runtime import Runtime, labeler

TEST = "【测试】"


@dataclass
class DeliverNow:
    """The notifier's outbox for a trial: each message goes to the sender at once."""

    sender: OutboxSender
    messages: list[OutboundMessage] = field(default_factory=list)

    async def put(self, message: OutboundMessage) -> bool:
        self.messages.append(message)
        await send_until_taken(self.sender.outbox.redis, await self.sender.send_now(message), "outbox")
        return True


def _escalation(kind: str, channel: str, now: float) -> Escalation:
    text = f"{TEST}这是一条测试消息，请忽略"
    message = InboundMessage(channel, "default", "kefu-test", "kefu-test-customer", text, uuid.uuid4().hex, now)
    risk = RiskResult(score=0.9, reasons=(f"{TEST}测试原因",), alert=True)
    return Escalation(
        message, kind, f"{TEST}{KINDS[kind]}", risk, [Turn(text, None, False, 0.9, now)], "human_agent", "service"
    )


def _ticket_notice(kind: str, channel: str, team: str, now: float, tz: ZoneInfo) -> TicketNotice:
    customer = f"{channel}:kefu-test-customer"
    if kind in ("ticket", "ticket_escalation"):
        t = Ticket(id="T-00000000-0000", customer=customer, customer_display=mask_customer(customer), channel=channel,
                   app="default", team=team, reason=f"{TEST}1天内进线3次：查询物流进度", rule="1天内进线3次",
                   created_at=now, updated_at=now)  # fmt: skip
        card = ticket_card(t, tz, TEST + KINDS[kind])
        return TicketNotice(kind, team, card["title"], card["description"], uuid.uuid4().hex, card,
                            customer_key=customer, channel=channel, app="default")  # fmt: skip
    return TicketNotice(kind, team, TEST + KINDS[kind], f"{TEST}这是一条测试通知，请忽略", uuid.uuid4().hex)


async def send_trial(runtime: Runtime, kind: str, channel: str = "web", team: str = "") -> dict[str, Any]:
    """Route and deliver one sample; what happened to it, for the command line."""
    settings, now = runtime.settings, time.time()
    outbox = DeliverNow(runtime.outbox_sender())
    notifier = Notifier(settings.alerts, runtime.redis, runtime.keys, outbox, runtime.clock)
    labels = labeler(settings)
    if kind in ("risk", "handoff"):
        notice = notice_from_escalation(_escalation(kind, channel, now), settings.alerts, labels, handle="0")
        notice = replace(notice, dedupe_key="", group_key="")  # never a repeat, sent alone
        await notifier.notify(notice)
    else:
        tz = ZoneInfo(settings.tickets.schedules.timezone)
        await NotifierBridge(notifier, None, labels).send(
            _ticket_notice(kind, channel, team or settings.tickets.default_team, now, tz)
        )
    [entry] = await notifier.recent(1)
    return {**entry, "deliveries": [await _fate(runtime, m) for m in outbox.messages]}


async def _fate(runtime: Runtime, message: OutboundMessage) -> dict[str, str]:
    """Delivered, dead (with the platform's error) or waiting in the outbox for its turn."""
    receiver = message.idempotency_key.split(":")[2]  # "alert:<batch>:<receiver>[:<address>]"
    if await runtime.outbox.delivered(message):
        return {"receiver": receiver, "status": "delivered"}
    dead = [d for d in await runtime.outbox.dead_letters() if d["m"]["idempotency_key"] == message.idempotency_key]
    if dead:
        return {"receiver": receiver, "status": "failed", "error": str(dead[-1].get("error", ""))}
    return {"receiver": receiver, "status": "waiting (rate limit or retry: kefu serve delivers it)"}
