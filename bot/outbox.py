"""The durable outbox: every reply and staff notification goes through here.

put() enqueues once per idempotency key; a customer's reply skips the queue when it can go at
once (``OutboxSender.send_now``) and joins the outbox only when it has to wait. The sender
handles entries with rate limits per destination, retries retryable failures with exponential
backoff through a delayed set, and parks permanent failures (or exhausted retries) in a
dead-letter list that ``kefu dead-letters`` shows and replays. A message already delivered is
never sent again, even when its entry is handled twice after a crash. Messages to one
destination go in order until one has to wait (rate limit, retry): the waiting one then goes
after those that did not have to.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
import redis.asyncio as aredis

from bot.logs import handling
from bot.message import OutboundMessage, SendResult, as_dict
from bot.metrics import DEAD_LETTERS, SENDS, labelled
from bot.queue import StreamQueue, replay_list
from bot.ratelimit import Rate, RateLimiter
from bot.redis_pipelining import send_together
from bot.redis_scripts import LuaScript
from bot.redis_store import Keys

log = logging.getLogger(__name__)

SENT_TTL_SECONDS = 3 * 24 * 3600  # longer than any retry tail

# Move due delayed entries back into their stream, atomically, so one process moves each once.
# A member is {"s": stream, "k": routing key, "d": envelope}; "stream|envelope" members were
# scheduled by a version that did not record routing keys (their entries share one lane). The
# stream is the partition named at the end of "s" under ARGV[2], the streams' common prefix in
# the delayed set's slot, so members written under the untagged names go to the tagged streams.
_MOVE_DUE = """
local function stream(name) return ARGV[2] .. string.match(name, '(%d+)$') end
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, 100)
for _, member in ipairs(due) do
  redis.call('ZREM', KEYS[1], member)
  if string.sub(member, 1, 1) == '{' then
    local entry = cjson.decode(member)
    redis.call('XADD', stream(entry.s), '*', 'd', entry.d, 'k', entry.k)
  else
    local sep = string.find(member, '|', 1, true)
    redis.call('XADD', stream(string.sub(member, 1, sep - 1)), '*', 'd', string.sub(member, sep + 1))
  end
end
return #due
"""

# Whether a message is done: its idempotency key in its destination's sent set or, when asked,
# its marker in the set of what ``put`` enqueued (both in the outbox queue's slot).
# KEYS = sent set[, enqueued set]; ARGV = idempotency key[, marker]. Returns 1 or 0.
_DONE = """
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 1 end
if KEYS[2] and redis.call('ZSCORE', KEYS[2], ARGV[2]) then return 1 end
return 0
"""
# Mark a message delivered, forgetting the destination's marks older than the TTL.
# KEYS = sent set; ARGV = now (whole seconds), TTL seconds, idempotency key.
_MARK_SENT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. (tonumber(ARGV[1]) - tonumber(ARGV[2])))
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""


@dataclass(frozen=True, slots=True)
class DoneCheck:
    """Whether a message is done, as commands to send in a batch with others: the script over
    the sets, and whether a version before the sets left its marker keys (they expire within
    three days of an upgrade)."""

    script: LuaScript
    keys: list[str]
    args: list[str]
    old_markers: list[str]

    @property
    def commands(self) -> list[tuple[Any, ...]]:
        return [self.script.command(self.keys, self.args), ("EXISTS", *self.old_markers)]

    async def done(self, replies: Sequence[Any]) -> bool:
        """From the replies to ``commands``; raises the error of one that failed."""
        in_sets, old = replies
        if isinstance(old, Exception):
            raise old
        return bool(await self.script.reply(in_sets, self.keys, self.args)) or bool(old)


class Sender(Protocol):
    async def send(self, message: OutboundMessage) -> SendResult: ...


class Postbox(Protocol):
    """Where a message is put to be delivered (the ``Outbox``; at once, in a trial)."""

    async def put(self, message: OutboundMessage) -> bool: ...


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 8
    base_delay: float = 1.0
    max_delay: float = 300.0

    def delay(self, attempts: int, retry_after: float | None) -> float:
        """Seconds before the next try after ``attempts`` failures: doubling, capped."""
        backoff = min(self.max_delay, self.base_delay * 2 ** (attempts - 1))
        return max(backoff, retry_after or 0.0)


def routing_key(message: OutboundMessage) -> str:
    """Messages to one destination (a customer, a staff receiver) stay in one partition, in order."""
    dest = (
        message.route.get("rate_key")
        or (message.customer and f"customer:{message.customer}")
        or orjson.dumps(message.route, option=orjson.OPT_SORT_KEYS).decode()
    )
    return f"{message.channel}:{message.app}:{dest}"


class Outbox:
    def __init__(self, redis: aredis.Redis, keys: Keys, partitions: int = 16) -> None:
        self.queue = StreamQueue(redis, keys, "outbox", partitions)
        self.redis = redis
        self.keys = keys
        self.queue.legacy_sets[keys.of("outbox", "delayed")] = self.delayed_key
        self._done = LuaScript(redis, _DONE)

    @property
    def delayed_key(self) -> str:
        """In the outbox queue's slot: moving due entries writes into its streams."""
        return self.keys.tagged(self.queue.tag, "delayed")

    @property
    def dead_key(self) -> str:
        return self.keys.of("dead", "outbox")

    async def put(self, message: OutboundMessage) -> bool:
        """Enqueue once per idempotency key; False when it was already enqueued."""
        envelope = orjson.dumps(_envelope(message, 0))
        return await self.queue.add_once(_enqueued_marker(message), SENT_TTL_SECONDS, routing_key(message), envelope)

    def sent_set(self, message: OutboundMessage) -> str:
        """The sorted set of the idempotency keys delivered to ``message``'s destination, by
        time: one small set per customer rather than a key per reply (docs/benchmarks.md#memory).
        In the outbox queue's slot, beside the sets of what ``put`` enqueued."""
        return self.keys.tagged(self.queue.tag, "sent-to", routing_key(message))

    def done_check(self, message: OutboundMessage, *, enqueued_too: bool = False) -> DoneCheck:
        """Whether ``message`` was delivered, or (``enqueued_too``) enqueued by ``put``."""
        keys, args = [self.sent_set(message)], [message.idempotency_key]
        old = [self.keys.of("sent", message.idempotency_key)]
        if enqueued_too:
            keys.append(self.queue.enqueued_set(routing_key(message)))
            args.append(_enqueued_marker(message))
            old.append(self.queue.legacy_marker(_enqueued_marker(message)))
        return DoneCheck(self._done, keys, args, old)

    def mark_sent(self, message: OutboundMessage, now: float) -> tuple[Any, ...]:
        """The command that marks ``message`` delivered at ``now`` and forgets its destination's
        marks older than ``SENT_TTL_SECONDS``. A script sent whole (EVAL), not by its SHA: it is
        written with an acknowledgement until Redis takes it, and a server that lost its
        scripts must still take it."""
        sent_set = self.sent_set(message)
        return ("EVAL", _MARK_SENT, 1, sent_set, int(now), SENT_TTL_SECONDS, message.idempotency_key)

    async def delivered(self, message: OutboundMessage) -> bool:
        """Whether ``message`` was delivered (within ``SENT_TTL_SECONDS``)."""
        check = self.done_check(message)
        return await check.done(await send_together(self.redis, check.commands))

    async def schedule(self, message: OutboundMessage, envelope: dict[str, Any], due: float) -> None:
        key = routing_key(message)
        envelope = dict(envelope, nonce=uuid.uuid4().hex[:8])  # members of a set must differ
        member = {"s": self.queue.stream(self.queue.partition_of(key)), "k": key,
                  "d": json.dumps(envelope, ensure_ascii=False)}  # fmt: skip
        await self.redis.zadd(self.delayed_key, {json.dumps(member, ensure_ascii=False): due})

    async def move_due(self, now: float) -> int:
        return int(await self.redis.eval(_MOVE_DUE, 1, self.delayed_key, now, self.queue.stream_prefix))

    async def dead_letters(self) -> list[dict[str, Any]]:
        return [_dead_entry(raw) for raw in await self.redis.lrange(self.dead_key, 0, -1)]

    async def replay_dead(self) -> int:
        """Send every dead letter again (after the operator fixed the cause)."""

        async def requeue(raw: bytes) -> None:
            entry = _dead_entry(raw)
            message = OutboundMessage(**entry["m"])
            await self.queue.add(routing_key(message), json.dumps({"m": entry["m"], "attempts": 0}))
            await self.redis.zrem(self.sent_set(message), message.idempotency_key)
            await self.redis.delete(self.keys.of("sent", message.idempotency_key))  # an older version's mark

        return await replay_list(self.redis, self.dead_key, requeue)


def _enqueued_marker(message: OutboundMessage) -> str:
    return f"out:{message.idempotency_key}"


def _envelope(message: OutboundMessage, attempts: int, **extra: Any) -> dict[str, Any]:
    """An outbox entry: the message, how many times sending it failed, and ``extra`` (error...)."""
    return {"m": as_dict(message), "attempts": attempts, **extra}


def _dead_entry(raw: bytes) -> dict[str, Any]:
    """A dead letter as {"m", "attempts", "error", ...}: the sender's own, or an entry the queue
    parked because handling it raised (then the envelope is inside, under "d")."""
    entry = json.loads(raw)
    if "d" in entry:
        entry = {**json.loads(entry["d"]), "error": entry.get("error", "")}
    return entry


@dataclass(frozen=True, slots=True)
class PreparedAttempt:
    """One try at a message, up to its Redis check: send ``commands`` (with others, if you like),
    then ``send`` with their replies. The message is then delivered, delayed or dead; nothing
    is done when it was delivered before (a crash after sending, or a duplicate hand-over) or,
    for a new message, already enqueued by ``put``: never twice. ``send`` returns the command
    that marks it sent, when it was: written before the caller's entry is acknowledged, it
    keeps a message handled again from going out again."""

    sender: OutboxSender
    message: OutboundMessage
    attempts: int  # how many times sending it failed before
    now: float
    check: DoneCheck
    route: str
    rate: Rate
    commands: list[tuple[Any, ...]]

    async def send(self, replies: Sequence[Any]) -> list[tuple[Any, ...]]:
        """Raises the error of a check command that failed: the message was not sent."""
        return await self.sender.finish(self, replies)


class OutboxSender:
    """The outbox consumer's handler: one entry, one attempt, then done, delayed or dead."""

    def __init__(
        self,
        outbox: Outbox,
        senders: Callable[[OutboundMessage], Sender | None],
        limiter: RateLimiter,
        rate_for: Callable[[OutboundMessage], Rate],
        clock: Callable[[], float] = time.time,
        policy: RetryPolicy = RetryPolicy(),
    ) -> None:
        self.outbox = outbox
        self.senders = senders
        self.limiter = limiter
        self.rate_for = rate_for
        self.clock = clock
        self.policy = policy

    async def __call__(self, payload: bytes) -> list[tuple[Any, ...]]:
        envelope = orjson.loads(payload)
        message = OutboundMessage(**envelope["m"])
        with handling(message.idempotency_key):  # a reply's names the message it answers
            return await self._attempt(message, envelope["attempts"])

    async def send_now(self, message: OutboundMessage) -> list[tuple[Any, ...]]:
        """Deliver a new message at once instead of through the outbox stream.

        The stream's hop (a write, a blocking read, the reader's 5 ms linger, an acknowledgement)
        doubled a reply's median time from callback to platform at 1,000/s (docs/benchmarks.md), and the
        guarantees need none of it. The caller is a queue handler that acknowledges its own
        entry only after this returns, so a crash before then hands the whole message over
        again, and the sent mark keeps it from being delivered twice: returned, for the caller to
        write with that acknowledgement, in one round trip (bot/queue.py). What cannot go now takes
        the outbox's own path: a rate-limited or failed message waits in the delayed set for its
        turn or retry, a permanent failure becomes a dead letter. One that ``put`` already
        enqueued is left to the outbox.
        """
        return await self._attempt(message, 0, enqueued_too=True)

    def prepare(self, message: OutboundMessage) -> PreparedAttempt:
        """``send_now`` in two halves, for a caller that sends the check's commands with its own
        (the worker, with the turn's save: one round trip fewer a message); then ``send``."""
        return self._prepare(message, 0, enqueued_too=True)

    async def _attempt(
        self, message: OutboundMessage, attempts: int, enqueued_too: bool = False
    ) -> list[tuple[Any, ...]]:
        """One try at ``message``, which failed ``attempts`` times before (``PreparedAttempt``)."""
        prepared = self._prepare(message, attempts, enqueued_too)
        return await self.finish(prepared, await send_together(self.outbox.redis, prepared.commands))

    def _prepare(self, message: OutboundMessage, attempts: int, enqueued_too: bool) -> PreparedAttempt:
        # One round trip for all; a duplicate of a delivered message (rare) thereby spends a slot.
        now = self.clock()
        route, rate = routing_key(message), self.rate_for(message)
        check = self.outbox.done_check(message, enqueued_too=enqueued_too)
        commands = [*check.commands, self.limiter.command(route, rate, now)]
        return PreparedAttempt(self, message, attempts, now, check, route, rate, commands)

    async def finish(self, prepared: PreparedAttempt, replies: Sequence[Any]) -> list[tuple[Any, ...]]:
        """The rest of ``prepared``'s try, from the replies to its commands."""
        message, attempts, now, route, rate = (
            prepared.message, prepared.attempts, prepared.now, prepared.route, prepared.rate
        )  # fmt: skip
        *checked, wait = replies
        done = await prepared.check.done(checked)
        wait_ms = await self.limiter.wait_from(wait, route, rate, now)
        if done:
            return []
        sender = self.senders(message)
        if sender is None:
            await self._dead(message, attempts, f"no sender for channel {message.channel}/{message.app}")
            return []
        if wait_ms > 0:
            await self.outbox.schedule(message, _envelope(message, attempts), now + wait_ms / 1000)
            return []
        result = await sender.send(message)
        labelled(SENDS, message.channel, "ok" if result.ok else "retry" if result.retryable else "failed").inc()
        attempts += 1
        if result.ok:
            return [self.outbox.mark_sent(message, now)]
        if result.retryable and attempts < self.policy.max_attempts:
            delay = self.policy.delay(attempts, result.retry_after)
            log.info("send to %s failed (%s), retry %d in %.0fs", message.channel, result.error, attempts, delay)
            await self.outbox.schedule(message, _envelope(message, attempts, error=result.error), now + delay)
            return []
        await self._dead(message, attempts, result.error)
        return []

    async def _dead(self, message: OutboundMessage, attempts: int, error: str) -> None:
        log.error("outbox: dead letter for %s: %s", message.channel, error)
        DEAD_LETTERS.labels("outbox").inc()
        entry = _envelope(message, attempts, error=error, dead_at=self.clock())
        await self.outbox.redis.rpush(self.outbox.dead_key, json.dumps(entry, ensure_ascii=False))
