"""The small interfaces the pipeline talks through; ``alerts/`` implements them.

The core never imports ``alerts``: the composition root (bot/runtime/__init__.py) plugs the features'
implementations in, and the null objects below where a feature is off.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.dialogue import Turn
from bot.message import InboundMessage


@dataclass(frozen=True, slots=True)
class RiskResult:
    score: float  # in [0, 1], conversation level
    reasons: tuple[str, ...] = ()  # Simplified Chinese, for people
    alert: bool = False  # over the alert threshold
    handoff: bool = False  # over the hand-over threshold
    negative: bool = False  # the customer is upset: acknowledge the feeling first
    message_score: float = 0.0  # this message alone, kept in the turn history
    # This message by its rules alone (threats, insults, punctuation...), without the emotion
    # model: what a chit-chat turn keeps, since a review-trained model misreads chit-chat.
    rule_score: float = 0.0


class RiskAssessor(Protocol):
    def assess(self, text: str, history: list[Turn], now: float) -> RiskResult: ...

    def soothing_opening(self, seed: str) -> str: ...


@dataclass(frozen=True, slots=True)
class Escalation:
    """Something staff must see: a risky customer, or a conversation handed over."""

    message: InboundMessage
    kind: str  # "risk" or "handoff"
    reason: str
    risk: RiskResult
    recent: list[Turn] = field(default_factory=list)
    intent: str | None = None
    category: str | None = None


class EscalationSink(Protocol):
    async def escalate(self, escalation: Escalation) -> None: ...


class ContactRecorder(Protocol):
    async def record(self, message: InboundMessage, intent: str | None, now: float) -> None: ...


@dataclass(slots=True)
class TurnRecord:
    """One customer turn as the pipeline decided it, for insight (hot questions, unanswered ones,
    service figures). Not frozen: a frozen dataclass costs twice as much to make, on every turn."""

    message: InboundMessage
    action: str  # the reply's action: answer, clarify, fallback, handoff, quiet
    intent: str | None
    category: str | None
    confidence: float
    now: float
    picked: bool = False  # the customer picked one of the intents a clarifying question offered
    handoff: str = ""  # why it was handed over: asked, risk, not_understood
    risk_alert: bool = False  # staff were alerted about complaint risk


class TurnLog(Protocol):
    def command(self, turn: TurnRecord) -> tuple[Any, ...] | None:
        """The Redis command that keeps this turn (None: nothing to keep). The pipeline sends it
        together with the turn's dialogue save, in the same round trip."""
        ...


class StaffCommands(Protocol):
    async def handle(self, message: InboundMessage) -> str | None:
        """A reply when the message is a staff command (``/ack T-…``), else None."""
        ...


# Null objects: what the pipeline talks to when a feature is off, so it never asks "is it there?".
class NoRisk:
    def assess(self, text: str, history: list[Turn], now: float) -> RiskResult:
        return RiskResult(0.0)

    def soothing_opening(self, seed: str) -> str:
        return ""


class NoEscalations:
    async def escalate(self, escalation: Escalation) -> None:
        return None


class NoContacts:
    async def record(self, message: InboundMessage, intent: str | None, now: float) -> None:
        return None


class NoTurnLog:
    def command(self, turn: TurnRecord) -> tuple[Any, ...] | None:
        return None


class StaffChain:
    """The staff command handlers, asked in order: the first that knows the command answers."""

    def __init__(self, handlers: Sequence[StaffCommands] = ()) -> None:
        self.handlers = tuple(handlers)

    async def handle(self, message: InboundMessage) -> str | None:
        for handler in self.handlers:
            answer = await handler.handle(message)
            if answer is not None:
                return answer
        return None
