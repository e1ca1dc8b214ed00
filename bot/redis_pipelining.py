"""A Redis client that sends the commands of concurrent tasks together (auto-pipelining).

A customer message costs some thirty Redis commands on its way through the queue consumers,
the pipeline and the outbox. Sent one by one, each paid a socket write, a wake-up of
redis-server and a read; at a thousand messages a second those round trips, not the work, used
the CPU. Here, commands issued while a batch is in flight go out together in the next one, as
a pipeline (not a transaction: every command keeps its own result or error). At low load a
batch holds one command and costs what a direct call did. Blocking commands, which would hold
up everyone's batch, go out directly on their own connection.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as aredis

from bot.coalesce import Coalescer

_BLOCKING = frozenset({"BLPOP", "BRPOP", "BLMOVE", "BLMPOP", "BRPOPLPUSH", "BZPOPMIN", "BZPOPMAX", "BZMPOP", "WAIT"})
_BLOCKING_WITH_OPTION = frozenset({"XREAD", "XREADGROUP"})

Command = tuple[tuple[Any, ...], dict[str, Any]]


def _blocks(args: tuple[Any, ...]) -> bool:
    name = args[0].decode() if isinstance(args[0], bytes) else str(args[0])
    name = name.upper()
    return name in _BLOCKING or (name in _BLOCKING_WITH_OPTION and ("BLOCK" in args or b"BLOCK" in args))


class PipeliningRedis(aredis.Redis):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._batches: Coalescer[Command, Any] = Coalescer(self._send_batch)

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        if _blocks(args):
            return await super().execute_command(*args, **options)
        return await self._batches.submit((args, options))

    async def _send_batch(self, batch: list[Command]) -> list[Any]:
        """One result per command; a command's own error (a ResponseError) is its result, and
        raised to its caller alone. A connection error fails the whole batch."""
        async with self.pipeline(transaction=False) as pipe:
            for args, options in batch:
                pipe.execute_command(*args, **options)
            return await pipe.execute(raise_on_error=False)
