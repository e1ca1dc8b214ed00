"""Durable work queues on Redis streams, consumed in order per key and in parallel across keys.

A queue is split into partitions (one stream each); a routing key (the customer, the destination)
always maps to the same partition. Each process leases partitions (a Redis key with an expiry
that it keeps renewing) and runs one consumer task per leased partition, so messages of one key
are handled one at a time, in order, while different keys go in parallel. One reader per
process fetches for all its partitions, lingering a few milliseconds after each catch, so that
messages close in time are handled together and share Redis round trips. Within a partition,
entries of different routing keys are handled concurrently (``bot/lanes.py``); each entry
records its key for that. When a process dies, its leases expire; the next owner first
re-handles what the dead one had read but not acknowledged (XAUTOCLAIM), so nothing is lost.
Handlers must be idempotent: the outbox's sent mark makes "send the reply to this message"
happen once however often the message is handled (``OutboxSender.send_now``); the mark goes out
with the entry's acknowledgement, in its round trip.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import zlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import redis.asyncio as aredis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import RedisError, ResponseError

from bot.channel import TaskRetry
from bot.coalesce import Coalescer
from bot.lanes import KeyedLanes
from bot.metrics import DEAD_LETTERS, REDIS_ERRORS
from bot.redis_pipelining import send_until_taken
from bot.redis_scripts import LuaScript
from bot.redis_store import Keys, Lease

log = logging.getLogger(__name__)

# For each entry: unless its dedupe key is in its routing key's set of keys enqueued (or, from a
# version before those sets, its own marker key), XADD it and add the key to the set. The set is
# a sorted set by time, trimmed to the entry's window first: small sets of one customer's or one
# destination's keys are stored compactly by Redis, where a marker key per message held most of
# its memory under load (docs/benchmarks.md#memory). A stream that already holds ARGV[1] entries
# refuses the entry (its key stays unseen), so that the caller can say "retry later" instead of
# the stream dropping entries it has promised to keep.
# KEYS = set_1, stream_1, old marker_1, set_2, stream_2, old marker_2, ...;
# ARGV = max entries, now (whole seconds), then per entry: window seconds, dedupe key, payload, routing key.
# Returns 1 (enqueued), 0 (seen before) or -1 (stream full) per entry. Atomic per batch, one round trip.
_ADD_ONCE = """
local now, added = tonumber(ARGV[2]), {}
for i = 1, #KEYS / 3 do
  local seen, stream, old = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i]
  local window, key = tonumber(ARGV[4 * i - 1]), ARGV[4 * i]
  redis.call('ZREMRANGEBYSCORE', seen, '-inf', '(' .. (now - window))
  if redis.call('ZSCORE', seen, key) or redis.call('EXISTS', old) == 1 then
    added[i] = 0
  elseif redis.call('XLEN', stream) >= tonumber(ARGV[1]) then
    added[i] = -1
  else
    redis.call('XADD', stream, '*', 'd', ARGV[4 * i + 1], 'k', ARGV[4 * i + 2])
    redis.call('ZADD', seen, now, key)
    redis.call('EXPIRE', seen, window + 1)
    added[i] = 1
  end
end
return added
"""
# A consumer announces itself and reads who else has within the lease, by the Redis server's
# clock: processes on machines whose clocks disagree by seconds still agree on who is alive.
# KEYS = the members set; ARGV = identity, lease ms. Returns the members.
_ANNOUNCE = """
redis.replicate_commands()  -- writes after TIME: the default from Redis 5, needed before it
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], 0, now - tonumber(ARGV[2]))
return redis.call('ZRANGE', KEYS[1], 0, -1)
"""
# Drop a partition's finished entries: those before the oldest one still pending (read, not yet
# acknowledged) or, with none pending, before the last one delivered (which itself stays).
# Unread and in-flight entries always stay. Exact, not '~': run every few seconds, its cost is
# nothing, and what is left is what is still to do. KEYS = stream; ARGV = group.
_TRIM_HANDLED = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
for _, group in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local info = {}
  for i = 1, #group, 2 do info[group[i]] = group[i + 1] end
  if info['name'] == ARGV[1] then
    local pending = redis.call('XPENDING', KEYS[1], ARGV[1])
    local floor = pending[1] > 0 and pending[2] or info['last-delivered-id']
    return redis.call('XTRIM', KEYS[1], 'MINID', floor)
  end
end
return 0
"""
# Move what a partition stream of the old, untagged name still has to do (entries pending, then
# those never delivered, in their order) into its tagged stream, then drop the old one. For a
# single server only: the two names are in different cluster slots, and the untagged layout
# predates cluster support. KEYS = old stream, new stream; ARGV = group. Returns how many moved.
_MIGRATE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local last, moved = '0-0', 0
local function move(entries)
  for _, entry in ipairs(entries) do
    redis.call('XADD', KEYS[2], '*', unpack(entry[2]))
    moved = moved + 1
  end
end
for _, group in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local info = {}
  for i = 1, #group, 2 do info[group[i]] = group[i + 1] end
  if info['name'] == ARGV[1] then
    last = info['last-delivered-id']
    for _, p in ipairs(redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1000000)) do
      move(redis.call('XRANGE', KEYS[1], p[1], p[1]))
    end
  end
end
move(redis.call('XRANGE', KEYS[1], '(' .. last, '+'))
redis.call('DEL', KEYS[1])
return moved
"""
# A handler may return Redis commands that record what it did outside (a reply's sent mark):
# they go with its entry's acknowledgement, before it, in one round trip, until Redis takes them.
Handler = Callable[[bytes], Awaitable[Sequence[tuple[Any, ...]] | None]]
GROUP = "kefu"
# Per partition, the backlog ``add_once`` accepts: handled entries are trimmed as the consumers go
# (``trim_handled``), so this is only reached when they are down or far behind (about half an hour
# of 1,800 messages a second across 32 partitions). Past it callbacks get a 503 and the platforms
# retry; what was accepted is never dropped.
MAX_STREAM_LEN = 100_000
TASK_RETRIES = 5  # a TaskRetry is tried again after 2, 4, 8, 16, 32 s, then parked
CATCH_UP_SECONDS = 0.25  # between rounds while a consumer holds fewer partitions than its share
# After a read that found messages, the reader waits this long before the next one, so that
# messages arriving close together are handled together and their Redis commands share round
# trips (bot/redis_pipelining.py): one at a time, a message cost the worker half as much again.
LINGER_SECONDS = 0.005
# A partition's entry pending under another consumer this long is an orphan (see _reclaim_orphans).
ORPHAN_IDLE_MS = 60_000


class QueueFull(RedisError):
    """A partition holds ``MAX_STREAM_LEN`` entries. A RedisError, because callers should do what
    they do when Redis is away: answer 503, or keep the message and try again later."""


def cancel_requested() -> bool:
    """True once the current task was asked to stop, even if the CancelledError was swallowed
    (redis-py can swallow one that lands mid-command while it retries the command)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class StreamQueue:
    def __init__(self, redis: aredis.Redis, keys: Keys, name: str, partitions: int = 16) -> None:
        self.redis = redis
        self.keys = keys
        self.name = name
        self.partitions = partitions
        self._add_once_script = LuaScript(redis, _ADD_ONCE)
        self._trim_script = LuaScript(redis, _TRIM_HANDLED)
        # Sorted sets of the old untagged names (old name -> new) merged into the new ones by
        # ``migrate_legacy`` (the outbox's delayed set).
        self.legacy_sets: dict[str, str] = {}
        # On top of the client's auto-pipelining: one script call for many enqueues rather than
        # one each saves about a third of an enqueue's CPU on the ack path (measured 22 vs 34 µs).
        self._add_once = Coalescer(self._add_once_batch)

    def partition_of(self, routing_key: str) -> int:
        return zlib.crc32(routing_key.encode()) % self.partitions

    @property
    def tag(self) -> str:
        """The hash tag of the queue's streams and markers: one cluster slot, because a script
        enqueues into several partitions at once and the reader reads them all in one command."""
        return f"q:{self.name}"

    @property
    def stream_prefix(self) -> str:
        """The partition streams' names without their number."""
        return self.keys.tagged(self.tag, "")

    def stream(self, partition: int) -> str:
        return f"{self.stream_prefix}{partition}"

    def legacy_stream(self, partition: int) -> str:
        """The partition's name before queues had a hash tag (``migrate_legacy``)."""
        return self.keys.of(self.name, str(partition))

    def enqueued_set(self, routing_key: str) -> str:
        """The sorted set of the dedupe keys ``add_once`` enqueued under ``routing_key``, by time."""
        return self.keys.tagged(self.tag, "enqueued", routing_key)

    def legacy_marker(self, dedupe_key: str) -> str:
        """The marker key of a version before the sets; they expire within one window of an upgrade."""
        return self.keys.tagged(self.tag, "seen", dedupe_key)

    @property
    def dead_key(self) -> str:
        """The list of entries parked because handling them failed (``LeasedConsumer._park``)."""
        return self.keys.of("dead", self.name)

    async def dead_letters(self) -> list[dict[str, str]]:
        """Parked entries, oldest first: ``{"queue", "d" (the payload), "error"}`` each."""
        return [json.loads(raw) for raw in await self.redis.lrange(self.dead_key, 0, -1)]

    async def replay_dead(self, routing_key_of: Callable[[str], str]) -> int:
        """Queue every parked entry again (after the cause was fixed); how many."""

        async def requeue(raw: bytes) -> None:
            payload = json.loads(raw)["d"]
            await self.add(routing_key_of(payload), payload)

        return await replay_list(self.redis, self.dead_key, requeue)

    async def add(self, routing_key: str, payload: str) -> None:
        """Enqueue without a cap: used for the little traffic that has no platform to push back
        on (replays of dead letters, platform tasks without an id)."""
        await self.redis.xadd(self.stream(self.partition_of(routing_key)), {"d": payload, "k": routing_key})

    async def add_once(self, dedupe_key: str, window_seconds: int, routing_key: str, payload: str) -> bool:
        """Enqueue unless ``dedupe_key`` was enqueued under ``routing_key`` within the window; True
        when enqueued now. Raises QueueFull when the partition's backlog is at ``MAX_STREAM_LEN``
        (the key stays unseen)."""
        return await self._add_once.submit((dedupe_key, window_seconds, routing_key, payload))

    async def _add_once_batch(self, batch: list[tuple[str, int, str, str]]) -> list[bool | QueueFull]:
        keys: list[str] = []
        # The time in whole seconds: Redis packs small sets of integer scores tighter.
        args: list[str | int] = [MAX_STREAM_LEN, int(time.time())]
        for dedupe_key, window_seconds, routing_key, payload in batch:
            stream = self.stream(self.partition_of(routing_key))
            keys += [self.enqueued_set(routing_key), stream, self.legacy_marker(dedupe_key)]
            args += [window_seconds, dedupe_key, payload, routing_key]
        results = await self._add_once_script(keys=keys, args=args)
        return [QueueFull(f"{keys[3 * i + 1]} holds {MAX_STREAM_LEN} entries") if added < 0 else bool(added)
                for i, added in enumerate(results)]  # fmt: skip

    async def ensure_groups(self) -> None:
        for p in range(self.partitions):
            try:
                await self.redis.xgroup_create(self.stream(p), GROUP, id="0", mkstream=True)
            except ResponseError as e:
                if "BUSYGROUP" not in str(e):
                    raise

    async def migrate_legacy(self) -> int:
        """Carry over, once, what a version without hash tags left in the old partition streams
        (and ``legacy_sets``): a rolling upgrade loses nothing. Nothing to do on a cluster, which
        that version could not use. Returns how many entries moved."""
        if isinstance(self.redis, RedisCluster):
            return 0
        moved = 0
        for p in range(self.partitions):
            moved += int(await self.redis.eval(_MIGRATE, 2, self.legacy_stream(p), self.stream(p), GROUP))
        for old, new in self.legacy_sets.items():
            if await self.redis.exists(old):
                await self.redis.zunionstore(new, [new, old], aggregate="MIN")
                await self.redis.delete(old)
        if moved:
            log.warning("%s: moved %d entries from the untagged streams of an earlier version", self.name, moved)
        return moved

    async def trim_handled(self, partition: int) -> int:
        """Forget the partition's entries that are handled and acknowledged. Without this a
        stream kept every message up to its cap: memory, and an AOF rewrite that copied them all
        (a CPU burst every few seconds at full load)."""
        return int(await self._trim_script(keys=[self.stream(partition)], args=[GROUP]))

    async def backlog(self) -> int:
        """Entries not yet acknowledged, over all partitions (for metrics and tests)."""
        total = 0
        for p in range(self.partitions):
            try:
                info = await self.redis.xinfo_groups(self.stream(p))
            except ResponseError:
                continue
            for group in info:
                total += int(group.get("lag") or 0) + int(group.get("pending") or 0)
        return total


async def replay_list(redis: aredis.Redis, key: str, requeue: Callable[[bytes], Awaitable[None]]) -> int:
    """Hand each entry of the dead-letter list ``key`` to ``requeue``; how many. An entry leaves the
    list only once requeued: a failure half-way loses nothing, at worst an entry is handled twice,
    which handlers allow for. Only those parked now: one that fails again is parked anew behind
    them, not looped on."""
    count = 0
    for _ in range(await redis.llen(key)):
        head = await redis.lrange(key, 0, 0)
        if not head:
            break
        await requeue(head[0])
        await redis.lrem(key, 1, head[0])
        count += 1
    return count


def fair_share(partitions: int, members: list[str], me: str) -> int:
    """An exact split of the partitions over the live members: every process computes the same
    one (members in name order), the shares add up to ``partitions``, and none is left waiting
    for a partition nobody will hand over (as when each took the rounded-up share)."""
    names = sorted(set(members) | {me})
    base, extra = divmod(partitions, len(names))
    return base + (1 if names.index(me) < extra else 0)


class LeasedConsumer:
    """Consumes the partitions of a queue this process holds leases on."""

    def __init__(
        self,
        queue: StreamQueue,
        handler: Handler,
        *,
        identity: str,
        lease_ms: int = 15_000,
        batch: int = 32,
        block_ms: int = 500,
    ) -> None:
        self.q = queue
        self.handler = handler
        self.identity = identity
        self.lease_ms = lease_ms
        self.batch = batch
        self.block_ms = block_ms
        self._tasks: dict[int, asyncio.Task[None]] = {}
        # Per partition: entries the reader delivered, waiting for the partition's task. A
        # partition is read only once its task has re-handled what a previous owner left.
        self._inboxes: dict[int, asyncio.Queue[tuple[bytes, dict[bytes, bytes]]]] = {}
        self._reading: set[int] = set()
        self._reader: asyncio.Task[None] | None = None
        self._partition_of = {queue.stream(p).encode(): p for p in range(queue.partitions)}
        self._stopping = False
        self._retiring = False  # the reader is to stop after its read in flight
        # Partitions whose lease ran out under us: their next owner is already re-handling what
        # we had in hand, so that is cancelled at once rather than given time to finish.
        self._lost: set[int] = set()
        self._members_key = queue.keys.of("members", queue.name)
        self._announce = LuaScript(queue.redis, _ANNOUNCE)

    def _lease(self, partition: int) -> Lease:
        return Lease(self.q.redis, self.q.keys.of("lease", self.q.name, str(partition)), self.identity, self.lease_ms)

    async def run(self) -> None:
        """Keep leases renewed and one consumer task per leased partition, until cancelled."""
        groups_ready = False
        round_seconds = self.lease_ms / 3000
        next_trim = 0.0
        try:
            while not cancel_requested():
                self._ensure_reader()
                short = False
                try:
                    # In the loop: Redis may be away at start, and a consumer must not die of it.
                    if not groups_ready:
                        await self.q.ensure_groups()
                        await self.q.migrate_legacy()
                        groups_ready = True
                    short = await self._rebalance()
                    if time.monotonic() >= next_trim:
                        for partition in list(self._tasks):
                            await self._reclaim_orphans(partition)
                            await self.q.trim_handled(partition)
                        next_trim = time.monotonic() + round_seconds
                except RedisError as e:
                    log.warning("%s: Redis unavailable, retrying: %s", self.q.name, e)
                # Short of our share, the partitions we wait for are released at their holder's
                # next round, whenever that comes: look again soon, so that none of them waits
                # unconsumed for one of our rounds.
                await asyncio.sleep(min(CATCH_UP_SECONDS, round_seconds) if short else round_seconds)
        finally:
            # redis-py can swallow a cancellation that lands mid-command (it retries the
            # command), so the partition loops also watch a flag, and we wait a bounded time.
            self._stopping = True
            await self._stop_reading()
            for task in self._tasks.values():
                task.cancel()
            if self._tasks:
                await asyncio.wait(self._tasks.values(), timeout=self.block_ms / 1000 + 2)
            await self._release_all()

    async def _fair_share(self) -> int:
        """How many partitions this process should hold (each process announces itself on every
        round; silent for a lease period means gone)."""
        alive = await self._announce([self._members_key], [self.identity, self.lease_ms])
        members = [m.decode() if isinstance(m, bytes) else m for m in alive]
        return fair_share(self.q.partitions, members, self.identity)

    async def _rebalance(self) -> bool:
        """Take or hand over partitions towards our share; True while we hold fewer."""
        share = await self._fair_share()
        for p in range(self.q.partitions):
            task = self._tasks.get(p)
            if task is None and len(self._tasks) >= share:
                continue  # leave it to a process with less work
            held = await self._lease(p).hold()
            if task is not None and task.done() and not task.cancelled() and task.exception():
                log.warning("%s partition %d stopped (%s); restarting it", self.q.name, p, task.exception())
            if held and (task is None or task.done()):
                self._tasks[p] = asyncio.create_task(self._consume(p), name=f"{self.q.name}-{p}")
            elif not held and task is not None:
                log.warning("%s partition %d: lease lost, stopping its work now", self.q.name, p)
                self._lost.add(p)
                task.cancel()
                self._tasks.pop(p)
        # More than our share (a process joined): hand the extra ones over, together. What they
        # were handling and had not acknowledged is re-handled by the next owner; handlers are
        # idempotent.
        extra = [self._tasks.popitem() for _ in range(len(self._tasks) - share)]
        if extra:
            for _, task in extra:
                task.cancel()
            # Let them finish stopping before the leases go: the next owner must not re-handle a
            # message one of them may be sending right now.
            await asyncio.wait([task for _, task in extra], timeout=self.block_ms / 1000 + 2)
            # And no read that still names them: an entry it delivered after the next owner
            # looked for unacknowledged ones would be pending here, unseen by anyone.
            await self._restart_reader()
            for p, _ in extra:
                await self._lease(p).release()
            for p in self._tasks:  # the waits above may have taken a good part of a short lease
                await self._lease(p).hold()
        return len(self._tasks) < share

    async def _release_all(self) -> None:
        try:
            await self.q.redis.zrem(self._members_key, self.identity)
        except RedisError:
            pass  # our entry ages out by itself
        for p in range(self.q.partitions):
            try:
                await self._lease(p).release()
            except RedisError:
                return  # the lease expires by itself

    def _ensure_reader(self) -> None:
        """Start the reader if none runs; one that died of a bug is logged and replaced."""
        reader = self._reader
        if reader is not None and not reader.done():
            return
        if reader is not None and not reader.cancelled() and reader.exception():
            log.warning("%s reader stopped (%s); restarting it", self.q.name, reader.exception())
        if not self._stopping:
            self._reader = asyncio.create_task(self._read(), name=f"{self.q.name}-reader")

    async def _restart_reader(self) -> None:
        """A reader that no longer names a handed-over partition, without losing what the current
        one is reading: it is let finish its read and deliver it. Cancelled mid-read, it left the
        entries Redis had just delivered for the partitions we keep pending under us and in
        nobody's hands, unanswered until the partition changed owner."""
        reader = self._reader
        if reader is not None and not reader.done():
            self._retiring = True
            try:
                await asyncio.wait([reader], timeout=self.block_ms / 1000 + 2)
            finally:
                self._retiring = False
            if not reader.done():  # stuck on a dead connection: nothing of it will come
                await self._stop_reading()
        self._reader = None
        self._ensure_reader()

    async def _stop_reading(self) -> None:
        """Cancel the reader and wait for it: a blocked read is abandoned with its connection."""
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.wait([self._reader], timeout=self.block_ms / 1000 + 2)
            self._reader = None

    async def _read(self) -> None:
        """One blocking read for all the partitions this process handles, delivering each
        entry to its partition's task. A partition whose task is behind by a batch is left out
        of the next read until it catches up."""
        redis = self.q.redis
        while not (self._stopping or self._retiring or cancel_requested()):
            streams = {self.q.stream(p): ">" for p in sorted(self._reading) if self._inboxes[p].qsize() < self.batch}
            if not streams:
                await asyncio.sleep(CATCH_UP_SECONDS)
                continue
            try:
                got = await redis.xreadgroup(GROUP, self.identity, streams, count=self.batch, block=self.block_ms)
            except RedisError as e:
                REDIS_ERRORS.labels(self.q.name).inc()
                log.warning("%s: read failed, retrying: %s", self.q.name, e)
                await asyncio.sleep(1)
                continue
            for stream, entries in got:
                partition = self._partition_of[stream if isinstance(stream, bytes) else stream.encode()]
                inbox = self._inboxes.get(partition)
                if inbox is not None:  # else handed over meanwhile: its next owner claims them
                    for entry in entries:
                        inbox.put_nowait(entry)
            if got:
                await asyncio.sleep(LINGER_SECONDS)

    async def _reclaim_orphans(self, partition: int) -> None:
        """Claim and handle entries of a partition we hold that are still pending under another
        consumer: delivered by a read that outlived its owner's lease (one lost to expiry rather
        than handed over), after we had taken over what was pending. Without this they would
        wait for the partition's next takeover."""
        inbox = self._inboxes.get(partition)
        if inbox is None or partition not in self._reading:
            return  # its task is still re-handling everything pending at takeover
        stream, me = self.q.stream(partition), self.identity.encode()
        pending = await self.q.redis.xpending_range(stream, GROUP, "-", "+", self.batch, idle=ORPHAN_IDLE_MS)
        orphans = [entry["message_id"] for entry in pending if entry["consumer"] != me]
        if orphans:
            log.warning("%s: reclaiming %d entries left pending by a former owner", stream, len(orphans))
            for entry_id, fields in await self.q.redis.xclaim(stream, GROUP, self.identity, ORPHAN_IDLE_MS, orphans):
                if fields:
                    inbox.put_nowait((entry_id, fields))

    async def _consume(self, partition: int) -> None:
        """Handle one partition, in order per routing key: first what a previous owner read
        but never acknowledged (it died mid-message), then what the reader delivers."""
        stream = self.q.stream(partition)
        inbox: asyncio.Queue[tuple[bytes, dict[bytes, bytes]]] = asyncio.Queue()
        self._inboxes[partition] = inbox
        lanes = KeyedLanes(self.batch)

        async def handle(entry_id: bytes, fields: dict[bytes, bytes]) -> None:
            # Entries queued before keys were recorded share one lane: in order, as they were.
            await lanes.submit(fields.get(b"k"), lambda: self._handle(stream, entry_id, fields))

        try:
            start = "0-0"
            while True:
                start, claimed, *_ = await self.q.redis.xautoclaim(
                    stream, GROUP, self.identity, 0, start, count=self.batch
                )
                for entry_id, fields in claimed:
                    await handle(entry_id, fields)
                if start in (b"0-0", "0-0"):
                    break
            # Reading may start now: what the reader delivers joins its lane behind those.
            self._reading.add(partition)
            while not (self._stopping or cancel_requested()):
                await handle(*await inbox.get())
        finally:
            if self._inboxes.get(partition) is inbox:
                self._reading.discard(partition)
                del self._inboxes[partition]
            # Handed over or stopping: what is under way may finish, in less time than a
            # hand-over waits for this task (``_rebalance``), and the next owner re-handles only
            # what overran. Lost: the next owner has it already.
            lost = partition in self._lost
            self._lost.discard(partition)
            await lanes.close(grace=0 if lost else self.block_ms / 1000 + 0.5)

    async def _handle(self, stream: str, entry_id: bytes, fields: dict[bytes, bytes]) -> None:
        retries = 0
        while True:
            try:
                done = await self.handler(fields[b"d"])
                if done:
                    await send_until_taken(self.q.redis, [*done, ("XACK", stream, GROUP, entry_id)], self.q.name)
                else:
                    await self.q.redis.xack(stream, GROUP, entry_id)
                return
            except asyncio.CancelledError:
                raise
            except RedisError as e:
                # Redis went away mid-message: keep the message and try again when it is back.
                REDIS_ERRORS.labels(self.q.name).inc()
                log.warning("%s: Redis error while handling, retrying: %s", stream, e)
                await asyncio.sleep(1)
            except TaskRetry as e:
                retries += 1
                if retries > TASK_RETRIES:
                    await self._park(stream, entry_id, fields, f"gave up after {TASK_RETRIES} retries: {e}")
                    return
                log.warning("%s: %s; retry %d in %ds", stream, e, retries, 2**retries)
                await asyncio.sleep(2**retries)
            except Exception as e:
                # A bug on one message must not block the customer's queue forever.
                log.exception("%s: handler failed on %s", stream, entry_id)
                await self._park(stream, entry_id, fields, f"{type(e).__name__}: {e}")
                return

    async def _park(self, stream: str, entry_id: bytes, fields: dict[bytes, bytes], error: str) -> None:
        """Out of the queue into the dead letters, with the reason, for `kefu dead-letters`."""
        DEAD_LETTERS.labels(self.q.name).inc()
        entry = json.dumps({"queue": self.q.name, "d": fields[b"d"].decode(), "error": error}, ensure_ascii=False)
        await self.q.redis.rpush(self.q.dead_key, entry)
        await self.q.redis.xack(stream, GROUP, entry_id)
