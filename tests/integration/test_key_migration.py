"""Upgrading from the untagged key layout on one server: what an earlier version left in its
partition streams (read but unacknowledged, and never read), its outbox delayed set and its
tickets is carried over to the hash-tagged names, once, losing nothing."""

from __future__ import annotations

import pytest
import redis.asyncio as aredis

from alerts.tickets.store import TicketStore
from bot.outbox import Outbox
from bot.queue import GROUP
from bot.redis_store import Keys

pytestmark = pytest.mark.anyio


async def test_legacy_streams_and_delayed_set_move_to_the_tagged_names(client: aredis.Redis) -> None:
    outbox = Outbox(client, Keys(), partitions=2)
    queue = outbox.queue
    old = queue.legacy_stream(1)
    await client.xgroup_create(old, GROUP, id="0", mkstream=True)
    for n in range(4):
        await client.xadd(old, {"d": f"m{n}", "k": "c"})
    handled = await client.xreadgroup(GROUP, "old-worker", {old: ">"}, count=2)  # m0, m1 read
    await client.xack(old, GROUP, handled[0][1][0][0])  # m0 done; m1 pending; m2, m3 never read
    await client.zadd(Keys().of("outbox", "delayed"), {f"{old}|m9": 5.0})
    await queue.ensure_groups()
    assert await queue.migrate_legacy() == 3
    moved = await client.xrange(queue.stream(1))
    assert [fields[b"d"] for _, fields in moved] == [b"m1", b"m2", b"m3"]
    assert not await client.exists(old) and await queue.migrate_legacy() == 0
    assert await outbox.move_due(10.0) == 1  # the old member lands in the tagged stream
    assert (await client.xrange(queue.stream(1)))[-1][1][b"d"] == b"m9"


async def test_legacy_tickets_are_renamed(client: aredis.Redis) -> None:
    store = TicketStore(client, Keys())
    await client.set("kefu:ticket:T-1", b"{}")
    await client.rpush("kefu:ticket:T-1:audit", b"a")
    await client.sadd("kefu:tickets:active", "T-1")
    await client.set("kefu:{c:wecom:app:zs}:ticket", "T-1")
    await client.set("kefu:ticket_seq:20261204", 1)
    assert await store.migrate_legacy() == 5
    assert await client.get(store.key("T-1")) == b"{}" and await client.lrange(store.audit_key("T-1"), 0, -1) == [b"a"]
    assert await client.smembers(store.active_key) == {b"T-1"}
    assert await client.get(store.pointer_key("wecom:app:zs")) == b"T-1"
    assert await client.get(store.seq_key("20261204")) == b"1"
