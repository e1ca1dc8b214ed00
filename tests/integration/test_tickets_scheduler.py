"""The scheduler: escalations on an injected clock across a restart, digests, the weekly review,
and exactly one leader among real processes, which moves when the leader is killed."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
import redis
import redis.asyncio as aredis

from alerts.tickets.scheduler import TicketScheduler
from alerts.tickets.settings import ScheduleSettings
from tests.support.tickets_helpers import (
    DAY,
    HOUR,
    MIN,
    T0,
    Clock,
    RecordingNotifier,
    build,
    msg,
    tickets_settings,
)

pytestmark = pytest.mark.anyio


async def open_ticket(client: aredis.Redis, clock: Clock, notifier: RecordingNotifier) -> str:
    service, recorder, _ = build(client, clock, notifier=notifier)
    for i in range(3):
        await recorder.record(msg("在吗", T0 + i * HOUR, n=i), None, T0 + i * HOUR)
    [t] = await service.store.all()
    return t.id


async def test_escalations_survive_a_restart_without_repeats(client: aredis.Redis) -> None:
    clock, notifier = Clock(T0), RecordingNotifier()
    tid = await open_ticket(client, clock, notifier)
    created = T0 + 2 * HOUR
    first, _, _ = build(client, clock, notifier=notifier)
    clock.now = created + 29 * MIN
    assert await first.escalate_due(clock.now) == []
    clock.now = created + 31 * MIN
    assert await first.escalate_due(clock.now) == [f"{tid}:unacked"]
    assert await first.escalate_due(clock.now + 60) == []
    # "Restart": a new process builds everything again from Redis.
    second, _, _ = build(client, clock, notifier=notifier)
    for minutes in (40, 120, 23 * 60):
        assert await second.escalate_due(created + minutes * MIN) == []
    assert await second.escalate_due(created + 24 * HOUR + 1) == [f"{tid}:open"]
    third, _, _ = build(client, clock, notifier=notifier)
    assert await third.escalate_due(created + 30 * HOUR) == []
    escalations = [n for n in notifier.notices if n.kind == "ticket_escalation"]
    assert [n.dedupe_key for n in escalations] == [f"{tid}:unacked#0", f"{tid}:open#0"]
    assert all(n.team == "kefu" and n.channel == "wecom_kf" for n in escalations)


async def test_an_escalation_interrupted_while_sending_is_sent_again(client: aredis.Redis) -> None:
    clock, notifier = Clock(T0), RecordingNotifier()
    tid = await open_ticket(client, clock, notifier)

    class Dying(RecordingNotifier):
        async def send(self, notice):  # type: ignore[no-untyped-def]
            raise ConnectionError("process died")

    service, _, _ = build(client, clock, notifier=Dying())
    now = T0 + 3 * HOUR
    assert await service.escalate_due(now) == []  # the send failed: not marked sent
    retry, _, _ = build(client, clock, notifier=notifier)
    assert await retry.escalate_due(now + 60) == [f"{tid}:unacked"]


async def test_acknowledged_in_time_means_no_unacked_escalation(client: aredis.Redis) -> None:
    clock, notifier = Clock(T0), RecordingNotifier()
    tid = await open_ticket(client, clock, notifier)
    service, _, _ = build(client, clock, notifier=notifier)
    clock.now = T0 + 2 * HOUR + 10 * MIN
    await service.act(service.staff.lookup("wecom", "agent1"), "chat:wecom/default", "ack", tid)
    assert await service.escalate_due(T0 + 4 * HOUR) == []


async def test_digest_and_weekly_review(client: aredis.Redis) -> None:
    clock, notifier = Clock(T0), RecordingNotifier()
    tid = await open_ticket(client, clock, notifier)
    service, _, _ = build(client, clock, notifier=notifier)
    assert await service.digest(T0 + DAY) == ["kefu"]
    assert await service.digest(T0 + DAY + 60) == []  # once a day
    digest = notifier.notices[-1]
    assert digest.kind == "ticket_digest" and tid in digest.text
    review = await service.weekly(T0 + 2 * DAY)
    assert review["this_week"] == 1 and review["last_week"] == 0
    assert notifier.notices[-1].kind == "ticket_weekly" and "上周 0 单" in notifier.notices[-1].text


_CHILD = """
import asyncio, sys
import redis.asyncio as aredis
from alerts.tickets.scheduler import TicketScheduler
from tests.support.tickets_helpers import T0, Clock, build, tickets_settings
from alerts.tickets.settings import ScheduleSettings

async def main():
    url = sys.argv[1]
    client = aredis.Redis.from_url(url)
    settings = tickets_settings(schedules=ScheduleSettings(leader_ttl_seconds=2))
    service, _, _ = build(client, Clock(T0), settings)
    sched = TicketScheduler(service, client, url, service.store.keys)
    while True:
        await sched.step()
        if sched.is_leader:
            await client.set("t:test:leader_jobs", ",".join(sorted(j.id for j in sched.scheduler.get_jobs())))
        await asyncio.sleep(0.3)

asyncio.run(main())
"""


def test_two_processes_one_leader_and_the_lock_moves(redis_clean: str) -> None:
    sync = redis.Redis.from_url(redis_clean)
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    procs = [subprocess.Popen([sys.executable, "-c", _CHILD, redis_clean], env=env) for _ in range(2)]
    try:
        holder = _wait_for(lambda: sync.get("t:scheduler:leader"))
        leader_pid = int(holder.decode().split(":")[1])
        assert leader_pid in {p.pid for p in procs}
        assert _wait_for(lambda: sync.get("t:test:leader_jobs")) == b"tickets.digest,tickets.escalations,tickets.weekly"
        assert sync.zcard("t:{scheduler}:run_times") == 3  # the jobs live in Redis
        time.sleep(1.5)
        assert int(sync.get("t:scheduler:leader").decode().split(":")[1]) == leader_pid  # renewed, not moved
        os.kill(leader_pid, signal.SIGKILL)  # dies without letting go
        follower = next(p.pid for p in procs if p.pid != leader_pid)
        _wait_for(lambda: (h := sync.get("t:scheduler:leader")) and int(h.decode().split(":")[1]) == follower, 10)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
            p.wait()


def _wait_for(predicate, timeout: float = 15.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


async def test_scheduler_in_process_leads_and_lets_go(client: aredis.Redis, redis_clean: str) -> None:
    settings = tickets_settings(schedules=ScheduleSettings(leader_ttl_seconds=2))
    a, _, _ = build(client, Clock(T0), settings)
    b, _, _ = build(client, Clock(T0), settings)
    sa = TicketScheduler(a, client, redis_clean, a.store.keys)
    sb = TicketScheduler(b, client, redis_clean, b.store.keys)
    assert await sa.step() and not await sb.step()
    task = asyncio.create_task(sa.run())
    await asyncio.sleep(0.2)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert not sa.is_leader and await sb.step()  # released on a clean stop: taken at once
    sb._stop()


async def test_a_new_leader_runs_the_digest_its_dead_predecessor_was_due_to_send(
    client: aredis.Redis, redis_clean: str
) -> None:
    clock, notifier = Clock(T0), RecordingNotifier()
    await open_ticket(client, clock, notifier)
    first, _, _ = build(client, clock, notifier=notifier)
    leader = TicketScheduler(first, client, redis_clean, first.store.keys)
    assert await leader.step()
    # The leader dies just before the digest is due: its stored next run is now in the past.
    leader.scheduler.pause()
    leader.scheduler.modify_job("tickets.digest", next_run_time=datetime.now(UTC) - timedelta(seconds=30))
    await asyncio.sleep(0.1)  # APScheduler handles the change on the loop: while still paused
    leader._stop()
    await client.delete(leader.lock.key)  # its lease ran out

    second, _, _ = build(client, clock, notifier=notifier)
    successor = TicketScheduler(second, client, redis_clean, second.store.keys)
    assert await successor.step()
    try:
        for _ in range(50):
            if "ticket_digest" in notifier.kinds():
                break
            await asyncio.sleep(0.1)
        assert notifier.kinds().count("ticket_digest") == 1
        next_run = successor.scheduler.get_job("tickets.digest").next_run_time
        # Then back on its daily time, the next one to come (which may be within the hour).
        assert next_run > datetime.now(UTC) and next_run.strftime("%H:%M") == ScheduleSettings().digest
    finally:
        successor._stop()


async def test_a_changed_digest_time_replaces_the_stored_job(client: aredis.Redis, redis_clean: str) -> None:
    service, _, _ = build(client, Clock(T0))
    before = TicketScheduler(service, client, redis_clean, service.store.keys)
    assert await before.step()
    assert "hour='9', minute='0'" in str(before.scheduler.get_job("tickets.digest").trigger)
    before._stop()
    await client.delete(before.lock.key)

    changed, _, _ = build(client, Clock(T0), tickets_settings(schedules=ScheduleSettings(digest="10:30")))
    after = TicketScheduler(changed, client, redis_clean, changed.store.keys)
    assert await after.step()
    try:
        assert "hour='10', minute='30'" in str(after.scheduler.get_job("tickets.digest").trigger)
    finally:
        after._stop()
