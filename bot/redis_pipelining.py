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

import hiredis
import redis.asyncio as aredis
from redis.exceptions import DataError, ResponseError

from bot.coalesce import Coalescer

_BLOCKING = frozenset({"BLPOP", "BRPOP", "BLMOVE", "BLMPOP", "BRPOPLPUSH", "BZPOPMIN", "BZPOPMAX", "BZMPOP", "WAIT"})
_BLOCKING_WITH_OPTION = frozenset({"XREAD", "XREADGROUP"})

Command = tuple[tuple[Any, ...], dict[str, Any]]


def _blocks(args: tuple[Any, ...]) -> bool:
    name = args[0].decode() if isinstance(args[0], bytes) else str(args[0])
    name = name.upper()
    return name in _BLOCKING or (name in _BLOCKING_WITH_OPTION and ("BLOCK" in args or b"BLOCK" in args))


class _HiredisPacking:
    """Commands packed by hiredis (C) instead of redis-py's Python packer, which cost about as
    much per command as everything else the client does for it."""

    def pack_command(self, *args: Any) -> list[bytes]:
        return [_pack(args)]


def _pack(args: tuple[Any, ...]) -> bytes:
    if isinstance(args[0], str) and " " in args[0]:  # "XGROUP CREATE": two protocol words
        args = (*args[0].split(), *args[1:])
    try:
        return hiredis.pack_command(args)
    except TypeError as e:  # None, a bool, a list...: the caller's mistake, as redis-py says it
        raise DataError(f"{e} (command {args[0]!r})") from None


class PipeliningRedis(aredis.Redis):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._batches: Coalescer[Command, Any] = Coalescer(self._send_batch)
        # Connections are made on first use, so the pool's class (TCP, TLS or unix socket, as
        # the URL said) can still gain the faster packer.
        pool = self.connection_pool
        pool.connection_class = type(
            f"Hiredis{pool.connection_class.__name__}", (_HiredisPacking, pool.connection_class), {}
        )

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        if _blocks(args):
            return await super().execute_command(*args, **options)
        return await self._batches.submit((args, options))

    async def _send_batch(self, batch: list[Command]) -> list[Any]:
        """One result per command; a command's own error (a ResponseError, or a DataError for an
        argument that cannot be sent) is its result, raised to its caller alone. A connection
        error fails the whole batch."""
        if len(batch) == 1:  # a pipeline of one costs twice a plain call
            return [await self._send_one(*batch[0])]
        try:
            async with self.pipeline(transaction=False) as pipe:
                for args, options in batch:
                    pipe.execute_command(*args, **options)
                return await pipe.execute(raise_on_error=False)
        except DataError:
            # Packing failed before anything was sent: one by one, only the culprit fails.
            return [await self._send_one(args, options) for args, options in batch]

    async def _send_one(self, args: tuple[Any, ...], options: dict[str, Any]) -> Any:
        try:
            return await super().execute_command(*args, **options)
        except (ResponseError, DataError) as e:
            return e
