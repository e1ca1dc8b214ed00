"""The web channel's answer handed from a worker process to the HTTP process that waits for it.

An HTTP process of a ``kefu serve`` with worker processes holds no model (bot/runtime/server.py):
it queues a ``/api/chat`` message like any platform's, and the worker that answers it pushes the
whole reply (intent, confidence, risk, action...) onto a list of its own in Redis, which the HTTP
process waits on. A reply nobody waits for any more expires with its list.
"""

from __future__ import annotations

import json
from dataclasses import asdict

import redis.asyncio as aredis

from bot.pipeline import Reply
from bot.redis_store import Keys

WEB = "web"
REPLY_TTL_SECONDS = 60


class WebReplies:
    def __init__(self, redis: aredis.Redis, keys: Keys) -> None:
        self.redis = redis
        self.keys = keys

    def _key(self, message_id: str) -> str:
        return self.keys.of("web-reply", message_id)

    async def publish(self, message_id: str, reply: Reply) -> None:
        """The worker's side: the reply to message ``message_id``."""
        key = self._key(message_id)
        await self.redis.rpush(key, json.dumps(asdict(reply), ensure_ascii=False))
        await self.redis.expire(key, REPLY_TTL_SECONDS)

    async def wait(self, message_id: str, timeout_seconds: float) -> Reply | None:
        """The HTTP process's side: the reply, or None when none came in time."""
        found = await self.redis.blpop([self._key(message_id)], timeout=timeout_seconds)
        if found is None:
            return None
        return Reply(**json.loads(found[1]))
