"""Per-destination rate limits (GCRA), shared by all processes through Redis.

The platforms throttle per robot, per app or per user; going over gets us blocked (DingTalk
robots: 10 minutes). We never drop: a message over the limit waits until its slot.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis.asyncio as aredis

from bot.redis_scripts import LuaScript
from bot.redis_store import Keys

# Theoretical arrival time per key; returns 0 when allowed now, else the milliseconds to wait.
_GCRA = """
local now, interval, burst = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local allow_at = tat + interval - burst * interval
if allow_at > now then return allow_at - now end
redis.call('SET', KEYS[1], tat + interval, 'PX', math.ceil(tat + interval - now + 1000))
return 0
"""


@dataclass(frozen=True, slots=True)
class Rate:
    per_minute: float
    burst: int = 1

    @property
    def interval_ms(self) -> float:
        return 60_000 / self.per_minute


class RateLimiter:
    def __init__(self, redis: aredis.Redis, keys: Keys) -> None:
        self._keys = keys
        self._script = LuaScript(redis, _GCRA)

    def _call(self, key: str, rate: Rate, now: float) -> tuple[list[str], list[Any]]:
        return [self._keys.of("rate", key)], [int(now * 1000), rate.interval_ms, rate.burst]

    def command(self, key: str, rate: Rate, now: float) -> tuple[Any, ...]:
        """Ask for a slot, as a command to send together with others; its reply through ``wait_from``."""
        return self._script.command(*self._call(key, rate, now))

    async def wait_from(self, reply: Any, key: str, rate: Rate, now: float) -> int:
        """0 and a slot taken, or how long to wait before asking again."""
        return int(await self._script.reply(reply, *self._call(key, rate, now)))
