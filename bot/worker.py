"""Queue handlers: customer messages through the pipeline into the outbox, and platform tasks."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from bot.channel import ChannelAdapter, PlatformTask
from bot.gateway import Gateway
from bot.logs import handling
from bot.message import InboundMessage, OutboundMessage
from bot.metrics import DECISIONS, REPLY_SECONDS, count_message, labelled
from bot.outbox import PreparedAttempt
from bot.pipeline import Pipeline, Reply
from bot.web_chat import WEB

log = logging.getLogger(__name__)


def reply_for(message: InboundMessage, text: str, handoff: bool) -> OutboundMessage:
    return OutboundMessage(
        channel=message.channel,
        app=message.app,
        route=message.reply_route,
        text=text,
        # One reply per inbound message, however often the message is handled.
        idempotency_key=f"reply:{message.channel}:{message.app}:{message.message_id}",
        handoff=handoff,
        customer=message.customer_key,
    )


class _DeliveryCheck:
    """The reply's delivery check (sent before? a rate slot?), sent with the turn's save."""

    __slots__ = ("message", "prepare", "attempt", "replies")

    def __init__(self, message: InboundMessage, prepare: Callable[[OutboundMessage], PreparedAttempt]) -> None:
        self.message = message
        self.prepare = prepare
        self.attempt: PreparedAttempt | None = None
        self.replies: Sequence[Any] = ()

    def commands(self, reply: Reply) -> Sequence[tuple[Any, ...]]:
        if not reply.text:
            return ()
        self.attempt = self.prepare(reply_for(self.message, reply.text, reply.handoff))
        return self.attempt.commands

    def take(self, replies: Sequence[Any]) -> None:
        self.replies = replies


class InboxHandler:
    def __init__(
        self,
        pipeline: Pipeline,
        deliver: Callable[[OutboundMessage], Awaitable[Sequence[tuple[Any, ...]] | None]],
        clock: Callable[[], float],
        max_answer_age_seconds: int,
        answer_web: Callable[[str, Reply], Awaitable[None]] | None = None,
        prepare: Callable[[OutboundMessage], PreparedAttempt] | None = None,
    ) -> None:
        self.pipeline = pipeline
        self.deliver = deliver  # OutboxSender.send_now: at once, or through the outbox
        # OutboxSender.prepare: send_now's check goes out with the turn's save, one round trip.
        self.prepare = prepare
        # A web message was queued by an HTTP process holding no model: it waits for the whole
        # reply (bot/web_chat.py), which no platform sender could carry.
        self.answer_web = answer_web
        self.clock = clock
        self.max_age = max_answer_age_seconds

    async def __call__(self, payload: bytes) -> Sequence[tuple[Any, ...]] | None:
        message = InboundMessage.from_json(payload)
        with handling(message.message_id):
            return await self._handle(message)

    async def _handle(self, message: InboundMessage) -> Sequence[tuple[Any, ...]] | None:
        """What the queue writes with the entry's acknowledgement (the reply's sent mark)."""
        if self.clock() - message.sent_at > self.max_age:
            # Arrived while we were down: it still counts as a contact, but an automatic answer
            # hours later would confuse more than help; staff see it in the contact timeline.
            await self.pipeline.record_only(message)
            labelled(DECISIONS, "too_old").inc()
            count_message(message.channel, "too_old", None, None)
            return None
        started = time.perf_counter()
        answer_web = self.answer_web if message.channel == WEB else None
        check = _DeliveryCheck(message, self.prepare) if self.prepare is not None and answer_web is None else None
        reply = await self.pipeline.handle(message, check)
        count_message(message.channel, reply.action, reply.intent, time.perf_counter() - started)
        labelled(DECISIONS, reply.action).inc()
        if answer_web is not None:
            await answer_web(message.message_id, reply)
        elif reply.text:
            done: Sequence[tuple[Any, ...]] | None
            if check is not None and check.attempt is not None:
                done = await check.attempt.send(check.replies)
            else:  # answered without a save (the same message handled again): checked alone
                done = await self.deliver(reply_for(message, reply.text, reply.handoff))
            REPLY_SECONDS.observe(max(0.0, self.clock() - message.sent_at))
            return done
        return None


class TaskHandler:
    def __init__(self, adapters: Callable[[str, str], ChannelAdapter | None], gateway: Gateway) -> None:
        self.adapters = adapters
        self.gateway = gateway

    async def __call__(self, payload: bytes) -> None:
        task = PlatformTask(**json.loads(payload))
        adapter = self.adapters(task.channel, task.app)
        if adapter is None:
            log.error("no adapter for task %s/%s: dropped %s", task.channel, task.app, task.kind)
            return
        await adapter.run_task(task, self.gateway.enqueue_all)
