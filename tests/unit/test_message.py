"""Queued messages: what the ack path writes is what the workers read back."""

from __future__ import annotations

import json

import pytest

from bot.message import InboundMessage, epoch_seconds


def _message(**changes: object) -> InboundMessage:
    fields = dict(
        channel="feishu", app="default", conversation_id="oc_1", sender_id="ou_1", text="我要退货 \"引号\" \\ 😀",
        message_id="om_1", sent_at=1700000000.456, msg_type="text", reply_route={"message_id": "om_1"},
        union_id="on_1",
    )  # fmt: skip
    fields.update(changes)
    return InboundMessage(**fields)  # type: ignore[arg-type]


def test_inbound_json_round_trips_and_is_standard_json() -> None:
    for message in (_message(), _message(sent_at=0.0, reply_route={}, text=""), _message(sent_at=1e20)):
        raw = message.to_json()
        assert InboundMessage.from_json(raw) == message
        assert json.loads(raw) == {name: getattr(message, name) for name in InboundMessage.__slots__}


def test_platform_timestamps_must_be_finite_numbers() -> None:
    assert epoch_seconds("1700000000") == 1700000000.0
    assert epoch_seconds(1700000000456, 1000) == 1700000000.456
    # A signed callback may carry any digits: too many overflow, and none may reach the queue
    # (orjson would write an infinite time as null, and the worker would fail on it).
    for bad in ("9" * 400, 10**400, "nan", "inf", None, "soon"):
        with pytest.raises(ValueError):
            epoch_seconds(bad)
