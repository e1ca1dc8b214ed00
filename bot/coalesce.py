"""Coalescing of concurrent calls into one batch call (one Redis round trip for many callers).

Thirty-two webhook requests in flight, or sixteen partition consumers, each used to pay a whole
Redis round trip, and redis-py's per-call overhead, for every command. Coalesced, what is
submitted while a batch is in flight goes out together in the next batch: under load the
batches grow by themselves. When nothing is in flight a call goes straight out, costing what a
direct call did. Calls of one task keep their order (each awaits the one before); calls of
different tasks have none to keep.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Coalescer(Generic[T, R]):
    def __init__(self, call_batch: Callable[[list[T]], Awaitable[Sequence[R]]], max_batch: int = 256) -> None:
        self._call_batch = call_batch
        self._max_batch = max_batch
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._drainer: asyncio.Task[None] | None = None
        self._direct_in_flight = False

    async def submit(self, item: T) -> R:
        """The result for ``item``; raises the exception its batch raised, or the exception
        ``call_batch`` returned as the item's result."""
        loop = asyncio.get_running_loop()
        drainer = self._drainer
        draining = drainer is not None and not drainer.done() and drainer.get_loop() is loop
        if not (draining or self._pending or self._direct_in_flight):
            return await self._direct(item)
        future: asyncio.Future[R] = loop.create_future()
        self._pending.append((item, future))
        if not draining:
            self._drainer = loop.create_task(self._drain())
        return await future

    async def submit_many(self, items: list[T]) -> list[R | BaseException]:
        """The results for ``items``, sent in one batch (two under a full queue, in order): each
        is a result or the exception for that item; nothing is raised but a cancellation."""
        loop = asyncio.get_running_loop()
        drainer = self._drainer
        draining = drainer is not None and not drainer.done() and drainer.get_loop() is loop
        if not (draining or self._pending or self._direct_in_flight):
            self._direct_in_flight = True
            try:
                return list(await self._call_batch(items))
            except Exception as e:  # the batch failed: every item with it
                return [e] * len(items)
            finally:
                self._direct_in_flight = False
        futures: list[asyncio.Future[R]] = []
        for item in items:
            futures.append(loop.create_future())
            self._pending.append((item, futures[-1]))
        if not draining:
            self._drainer = loop.create_task(self._drain())
        return list(await asyncio.gather(*futures, return_exceptions=True))

    async def _direct(self, item: T) -> R:
        """Nothing to join: out now, without a task or a future. Whatever comes meanwhile is
        batched by the drainer."""
        self._direct_in_flight = True
        try:
            (result,) = await self._call_batch([item])
        finally:
            self._direct_in_flight = False
        if isinstance(result, Exception):
            raise result
        return result

    async def _drain(self) -> None:
        while self._pending:
            batch = self._pending[: self._max_batch]
            del self._pending[: self._max_batch]
            try:
                results = await self._call_batch([item for item, _ in batch])
            except BaseException as e:  # every caller of the batch gets the failure, then we go on
                for _, future in batch:
                    if not future.done():
                        future.set_exception(e)
                if isinstance(e, asyncio.CancelledError):
                    raise
                continue
            for (_, future), result in zip(batch, results, strict=True):
                if future.done():  # a caller that gave up (client went away) is skipped
                    continue
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)
