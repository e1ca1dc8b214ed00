"""Lua scripts run by their SHA1 and loaded when the server does not know them yet.

What redis-py's ``register_script`` does, without its per-call checks of the client against
its pipeline classes: those are Protocol ``isinstance`` checks, and on the paths every message
takes (the queue, the rate limit, the contact log) they cost more than sending the script.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aredis
from redis.exceptions import NoScriptError


class LuaScript:
    def __init__(self, redis: aredis.Redis | aredis.RedisCluster, source: str) -> None:
        self._redis = redis
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    def command(self, keys: Sequence[Any] = (), args: Sequence[Any] = ()) -> tuple[Any, ...]:
        """The script's call as a command, to send together with others (``send_together``);
        its reply goes through ``reply``."""
        return ("EVALSHA", self.sha, len(keys), *keys, *args)

    async def reply(self, result: Any, keys: Sequence[Any] = (), args: Sequence[Any] = ()) -> Any:
        """The result of ``command``: run on its own when the server did not know the script."""
        if isinstance(result, NoScriptError):
            return await self(keys, args)
        if isinstance(result, Exception):
            raise result
        return result

    async def __call__(self, keys: Sequence[Any] = (), args: Sequence[Any] = ()) -> Any:
        try:
            return await self._redis.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:  # a new server, a restarted one, or SCRIPT FLUSH
            self.sha = await self._redis.script_load(self.source)
            return await self._redis.evalsha(self.sha, len(keys), *keys, *args)
