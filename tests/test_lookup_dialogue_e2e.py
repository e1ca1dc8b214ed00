"""Conversations that need the shop's systems, over /api/chat against the demo shop on loopback
(it checks every signature): the parcel of a customer's only order, a list when there are
several and a bare number after it, another customer's order, refunds, and a shop that is down."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from adapters.shop.demo import create_demo_app
from bot.order_talk import ASK_ORDER, NOT_FOUND
from bot.settings import Settings
from tests.lookup_servers import APP_KEY, SECRET, serving
from tests.serving import free_port, served
from tests.test_gateway_e2e import _unsecret


def with_shop(settings: Settings, api_base: str) -> Settings:
    data = settings.model_dump()
    data["shop"].update(api_base=api_base, app_key=APP_KEY, secret=SECRET, timeout_seconds=1)
    data["logistics"].update(provider="shop")
    return Settings(**_unsecret(data))


@pytest.fixture()
def shop() -> Iterator[str]:
    with serving(create_demo_app(APP_KEY, SECRET)) as base:
        yield base


def say(base: str, user: str, text: str) -> dict:  # type: ignore[type-arg]
    return httpx.post(f"{base}/api/chat", json={"user": user, "text": text}, timeout=15).json()


def test_where_is_my_parcel_with_one_order_gets_the_latest_trace(settings: Settings, shop: str) -> None:
    with served(with_shop(settings, shop)) as (base, _):
        reply = say(base, "c2", "我的快递到哪了")
        assert reply["intent"] == "where_is_parcel" and reply["action"] == "answer"
        assert "极兔速递" in reply["reply"] and "JT0001234567890" in reply["reply"]
        assert "【北京市】快件派送中" in reply["reply"] and "派送" in reply["reply"]


def test_several_orders_are_listed_then_a_bare_number_is_the_answer(settings: Settings, shop: str) -> None:
    with served(with_shop(settings, shop)) as (base, _):
        listing = say(base, "c1", "我的快递到哪了")["reply"]
        assert listing.startswith("亲，您最近有这几笔订单") and "1. DD202406100005" in listing
        answer = say(base, "c1", "DD202406080003")
        assert answer["intent"] == "where_is_parcel" and "SF1234567890123" in answer["reply"]
        assert "上海浦东中转场" in answer["reply"] and answer["risk"] < 0.2


def test_another_customers_order_reveals_nothing(settings: Settings, shop: str) -> None:
    with served(with_shop(settings, shop)) as (base, _):
        reply = say(base, "c2", "订单号 DD202406080003 的快递到哪了")["reply"]
        assert reply == NOT_FOUND and "SF1234567890123" not in reply
        assert say(base, "c2", "订单号 DD209999999999 的快递到哪了")["reply"] == NOT_FOUND  # unknown: same words


def test_a_refund_is_told_with_its_state_and_amount(settings: Settings, shop: str) -> None:
    with served(with_shop(settings, shop)) as (base, _):
        say(base, "c1", "退款什么时候到账")
        reply = say(base, "c1", "DD202405150008")["reply"]
        assert "已退款 59.00 元" in reply and "原路退回" in reply


def test_a_shop_that_is_down_leaves_the_faq_answer(settings: Settings) -> None:
    with served(with_shop(settings, f"http://127.0.0.1:{free_port()}")) as (base, _):
        reply = say(base, "c2", "我的快递到哪了")
        assert reply["intent"] == "where_is_parcel" and reply["action"] == "answer"
        assert reply["reply"].startswith("亲，理解您等快递的着急心情") and reply["reply"] != ASK_ORDER
