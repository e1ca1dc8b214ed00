"""What the shop API client and the 快递100 client share: one guarded HTTP call, a circuit
breaker, a Redis answer cache, and log references that carry no personal data.

- ``guarded_call``: one request with a timeout, a body size limit and, when the caller says the
  request is safe to repeat, bounded retries on connection errors and 5xx; transport failures
  become ``Unavailable`` with a reason code;
- ``Breaker``: after ``threshold`` consecutive failures calls are refused for ``cooldown``
  seconds; then one trial call decides (``breaker_decide``/``breaker_record`` are pure);
- ``AnswerCache``: validated answer bodies for a few seconds; Redis trouble only costs the cache.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

import redis.asyncio as aredis
from redis.exceptions import RedisError
from yarl import URL

from bot.http import HttpClient, HttpError, HttpResponse, HttpTimeout, ResponseTooLarge
from bot.lookups import Unavailable

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024  # an order list or a tracking answer is a few kB
RETRY_DELAYS = (0.1, 0.3)  # GETs: at most two more tries, soon, while the customer waits


def ref(value: str) -> str:
    """A stable, non-reversible reference to an order id or waybill for logs and cache keys."""
    return hashlib.sha256(value.encode()).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    threshold: int = 5  # consecutive failures that open the circuit
    cooldown: float = 30.0  # seconds it stays open before one trial call


@dataclass(frozen=True, slots=True)
class BreakerState:
    failures: int = 0  # consecutive
    open_until: float = 0.0  # calls are refused while now < open_until


def breaker_decide(state: BreakerState, now: float, policy: BreakerPolicy) -> tuple[bool, BreakerState]:
    """May a call go out now? After a cool-down one trial call goes; others wait another cool-down."""
    if now < state.open_until:
        return False, state
    if state.failures >= policy.threshold:
        return True, BreakerState(state.failures, now + policy.cooldown)
    return True, state


def breaker_record(state: BreakerState, ok: bool, now: float, policy: BreakerPolicy) -> BreakerState:
    """The state after a call: success closes the circuit; the threshold-th failure opens it."""
    if ok:
        return BreakerState()
    failures = state.failures + 1
    return BreakerState(failures, now + policy.cooldown if failures >= policy.threshold else state.open_until)


DEFAULT_BREAKER = BreakerPolicy()


class Breaker:
    """One circuit per remote system, per process, on an injected (monotonic) clock."""

    def __init__(self, name: str, clock: Callable[[], float], policy: BreakerPolicy = DEFAULT_BREAKER) -> None:
        self.name = name
        self._clock = clock
        self._policy = policy
        self.state = BreakerState()

    def allow(self) -> bool:
        allowed, self.state = breaker_decide(self.state, self._clock(), self._policy)
        return allowed

    def record(self, ok: bool) -> None:
        was_open = self.state.failures >= self._policy.threshold
        self.state = breaker_record(self.state, ok, self._clock(), self._policy)
        if not ok and self.state.failures == self._policy.threshold:
            log.warning(
                "%s: circuit opened after %d failures in a row; calls refused for %.0f s",
                self.name,
                self.state.failures,
                self._policy.cooldown,
            )
        elif ok and was_open:
            log.info("%s: circuit closed, the trial call succeeded", self.name)


async def guarded_call(
    http: HttpClient,
    method: str,
    url: URL,
    *,
    name: str,
    timeout: float,
    headers: dict[str, str] | None = None,
    content: bytes | None = None,
    retry: bool = False,
    max_bytes: int = MAX_BODY_BYTES,
) -> HttpResponse:
    """An answer below 500, else ``Unavailable``; ``name`` (no personal data) goes in the log line."""
    delays = RETRY_DELAYS if retry else ()
    for attempt in range(len(delays) + 1):
        try:
            response = await http.request(
                method, url, headers=headers, content=content, timeout=timeout, max_bytes=max_bytes
            )
        except HttpTimeout:
            log.warning("%s: no answer within %.1f s", name, timeout)
            raise Unavailable("timeout") from None
        except ResponseTooLarge as e:
            log.warning("%s: answer refused, body %s", name, e)
            raise Unavailable("too_large") from None
        except HttpError as e:
            if attempt < len(delays):
                await asyncio.sleep(delays[attempt])
                continue
            log.warning("%s: cannot connect (%s) after %d attempt(s)", name, e, attempt + 1)
            raise Unavailable("connect") from None
        if response.status_code < 500:
            return response
        if attempt < len(delays):
            await asyncio.sleep(delays[attempt])
            continue
        log.warning("%s: HTTP %d after %d attempt(s)", name, response.status_code, attempt + 1)
        raise Unavailable("server_error", f"HTTP {response.status_code}")
    raise AssertionError("unreachable")


class AnswerCache:
    """Answer bodies in Redis for ``ttl`` seconds; a Redis failure is a miss, logged once."""

    def __init__(self, redis: aredis.Redis, name: str) -> None:
        self._redis = redis
        self._name = name
        self._warned = False

    async def get(self, key: str) -> bytes | None:
        try:
            return await self._redis.get(key)
        except (RedisError, OSError) as e:
            self._warn(e)
            return None

    async def put(self, key: str, body: bytes, ttl: int) -> None:
        try:
            await self._redis.set(key, body, ex=ttl)
        except (RedisError, OSError) as e:
            self._warn(e)

    def _warn(self, e: Exception) -> None:
        if not self._warned:
            self._warned = True
            log.warning("%s: answer cache unavailable (%s); asking without it", self._name, type(e).__name__)
