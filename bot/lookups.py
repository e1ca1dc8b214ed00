"""What the bot may ask the shop's systems: orders, refunds, stock, and where a parcel is.

This is the core's port. The dialogue asks a ``Lookups`` and gets typed answers or one of the
typed errors below; ``adapters/shop`` and ``adapters/logistics`` implement it over HTTP, and
``NoLookups`` stands in when no shop is configured. Nothing here knows about HTTP.

Errors, for the dialogue to word its answer:
- ``NotFound``: no such order / waybill (``NoTraceYet``: the waybill exists but has no scan yet;
  ``CarrierUnknown``: kefu cannot tell the courier from the waybill, so ask the customer);
- ``NotYours``: the order belongs to another customer (say no more than for ``NotFound``);
- ``Unavailable``: the systems cannot answer now; ``reason`` is a short code for metrics and
  logs (``not_configured``, ``timeout``, ``connect``, ``server_error``, ``bad_response``,
  ``too_large``, ``circuit_open``, ``auth``, ``provider_credit``, ``provider_error``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum
from typing import Any, Literal, Protocol

# Shops and couriers in China write times without a zone more often than not: such a time is
# Beijing time, and the customer is told every time in it.
CHINA_TIME = timezone(timedelta(hours=8))


def in_china_time(value: datetime) -> datetime:
    """An aware time in Beijing time; a time without a zone is taken as Beijing time already."""
    return value.astimezone(CHINA_TIME) if value.tzinfo else value.replace(tzinfo=CHINA_TIME)


OrderStatus = Literal[
    "pending_payment", "paid", "shipped", "delivered", "completed", "cancelled", "refunding", "refunded"
]
RefundStatus = Literal["applied", "approved", "returned", "refunded", "rejected"]


@dataclass(frozen=True, slots=True)
class Item:
    name: str
    sku: str
    quantity: int


@dataclass(frozen=True, slots=True)
class Shipment:
    """How an order left the warehouse; ``company_code`` is 快递100's code (shunfeng, ...)."""

    company: str
    company_code: str
    waybill: str
    shipped_at: datetime | None = None
    # The last four digits of the receiver's phone, from the optional ``receiver_phone`` (or
    # ``phone``) of the shop's shipment: SF's tracking needs them. Never the whole number.
    phone_tail: str | None = None


@dataclass(frozen=True, slots=True)
class Refund:
    status: RefundStatus
    amount: Decimal
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Order:
    order_id: str
    status: OrderStatus
    created_at: datetime
    amount: Decimal
    items: tuple[Item, ...] = ()
    shipment: Shipment | None = None
    refund: Refund | None = None


class TrackState(Enum):
    """A parcel's state, as 快递100 numbers it (its top-level ``state`` codes); ``zh`` for people."""

    IN_TRANSIT = "in_transit"
    PICKED_UP = "picked_up"
    PROBLEM = "problem"
    SIGNED = "signed"
    RETURNED_SIGNED = "returned_signed"  # returned to and signed for by the sender
    OUT_FOR_DELIVERY = "out_for_delivery"
    RETURNING = "returning"
    FORWARDED = "forwarded"
    CUSTOMS = "customs"
    REFUSED = "refused"
    UNKNOWN = "unknown"

    @property
    def zh(self) -> str:
        return _ZH[self]

    @classmethod
    def parse(cls, value: str | int) -> TrackState:
        """One of our codes (``in_transit``) or 快递100's ``state``, including its finer codes
        (``301`` is a kind of ``3`` signed; ``1001``-``1003`` kinds of ``0`` in transit)."""
        text = str(value).strip()
        for state in cls:
            if state.value == text:
                return state
        if text in _KUAIDI100:
            return _KUAIDI100[text]
        if len(text) == 4 and text.startswith("10"):
            return cls.IN_TRANSIT
        if len(text) == 3 and text[0] in _KUAIDI100:
            return _KUAIDI100[text[0]]
        return cls.UNKNOWN


_ZH = {
    TrackState.IN_TRANSIT: "在途",
    TrackState.PICKED_UP: "揽收",
    TrackState.PROBLEM: "疑难",
    TrackState.SIGNED: "签收",
    TrackState.RETURNED_SIGNED: "退签",
    TrackState.OUT_FOR_DELIVERY: "派件",
    TrackState.RETURNING: "退回",
    TrackState.FORWARDED: "转投",
    TrackState.CUSTOMS: "清关",
    TrackState.REFUSED: "拒签",
    TrackState.UNKNOWN: "未知",
}


# 快递100's top-level state codes (its real-time query documentation, "state" field).
_KUAIDI100 = {
    "0": TrackState.IN_TRANSIT,
    "1": TrackState.PICKED_UP,
    "2": TrackState.PROBLEM,
    "3": TrackState.SIGNED,
    "4": TrackState.RETURNED_SIGNED,
    "5": TrackState.OUT_FOR_DELIVERY,
    "6": TrackState.RETURNING,
    "7": TrackState.FORWARDED,
    "8": TrackState.CUSTOMS,
    "10": TrackState.CUSTOMS,
    "11": TrackState.CUSTOMS,
    "12": TrackState.CUSTOMS,
    "13": TrackState.CUSTOMS,
    "14": TrackState.REFUSED,
}


@dataclass(frozen=True, slots=True)
class Trace:
    time: datetime
    context: str  # the carrier's own words: "【深圳市】快件已到达..."


@dataclass(frozen=True, slots=True)
class Tracking:
    company: str  # the company code the answer is for (shunfeng, ...)
    waybill: str
    state: TrackState
    traces: tuple[Trace, ...] = ()  # newest first


@dataclass(frozen=True, slots=True)
class Product:
    name: str
    sku: str
    stock: int
    restock_date: date | None = None


class LookupFailed(Exception):
    """Base of the errors a lookup raises."""


class NotFound(LookupFailed):
    """No such order, or no such waybill."""


class NoTraceYet(NotFound):
    """The provider has no scan for this waybill yet (just shipped, or a mistyped number)."""


class CarrierUnknown(NotFound):
    """The courier cannot be told from the waybill alone: ask which company it is."""


class NotYours(LookupFailed):
    """The order exists but belongs to another customer."""


class Unavailable(LookupFailed):
    """The shop's systems or the provider cannot answer now; ``reason`` is a code for metrics."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


class Lookups(Protocol):
    """The shop's systems as the dialogue sees them. ``customer`` is ``<channel>:<user id>``
    (``web:c1``); ``None`` only for an operator's own lookup (``kefu lookup``), never a customer's."""

    async def order(self, order_id: str, customer: str | None) -> Order: ...

    async def recent_orders(self, customer: str, limit: int = 5) -> list[Order]: ...

    async def track(self, waybill: str, company_code: str | None = None, phone_tail: str | None = None) -> Tracking:
        """``company_code`` from the order's shipment when known; else guessed from the waybill's
        shape, and ``CarrierUnknown`` when it cannot be. ``phone_tail``: the last four digits of
        the receiver's phone, which some couriers (SF) require."""
        ...

    async def products(self, query: str) -> list[Product]: ...


class NoLookups:
    """No shop configured: every lookup is ``Unavailable("not_configured")``, so the dialogue
    falls back to its FAQ answers."""

    async def order(self, order_id: str, customer: str | None) -> Order:
        raise Unavailable("not_configured")

    async def recent_orders(self, customer: str, limit: int = 5) -> list[Order]:
        raise Unavailable("not_configured")

    async def track(self, waybill: str, company_code: str | None = None, phone_tail: str | None = None) -> Tracking:
        raise Unavailable("not_configured")

    async def products(self, query: str) -> list[Product]:
        raise Unavailable("not_configured")


def to_json(value: Any) -> Any:
    """A lookup's answer as JSON-ready data, in the shop API's field names: times ISO 8601,
    amounts decimal strings (exact), track states their codes."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, TrackState):
        return value.value
    return value
