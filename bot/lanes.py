"""Work run in order per key and in parallel across keys: one lane per key.

A queue partition holds many customers. Handled one message at a time, a partition went as fast
as its messages' chains of Redis round trips allowed, and a customer waited behind everyone who
hashed to the same partition, a whole retry backoff (up to 32 s) included. In lanes, a message
waits only for the earlier messages of its own key.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable, Hashable

log = logging.getLogger(__name__)


class KeyedLanes:
    """Runs submitted work at most ``limit`` at a time: in submission order for one key,
    concurrently for different keys."""

    def __init__(self, limit: int) -> None:
        self._slots = asyncio.Semaphore(limit)
        self._tails: dict[Hashable, asyncio.Task[None]] = {}  # the last work submitted per key
        self._running: set[asyncio.Task[None]] = set()  # started or waiting for their lane
        self._closing = False

    async def submit(self, key: Hashable, work: Callable[[], Awaitable[None]]) -> None:
        """Start ``work`` once a slot is free and the key's earlier work is done; returns when
        it has started waiting (not when it is done). Work must handle its own errors."""
        await self._slots.acquire()
        task = asyncio.create_task(self._run(self._tails.get(key), work))
        self._tails[key] = task
        self._running.add(task)
        task.add_done_callback(lambda done: self._forget(key, done))

    async def _run(self, previous: asyncio.Task[None] | None, work: Callable[[], Awaitable[None]]) -> None:
        try:
            if previous is not None:
                # Its outcome is its own: even a failed or cancelled predecessor frees the lane.
                await asyncio.wait([previous])
            if not self._closing:
                await work()
        finally:
            self._slots.release()

    def _forget(self, key: Hashable, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        if self._tails.get(key) is task:
            del self._tails[key]
        if not task.cancelled() and task.exception() is not None:
            # A lane's key names a customer: the log gets a digest of it, never the id itself.
            digest = hashlib.sha256(repr(key).encode()).hexdigest()[:12]
            log.error("work in lane %s failed", digest, exc_info=task.exception())

    async def close(self, grace: float) -> None:
        """Stop: work not yet started never starts, and work under way gets ``grace`` seconds
        to finish before it is cancelled. A queue's unfinished work is handled again by whoever
        takes the queue over; letting it finish first spares the platform a second reply where
        it offers no idempotency key."""
        self._closing = True
        try:
            if self._running:
                await asyncio.wait(list(self._running), timeout=grace)
        finally:  # cancelled while waiting too: nothing may outlive its lanes
            left = list(self._running)
            for task in left:
                task.cancel()
        if left:
            await asyncio.wait(left, timeout=1)
