"""Dialogue state in the real Redis, and choosing among offered suggestions."""

from __future__ import annotations

import time

import pytest
import redis.asyncio as aredis

from bot.dialogue import MAX_TURNS, DialogueState, DialogueStore, Turn, pick_suggestion
from bot.redis_store import Keys

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def store(redis_clean: str):  # type: ignore[no-untyped-def]
    client = aredis.Redis.from_url(redis_clean)
    yield DialogueStore(client, Keys("t"), ttl_seconds=600), client
    await client.aclose()


async def test_state_round_trip_with_ttl(store) -> None:  # type: ignore[no-untyped-def]
    dialogue, client = store
    assert await dialogue.load("web:c1") == DialogueState()  # nothing stored yet
    state = DialogueState(suggestions=["a", "b"], last_intent="where_is_parcel", order_no="jd12345678", unanswered=1)
    state.add_turn(Turn("我的快递到哪了", "where_is_parcel", True, 0.1, time.time()))
    await dialogue.save("web:c1", state)
    key = Keys("t").customer("web:c1", "dialogue")
    assert await client.exists(key) == 1
    assert 590 <= await client.ttl(key) <= 600
    loaded = await dialogue.load("web:c1")
    assert loaded == state
    assert isinstance(loaded.turns[0], Turn)
    assert await dialogue.load("web:other") == DialogueState()  # customers do not share state


async def test_handoff_outlives_the_memory_ttl(store) -> None:  # type: ignore[no-untyped-def]
    dialogue, client = store
    now = time.time()
    state = DialogueState(handoff_until=now + 7200)
    state.add_turn(Turn("转人工", "human_agent", False, 0.0, now))
    await dialogue.save("web:c2", state)
    assert await client.ttl(Keys("t").customer("web:c2", "dialogue")) > 7200


async def test_release_hands_the_conversation_back(store) -> None:  # type: ignore[no-untyped-def]
    dialogue, _ = store
    assert await dialogue.release("web:c3") is False
    now = time.time()
    state = DialogueState(handoff_until=now + 100, unanswered=2)
    state.add_turn(Turn("x", None, False, 0.0, now))
    await dialogue.save("web:c3", state)
    assert await dialogue.release("web:c3") is True
    again = await dialogue.load("web:c3")
    assert again.handoff_until == 0.0 and again.unanswered == 0


def test_a_state_saved_by_a_newer_version_is_read_for_what_this_one_knows() -> None:
    saved = (
        '{"turns":[{"text":"退款","intent":"refund_progress","answered":true,"risk":0.1,"at":5.0,"mood":"x"}],'
        '"last_intent":"refund_progress","order_no":"A1","unanswered":1,"channel_hint":"kf"}'
    )
    state = DialogueState.from_json(saved)
    assert state.turns == [Turn("退款", "refund_progress", True, 0.1, 5.0)]
    assert (state.last_intent, state.order_no, state.unanswered) == ("refund_progress", "A1", 1)


def test_only_the_last_turns_are_kept() -> None:
    state = DialogueState()
    for i in range(MAX_TURNS + 3):
        state.add_turn(Turn(f"t{i}", None, False, 0.0, float(i)))
    assert [t.text for t in state.turns] == [f"t{i}" for i in range(3, MAX_TURNS + 3)]
    assert DialogueState.from_json(state.to_json()) == state


SUGGESTIONS = ["where_is_parcel", "refund_progress", "greeting"]
TITLES = {"where_is_parcel": "我的快递到哪了", "refund_progress": "退款什么时候到账", "greeting": "你好"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1", "where_is_parcel"),
        ("2", "refund_progress"),
        ("第二个", "refund_progress"),
        ("第2个", "refund_progress"),
        ("两", "refund_progress"),
        ("三", "greeting"),
        ("第一条吧", "where_is_parcel"),
        ("退款什么时候到账", "refund_progress"),
        ("退款", "refund_progress"),  # part of the title
        ("我想问退款什么时候到账", "refund_progress"),  # the title inside the reply
        ("4", None),  # only three were offered
        ("第五个", None),
        ("随便", None),
        ("", None),
        ("的", None),  # a single character matches no title
    ],
)
def test_pick_suggestion(text: str, expected: str | None) -> None:
    assert pick_suggestion(text, SUGGESTIONS, TITLES) == expected


def test_pick_needs_suggestions() -> None:
    assert pick_suggestion("1", [], TITLES) is None


def test_order_questions_survive_a_round_trip_and_an_older_state() -> None:
    state = DialogueState(
        awaiting_order="where_is_parcel", order_choices=["DD1", "DD2"], order_choice_words=["AJ1", "Dunk"]
    )
    assert DialogueState.from_json(state.to_json()) == state
    older = DialogueState.from_json('{"turns":[],"order_no":"A1"}')  # saved before these fields existed
    assert (older.awaiting_order, older.order_choices, older.order_no) == ("", [], "A1")
