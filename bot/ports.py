"""The small interfaces the pipeline talks through; ``alerts/`` implements them.

The core never imports ``alerts``: the composition root (bot/runtime/__init__.py) plugs the features'
implementations in, and the null objects below where a feature is off.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

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
