"""The ack path: verify, decrypt, de-duplicate, enqueue, then answer the platform.

Nothing slow happens here: the platforms retry a callback not answered within 3-5 s, and a
retry must never turn into a second reply, so every message is enqueued once per platform id
for ``DEDUPE_TTL_SECONDS`` (longer than Feishu's 7-hour retry tail).
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict

from redis.exceptions import RedisError

from bot.channel import DEDUPE_TTL_SECONDS, ChannelAdapter, PlatformTask, WebhookError, WebhookRequest, WebhookResult
from bot.message import InboundMessage
from bot.metrics import REDIS_ERRORS, ack_seconds, callbacks
from bot.queue import QueueFull, StreamQueue

log = logging.getLogger(__name__)


def task_routing_key(task: PlatformTask) -> str:
    """Tasks of one kind for one app stay in one partition, in order."""
    return f"{task.channel}:{task.app}:{task.kind}"


class Gateway:
    def __init__(self, inbox: StreamQueue, tasks: StreamQueue) -> None:
        self.inbox = inbox
        self.tasks = tasks

    async def enqueue_all(self, messages: list[InboundMessage]) -> None:
        """Queue each message (an ``Emit``: what a platform task or a stream connection brings)."""
        for message in messages:
            await self.enqueue(message)

    async def enqueue(self, message: InboundMessage) -> bool:
        """Queue a customer message once per platform id; False for a duplicate."""
        return await self.inbox.add_once(
            f"in:{message.channel}:{message.app}:{message.message_id}",
            DEDUPE_TTL_SECONDS,
            message.customer_key,
            message.to_json(),
        )

    async def enqueue_task(self, task: PlatformTask) -> bool:
        payload = json.dumps(asdict(task), ensure_ascii=False)
        routing = task_routing_key(task)
        if not task.dedupe_key:
            await self.tasks.add(routing, payload)
            return True
        return await self.tasks.add_once(f"task:{task.dedupe_key}", DEDUPE_TTL_SECONDS, routing, payload)

    async def accept(self, adapter: ChannelAdapter, request: WebhookRequest) -> WebhookResult:
        """The response for one callback; raises WebhookError (4xx) or RedisError (answer 503)."""
        started = time.perf_counter()
        try:
            result = await adapter.handle(request)
        except WebhookError as e:
            callbacks(adapter.platform, f"refused_{e.status}").inc()
            log.info("%s/%s callback refused (%d): %s", adapter.platform, adapter.app, e.status, e.reason)
            raise
        try:
            for message in result.messages:
                added = await self.enqueue(message)
                callbacks(adapter.platform, "accepted" if added else "duplicate").inc()
            for task in result.tasks:
                await self.enqueue_task(task)
        except QueueFull as e:
            callbacks(adapter.platform, "queue_full").inc()
            log.warning("%s/%s callback refused (503): %s", adapter.platform, adapter.app, e)
            raise
        except RedisError:
            callbacks(adapter.platform, "redis_down").inc()
            REDIS_ERRORS.labels("webhook").inc()
            raise
        ack_seconds(adapter.platform).observe(time.perf_counter() - started)
        return result
