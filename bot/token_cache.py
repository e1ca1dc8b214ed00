"""Platform access tokens cached in Redis, shared by every kefu process, refreshed before expiry.

Only one process fetches a token at a time (a short Redis lock); the others wait for its result
instead of each spending one of the platform's limited token calls.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aredis

from bot.http import HttpResponse
from bot.message import SendResult
from bot.redis_store import Keys, Lease

# A fetcher returns the token and its lifetime in seconds, as the platform reported them.
TokenFetcher = Callable[[], Awaitable[tuple[str, int]]]

REFRESH_MARGIN_SECONDS = 300  # refresh this long before the platform's expiry
_LOCK_SECONDS = 10


class TokenCache:
    def __init__(self, redis: aredis.Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys
        self._local: dict[str, tuple[str, float]] = {}  # name -> (token, expires_at monotonic)

    async def get(self, name: str, fetch: TokenFetcher) -> str:
        """The cached token for ``name`` (e.g. ``wecom:default``), fetching it when due."""
        cached = self._local.get(name)
        if cached and cached[1] > time.monotonic():
            return cached[0]
        key = self._keys.of("token", name)
        for _ in range(_LOCK_SECONDS * 20):
            value, ttl = await self._redis.get(key), await self._redis.ttl(key)
            if value is not None and ttl > 0:
                self._remember(name, value.decode(), ttl)
                return value.decode()
            lock = Lease(self._redis, key + ":lock", uuid.uuid4().hex, _LOCK_SECONDS * 1000)
            if await lock.hold():
                try:
                    token, lifetime = await fetch()
                    keep = max(lifetime - REFRESH_MARGIN_SECONDS, min(lifetime, 60))
                    await self._redis.set(key, token.encode(), ex=keep)
                    self._remember(name, token, keep)
                    return token
                finally:
                    await lock.release()  # ours only: a slow fetch may have outlived its lock
            await asyncio.sleep(0.05)
        raise TimeoutError(f"no access token for {name}: another process holds the refresh lock")

    async def invalidate(self, name: str) -> None:
        """Forget a token the platform rejected (expired or revoked) so the next call refetches."""
        self._local.pop(name, None)
        await self._redis.delete(self._keys.of("token", name))

    def _remember(self, name: str, token: str, ttl: int) -> None:
        # A short local copy saves a Redis round trip per send; never longer than Redis keeps it.
        self._local[name] = (token, time.monotonic() + min(ttl, 60))


class TokenUnavailable(Exception):
    """No token could be fetched; ``retryable`` when the platform was down or throttling rather
    than refusing our credentials."""

    def __init__(self, reason: str, retryable: bool) -> None:
        super().__init__(reason)
        self.retryable = retryable


class TokenRejected(Exception):
    """The platform refused a cached token (expired, revoked): forget it and try again."""


async def send_with_token(
    tokens: TokenCache, name: str, fetch: TokenFetcher, call: Callable[[str], Awaitable[SendResult]]
) -> SendResult:
    """``call(token)`` with the shared token for ``name``, turning token trouble into a SendResult."""
    try:
        return await call(await tokens.get(name, fetch))
    except TokenUnavailable as e:
        return SendResult(ok=False, retryable=e.retryable, error=str(e))
    except TokenRejected as e:
        await tokens.invalidate(name)
        return SendResult.retry(str(e))
    except TimeoutError as e:  # another process holds the token refresh lock
        return SendResult.retry(str(e))


def json_object(response: HttpResponse) -> dict[str, Any]:
    """A platform's JSON answer as a dict; anything else (HTML error pages...) as an empty one."""
    try:
        payload = response.json()
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}
