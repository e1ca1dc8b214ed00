"""What a platform adapter is to the rest of the bot: a small interface, defined here, in the core.

An adapter turns one HTTP callback into a response plus work to enqueue (``handle``), runs the
platform-specific follow-up work outside the callback (``run_task``, e.g. pulling 微信客服
messages), and delivers outbound messages (``send``). The gateway around it does de-duplication,
queueing and the ack; the pipeline never sees a platform.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot.message import InboundMessage, OutboundMessage, SendResult

# Platforms retry a callback for hours (Feishu: about 7 h); an id is remembered longer than that.
DEDUPE_TTL_SECONDS = 12 * 3600


class TaskRetry(Exception):
    """Raised by ``run_task`` when the work failed for now (platform down): try it again later."""


class WebhookError(Exception):
    """A callback we refuse; ``status`` is the HTTP answer (400, 403, 404, 413)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    method: str
    query: Mapping[str, str]
    headers: Mapping[str, str]  # lower-cased names
    body: bytes
    received_at: float  # unix seconds, from the injected clock


@dataclass(frozen=True, slots=True)
class PlatformTask:
    """Follow-up work an adapter asks for outside the callback (a 微信客服 pull, for one)."""

    channel: str
    app: str
    kind: str
    payload: dict[str, str]
    dedupe_key: str = ""  # when set, the same task is queued only once


@dataclass(slots=True)
class WebhookResult:
    """What the gateway does with a verified callback: enqueue these, then answer with this."""

    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    status: int = 200
    messages: list[InboundMessage] = field(default_factory=list)
    tasks: list[PlatformTask] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class CardAction:
    """A staff member clicked a button on a card (Feishu card callback, WeCom template card)."""

    channel: str
    app: str
    operator_id: str
    value: dict[str, Any]
    message_ref: str  # the card's message id / task id, to update it in place


@dataclass(frozen=True, slots=True)
class CardActionAnswer:
    toast: str
    card: dict[str, Any] | None = None  # the platform-neutral card to show instead (new state)
    ok: bool = True


CardActionHandler = Callable[[CardAction], Awaitable[CardActionAnswer]]
Emit = Callable[[list[InboundMessage]], Awaitable[None]]


class ChannelAdapter(Protocol):
    platform: str  # "wecom", "wechat", "dingtalk", "feishu"
    app: str

    async def handle(self, request: WebhookRequest) -> WebhookResult:
        """Verify, decrypt and parse; raise ``WebhookError`` for anything refused. Never slow."""
        ...

    async def run_task(self, task: PlatformTask, emit: Emit) -> None:
        """Do the follow-up work of a ``PlatformTask``, handing each batch of messages it brings
        to ``emit`` (which enqueues them) before recording progress, so a crash loses none."""
        ...

    async def send(self, message: OutboundMessage) -> SendResult:
        """Deliver one message; say whether a failure is worth retrying."""
        ...


@dataclass(slots=True)
class AdapterDeps:
    """What the composition root hands every adapter: shared connections and the clock."""

    redis: Any  # redis.asyncio.Redis
    keys: Any  # bot.redis_store.Keys
    tokens: Any  # bot.token_cache.TokenCache
    http: Any  # bot.http.HttpClient, shared, with sane timeouts
    clock: Callable[[], float]  # unix seconds; tests inject their own
    # Set by whoever handles card clicks (the tickets feature); None means clicks are refused.
    card_actions: CardActionHandler | None = None


@dataclass(frozen=True)
class PlatformSpec:
    """What a platform package is to the rest of the bot, in one place (its ``SPEC``). The table
    of them (``adapters.PLATFORMS``) feeds the runtime, the pipeline, the CLI and the checks."""

    name: str  # the settings key (``channels.<name>``) and the webhook path (``/webhooks/<name>``)
    settings: type[Any]  # one app's settings model, owned by the adapter
    create: Callable[[str, Any, AdapterDeps], ChannelAdapter]  # (app name, app settings, deps)
    channels: tuple[str, ...]  # the message channels it receives and sends for
    staff_channel: str | None = None  # where staff work (commands, ticket cards); None: customers only
    # For an app that receives over a connection kefu opens (no public address): (the app's adapter,
    # its settings, emit) -> the coroutine function that keeps it open, or None (webhook mode).
    listen: Callable[[ChannelAdapter, Any, Emit], Callable[[], Coroutine[Any, Any, None]] | None] | None = None
