"""Tickets in Redis, changed only by atomic transitions (WATCH/MULTI around a pure function).

All in the hash tag ``{tickets}`` (one Redis Cluster slot), since a transition watches and writes
several of them at once:

- ``kefu:{tickets}:ticket:<id>``: the ticket as JSON;  ``...:ticket:<id>:audit``: the audit log;
- ``kefu:{tickets}:active``: ids not closed;  ``kefu:{tickets}:created``: every id by creation time;
- ``kefu:{tickets}:customer:<person>``: the person's latest ticket (one open ticket per customer);
- ``kefu:{tickets}:seq:<yyyymmdd>``: the day's counter behind ``T-20261128-0007``.

``migrate_legacy`` renames the keys of the untagged layout of earlier versions.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import WatchError

from alerts.tickets.model import CLOSED, Outcome, Ticket

Transition = Callable[[Ticket], Outcome]
TAG = "tickets"


class TicketNotFound(Exception):
    pass


def ticket_id(date: str, n: int) -> str:
    return f"T-{date}-{n:04d}"


class TicketStore:
    def __init__(self, redis: Any, keys: Any, timezone: str = "Asia/Shanghai") -> None:
        self.redis = redis
        self.keys = keys
        self.tz = ZoneInfo(timezone)

    # -- keys -------------------------------------------------------------------------------
    def key(self, tid: str) -> str:
        return self.keys.tagged(TAG, "ticket", tid)

    def audit_key(self, tid: str) -> str:
        return self.keys.tagged(TAG, "ticket", tid, "audit")

    @property
    def active_key(self) -> str:
        return self.keys.tagged(TAG, "active")

    @property
    def created_key(self) -> str:
        return self.keys.tagged(TAG, "created")

    def pointer_key(self, person: str) -> str:
        return self.keys.tagged(TAG, "customer", person)

    def seq_key(self, date: str) -> str:
        return self.keys.tagged(TAG, "seq", date)

    async def migrate_legacy(self) -> int:
        """Rename, once, the keys an earlier version wrote without the hash tag (on one server;
        that version could not use a cluster). A key already present under its new name is kept
        and the old one left for the operator. Returns how many were renamed."""
        if isinstance(self.redis, RedisCluster):
            return 0
        prefix, renamed = self.keys.prefix, 0
        patterns = {
            f"{prefix}:ticket:*": lambda rest: self.keys.tagged(TAG, "ticket", rest),
            f"{prefix}:tickets:active": lambda _: self.active_key,
            f"{prefix}:tickets:created": lambda _: self.created_key,
            f"{prefix}:ticket_seq:*": lambda rest: self.seq_key(rest),
        }
        for pattern, new_name in patterns.items():
            async for raw in self.redis.scan_iter(match=pattern, count=1000):
                old = raw.decode()
                renamed += bool(await self.redis.renamenx(old, new_name(old.split(":", 2)[2])))
        async for raw in self.redis.scan_iter(match=f"{prefix}:{{c:*}}:ticket", count=1000):
            old = raw.decode()
            person = old[len(prefix) + 4 : -len("}:ticket")]
            renamed += bool(await self.redis.renamenx(old, self.pointer_key(person)))
        return renamed

    # -- reading ----------------------------------------------------------------------------
    async def get(self, tid: str) -> Ticket | None:
        raw = await self.redis.get(self.key(tid))
        return Ticket.from_json(raw) if raw else None

    async def many(self, ids: list[str]) -> list[Ticket]:
        if not ids:
            return []
        raws = await self.redis.mget([self.key(i) for i in ids])
        return [Ticket.from_json(r) for r in raws if r]

    async def active(self) -> list[Ticket]:
        ids = sorted(i.decode() for i in await self.redis.smembers(self.active_key))
        return await self.many(ids)

    async def created_between(self, start: float, end: float) -> list[Ticket]:
        ids = await self.redis.zrangebyscore(self.created_key, start, f"({end}")
        return await self.many([i.decode() for i in ids])

    async def all(self) -> list[Ticket]:
        ids = await self.redis.zrange(self.created_key, 0, -1)
        return await self.many([i.decode() for i in ids])

    async def audit(self, tid: str) -> list[dict[str, Any]]:
        return [json.loads(r) for r in await self.redis.lrange(self.audit_key(tid), 0, -1)]

    # -- writing ----------------------------------------------------------------------------
    async def new_id(self, now: float) -> str:
        date = datetime.fromtimestamp(now, self.tz).strftime("%Y%m%d")
        seq_key = self.seq_key(date)
        n = await self.redis.incr(seq_key)
        if n == 1:
            await self.redis.expire(seq_key, 3 * 86400)
        return ticket_id(date, int(n))

    def _write(self, pipe: Any, ticket: Ticket, audit: dict[str, Any] | None) -> None:
        pipe.set(self.key(ticket.id), ticket.to_json())
        if ticket.state == CLOSED:
            pipe.srem(self.active_key, ticket.id)
        else:
            pipe.sadd(self.active_key, ticket.id)
        if audit is not None:
            pipe.rpush(self.audit_key(ticket.id), json.dumps(audit, ensure_ascii=False))

    async def apply(self, tid: str, transition: Transition) -> Outcome:
        """Read, change with ``transition`` (which may raise ``Refused``) and write, atomically:
        a concurrent change makes it start again on the new version."""
        key = self.key(tid)
        async with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(key)
                    raw = await pipe.get(key)
                    if not raw:
                        raise TicketNotFound(tid)
                    outcome = transition(Ticket.from_json(raw))
                    if not outcome.changed:
                        await pipe.unwatch()
                        return outcome
                    pipe.multi()
                    self._write(pipe, outcome.ticket, outcome.audit)
                    await pipe.execute()
                    return outcome
                except WatchError:
                    continue

    async def for_customer(
        self,
        person: str,
        now: float,
        *,
        create: Callable[[str], tuple[Ticket, dict[str, Any]]],
        update: Callable[[Ticket], Outcome | None],
    ) -> tuple[str, Outcome]:
        """The one-ticket-per-customer step, atomic over the customer's pointer and ticket.

        ``update`` gets the customer's latest ticket and returns the change to make to it, or None
        when a new ticket is due (none yet, or closed too long ago); ``create`` then builds one for
        a fresh id. Two workers racing here make one ticket: the loser retries and updates it.
        Returns ``("created"|"updated"|"unchanged", outcome)``.
        """
        pointer = self.pointer_key(person)
        fresh_id: str | None = None
        async with self.redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(pointer)
                    tid = await pipe.get(pointer)
                    current = None
                    if tid:
                        await pipe.watch(self.key(tid.decode()))
                        raw = await pipe.get(self.key(tid.decode()))
                        current = Ticket.from_json(raw) if raw else None
                    outcome = update(current) if current is not None else None
                    if outcome is not None:
                        if not outcome.changed:
                            await pipe.unwatch()
                            return "unchanged", outcome
                        pipe.multi()
                        self._write(pipe, outcome.ticket, outcome.audit)
                        await pipe.execute()
                        return "updated", outcome
                    if fresh_id is None:
                        fresh_id = await self.new_id(now)
                    ticket, audit = create(fresh_id)
                    pipe.multi()
                    self._write(pipe, ticket, audit)
                    pipe.zadd(self.created_key, {ticket.id: ticket.created_at})
                    pipe.set(pointer, ticket.id)
                    await pipe.execute()
                    return "created", Outcome(ticket, True, f"已创建工单 {ticket.id}", audit)
                except WatchError:
                    continue
