"""The one internal message model every platform is translated to and from.

The pipeline only ever sees these types, never a platform's wire format: adapters turn a callback
into an ``InboundMessage`` and an ``OutboundMessage`` back into an API call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import orjson


def epoch_seconds(stamp: object, units_per_second: int = 1) -> float:
    """A platform's timestamp as unix seconds; ``ValueError`` unless it is a finite number.

    A signed callback may still carry any digits: ``float("9" * 400)`` is infinite and a huge
    integer overflows, and neither must get past the adapter that parses it."""
    try:
        seconds = float(stamp) / units_per_second  # type: ignore[arg-type]
    except (OverflowError, TypeError):
        raise ValueError(f"timestamp {str(stamp)[:20]!r} is not a number") from None
    if not math.isfinite(seconds):
        raise ValueError(f"timestamp {str(stamp)[:20]!r} is out of range")
    return seconds


def as_dict(obj: object) -> dict[str, Any]:
    """A slots dataclass's fields, shallow: not dataclasses.asdict, which deep-copies every field
    and cost more than the rest of the ack."""
    return {name: getattr(obj, name) for name in obj.__slots__}  # type: ignore[attr-defined]


def _to_json(obj: object) -> str:
    # orjson: a third of the stdlib encoder's cost for the same compact UTF-8 JSON, on every
    # callback (it would write a non-finite float as null: ``epoch_seconds`` keeps those out).
    return orjson.dumps(as_dict(obj)).decode()


# Every channel a message can come from: the platforms' and the built-in web channel (/api/chat);
# 微信客服 (wecom_kf) arrives through the WeCom app.
CHANNELS = ("web", "wecom", "wecom_kf", "wechat", "dingtalk", "feishu")


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A message from a customer or a staff member, as every platform delivers it."""

    channel: str  # one of CHANNELS
    app: str  # the configured app name ("default" unless several apps of one platform)
    conversation_id: str  # a chat: p2p or group; replies go here
    sender_id: str  # the customer (or staff member) id on that platform
    text: str
    message_id: str  # the platform's id, the key for de-duplication
    sent_at: float  # unix seconds, as the platform stamped it
    msg_type: str = "text"  # "text", or the platform's type for what we cannot read (image...)
    sender_name: str = ""
    # What the adapter needs to answer (sessionWebhook, open_kfid, message_id to reply in thread).
    # Opaque to the pipeline.
    reply_route: dict[str, str] = field(default_factory=dict)
    # The platform-wide identity (WeChat union id), used to link one customer across channels.
    union_id: str = ""

    @property
    def customer_key(self) -> str:
        """A stable id for the person across our stores: channel-scoped unless a union id links it."""
        return f"u:{self.union_id}" if self.union_id else self.shop_customer

    @property
    def shop_customer(self) -> str:
        """The customer as the shop's systems know them: ``<channel>:<the platform's user id>``
        (``feishu:ou_abc``), never the union id that links channels in our own stores."""
        return f"{self.channel}:{self.sender_id}"

    def to_json(self) -> str:
        return _to_json(self)

    @classmethod
    def from_json(cls, raw: str | bytes) -> InboundMessage:
        return cls(**orjson.loads(raw))


@dataclass(frozen=True, slots=True)
class OutboundMessage:
    """Something to deliver through a platform: a reply to a customer, or a card or text to staff.

    ``kind`` is "text", "markdown" or "card"; for a card, ``card`` carries a platform-neutral
    description (title, fields, buttons) that the adapter renders in its own format.
    """

    channel: str
    app: str
    route: dict[str, str]  # where to: the inbound reply_route, or a receiver's address
    text: str
    idempotency_key: str  # stable across retries; adapters pass it where the platform has one
    kind: str = "text"
    card: dict[str, Any] | None = None
    # Hand the conversation to a human where the platform can (微信客服 service-state transfer).
    handoff: bool = False
    # The customer a reply answers (their ``customer_key``): the outbox keeps a customer's replies
    # in order, rate-limits and marks them per customer, whatever each reply's route carries
    # (a Feishu reply's names the message it answers). Empty for staff messages.
    customer: str = ""

    def to_json(self) -> str:
        return _to_json(self)

    @classmethod
    def from_json(cls, raw: str | bytes) -> OutboundMessage:
        return cls(**orjson.loads(raw))


@dataclass(frozen=True, slots=True)
class SendResult:
    """What a sender reports: delivered, or failed and whether trying again can help."""

    ok: bool
    retryable: bool = False
    error: str = ""
    # Seconds the platform asked us to wait (rate limit), if it said so.
    retry_after: float | None = None

    @classmethod
    def success(cls) -> SendResult:
        return cls(ok=True)

    @classmethod
    def retry(cls, error: str, retry_after: float | None = None) -> SendResult:
        return cls(ok=False, retryable=True, error=error, retry_after=retry_after)

    @classmethod
    def permanent(cls, error: str) -> SendResult:
        return cls(ok=False, retryable=False, error=error)
