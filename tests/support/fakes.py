"""In-memory fakes of every port the pipeline talks through, and a channel that collects what is
sent, in the spirit of Errbot's test backend and Rasa's collecting output channel: the unit layer
runs the real pipeline and the worker's inbox handler on them, without Redis or the network."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.dialogue import DialogueState, Turn
from bot.lookups import NotFound, NotYours, Order, Product, Tracking, Unavailable
from bot.message import InboundMessage, OutboundMessage, SendResult
from bot.ports import Escalation, RiskResult, TurnRecord


class MemoryDialogues:
    """``Dialogues`` in a dict; states are copied in and out, as a store would serialise them."""

    def __init__(self) -> None:
        self.states: dict[str, str] = {}
        self.sent_along: list[tuple[Any, ...]] = []  # what a turn log asked to send with a save

    async def load(self, customer_key: str) -> DialogueState:
        raw = self.states.get(customer_key)
        return DialogueState.from_json(raw) if raw else DialogueState()

    async def save(self, customer_key: str, state: DialogueState, also: Sequence[tuple[Any, ...]] = ()) -> list[Any]:
        self.states[customer_key] = state.to_json()
        self.sent_along.extend(also)
        return [None] * len(also)

    async def release(self, customer_key: str) -> bool:
        state = await self.load(customer_key)
        if not state.handoff_until:
            return False
        state.handoff_until, state.unanswered = 0.0, 0
        await self.save(customer_key, state)
        return True


@dataclass
class ScriptedRisk:
    """``RiskAssessor`` that scores the texts it was given, and everything else as calm."""

    results: Mapping[str, RiskResult] = field(default_factory=dict)
    opening: str = "非常抱歉给您带来不好的体验。"

    def assess(self, text: str, history: list[Turn], now: float) -> RiskResult:
        return self.results.get(text, RiskResult(0.0))

    def soothing_opening(self, seed: str) -> str:
        return self.opening


@dataclass
class CollectedEscalations:
    """``EscalationSink`` that keeps what staff would have been told."""

    escalations: list[Escalation] = field(default_factory=list)

    async def escalate(self, escalation: Escalation) -> None:
        self.escalations.append(escalation)

    @property
    def kinds(self) -> list[str]:
        return [e.kind for e in self.escalations]


@dataclass
class CollectedContacts:
    """``ContactRecorder`` that keeps every contact as (customer, intent)."""

    contacts: list[tuple[str, str | None]] = field(default_factory=list)

    async def record(self, message: InboundMessage, intent: str | None, now: float) -> None:
        self.contacts.append((message.customer_key, intent))


class KeptTurns:
    """``TurnLog`` whose command is the record itself: the dialogue fake keeps it as sent along."""

    def command(self, turn: TurnRecord) -> tuple[Any, ...] | None:
        return ("TURN", turn)


@dataclass
class EchoStaff:
    """``StaffCommands`` that answers ``/ping`` and leaves every other text alone."""

    seen: list[str] = field(default_factory=list)

    async def handle(self, message: InboundMessage) -> str | None:
        self.seen.append(message.text)
        return "pong" if message.text == "/ping" else None


@dataclass
class MemoryShop:
    """``Lookups`` over orders kept by customer; another customer's order is ``NotYours``."""

    orders: dict[str, list[Order]] = field(default_factory=dict)  # customer -> newest first
    tracking: dict[str, Tracking] = field(default_factory=dict)  # waybill -> tracking
    stock: list[Product] = field(default_factory=list)
    down: bool = False  # every lookup Unavailable, as a shop that answers 500
    calls: list[str] = field(default_factory=list)

    def _check(self, what: str) -> None:
        self.calls.append(what)
        if self.down:
            raise Unavailable("shop_error", "down")

    async def order(self, order_id: str, customer: str | None) -> Order:
        self._check(f"order {order_id}")
        for owner, orders in self.orders.items():
            for found in orders:
                if found.order_id == order_id:
                    if customer is not None and owner != customer:
                        raise NotYours(order_id)
                    return found
        raise NotFound(order_id)

    async def recent_orders(self, customer: str, limit: int = 5) -> list[Order]:
        self._check(f"recent {customer}")
        return self.orders.get(customer, [])[:limit]

    async def track(self, waybill: str, company_code: str | None = None, phone_tail: str | None = None) -> Tracking:
        self._check(f"track {waybill}")
        if waybill not in self.tracking:
            raise NotFound(waybill)
        return self.tracking[waybill]

    async def products(self, query: str) -> list[Product]:
        self._check(f"products {query}")
        return [p for p in self.stock if any(word in p.name.lower() for word in query.lower().split())]


class CollectingChannel:
    """A channel that collects every message sent through it: give ``deliver`` to the worker's
    inbox handler, or ``send`` wherever a ``Sender`` goes."""

    def __init__(self) -> None:
        self.sent: list[OutboundMessage] = []

    async def send(self, message: OutboundMessage) -> SendResult:
        self.sent.append(message)
        return SendResult.success()

    async def deliver(self, message: OutboundMessage) -> None:
        await self.send(message)

    @property
    def texts(self) -> list[str]:
        return [m.text for m in self.sent]
