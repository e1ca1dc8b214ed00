"""The shop API's JSON into the port's typed models, strictly: anything else is a bad response.

Unknown extra fields are ignored (a shop may send more); a missing field, a wrong type or an
unknown status is refused. Errors name the fields, never their values (they may be personal).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from typing import Any

from pydantic import TypeAdapter, ValidationError

from bot.lookups import Order, Product, Trace, Tracking, TrackState, in_china_time


class BadResponse(Exception):
    """The body is not the JSON the contract promises; the message names fields, not values."""


@dataclass(frozen=True, slots=True)
class _Shipment:
    company: str
    waybill: str
    state: str | int
    traces: tuple[Trace, ...] = ()


_ORDER = TypeAdapter(Order)
_ORDERS = TypeAdapter(list[Order])
_PRODUCTS = TypeAdapter(list[Product])
_SHIPMENT = TypeAdapter(_Shipment)


def json_object(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadResponse("not JSON") from None
    if not isinstance(data, dict):
        raise BadResponse(f"expected a JSON object, got {type(data).__name__}")
    return data


def _validate(adapter: TypeAdapter[Any], data: Any) -> Any:
    try:
        return adapter.validate_python(data)
    except ValidationError as e:
        fields = "; ".join(f"{'.'.join(map(str, err['loc'])) or '(top)'}: {err['type']}" for err in e.errors()[:5])
        raise BadResponse(fields) from None


def _member(data: dict[str, Any], name: str) -> Any:
    if name not in data:
        raise BadResponse(f"no {name!r} member")
    return data[name]


def _phone_tail(order: Any) -> Any:
    """The order with its shipment's optional ``receiver_phone`` (or ``phone``) cut to the last
    four digits as ``phone_tail``; the whole number goes no further than this."""
    shipment = order.get("shipment") if isinstance(order, dict) else None
    if not isinstance(shipment, dict):
        return order
    phone = shipment.get("receiver_phone", shipment.get("phone"))
    if phone is not None and not isinstance(phone, (str, int)):
        raise BadResponse("shipment.receiver_phone: not a string")
    digits = re.sub(r"\D", "", str(phone or ""))
    rest = {k: v for k, v in shipment.items() if k not in ("receiver_phone", "phone", "phone_tail")}
    return {**order, "shipment": {**rest, "phone_tail": digits[-4:] if len(digits) >= 4 else None}}


def _in_china_time(order: Order) -> Order:
    """The order with its times in Beijing time: a time without a zone is one already."""
    shipment, refund = order.shipment, order.refund
    return replace(
        order,
        created_at=in_china_time(order.created_at),
        shipment=shipment and replace(shipment, shipped_at=shipment.shipped_at and in_china_time(shipment.shipped_at)),
        refund=refund and replace(refund, updated_at=in_china_time(refund.updated_at)),
    )


def parse_order(body: bytes) -> Order:
    return _in_china_time(_validate(_ORDER, _phone_tail(json_object(body))))


def parse_orders(body: bytes) -> list[Order]:
    orders = _member(json_object(body), "orders")
    valid = _validate(_ORDERS, [_phone_tail(o) for o in orders] if isinstance(orders, list) else orders)
    return [_in_china_time(o) for o in valid]


def parse_products(body: bytes) -> list[Product]:
    return _validate(_PRODUCTS, _member(json_object(body), "products"))


def parse_shipment(body: bytes) -> Tracking:
    wire: _Shipment = _validate(_SHIPMENT, json_object(body))
    traces = tuple(Trace(in_china_time(t.time), t.context) for t in wire.traces)
    return Tracking(wire.company, wire.waybill, TrackState.parse(wire.state), traces)
