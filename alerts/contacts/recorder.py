"""The pipeline's ``ContactRecorder``: count contacts, and when a repeat-contact rule holds, hand
the person's recent contacts to whoever opens tickets."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol

from alerts.contacts.identity import IdentityLinker
from alerts.contacts.rules import Rule, fired_rules, strongest
from alerts.contacts.store import Contact, ContactStore
from bot.message import InboundMessage
from bot.nlu.normalize import mask_for_log

log = logging.getLogger(__name__)


class RepeatContactSink(Protocol):
    async def repeat_contacts(
        self, person: str, message: InboundMessage, rule: Rule, contacts: Sequence[Contact], now: float
    ) -> object: ...


def excerpt(text: str, limit: int) -> str:
    """What staff see of a message: phone numbers masked, one line, at most ``limit`` characters."""
    one_line = " ".join(mask_for_log(text).split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"


class ContactRecorder:
    def __init__(
        self, store: ContactStore, linker: IdentityLinker, rules: Sequence[Rule], sink: RepeatContactSink,
        *, gap_seconds: float, excerpt_chars: int = 60,
    ) -> None:  # fmt: skip
        self.store = store
        self.linker = linker
        self.rules = list(rules)
        self.sink = sink
        self.gap_seconds = gap_seconds
        self.excerpt_chars = excerpt_chars
        self.keep_seconds = max((r.seconds for r in self.rules), default=86400.0)

    async def record(self, message: InboundMessage, intent: str | None, now: float) -> None:
        person = self.linker.person(message.customer_key)
        text = message.text if message.msg_type == "text" else f"[{message.msg_type}]"
        recorded = await self.store.record(
            person, now=now, gap_seconds=self.gap_seconds, keep_seconds=self.keep_seconds,
            channel=message.channel, intent=intent, excerpt=excerpt(text, self.excerpt_chars),
            message_id=message.message_id or f"{message.sender_id}:{message.sent_at}",
        )  # fmt: skip
        if not recorded.starts:
            return
        rule = strongest(fired_rules(list(recorded.starts), now, self.rules))
        if rule is None:
            return
        window = await self.store.contacts(person, since=now - rule.seconds)
        try:
            await self.sink.repeat_contacts(person, message, rule, window, now)
        except Exception:
            # The customer still gets an answer; the ticket opens at the next contact. (A crash
            # here instead means a redelivery, and the rules are checked again then.)
            log.exception("repeat-contact ticket for %s not opened", mask_for_log(person))
