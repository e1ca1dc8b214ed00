"""Every turn kept for insight: one ``XADD`` to a Redis stream, sent by the pipeline with the
turn's dialogue save (bot/dialogue.py), trimmed to the retention by the same command (``MINID``).

A stream entry has one field, ``v``: the turn's values joined by ``SEP`` in the order of
``FIELDS`` (one argument instead of thirteen pairs halves what packing the command costs the
worker): the pipeline's time, a digest of the customer (repeat contacts, never the id itself),
the channel, the app, the intent, the category, the action, the confidence, 1 when a clarifying
question's offer was picked, why it was handed over, 1 when staff were alerted about risk, the
milliseconds from the customer's message to the decision, and the text (phone numbers masked)
of a turn that may be unanswered, else empty.
"""

from __future__ import annotations

import hashlib
from typing import Any

from bot.nlu.normalize import mask_for_log
from bot.ports import TurnRecord
from bot.redis_store import Keys

TEXT_CHARS = 200  # enough of a question to recognise it
SEP = "\x1f"  # the ASCII unit separator: never in a customer's text (taken out if it is)
FIELDS = ("at", "customer", "channel", "app", "intent", "category", "action", "confidence", "picked", "handoff",
          "risk_alert", "response_ms", "text")  # fmt: skip


def stream_key(keys: Keys) -> str:
    return keys.of("insights", "turns")


def customer_digest(customer_key: str) -> str:
    """The same customer gives the same digest; the digest gives no id back."""
    return hashlib.blake2b(customer_key.encode(), digest_size=8).hexdigest()


def may_be_unanswered(turn: TurnRecord, low_confidence: float) -> bool:
    """A turn whose text is kept: a fallback, a clarifying question (unanswered when nobody
    picks an offer), a hand-over because the bot did not understand, an unsure answer."""
    action = turn.action
    if action == "answer":
        return turn.confidence < low_confidence and not turn.picked
    return action in ("fallback", "clarify") or (action == "handoff" and turn.handoff == "not_understood")


class InsightRecorder:
    """The pipeline's ``TurnLog``: the command that keeps one turn."""

    def __init__(self, keys: Keys, retention_days: int, low_confidence: float) -> None:
        self.key = stream_key(keys)
        self.retention_ms = retention_days * 86_400_000
        self.low_confidence = low_confidence

    def command(self, turn: TurnRecord) -> tuple[Any, ...]:
        m = turn.message
        text = ""
        if may_be_unanswered(turn, self.low_confidence):
            text = mask_for_log(m.text)[:TEXT_CHARS].replace(SEP, " ")
        value = SEP.join((
            f"{turn.now:.3f}", customer_digest(m.customer_key), m.channel, m.app, turn.intent or "",
            turn.category or "", turn.action, f"{turn.confidence:.3f}", "1" if turn.picked else "0", turn.handoff,
            "1" if turn.risk_alert else "0", str(max(0, int((turn.now - m.sent_at) * 1000))), text,
        ))  # fmt: skip
        oldest = int(turn.now * 1000) - self.retention_ms  # approximate trimming: cheap for Redis
        return ("XADD", self.key, "MINID", "~", oldest, "*", "v", value)
