"""The notifier's durable state in Redis: open groups waiting to flush, and when each
customer+reason was last alerted. A pending group survives a restart: whichever process runs
the flush job next sends it, and the outbox's idempotency keys make a repeated flush harmless."""

from __future__ import annotations

import hashlib
import json
import uuid

import redis.asyncio as aredis

from alerts.notify.notice import Notice
from bot.redis_scripts import LuaScript
from bot.redis_store import Keys

# Add a notice to the group's open batch, opening one (due at ARGV[2]) if there is none.
_ADD = """
local batch = redis.call('GET', KEYS[1])
if not batch then
  batch = ARGV[1]
  redis.call('SET', KEYS[1], batch)
  redis.call('ZADD', KEYS[2], ARGV[2], batch .. '|' .. ARGV[5])
end
redis.call('RPUSH', ARGV[4] .. batch, ARGV[3])
return batch
"""
# Close the batch to new notices (they open the next batch) before it is read and sent.
_DETACH = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
"""


_TAG = "alerts:groups"


def _digest(value: str) -> str:
    return hashlib.sha1(value.encode()).hexdigest()[:20]


class GroupStore:
    def __init__(self, redis: aredis.Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys
        # One hash tag (cluster slot) for them all: adding a notice writes the open marker, the due
        # set and the batch list in one script.
        self.due_key = keys.tagged(_TAG, "due")
        self._add = LuaScript(redis, _ADD)
        self._detach = LuaScript(redis, _DETACH)

    def _open_key(self, group_hash: str) -> str:
        return self._keys.tagged(_TAG, "open", group_hash)

    def _batch_prefix(self) -> str:
        return self._keys.tagged(_TAG, "batch", "")

    async def add(self, notice: Notice, receivers: list[str], due_at: float) -> str:
        """The due-set member of the batch the notice joined (``batch|group``); a notice without
        group_key gets a batch of its own."""
        group_hash = _digest(notice.group_key or uuid.uuid4().hex)
        entry = json.dumps({"n": json.loads(notice.to_json()), "r": receivers}, ensure_ascii=False)
        batch = await self._add(
            keys=[self._open_key(group_hash), self.due_key],
            args=[uuid.uuid4().hex[:16], due_at, entry, self._batch_prefix(), group_hash],
        )
        batch = batch.decode() if isinstance(batch, bytes) else str(batch)
        return f"{batch}|{group_hash}"

    async def due(self, now: float, limit: int = 100) -> list[str]:
        members = await self._redis.zrangebyscore(self.due_key, "-inf", now, start=0, num=limit)
        return [m.decode() for m in members]

    async def take(self, member: str) -> tuple[str, list[tuple[Notice, list[str]]]]:
        """Close a due batch and read it: (batch id, [(notice, receivers)])."""
        batch, group_hash = member.split("|", 1)
        await self._detach(keys=[self._open_key(group_hash)], args=[batch])
        raw = await self._redis.lrange(self._batch_prefix() + batch, 0, -1)
        entries = [json.loads(r) for r in raw]
        return batch, [(Notice.from_json(json.dumps(e["n"])), e["r"]) for e in entries]

    async def done(self, member: str) -> None:
        batch = member.split("|", 1)[0]
        await self._redis.zrem(self.due_key, member)
        await self._redis.delete(self._batch_prefix() + batch)

    async def pending(self) -> int:
        return int(await self._redis.zcard(self.due_key))


class RepeatStore:
    """When each dedupe key (customer + reason) was last alerted, by the notifier's clock."""

    def __init__(self, redis: aredis.Redis, keys: Keys) -> None:
        self._redis = redis
        self._keys = keys

    def _key(self, dedupe_key: str) -> str:
        return self._keys.of("alerts", "sent", _digest(dedupe_key))

    async def last_sent(self, dedupe_key: str) -> float | None:
        raw = await self._redis.get(self._key(dedupe_key))
        return float(raw) if raw is not None else None

    async def mark(self, dedupe_key: str, now: float, repeat_interval: float) -> None:
        # Expiry only collects garbage; the decision compares times (an injected clock in tests).
        await self._redis.set(self._key(dedupe_key), repr(now), ex=int(max(repeat_interval, 60) * 2))
