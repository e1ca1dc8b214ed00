"""Every group of keys that one script, transaction or command uses together maps to one Redis
Cluster slot (redis-py's own slot function), so that a key renamed out of its hash tag fails here
rather than on a cluster with CROSSSLOT. The clients are never connected."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis.asyncio as aredis
from redis.crc import key_slot

from alerts.contacts.store import ContactStore
from alerts.notify.state import GroupStore
from alerts.tickets.scheduler import job_store
from alerts.tickets.store import TicketStore
from bot.message import OutboundMessage
from bot.outbox import Outbox
from bot.queue import StreamQueue
from bot.redis_store import Keys

# Customers and ids as the platforms give them, some with the braces a hash tag is made of.
CUSTOMERS = ["wecom:app:zhangsan", "feishu:cli_a:ou_7d8a", "dingtalk:x:{odd}", "wechat:gh:o}6_", "wecom:{:}"]
IDS = ["m1", "msg-0007", "{x}", "T-20261204-0001"]


def one_slot(keys: list[str]) -> None:
    slots = {key_slot(k.encode()) for k in keys}
    assert len(slots) == 1, f"keys used together span {len(slots)} slots: {keys}"


@pytest.fixture()
def redis() -> Iterator[aredis.Redis]:
    yield aredis.Redis()  # never connected: only for the stores' constructors


@pytest.mark.parametrize("prefix", ["kefu", "shop-2"])
@pytest.mark.parametrize("name", ["inbox", "tasks", "outbox"])
def test_a_queue_enqueue_batch_and_read_share_a_slot(redis: aredis.Redis, prefix: str, name: str) -> None:
    queue = StreamQueue(redis, Keys(prefix), name, partitions=32)
    # add_once's script: a set, a stream and an old marker per message, many messages per call.
    one_slot(
        [
            k for c in CUSTOMERS for i in IDS
            for k in (queue.enqueued_set(c), queue.stream(queue.partition_of(c)), queue.legacy_marker(f"{c}:{i}"))
        ]
    )  # fmt: skip
    # The reader's XREADGROUP names every partition it holds.
    one_slot([queue.stream(p) for p in range(queue.partitions)])


def test_the_outbox_due_mover_writes_into_its_own_slot(redis: aredis.Redis) -> None:
    outbox = Outbox(redis, Keys(), partitions=32)
    one_slot([outbox.delayed_key, outbox.queue.stream_prefix, *(outbox.queue.stream(p) for p in range(32))])


def test_the_outbox_done_check_reads_one_slot(redis: aredis.Redis) -> None:
    outbox = Outbox(redis, Keys(), partitions=32)
    for customer in CUSTOMERS:
        message = OutboundMessage("wecom", "default", {"touser": customer}, "", f"reply:{customer}", customer=customer)
        one_slot(outbox.done_check(message, enqueued_too=True).keys)


def test_a_customers_contact_keys_share_a_slot(redis: aredis.Redis) -> None:
    store = ContactStore(redis, Keys())
    for customer in CUSTOMERS:
        one_slot(store.record_keys(customer, "m1"))


def test_alert_groups_share_a_slot(redis: aredis.Redis) -> None:
    store = GroupStore(redis, Keys())
    # The add script also writes the batch list, named inside it from the prefix.
    one_slot([store.due_key, *(store._open_key(g) for g in IDS), *(store._batch_prefix() + b for b in IDS)])


def test_tickets_transactions_share_a_slot(redis: aredis.Redis) -> None:
    store = TicketStore(redis, Keys())
    one_slot(
        [store.active_key, store.created_key, store.seq_key("20261204")]
        + [k for t in IDS for k in (store.key(t), store.audit_key(t))]
        + [store.pointer_key(c) for c in CUSTOMERS]
    )


def test_scheduler_job_store_keys_share_a_slot() -> None:
    store = job_store("redis://localhost:6379/0", Keys())  # makes a client, connects on first use
    one_slot([store.jobs_key, store.run_times_key])


def test_customer_keys_share_the_customers_slot() -> None:
    keys = Keys()
    for customer in CUSTOMERS:
        one_slot([keys.customer(customer, what) for what in ("dialogue", "handle", "contacts", "shop:orders:5")])


def test_different_customers_spread_over_slots() -> None:
    """What is not used together is not tagged together: customers' keys spread over the cluster."""
    keys = Keys()
    assert len({key_slot(keys.customer(f"wecom:app:{n}", "dialogue").encode()) for n in range(200)}) > 100
