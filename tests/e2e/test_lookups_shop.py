"""The shop API client against the demo shop served on 127.0.0.1 (signatures checked), with
scripted misbehaviours in front of it, and a real Redis for the cache."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any, TypeVar

import pytest
import redis.asyncio as aredis
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.routing import Mount

from adapters.lookup_http import DEFAULT_BREAKER, BreakerPolicy, BreakerState, breaker_decide, breaker_record
from adapters.shop.client import ShopClient
from adapters.shop.demo import create_demo_app
from adapters.shop.settings import ShopSettings
from adapters.shop.signing import signature, signed_headers, verify
from adapters.shop.wire import parse_order, parse_shipment
from bot.http import HttpClient
from bot.lookups import NoLookups, NotFound, NotYours, TrackState, Unavailable
from bot.redis_store import Keys
from tests.support.clock import Clock
from tests.support.lookup_servers import APP_KEY, SECRET, Scripted, scripted_demo_shop, served_date, serving

T = TypeVar("T")
SHIPPED = "DD202406080003"  # web:c1's shipped order in the demo shop
OTHERS = "DD202406070009"  # web:c2's


@pytest.fixture(scope="module")
def shop_server() -> Iterator[tuple[str, Scripted]]:
    with scripted_demo_shop() as served_shop:
        yield served_shop


@pytest.fixture()
def shop(shop_server: tuple[str, Scripted]) -> tuple[str, Scripted]:
    base, scripted = shop_server
    scripted.script.clear()
    scripted.calls.clear()
    return base, scripted


def run(redis_url: str, work: Callable[[aredis.Redis, HttpClient], Awaitable[T]]) -> T:
    async def main() -> T:
        redis = aredis.Redis.from_url(redis_url)
        async with HttpClient() as http:
            try:
                return await work(redis, http)
            finally:
                await redis.aclose()

    return asyncio.run(main())


def client(
    base: str, redis: aredis.Redis, http: HttpClient, *, secret: str = SECRET, timeout: float = 3.0,
    clock: Clock | None = None, policy: BreakerPolicy = DEFAULT_BREAKER,
) -> ShopClient:  # fmt: skip
    settings = ShopSettings(api_base=base, app_key=APP_KEY, secret=SecretStr(secret), timeout_seconds=timeout)
    return ShopClient(settings, http, redis, Keys("kefu"), clock or Clock(), breaker=policy)


def outcome(redis_url: str, base: str, call: Callable[[ShopClient], Awaitable[Any]], **kwargs: Any) -> Any:
    """The answer, or the error raised, of one call on a fresh client."""

    async def work(redis: aredis.Redis, http: HttpClient) -> Any:
        try:
            return await call(client(base, redis, http, **kwargs))
        except Exception as e:
            return e

    return run(redis_url, work)


def test_signature_worked_example() -> None:
    """The example docs/lookups.md walks through."""
    target = "/kefu-api/orders/DD202406080003?customer=web%3Ac1"
    assert signature("demo-secret", "1718000000", "GET", target) == (
        "05790013c2e3cf89cd445e07eb96e3699d628238ab5856c36fb8736117c9ae16"
    )
    headers = {k.lower(): v for k, v in signed_headers("k", "s", "GET", target, 1718000000.0).items()}
    assert verify(headers, "GET", target, b"", app_key="k", secret="s", now=1718000100) is None
    assert verify(headers, "GET", target + "x", b"", app_key="k", secret="s", now=1718000100) == "bad X-Kefu-Signature"
    assert "too far" in (verify(headers, "GET", target, b"", app_key="k", secret="s", now=1718009999) or "")


def test_order_found_with_shipment_and_refund(redis_clean: str, shop: tuple[str, Scripted]) -> None:
    base, _ = shop
    order = outcome(redis_clean, base, lambda c: c.order(SHIPPED, "web:c1"))
    assert order.status == "shipped" and order.amount == Decimal("1299.00")
    assert order.items[0].sku == "AJ1-CHI-42" and order.items[0].quantity == 1
    assert order.shipment.company_code == "shunfeng" and order.shipment.waybill == "SF1234567890123"
    assert order.shipment.phone_tail == "1234"  # from receiver_phone, cut to what SF's tracking needs
    assert order.refund is None
    refunding = outcome(redis_clean, base, lambda c: c.order("DD202405200007", "web:c1"))
    assert refunding.status == "refunding" and refunding.refund.status == "approved"
    assert refunding.refund.amount == Decimal("699.00")


def test_unknown_order_is_not_found_and_anothers_is_not_yours(redis_clean: str, shop: tuple[str, Scripted]) -> None:
    base, _ = shop
    assert type(outcome(redis_clean, base, lambda c: c.order("DD0000", "web:c1"))) is NotFound
    assert isinstance(outcome(redis_clean, base, lambda c: c.order(OTHERS, "web:c1")), NotYours)
    # An operator's lookup (no customer) sees any order.
    assert outcome(redis_clean, base, lambda c: c.order(OTHERS, None)).status == "shipped"


def test_recent_orders_products_and_shipment(redis_clean: str, shop: tuple[str, Scripted]) -> None:
    base, _ = shop
    recent = outcome(redis_clean, base, lambda c: c.recent_orders("web:c1", 3))
    assert [o.order_id for o in recent] == ["DD202406100005", "DD202406090004", SHIPPED]
    assert {o.status for o in outcome(redis_clean, base, lambda c: c.recent_orders("web:c1", 20))} == {
        "pending_payment", "paid", "shipped", "delivered", "completed", "cancelled", "refunding", "refunded"
    }  # fmt: skip
    sizes = outcome(redis_clean, base, lambda c: c.products("aj1 43码"))
    assert [(p.sku, p.stock, p.restock_date) for p in sizes] == [("AJ1-CHI-43", 0, served_date("2024-07-15").date())]
    assert len(outcome(redis_clean, base, lambda c: c.products("乔丹1"))) == 3
    tracking = outcome(redis_clean, base, lambda c: c.track("SF1234567890123"))
    assert tracking.state is TrackState.IN_TRANSIT and tracking.state.zh == "在途"
    assert tracking.traces[0].context.startswith("【上海市】") and tracking.traces[0].time > tracking.traces[1].time
    assert type(outcome(redis_clean, base, lambda c: c.track("SF0000000000000"))) is NotFound


def test_api_base_with_a_path_prefix_is_signed_with_it(redis_clean: str) -> None:
    app = Starlette(routes=[Mount("/kefu-api", create_demo_app(APP_KEY, SECRET))])
    with serving(app) as base:
        order = outcome(redis_clean, base + "/kefu-api/", lambda c: c.order(SHIPPED, "web:c1"))
    assert order.order_id == SHIPPED


def test_wrong_secret_is_unavailable_auth(redis_clean: str, shop: tuple[str, Scripted]) -> None:
    base, _ = shop
    error = outcome(redis_clean, base, lambda c: c.order(SHIPPED, "web:c1"), secret="not-the-secret")
    assert isinstance(error, Unavailable) and error.reason == "auth"


def test_a_500_is_retried_and_then_answered(redis_clean: str, shop: tuple[str, Scripted]) -> None:
    base, scripted = shop
    scripted.next("500", 2)
    assert outcome(redis_clean, base, lambda c: c.order(SHIPPED, "web:c1")).order_id == SHIPPED
    assert scripted.calls[f"/orders/{SHIPPED}"] == 3
    scripted.next("500", 3)
    error = outcome(redis_clean, base, lambda c: c.order(SHIPPED, "web:c2"))
    assert isinstance(error, Unavailable) and error.reason == "server_error"


@pytest.mark.parametrize(
    ("behaviour", "reason"),
    [("garbage", "bad_response"), ("wrong_shape", "bad_response"), ("huge_declared", "too_large"),
     ("huge_stream", "too_large")],
)  # fmt: skip
def test_bad_answers_are_unavailable(
    redis_clean: str, shop: tuple[str, Scripted], behaviour: str, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A 10 MB body streamed slowly is refused at the limit, not read whole (which would time out)."""
    base, scripted = shop
    scripted.next(behaviour)
    with caplog.at_level(logging.WARNING):
        error = outcome(redis_clean, base, lambda c: c.order(SHIPPED, "web:c1"), timeout=2.0)
    assert isinstance(error, Unavailable) and error.reason == reason
    assert scripted.calls[f"/orders/{SHIPPED}"] == 1  # not retried
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "shop API GET /orders/{id}" in logged
    assert SHIPPED not in logged and "web:c1" not in logged


def test_a_shop_that_does_not_answer_in_time(redis_clean: str, shop: tuple[str, Scripted]) -> None:
    base, scripted = shop
    scripted.next("stall")
    error = outcome(redis_clean, base, lambda c: c.order(SHIPPED, "web:c1"), timeout=0.3)
    assert isinstance(error, Unavailable) and error.reason == "timeout"


def test_connection_refused_is_unavailable_connect(redis_clean: str) -> None:
    from tests.support.serving import free_port

    error = outcome(redis_clean, f"http://127.0.0.1:{free_port()}", lambda c: c.products("AJ1"))
    assert isinstance(error, Unavailable) and error.reason == "connect"


def test_circuit_opens_after_failures_and_closes_after_cool_down(redis_clean: str, shop: tuple[str, Scripted]) -> None:
    base, scripted = shop
    clock = Clock()
    policy = BreakerPolicy(threshold=3, cooldown=30)
    path = "/products"

    async def work(redis: aredis.Redis, http: HttpClient) -> None:
        shop_client = client(base, redis, http, clock=clock, policy=policy)

        async def reason(query: str) -> str:
            try:
                await shop_client.products(query)
                return "ok"
            except Unavailable as e:
                return e.reason

        scripted.next("garbage", 3)
        assert [await reason(f"q{i}") for i in range(3)] == ["bad_response"] * 3
        assert await reason("q3") == "circuit_open" and scripted.calls[path] == 3  # refused without a call
        clock.now += 29
        assert await reason("q4") == "circuit_open"
        clock.now += 1
        scripted.next("garbage")
        assert await reason("q5") == "bad_response"  # the trial call fails: open again
        assert await reason("q6") == "circuit_open" and scripted.calls[path] == 4
        clock.now += 30
        assert await reason("q7") == "ok"  # the trial succeeds: closed
        assert await reason("q8") == "ok" and scripted.calls[path] == 6

    run(redis_clean, work)


def test_breaker_decisions() -> None:
    policy = BreakerPolicy(threshold=2, cooldown=10)
    state = breaker_record(BreakerState(), False, 100, policy)
    assert breaker_decide(state, 100, policy)[0]
    state = breaker_record(state, False, 101, policy)
    assert not breaker_decide(state, 110.9, policy)[0]
    allowed, trial = breaker_decide(state, 111, policy)
    assert allowed and not breaker_decide(trial, 112, policy)[0]  # one trial at a time
    assert breaker_record(trial, True, 112, policy) == BreakerState()


def test_cache_answers_again_without_a_call_but_never_for_another_customer(
    redis_clean: str, shop: tuple[str, Scripted]
) -> None:
    base, scripted = shop
    path = f"/orders/{SHIPPED}"

    async def work(redis: aredis.Redis, http: HttpClient) -> None:
        shop_client = client(base, redis, http)
        first = await shop_client.order(SHIPPED, "web:c1")
        assert await shop_client.order(SHIPPED, "web:c1") == first
        assert scripted.calls[path] == 1
        with pytest.raises(NotYours):
            await shop_client.order(SHIPPED, "web:c2")  # asks the shop, which refuses
        assert scripted.calls[path] == 2
        assert (await shop_client.order(SHIPPED, None)).order_id == SHIPPED  # staff: never cached
        assert scripted.calls[path] == 3
        await shop_client.products("AJ1")
        await shop_client.products(" aj1 ")
        assert scripted.calls["/products"] == 1

    run(redis_clean, work)


def test_redis_down_costs_only_the_cache(shop: tuple[str, Scripted]) -> None:
    from tests.support.serving import free_port

    base, _ = shop
    order = outcome(f"redis://127.0.0.1:{free_port()}/0", base, lambda c: c.order(SHIPPED, "web:c1"))
    assert order.order_id == SHIPPED


def test_no_lookups_is_unavailable_not_configured() -> None:
    async def ask() -> str:
        try:
            await NoLookups().order("DD1", "web:c1")
        except Unavailable as e:
            return e.reason
        return "answered"

    assert asyncio.run(ask()) == "not_configured"


def test_build_lookups_from_settings(redis_clean: str, shop: tuple[str, Scripted]) -> None:
    from adapters.lookups import ShopLookups, build_lookups
    from bot.metrics import LOOKUPS
    from bot.runtime.settings import Settings

    base, _ = shop
    off = Settings(redis_url=redis_clean)
    on = Settings(
        redis_url=redis_clean,
        shop={"api_base": base, "app_key": APP_KEY, "secret": SECRET},
        logistics={"provider": "shop"},
    )

    async def work(redis: aredis.Redis, http: HttpClient) -> None:
        assert isinstance(build_lookups(off.shop, off.logistics, redis, Keys("kefu"), http), NoLookups)
        lookups = build_lookups(on.shop, on.logistics, redis, Keys("kefu"), http)
        assert isinstance(lookups, ShopLookups) and lookups.tracker is lookups.shop
        before = LOOKUPS.labels("order", "not_yours")._value.get()
        with pytest.raises(NotYours):
            await lookups.order(OTHERS, "web:c1")
        assert LOOKUPS.labels("order", "not_yours")._value.get() == before + 1
        assert (await lookups.track("JT0001234567890")).state is TrackState.OUT_FOR_DELIVERY

    run(redis_clean, work)


def test_an_unreadable_cache_entry_is_asked_again(redis_clean: str, shop: tuple[str, Scripted]) -> None:
    base, scripted = shop

    async def work(redis: aredis.Redis, http: HttpClient) -> None:
        shop_client = client(base, redis, http)
        await shop_client.order(SHIPPED, "web:c1")
        (key,) = [k async for k in redis.scan_iter("kefu:*shop:order:*")]
        await redis.set(key, b'{"order_id": 1}')
        assert (await shop_client.order(SHIPPED, "web:c1")).order_id == SHIPPED
        assert scripted.calls[f"/orders/{SHIPPED}"] == 2

    run(redis_clean, work)


@pytest.mark.parametrize(
    ("shipment_phone", "tail"),
    [
        ({"receiver_phone": "138-0000-5678"}, "5678"),
        ({"phone": 13800005678}, "5678"),
        ({"phone": "12"}, None),
        ({}, None),
    ],
)
def test_the_shipments_optional_phone_becomes_its_last_four_digits(
    shipment_phone: dict[str, Any], tail: str | None
) -> None:
    shipment = {"company": "顺丰速运", "company_code": "shunfeng", "waybill": "SF1", **shipment_phone}
    body = {"order_id": "DD1", "status": "shipped", "created_at": "2024-06-08T10:05:00+08:00", "amount": "1",
            "shipment": shipment}  # fmt: skip
    order = parse_order(json.dumps(body).encode())
    assert order.shipment is not None and order.shipment.phone_tail == tail
    assert "1380000" not in repr(order)  # the whole number is not kept


@pytest.mark.parametrize(
    ("written", "beijing"),
    [
        ("2024-06-08T02:05:00Z", "2024-06-08 10:05"),  # UTC, told in Beijing time
        ("2024-06-08T10:05:00+08:00", "2024-06-08 10:05"),
        ("2024-06-08 10:05:00", "2024-06-08 10:05"),  # no zone: Beijing time already
    ],
)
def test_the_shops_times_are_read_in_beijing_time(written: str, beijing: str) -> None:
    body = {"order_id": "DD1", "status": "refunding", "created_at": written, "amount": "1",
            "shipment": {"company": "中通快递", "company_code": "zhongtong", "waybill": "7531", "shipped_at": written},
            "refund": {"status": "applied", "amount": "1", "updated_at": written}}  # fmt: skip
    order = parse_order(json.dumps(body).encode())
    assert order.shipment is not None and order.refund is not None
    for value in (order.created_at, order.shipment.shipped_at, order.refund.updated_at):
        assert value is not None and value.utcoffset() == timedelta(hours=8) and f"{value:%Y-%m-%d %H:%M}" == beijing
    trace = parse_shipment(json.dumps({"company": "zhongtong", "waybill": "7531", "state": 0,
                                       "traces": [{"time": written, "context": "x"}]}).encode()).traces[0]  # fmt: skip
    assert trace.time.utcoffset() == timedelta(hours=8) and f"{trace.time:%Y-%m-%d %H:%M}" == beijing
