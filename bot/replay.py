"""Signatures that cover no body, bound to the body they came with.

DingTalk's callback signature covers only the timestamp, and a WeChat official account in plain
mode signs only token, timestamp and nonce: captured headers (or a URL) would carry any new body
for as long as the timestamp stays fresh. The first callback that uses a signature binds it to
its body's digest for the replay window. The same signature with the same body again is the
platform retrying (the message-id dedupe behind takes it); with another body it is refused,
except a *sibling*: DingTalk signs a millisecond timestamp, so two messages sent in the same
millisecond share a signature. A sibling must arrive within ``siblings_within`` seconds of the
first, and is never trusted with what only a first-seen signature may do (staff commands).
"""

from __future__ import annotations

import hashlib
from enum import Enum

import redis.asyncio as aredis

from bot.channel import WebhookError
from bot.redis_store import Keys

MIN_TTL_SECONDS = 3600  # the platforms' own freshness window, kept even when the check is off


class Seen(Enum):
    FIRST = "first"  # this signature's first use
    AGAIN = "again"  # the same body again: the platform's retry
    SIBLING = "sibling"  # another body, moments after the first (same-millisecond messages)


class ReplayGuard:
    def __init__(self, redis: aredis.Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys

    async def admit(
        self, scope: str, signature: str, body: bytes, now: float, window_seconds: int, siblings_within: float = 0.0
    ) -> Seen:
        """How this use of ``signature`` (of app ``scope``) stands; 403 when it is a replay."""
        key = self._keys.of("replay", scope, hashlib.sha256(signature.encode()).hexdigest()[:32])
        digest = hashlib.sha256(body).hexdigest()[:32]
        ttl = max(int(window_seconds), MIN_TTL_SECONDS)
        if await self._redis.set(key, f"{digest}|{now}", nx=True, ex=ttl):
            return Seen.FIRST
        seen = await self._redis.get(key)
        if seen is None:  # expired in between: as good as first
            return Seen.FIRST
        first_digest, _, first_at = seen.decode().partition("|")
        if first_digest == digest:
            return Seen.AGAIN
        if siblings_within and now - float(first_at or 0) <= siblings_within:
            return Seen.SIBLING
        raise WebhookError(403, "signature already used with another body (replay)")
