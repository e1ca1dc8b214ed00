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
        # Callers waiting for the next batch: each with its items and one future for all of them.
        self._pending: list[tuple[list[T], asyncio.Future[list[R | BaseException]]]] = []
        self._drainer: asyncio.Task[None] | None = None
        self._direct_in_flight = False

    async def submit(self, item: T) -> R:
        """The result for ``item``; raises the exception its batch raised, or the exception
        ``call_batch`` returned as the item's result."""
        result: R | BaseException
        if self._idle():
            self._direct_in_flight = True
            try:
                (result,) = await self._call_batch([item])
            finally:
                self._direct_in_flight = False
        else:
            (result,) = await self._join([item])
        if isinstance(result, BaseException):
            raise result
        return result

    async def submit_many(self, items: list[T]) -> list[R | BaseException]:
        """The results for ``items``, sent in one batch, in order: each is a result or the
        exception for that item; nothing is raised but a cancellation."""
        if not self._idle():
            return await self._join(items)
        self._direct_in_flight = True
        try:
            return list(await self._call_batch(items))
        except Exception as e:  # the batch failed: every item with it
            return [e] * len(items)
        finally:
            self._direct_in_flight = False

    def _idle(self) -> bool:
        """Nothing in flight or waiting: a call can go straight out, without a task or a future.
        Whatever comes meanwhile is batched by the drainer."""
        drainer = self._drainer
        draining = drainer is not None and not drainer.done() and drainer.get_loop() is asyncio.get_running_loop()
        return not (draining or self._pending or self._direct_in_flight)

    async def _join(self, items: list[T]) -> list[R | BaseException]:
        """Wait for the next batch to carry ``items``: one future for the caller, whatever their number."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[R | BaseException]] = loop.create_future()
        self._pending.append((items, future))
        drainer = self._drainer
        if drainer is None or drainer.done() or drainer.get_loop() is not loop:
            self._drainer = loop.create_task(self._drain())
        return await future

    async def _drain(self) -> None:
        while self._pending:
            taken = 0
            batch: list[T] = []
            for items, _ in self._pending:  # whole callers, up to ``max_batch`` items (at least one caller)
                if batch and len(batch) + len(items) > self._max_batch:
                    break
                batch.extend(items)
                taken += 1
            callers = self._pending[:taken]
            del self._pending[:taken]
            try:
                results: list[R | BaseException] = list(await self._call_batch(batch))
            except asyncio.CancelledError:
                for _, future in callers:
                    future.cancel()
                raise
            except BaseException as e:  # every caller of the batch gets the failure, then we go on
                for items, future in callers:
                    if not future.done():
                        future.set_result([e] * len(items))
                continue
            start = 0
            for items, future in callers:
                mine, start = results[start : start + len(items)], start + len(items)
                if not future.done():  # a caller that gave up (client went away) is skipped
                    future.set_result(mine)
