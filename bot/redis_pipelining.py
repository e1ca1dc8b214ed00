"""A Redis client that sends the commands of concurrent tasks together (auto-pipelining).

A customer message costs some thirty Redis commands on its way through the queue consumers,
the pipeline and the outbox. Sent one by one, each paid a socket write, a wake-up of
redis-server and a read; at a thousand messages a second those round trips, not the work, used
the CPU. Here, commands issued while a batch is in flight go out together in the next one, as
a pipeline (not a transaction: every command keeps its own result or error). At low load a
batch holds one command and costs what a direct call did. Blocking commands, which would hold
up everyone's batch, go out directly on their own connection.

Batches go over one connection of their own, written and read here rather than through
redis-py's ``Pipeline``, whose per-batch machinery (a command stack, a pooled connection checked
out and probed for stray data, its own packer) we do not need: `bench/redis_batches.py`
measured 10.8 and 19.1 against 12.4 and 21.2 µs of CPU a command with 32 and 8 callers at once,
48 against 61 µs alone. Replies are still read and converted by redis-py (``parse_response``).
A batch that loses its connection fails (after the retries configured on the client, none by
default) and the next one reconnects; a connection idle for a second is checked first, as the
pool checks the connections it hands out.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import hiredis
import redis.asyncio as aredis
from redis.asyncio.connection import AbstractConnection
from redis.exceptions import DataError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.coalesce import Coalescer
from bot.metrics import REDIS_ERRORS

log = logging.getLogger(__name__)

# A batch connection idle this long is checked before use, as the pool checks the connections
# it hands out: the server, or a proxy, may have closed it meanwhile. Busy, it is not checked.
IDLE_CHECK_SECONDS = 1.0
RETRY_MAX_SECONDS = 1.0  # how long, at most, between tries of ``send_until_taken``
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


@dataclass(slots=True)
class _BatchLine:
    """The batches' connection, taken from the pool for good (so that closing the pool closes
    it) on first use, with the loop it belongs to and a lock that keeps one batch on it at a time."""

    loop: asyncio.AbstractEventLoop
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    connection: AbstractConnection | None = None
    used: float = 0.0  # the loop's time at the end of the last batch


class PipeliningRedis(aredis.Redis):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._batches: Coalescer[Command, Any] = Coalescer(self._send_batch)
        self._batch_line: _BatchLine | None = None
        self._batch_timeout: float | None = self.connection_pool.connection_kwargs.get("socket_timeout")
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

    async def execute_together(self, commands: list[tuple[Any, ...]]) -> list[Any]:
        """Several commands in one round trip (joining other tasks' batch when one is in flight);
        a result per command, the exception as the result of a command that failed."""
        return await self._batches.submit_many([(args, {}) for args in commands])

    async def _send_batch(self, batch: list[Command]) -> list[Any]:
        """One result per command; a command's own error (a ResponseError, or a DataError for an
        argument that cannot be sent) is its result, raised to its caller alone. A connection
        error that outlasts redis-py's retries fails the whole batch."""
        packed: list[bytes] = []
        results: list[Any] = [None] * len(batch)
        to_send: list[tuple[int, Command]] = []
        for i, (args, options) in enumerate(batch):
            try:
                packed.append(_pack(args))
            except DataError as e:  # nothing of it goes out; the rest of the batch does
                results[i] = e
                continue
            to_send.append((i, (args, options)))
        if to_send:
            line = self._line()
            async with line.lock:
                if line.connection is None:
                    line.connection = await self.connection_pool.get_connection()
                elif line.loop.time() - line.used > IDLE_CHECK_SECONDS:
                    await self.connection_pool.ensure_connection(line.connection)  # reconnects a closed one
                connection = line.connection
                connection.socket_timeout = None  # the batch's own deadline stands for it (``_exchange``)
                replies = await connection.retry.call_with_retry(
                    lambda: self._exchange(connection, packed, to_send), lambda _: connection.disconnect()
                )
                line.used = line.loop.time()
            for (i, _), reply in zip(to_send, replies, strict=True):
                results[i] = reply
        return results

    def _line(self) -> _BatchLine:
        """This loop's batch line, made without awaiting anything: two batches in flight at
        once (a direct call and the drainer's) must queue on one lock. When the first opened its
        own line while the second awaited a connection for another, they went out on two
        connections and a later command could overtake an earlier one."""
        loop = asyncio.get_running_loop()
        if self._batch_line is None or self._batch_line.loop is not loop:
            # First use, or a client used again under another event loop (a CLI command after
            # the server's): that loop's connection cannot be read from this one.
            self._batch_line = _BatchLine(loop)
        return self._batch_line

    async def _exchange(
        self, connection: AbstractConnection, packed: list[bytes], batch: list[tuple[int, Command]]
    ) -> list[Any]:
        """Send the batch in one write and read every reply, so that the connection stays in step
        (a read interrupted midway disconnects it, and the next batch reconnects).

        One deadline, the client's ``socket_timeout``, covers the whole exchange: redis-py's own,
        with the connection's timeout set, wraps the write in a task of its own and every reply
        read in a timeout context, which cost a batch as much as parsing its replies."""
        replies: list[Any] = []
        try:
            async with asyncio.timeout(self._batch_timeout):
                await connection.send_packed_command(packed)
                for _, (args, options) in batch:
                    try:
                        replies.append(await self.parse_response(connection, args[0], **options))
                    except ResponseError as e:
                        replies.append(e)
        except TimeoutError:  # ours (redis-py's own TimeoutError is a RedisError)
            await connection.disconnect(nowait=True)
            raise RedisTimeoutError(f"no reply to a batch of {len(batch)} within {self._batch_timeout}s") from None
        return replies


async def send_together(redis: aredis.Redis, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
    """``commands`` in one round trip on a pipelining client, one after another on any other; a
    result per command, the exception as the result of a command that failed."""
    if isinstance(redis, PipeliningRedis):
        return await redis.execute_together(commands)
    results: list[Any] = []
    for args in commands:
        try:
            results.append(await redis.execute_command(*args))
        except Exception as e:
            results.append(e)
    return results


async def send_until_taken(redis: aredis.Redis, commands: Sequence[tuple[Any, ...]], where: str) -> None:
    """``commands`` in one round trip, and those that failed again, in order, until Redis has
    taken every one: for writes that record what already happened outside (a reply the
    platform took), which given up on would let it happen twice. Waits 0.05 s between tries,
    doubling up to ``RETRY_MAX_SECONDS``; ``where`` labels the errors counted meanwhile."""
    delay = 0.05
    pending = list(commands)
    while True:
        results = await send_together(redis, pending)
        pending = [command for command, result in zip(pending, results, strict=True) if isinstance(result, Exception)]
        if not pending:
            return
        REDIS_ERRORS.labels(where).inc()
        error = next(r for r in results if isinstance(r, Exception))
        log.warning("%s: %d writes not taken yet (%s); again in %.2fs", where, len(pending), error, delay)
        await asyncio.sleep(delay)
        delay = min(2 * delay, RETRY_MAX_SECONDS)
