"""The small interfaces the pipeline talks through; ``alerts/`` implements them.

The core never imports ``alerts``: the composition root (bot/app.py, bot/cli.py) plugs the
implementations in. Each may be absent, and the pipeline then simply skips that step.
"""

from __future__ import annotations

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
