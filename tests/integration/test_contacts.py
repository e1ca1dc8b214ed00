"""Contacts: sessions by silence, the rules on an injected clock, identity linking, and one ticket
when workers race."""

from __future__ import annotations

import asyncio
import re

import pytest
import redis.asyncio as aredis

from alerts.contacts.rules import Rule, fired_rules, strongest
from alerts.contacts.store import ContactStore, Recorded
from bot.redis_store import Keys
from tests.support.tickets_helpers import (
    DAY,
    HOUR,
    MIN,
    T0,
    Clock,
    build,
    msg,
    tickets_settings,
)

pytestmark = pytest.mark.anyio


async def record_message(store: ContactStore, at: float, message_id: str, keep_seconds: float = DAY) -> Recorded:
    """One message of the customer ``wecom:c1`` counted at ``at``, its contacts kept ``keep_seconds``."""
    return await store.record(
        "wecom:c1", now=at, gap_seconds=30 * MIN, keep_seconds=keep_seconds, channel="wecom",
        intent=None, excerpt="在吗", message_id=message_id,
    )  # fmt: skip


async def test_a_contact_is_a_first_message_after_the_silence(client: aredis.Redis) -> None:
    store = ContactStore(client, Keys("gap"))

    async def new_contact(at: float, message_id: str) -> bool:
        return (await record_message(store, at, message_id)).new_contact

    assert await new_contact(T0, "a")  # the first message
    assert not await new_contact(T0 + 30 * MIN, "b")  # within the silence: the same contact
    assert not await new_contact(T0 + 60 * MIN, "c")  # the gap counts from the last message
    assert await new_contact(T0 + 90 * MIN + 1, "d")  # 30 minutes of silence: a new contact
    assert not await new_contact(T0 + 90 * MIN + 1, "d")  # the same message again counts nothing


async def test_a_person_holds_the_same_keys_however_many_messages_were_counted(client: aredis.Redis) -> None:
    """Redeliveries are recognised from one set per person, trimmed to the window: no key per
    message, which under load held most of Redis's memory."""
    store = ContactStore(client, Keys("many"))

    async def record(at: float, message_id: str) -> bool:
        return (await record_message(store, at, message_id, keep_seconds=HOUR)).duplicate

    for n in range(50):
        assert not await record(T0 + n, f"m{n}")
    keys = sorted(await client.keys("many:*"))
    assert len(keys) == 4
    assert await record(T0 + 60, "m7")  # a redelivery within the window is recognised
    counted = store.record_keys("wecom:c1", "m0")[3]
    assert await client.zcard(counted) == 50
    assert not await record(T0 + 2 * HOUR, "m0")  # past the window it is forgotten, and the set trimmed
    assert await client.zcard(counted) == 1 and sorted(await client.keys("many:*")) == keys


async def test_a_message_counted_by_a_version_before_the_set_is_not_counted_again(client: aredis.Redis) -> None:
    """Until they expire, the marker keys a version before the set wrote per message still count."""
    store = ContactStore(client, Keys("upgrade"))
    first = await record_message(store, T0, "a")
    assert first.new_contact and not first.duplicate
    *_, old_marker = store.record_keys("wecom:c1", "b")
    await client.set(old_marker, "old", ex=int(HOUR))  # "b" was counted, in the same contact, before the upgrade
    again = await record_message(store, T0 + MIN, "b")
    assert again.duplicate and not again.new_contact and again.contact_id == first.contact_id
    assert await client.zcard(store.record_keys("wecom:c1", "b")[3]) == 1  # only "a" in the set
    # One that started a contact then: the rules are looked at again, as for any such redelivery.
    *_, started_marker = store.record_keys("wecom:c1", "c")
    await client.set(started_marker, "new", ex=int(HOUR))
    assert (await record_message(store, T0 + 2 * MIN, "c")).starts == (T0,)


def test_rules_count_contacts_inside_their_window() -> None:
    day, three_days = Rule(3, 24), Rule(3, 72)
    times = [T0, T0 + 20 * HOUR]
    assert fired_rules(times + [T0 + 23 * HOUR], T0 + 23 * HOUR, [day, three_days]) == [day, three_days]
    # The first contact has left the 1-day window, not the 3-day one.
    assert fired_rules(times + [T0 + 25 * HOUR], T0 + 25 * HOUR, [day, three_days]) == [three_days]
    assert fired_rules(times, T0 + 20 * HOUR, [day, three_days]) == []
    assert strongest([three_days, day]) == day
    assert day.describe() == "1天内进线3次" and Rule(2, 12).describe() == "12小时内进线2次"


async def test_ticket_opens_on_the_third_contact_not_before(client: aredis.Redis) -> None:
    clock = Clock(T0)
    service, recorder, notifier = build(client, clock)
    timeline = [
        (T0, "我的快递到哪了"),  # contact 1
        (T0 + 10 * MIN, "单号 1234"),  # same session
        (T0 + 35 * MIN, "还没到"),  # within 30 min of the previous message: same session
        (T0 + 3 * HOUR, "快递还是没动 13812345678"),  # contact 2
        (T0 + 3 * HOUR + 5 * MIN, "怎么回事"),  # same session
    ]
    for i, (at, text) in enumerate(timeline):
        await recorder.record(msg(text, at, n=i), "物流查询", at)
    assert await service.store.all() == [] and notifier.notices == []
    await recorder.record(msg("再问一次", T0 + 20 * HOUR, n=99), "催发货", T0 + 20 * HOUR)  # contact 3
    [ticket] = await service.store.all()
    assert re.fullmatch(r"T-20261119-0001", ticket.id) and ticket.state == "open"
    assert ticket.created_at == T0 + 20 * HOUR
    assert [c["at"] for c in ticket.contacts] == [T0, T0 + 3 * HOUR, T0 + 20 * HOUR]
    assert ticket.contacts[0]["messages"] == 3 and ticket.contacts[0]["intents"] == ["物流查询"]
    assert "13812345678" not in ticket.contacts[1]["excerpt"] and "5678" in ticket.contacts[1]["excerpt"]
    assert ticket.reason.startswith("1天内进线3次") and "wm_cust1" not in ticket.customer_display
    assert notifier.kinds() == ["ticket"] and notifier.notices[0].card["buttons"]
    # A redelivered message is not counted again.
    await recorder.record(msg("再问一次", T0 + 20 * HOUR, n=99), "催发货", T0 + 20 * HOUR)
    assert len((await service.store.get(ticket.id)).contacts) == 3


class Crash(BaseException):
    """The process dying: nothing the recorder catches."""


async def test_a_crash_before_the_ticket_opens_it_when_the_message_is_redelivered(client: aredis.Redis) -> None:
    clock = Clock(T0)
    service, recorder, notifier = build(client, clock)
    for i, at in enumerate((T0, T0 + 3 * HOUR)):
        await recorder.record(msg("在吗", at, n=i), None, at)
    third = msg("还是没人管", T0 + 20 * HOUR, n=2)
    opens = service.repeat_contacts

    async def crash(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise Crash

    service.repeat_contacts = crash  # type: ignore[method-assign]
    with pytest.raises(Crash):
        await recorder.record(third, None, T0 + 20 * HOUR)
    assert await service.store.all() == []
    service.repeat_contacts = opens  # type: ignore[method-assign]
    await recorder.record(third, None, T0 + 20 * HOUR + 30)  # the queue hands the message over again
    [ticket] = await service.store.all()
    assert len(ticket.contacts) == 3 and notifier.kinds() == ["ticket"]
    await recorder.record(third, None, T0 + 20 * HOUR + 60)  # and again: still one ticket, one notice
    assert len(await service.store.all()) == 1 and notifier.kinds() == ["ticket"]
    await recorder.record(msg("在吗", T0 + 20 * HOUR + 5 * MIN, n=3), None, T0 + 20 * HOUR + 5 * MIN)
    assert len((await service.store.all())[0].contacts) == 3  # the same contact: nothing added


async def test_further_contacts_add_to_the_open_ticket_then_reopen_after_close(client: aredis.Redis) -> None:
    clock = Clock(T0)
    service, recorder, notifier = build(client, clock, tickets_settings(reopen_within_days=2))
    for i in range(4):
        await recorder.record(msg("在吗", T0 + i * HOUR, n=i), None, T0 + i * HOUR)
    [ticket] = await service.store.all()
    assert len(ticket.contacts) == 4 and notifier.kinds() == ["ticket", "ticket"]  # opened, came back
    assert [n.title.split()[0] for n in notifier.notices] == ["重复进线工单", "工单客户再次进线"]
    clock.now = T0 + 5 * HOUR
    boss = service.staff.lookup("wecom", "boss")
    await service.act(boss, "chat:wecom/default", "close", ticket.id, "已处理")
    await recorder.record(msg("又来了", T0 + 6 * HOUR, n=10), None, T0 + 6 * HOUR)
    [again] = await service.store.all()
    assert again.id == ticket.id and again.state == "reopened" and again.reopen_count == 1
    assert notifier.kinds() == ["ticket"] * 3 and notifier.notices[-1].title.startswith("工单重开")
    # Closed longer ago than reopen_within_days: a new ticket.
    clock.now = T0 + 7 * HOUR
    await service.act(boss, "chat:wecom/default", "close", ticket.id, "已处理")
    late = T0 + 7 * HOUR + 3 * DAY
    for i in range(3):
        await recorder.record(msg("还是不行", late + i * HOUR, n=20 + i), None, late + i * HOUR)
    tickets = await service.store.all()
    assert len(tickets) == 2 and tickets[1].state == "open" and tickets[1].id != ticket.id


async def test_linked_channels_count_as_one_customer(client: aredis.Redis) -> None:
    settings = tickets_settings(identity_map={"alice": ["wecom_kf:wmA", "wechat:oA"]})
    service, recorder, _ = build(client, Clock(T0), settings)
    await recorder.record(msg("a", T0, sender="wmA", n=1), None, T0)
    await recorder.record(msg("b", T0 + HOUR, sender="oA", channel="wechat", n=2), None, T0 + HOUR)
    await recorder.record(msg("c", T0 + 2 * HOUR, sender="wmA", n=3), None, T0 + 2 * HOUR)
    [t] = await service.store.all()
    assert t.customer == "p:alice" and [c["channel"] for c in t.contacts] == ["wecom_kf", "wechat", "wecom_kf"]
    # The platform's union id links too.
    for i, channel in enumerate(["wechat", "wecom_kf", "wechat"]):
        await recorder.record(
            msg("x", T0 + i * HOUR, sender=f"s{i}", channel=channel, union_id="U1", n=10 + i), None, T0 + i * HOUR
        )
    assert {t.customer for t in await service.store.all()} == {"p:alice", "u:U1"}


async def test_two_workers_firing_at_the_same_moment_make_one_ticket(client: aredis.Redis, redis_clean: str) -> None:
    clock = Clock(T0)
    settings = tickets_settings(identity_map={"bob": ["wecom_kf:wmB", "wechat:oB"]})
    # Two workers: separate services and recorders (separate connections) on one Redis.
    other = aredis.Redis.from_url(redis_clean)
    try:
        s1, r1, _ = build(client, clock, settings)
        s2, r2, _ = build(other, clock, settings)
        for i in range(2):
            await r1.record(msg("a", T0 + i * HOUR, sender="wmB", n=i), None, T0 + i * HOUR)
        at = T0 + 2 * HOUR
        await asyncio.gather(
            r1.record(msg("x", at, sender="wmB", n=50), None, at),
            r2.record(msg("y", at, sender="oB", channel="wechat", n=51), None, at),
        )
        assert len(await s1.store.all()) == 1
        # The ticket step itself, raced directly: still one ticket.
        from alerts.contacts.rules import Rule

        contacts = await r1.store.contacts("p:bob")
        results = await asyncio.gather(
            *[svc.repeat_contacts("p:carol", msg("z", at, n=60), Rule(3, 24), contacts, at) for svc in (s1, s2, s1, s2)]
        )
        assert len({t.id for _, t in results}) == 1 and sorted(w for w, _ in results).count("created") == 1
    finally:
        await other.aclose()
