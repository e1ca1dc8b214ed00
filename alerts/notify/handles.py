"""Short handles for customers in staff chats: ``/release 3`` instead of the platform's raw id.

A hand-over alert shows the masked customer and a number; staff answer with the number, and the
raw customer key stays in Redis instead of spreading through work chats. A customer keeps its
number while alerts about it keep coming; a number unused for ``ttl_seconds`` is forgotten.
"""

from __future__ import annotations

import redis.asyncio as aredis

from bot.redis_store import Keys

DEFAULT_TTL_SECONDS = 7 * 86400


class CustomerHandles:
    def __init__(self, redis: aredis.Redis, keys: Keys, ttl_seconds: int = DEFAULT_TTL_SECONDS) -> None:
        self._redis = redis
        self._keys = keys
        self._ttl = ttl_seconds

    def _of_customer(self, customer_key: str) -> str:
        return self._keys.customer(customer_key, "handle")

    def _of_handle(self, handle: str) -> str:
        return self._keys.of("handles", handle)

    async def handle_for(self, customer_key: str) -> str:
        """The customer's number, given on first use. Two alerts racing for a new customer may
        each draw a number; the first one stored wins and the other is never shown."""
        mine = self._of_customer(customer_key)
        known = await self._redis.get(mine)
        if known is None:
            drawn = str(await self._redis.incr(self._keys.of("handles", "next")))
            if not await self._redis.set(mine, drawn, nx=True, ex=self._ttl):
                known = await self._redis.get(mine)
        handle = known.decode() if known is not None else drawn
        async with self._redis.pipeline(transaction=False) as pipe:  # both kept while in use
            pipe.expire(mine, self._ttl)
            pipe.set(self._of_handle(handle), customer_key, ex=self._ttl)
            await pipe.execute()
        return handle

    async def resolve(self, handle: str) -> str | None:
        """The customer key a number stands for (None: unknown or forgotten)."""
        handle = handle.strip().lstrip("#")
        if not handle.isdigit():
            return None
        raw = await self._redis.get(self._of_handle(handle))
        return raw.decode() if raw is not None else None
