"""Conversation state per customer, in Redis with a TTL: what was asked, offered and answered.

One JSON value per customer (one GET and one SET per message) under the customer's hash tag.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Protocol

import orjson
import redis.asyncio as aredis

from bot.redis_pipelining import send_together
from bot.redis_store import Keys

MAX_TURNS = 6  # enough for conversation-level risk and repeated-question checks


@dataclass(slots=True)
class Turn:
    text: str  # normalised, masked: never a raw phone number
    intent: str | None
    answered: bool
    risk: float  # conversation-level risk after this turn
    at: float
    message_risk: float = 0.0  # this message alone


@dataclass(slots=True)
class DialogueState:
    turns: list[Turn] = field(default_factory=list)
    suggestions: list[str] = field(default_factory=list)  # offered in the last clarifying question
    last_intent: str | None = None
    order_no: str = ""  # the last order number the customer gave
    # The bot asked for an order number to answer this intent; the next number is the answer.
    awaiting_order: str = ""
    # Orders offered as a numbered list (ids and item names, never phones or addresses).
    order_choices: list[str] = field(default_factory=list)
    order_choice_words: list[str] = field(default_factory=list)
    # After a pick from those orders, the intent they were offered for: the next message may
    # pick another of them ("那第一个呢") without the bot asking again.
    choices_intent: str = ""
    last_product: str = ""  # the product words of the last stock question that found one ("AJ1 42码")
    unanswered: int = 0  # consecutive turns the bot could not answer
    handoff_until: float = 0.0  # a human has the conversation until then: the bot stays quiet
    # The message whose turn was saved last, and the reply it got. A message handled again after
    # a failure past that save (its queue entry not yet acknowledged) gets the same reply back
    # instead of being counted, and perhaps answered differently, a second time.
    last_message: str = ""
    last_reply: dict[str, Any] = field(default_factory=dict)

    def add_turn(self, turn: Turn) -> None:
        self.turns = (self.turns + [turn])[-MAX_TURNS:]

    def to_json(self) -> bytes:
        # orjson writes dataclasses itself: no dataclasses.asdict, whose deep copy was once the
        # costliest step of saving a turn, nor the stdlib encoder's per-object hook.
        return orjson.dumps(self)

    @classmethod
    def from_json(cls, raw: bytes | str) -> DialogueState:
        data = orjson.loads(raw)
        try:
            data["turns"] = [Turn(**t) for t in data.get("turns", [])]
            return cls(**data)
        except TypeError:
            # Saved by a newer version with fields this one lacks (a release rolled back): read
            # what is known rather than fail every message of the customer until the TTL ends.
            data["turns"] = [Turn(**_known(Turn, t)) for t in data.get("turns", []) if isinstance(t, dict)]
            return cls(**_known(cls, data))


def _known(cls: type, data: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


class Dialogues(Protocol):
    """Where conversations are kept: ``DialogueStore`` in Redis, an in-memory fake in unit tests."""

    async def load(self, customer_key: str) -> DialogueState: ...

    async def save(self, customer_key: str, state: DialogueState, also: Sequence[tuple[Any, ...]] = ()) -> list[Any]:
        """``also``: commands sent after the save in its round trip (the turn's insight record,
        the reply's delivery check); returns their replies, an exception for one that failed."""
        ...

    async def release(self, customer_key: str) -> bool: ...


class DialogueStore:
    def __init__(self, redis: aredis.Redis, keys: Keys, ttl_seconds: int) -> None:
        self._redis = redis
        self._keys = keys
        self._ttl = ttl_seconds

    async def load(self, customer_key: str) -> DialogueState:
        raw = await self._redis.get(self._keys.customer(customer_key, "dialogue"))
        return DialogueState.from_json(raw) if raw else DialogueState()

    async def save(self, customer_key: str, state: DialogueState, also: Sequence[tuple[Any, ...]] = ()) -> list[Any]:
        """Save the state, raising when that fails; ``also`` are commands sent after it in the
        same round trip, whose replies are returned (an exception for one that failed: the
        conversation goes on, and each command's owner decides what that means)."""
        ttl = self._ttl
        if state.handoff_until:
            # Keep the "a human has it" mark for as long as it lasts, even past the memory TTL.
            ttl = max(ttl, int(state.handoff_until - state.turns[-1].at) + 60 if state.turns else ttl)
        key = self._keys.customer(customer_key, "dialogue")
        if not also:
            await self._redis.set(key, state.to_json(), ex=ttl)
            return []
        saved, *replies = await send_together(self._redis, [("SET", key, state.to_json(), "EX", ttl), *also])
        if isinstance(saved, BaseException):
            raise saved
        return replies

    async def release(self, customer_key: str) -> bool:
        """Staff hand the conversation back to the bot."""
        state = await self.load(customer_key)
        if not state.handoff_until:
            return False
        state.handoff_until = 0.0
        state.unanswered = 0
        await self.save(customer_key, state)
        return True


_ORDINALS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "1": 1, "2": 2, "3": 3, "4": 4, "5": 5}
_PICK_RE = re.compile(r"^(?:那个?)?(?:第)?([一二两三四五1-5])(?:个|条|项|号|单|笔)?(?:吧|呀|啊|的|呢)?$")


def pick_suggestion(normalized_text: str, suggestions: list[str], titles: dict[str, str]) -> str | None:
    """The suggestion a reply to a clarifying question chose: "1", "第二个", or its words."""
    text = normalized_text.replace(" ", "")
    if not text or not suggestions:
        return None
    m = _PICK_RE.match(text)
    if m:
        n = _ORDINALS[m.group(1)]
        return suggestions[n - 1] if n <= len(suggestions) else None
    for name in suggestions:
        title = titles.get(name, "").replace(" ", "")
        if title and (text in title or title in text) and len(text) >= 2:
            return name
    return None
