"""快递100's real-time query against a fake 快递100 on 127.0.0.1 that checks the sign, and
couriers told from waybills."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
import redis.asyncio as aredis
from pydantic import SecretStr

from adapters.logistics.carriers import carrier_of
from adapters.logistics.kuaidi100 import Kuaidi100, kuaidi100_sign
from adapters.logistics.settings import LogisticsSettings
from bot.http import HttpClient
from bot.lookups import CarrierUnknown, NoTraceYet, TrackState, Unavailable
from bot.redis_store import Keys
from tests.support.lookup_servers import KD_CUSTOMER, KD_KEY, FakeKuaidi100, serving


@pytest.fixture(scope="module")
def fake_server() -> Iterator[tuple[str, FakeKuaidi100]]:
    fake = FakeKuaidi100()
    with serving(fake.app) as base:
        yield base, fake


@pytest.fixture()
def fake(fake_server: tuple[str, FakeKuaidi100]) -> tuple[str, FakeKuaidi100]:
    base, server = fake_server
    server.params.clear()
    server.out_of_credit = False
    return base, server


def track(redis_url: str, base: str, *calls: tuple[Any, ...], key: str = KD_KEY) -> list[Any]:
    """The outcomes (answer or error) of ``track(*args)`` calls on one client."""

    async def main() -> list[Any]:
        redis = aredis.Redis.from_url(redis_url)
        settings = LogisticsSettings(customer=KD_CUSTOMER, key=SecretStr(key), api_base=base)
        results: list[Any] = []
        async with HttpClient() as http:
            client = Kuaidi100(settings, http, redis, Keys("kefu"), timeout=3.0)
            for args in calls:
                try:
                    results.append(await client.track(*args))
                except Exception as e:
                    results.append(e)
        await redis.aclose()
        return results

    return asyncio.run(main())


def test_sign_is_upper_md5_of_param_key_customer() -> None:
    param = '{"com":"yuantong","num":"YT9693083639795"}'
    assert kuaidi100_sign(param, "KEY", "CUST") == hashlib.md5((param + "KEYCUST").encode()).hexdigest().upper()
    assert kuaidi100_sign(param, "KEY", "CUST").isupper()


def test_success_guessing_the_company_and_sending_the_phone_tail(redis_clean: str, fake: tuple[str, Any]) -> None:
    base, server = fake
    (tracking,) = track(redis_clean, base, ("SF1234567890123", None, "1234"))
    assert server.params == [
        {"com": "shunfeng", "num": "SF1234567890123", "phone": "1234", "resultv2": "1", "order": "desc"}
    ]
    assert tracking.company == "shunfeng" and tracking.state is TrackState.OUT_FOR_DELIVERY
    assert tracking.state.zh == "派件"
    beijing = timezone(timedelta(hours=8))
    assert tracking.traces[0].time == datetime(2024, 6, 10, 9, 30, tzinfo=beijing)
    assert tracking.traces[0].context == "【上海市】快件派送中" and len(tracking.traces) == 2


def test_answers_are_cached_per_waybill_and_phone(redis_clean: str, fake: tuple[str, Any]) -> None:
    base, server = fake
    a, b, c = track(
        redis_clean, base, ("SF1234567890123", "shunfeng", "1234"), ("SF1234567890123", "shunfeng", "1234"),
        ("SF1234567890123", "shunfeng", "9999"),
    )  # fmt: skip
    assert a == b and isinstance(c, NoTraceYet)  # SF gives nothing to a wrong phone
    assert len(server.params) == 2  # the second asked the cache; another phone asks 快递100 again


def test_the_phone_goes_only_to_couriers_that_need_it(redis_clean: str, fake: tuple[str, Any]) -> None:
    base, server = fake
    without, yuantong = track(redis_clean, base, ("SF1234567890123",), ("YT0000000000000", None, "1234"))
    assert isinstance(without, NoTraceYet)  # SF without the phone: 快递100 has no data for it
    assert [(p["com"], p["phone"]) for p in server.params] == [("shunfeng", ""), ("yuantong", "")]


def test_no_trace_yet_and_out_of_credit(redis_clean: str, fake: tuple[str, Any]) -> None:
    base, server = fake
    (no_trace,) = track(redis_clean, base, ("YT0000000000000",))
    assert isinstance(no_trace, NoTraceYet) and server.params[0]["com"] == "yuantong"
    server.out_of_credit = True
    (credit,) = track(redis_clean, base, ("SF1234567890123", None, "1234"))
    assert isinstance(credit, Unavailable) and credit.reason == "provider_credit"


def test_a_wrong_key_is_refused_by_the_signature_check(redis_clean: str, fake: tuple[str, Any]) -> None:
    base, server = fake
    (error,) = track(redis_clean, base, ("SF1234567890123", None, "1234"), key="wrong-key")
    assert isinstance(error, Unavailable) and error.reason == "auth"
    assert server.params == []  # the fake refused it before reading the query


def test_an_unknown_waybill_shape_needs_the_company(redis_clean: str, fake: tuple[str, Any]) -> None:
    base, server = fake
    (error,) = track(redis_clean, base, ("123456",))
    assert isinstance(error, CarrierUnknown) and server.params == []


@pytest.mark.parametrize(
    ("waybill", "code"),
    [
        ("SF1234567890123", "shunfeng"), ("sf 1234 5678 9012 3", "shunfeng"), ("JT0001234567890", "jtexpress"),
        ("YT9693083639795", "yuantong"), ("75312345678901", "zhongtong"), ("731234567890", "zhongtong"),
        ("JDVA01234567890", "jd"), ("EA123456789CN", "ems"), ("DPK1234567890123", "debangkuaidi"),
        ("4312345678901", None), ("123456", None), ("SF12", None), ("", None),
    ],
)  # fmt: skip
def test_carrier_from_waybill_shape(waybill: str, code: str | None) -> None:
    assert carrier_of(waybill) == code


@pytest.mark.parametrize(
    ("code", "state"),
    [
        ("0", TrackState.IN_TRANSIT), ("1001", TrackState.IN_TRANSIT), ("1", TrackState.PICKED_UP),
        ("103", TrackState.PICKED_UP), ("2", TrackState.PROBLEM), ("3", TrackState.SIGNED),
        ("301", TrackState.SIGNED), ("4", TrackState.RETURNED_SIGNED), ("5", TrackState.OUT_FOR_DELIVERY),
        ("6", TrackState.RETURNING), ("14", TrackState.REFUSED), (14, TrackState.REFUSED),
        ("signed", TrackState.SIGNED), ("99", TrackState.UNKNOWN),
    ],
)  # fmt: skip
def test_state_codes(code: str | int, state: TrackState) -> None:
    assert TrackState.parse(code) is state
