"""The order talk's readings of a message: a number given alone or with a question, a size alone,
and a follow-up's product."""

from __future__ import annotations

import pytest

from bot.dialogue import DialogueState
from bot.nlu.normalize import normalize
from bot.order_talk import OrderTalk, _product_query, _with_last_product


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


def test_only_a_size_while_a_product_is_talked_about() -> None:
    talking = DialogueState(last_product="AJ1 42码")
    assert OrderTalk.names_only_a_size(talking, "那43码呢")
    assert not OrderTalk.names_only_a_size(talking, "Dunk 41码呢")
    assert not OrderTalk.names_only_a_size(DialogueState(), "那43码呢")
