"""The order talk's readings of a message (a number given alone or with a question, a size alone,
a follow-up's product) and what it says of a parcel as time passes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from bot.dialogue import DialogueState
from bot.lookups import Item, Order, Product, Shipment, Trace, Tracking, TrackState
from bot.nlu.knowledge import Intent
from bot.nlu.normalize import normalize
from bot.order_talk import OrderTalk, _product_query, _shared_pieces, _with_last_product


@pytest.mark.parametrize(
    ("text", "asks"),
    [
        ("订单号是 2024112812345678", False),
        ("DD202406080003", False),
        ("就是这个 dd-20240608-0003", False),
        ("订单号：DD-2024-0608-0003 到哪了", True),
        ("DD202406080003 的退款呢", True),
    ],
)
def test_a_number_alone_or_with_a_question(text: str, asks: bool) -> None:
    assert OrderTalk.asks_more_than_a_number(normalize(text).text) is asks


@pytest.mark.parametrize(
    ("text", "last", "query"),
    [
        ("那43码呢", "AJ1 42码", "AJ1 43码"),
        ("什么时候补货", "乔丹1 43码", "乔丹1 43码"),
        ("43码还有吗", "", "43码"),
        ("44的呢", "AJ1 43码", "AJ1 44码"),
        ("Dunk 41码有货吗", "AJ1 42码", "Dunk 41码"),  # a product named: the last one is not used
    ],
)
def test_a_follow_up_names_the_product_asked_before(text: str, last: str, query: str) -> None:
    assert _with_last_product(_product_query(text), last) == query


@pytest.mark.parametrize(
    ("text", "query"),
    [
        ("AJ1 42码有货吗", "AJ1 42码"),
        ("AJ1还有42码吗", "AJ1 42码"),  # 还有 and 有 between the product and its size
        ("请问AJ1还有没有42码的", "AJ1 42码"),
        ("你好，AJ1 42.5码现在能买到吗", "AJ1 42.5码"),
        ("卫衣XL码还有库存吗", "卫衣 XL码"),  # clothes' sizes
        ("那M码呢", "M码"),
    ],
)
def test_the_words_that_name_a_product_and_its_size(text: str, query: str) -> None:
    assert _product_query(text) == query


@pytest.mark.parametrize(
    ("text", "fits"),
    [
        ("where is my order", [False, False]),  # "or" is in "Jordan", "re" in "Retro": Latin is read whole
        ("我的dunk发货了吗", [True, False]),
        ("AJ那双", [False, True]),  # initials of the name's words
        ("jor那个", [False, True]),  # the start of a word
        ("熊猫那双呢", [True, False]),
        ("42码那双", [False, True]),
    ],
)
def test_which_offered_orders_the_words_fit(text: str, fits: list[bool]) -> None:
    names = ["Nike Dunk Low 熊猫 40码", "Air Jordan 1 Retro High OG 芝加哥 42码"]
    assert [score > 0 for score in _shared_pieces(text.lower(), names)] == fits


def test_only_a_size_while_a_product_is_talked_about() -> None:
    talking = DialogueState(last_product="AJ1 42码")
    assert OrderTalk.names_only_a_size(talking, "那43码呢")
    assert not OrderTalk.names_only_a_size(talking, "Dunk 41码呢")
    assert not OrderTalk.names_only_a_size(DialogueState(), "那43码呢")


class OneParcel:
    """The shop's systems with one shipped order whose latest scan is ``SCANNED`` (the port
    ``bot.lookups.Lookups``, in memory)."""

    ORDER = Order(
        "DD1", "shipped", datetime(2026, 3, 1, 9, tzinfo=UTC), Decimal("99.00"), (Item("帆布鞋 40码", "S40", 1),),
        Shipment("中通快递", "zhongtong", "75312345678901"),
    )  # fmt: skip
    SCANNED = datetime(2026, 3, 2, 8, tzinfo=UTC)

    async def order(self, order_id: str, customer: str | None) -> Order:
        return self.ORDER

    async def recent_orders(self, customer: str, limit: int = 5) -> list[Order]:
        return [self.ORDER]

    async def track(self, waybill: str, company_code: str | None = None, phone_tail: str | None = None) -> Tracking:
        return Tracking(
            "zhongtong", waybill, TrackState.IN_TRANSIT, (Trace(self.SCANNED, "【杭州市】快件已发往 北京转运中心"),)
        )

    async def products(self, query: str) -> list[Product]:
        return []


@pytest.mark.anyio
@pytest.mark.parametrize(("hours_after_scan", "says"), [(10, "运输途中"), (5 * 24 + 3, "物流已经 5 天没有更新")])
async def test_a_parcel_without_a_scan_for_days_has_stalled(hours_after_scan: int, says: str) -> None:
    now = (OneParcel.SCANNED + timedelta(hours=hours_after_scan)).timestamp()
    talk = OrderTalk(OneParcel(), 5.0, lambda: now)
    intent = Intent("where_is_parcel", "logistics", "FAQ", ("快递到哪了",), "查物流", lookup="parcel")
    reply = await talk.answer(intent, "FAQ", "web:c1", "我的快递到哪了", [], DialogueState())
    assert "北京转运中心" in reply and says in reply, reply
    assert "3月2日 16:00" in reply, reply  # scanned at 08:00 UTC: told in Beijing time


class Catalogue(OneParcel):
    """A shop whose search wants every word of the query in a product's name, as the shop API's
    reference does; the queries it was asked are kept."""

    NAMES = ("Air Jordan 1 AJ1 42码", "Air Jordan 1 AJ1 43码")

    def __init__(self) -> None:
        self.queries: list[str] = []

    async def products(self, query: str) -> list[Product]:
        self.queries.append(query)
        words = query.lower().split()
        return [Product(n, n, 2) for n in self.NAMES if all(w in n.lower() for w in words)]


@pytest.mark.anyio
async def test_a_search_that_finds_nothing_is_narrowed_to_the_model_name_and_size() -> None:
    shop = Catalogue()
    talk = OrderTalk(shop, 5.0, lambda: 0.0)
    intent = Intent("stock_restock", "product", "FAQ", ("有货吗",), "库存", lookup="stock")
    state = DialogueState()
    reply = await talk.answer(intent, "FAQ", "web:c1", "我想给儿子买AJ1 43码", [], state)
    assert "43码" in reply and "有货" in reply, reply
    assert shop.queries == ["我想给儿子买AJ1 43码", "AJ1 43码"]
    assert state.last_product == "AJ1 43码"  # the follow-ups build on the query that found it
    shop.queries.clear()
    none = await talk.answer(intent, "FAQ", "web:c2", "Nike 帆布鞋 那个款 40码", [], DialogueState())
    assert none == "FAQ"  # nothing found: the knowledge base's answer
    assert shop.queries == ["Nike 帆布鞋 那个款 40码", "Nike 40码", "帆布鞋 40码"]  # at most two narrower
