"""kefu on a real 3-master Redis Cluster and on a Sentinel-watched master: signed callbacks over
HTTP, replies to the fake platform, each answered once, also when a master is killed mid-load
and started again from its append-only file, and across a Sentinel failover."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from bot.redis_urls import sync_client
from bot.runtime.settings import Settings
from tests.support.callbacks import wecom_callback, with_channels
from tests.support.fake_platform import FakePlatform
from tests.support.redis_cluster import Cluster, SentinelSetup, cluster_clean, redis_cluster, redis_sentinel
from tests.support.serving import served, wait_until

__all__ = ["cluster_clean", "redis_cluster", "redis_sentinel"]


@pytest.fixture()
def fake() -> FakePlatform:
    with FakePlatform() as platform:
        yield platform


def post_until_accepted(base: str, text: str, msg_id: str, sender: str, timeout: float = 30) -> None:
    """What the platform does: the same callback again until it gets a 200."""
    query, body = wecom_callback(text, msg_id, sender=sender)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.post(f"{base}/webhooks/wecom", params=query, content=body, timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"callback {msg_id} never accepted")


def answered_once_each(fake: FakePlatform, senders: set[str], timeout: float = 60) -> None:
    wait_until(lambda: len(fake.state.get("app_sent", [])) >= len(senders), timeout=timeout)
    time.sleep(1.5)  # give a wrong second reply every chance to appear
    delivered = [m["touser"] for m in fake.state["app_sent"]]
    assert sorted(delivered) == sorted(senders)  # every accepted message answered, none twice


def test_callbacks_through_a_cluster_are_answered_once(
    settings: Settings, fake: FakePlatform, cluster_clean: Cluster
) -> None:
    configured = with_channels(settings, fake).model_copy(update={"redis_url": cluster_clean.url})
    with served(configured) as (base, runtime):
        senders = {f"c{n}" for n in range(30)}
        for n, sender in enumerate(sorted(senders)):
            query, body = wecom_callback("我的快递到哪了", f"81{n:03d}", sender=sender)
            for _ in range(2):  # each delivered twice by the platform
                assert httpx.post(f"{base}/webhooks/wecom", params=query, content=body).status_code == 200
        answered_once_each(fake, senders)
        # The keys really spread: the queues and customers are on more than one master.
        assert sum(n.client().dbsize() > 0 for n in cluster_clean.nodes) >= 2
        # The ticket scheduler's leader stored its jobs through its synchronous cluster client.
        jobs = sync_client(cluster_clean.url)
        wait_until(lambda: jobs.zcard(f"{runtime.keys.prefix}:{{scheduler}}:run_times") == 3, timeout=20)


def test_a_master_killed_mid_load_loses_and_doubles_nothing(
    settings: Settings, fake: FakePlatform, cluster_clean: Cluster
) -> None:
    configured = with_channels(settings, fake).model_copy(update={"redis_url": cluster_clean.url})
    with served(configured) as (base, runtime):
        inbox_slot_owner = _owner_of(cluster_clean, runtime.gateway.inbox.stream(0))
        senders = [f"k{n}" for n in range(60)]
        restarted = threading.Event()

        def restart_mid_load() -> None:
            wait_until(lambda: len(fake.state.get("app_sent", [])) >= 10, timeout=30)
            cluster_clean.restart(inbox_slot_owner)  # the master holding the inbox
            restarted.set()

        restarter = threading.Thread(target=restart_mid_load)
        restarter.start()
        for n, sender in enumerate(senders):
            post_until_accepted(base, "怎么退货", f"82{n:03d}", sender)
        restarter.join(timeout=60)
        assert restarted.is_set()
        answered_once_each(fake, set(senders), timeout=90)


def _owner_of(cluster: Cluster, key: str):  # type: ignore[no-untyped-def]
    for node in cluster.nodes:
        slot = node.client().cluster("keyslot", key)
        for start, end, *owners in node.client().execute_command("CLUSTER", "SLOTS"):
            if start <= slot <= end and int(owners[0][1]) == node.port:
                return node
    raise AssertionError("no owner")


def test_callbacks_through_sentinel_survive_a_failover(
    settings: Settings, fake: FakePlatform, redis_sentinel: SentinelSetup
) -> None:
    configured = with_channels(settings, fake).model_copy(update={"redis_url": redis_sentinel.url})
    with served(configured) as (base, _):
        for n in range(5):
            post_until_accepted(base, "发票怎么开", f"83{n:03d}", f"s{n}")
        answered_once_each(fake, {f"s{n}" for n in range(5)})
        # Let the replica catch up on everything, then the master dies for good: the sentinel
        # promotes the replica and kefu follows it.
        master = redis_sentinel.master.client()
        master.execute_command("WAIT", 1, 5000)
        redis_sentinel.master.kill()
        wait_until(lambda: redis_sentinel.master_port() == redis_sentinel.replica.port, timeout=30)
        for n in range(5, 10):
            post_until_accepted(base, "发票怎么开", f"83{n:03d}", f"s{n}")
        answered_once_each(fake, {f"s{n}" for n in range(10)})
