"""Every turn kept for insight: one ``XADD`` to a Redis stream, sent by the pipeline with the
turn's dialogue save (bot/dialogue.py), trimmed to the retention by the same command (``MINID``).

Stream entries (every field always present, so Redis stores their names once per node):
``t`` the pipeline's time, ``u`` a digest of the customer (repeat contacts, never the id itself),
``ch`` the channel, ``app``, ``i`` intent, ``c`` category, ``a`` action, ``p`` confidence,
``k`` 1 when a clarifying question's offer was picked, ``h`` why it was handed over, ``r`` 1 when
staff were alerted about risk, ``ms`` the time from the customer's message to the decision, and
``x`` the text (phone numbers masked) of a turn that may be unanswered, else empty.
"""

from __future__ import annotations

import hashlib
from typing import Any

from bot.nlu.normalize import mask_for_log
from bot.ports import TurnRecord
from bot.redis_store import Keys

TEXT_CHARS = 200  # enough of a question to recognise it


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
        text = mask_for_log(m.text)[:TEXT_CHARS] if may_be_unanswered(turn, self.low_confidence) else ""
        ms = max(0, int((turn.now - m.sent_at) * 1000))
        oldest = int(turn.now * 1000) - self.retention_ms  # approximate trimming: cheap for Redis
        return (
            "XADD", self.key, "MINID", "~", oldest, "*",
            "t", f"{turn.now:.3f}", "u", customer_digest(m.customer_key), "ch", m.channel, "app", m.app,
            "i", turn.intent or "", "c", turn.category or "", "a", turn.action, "p", f"{turn.confidence:.3f}",
            "k", "1" if turn.picked else "0", "h", turn.handoff, "r", "1" if turn.risk_alert else "0",
            "ms", ms, "x", text,
        )  # fmt: skip
