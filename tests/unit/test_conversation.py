"""Conversations through the worker's inbox handler and the real pipeline, on in-memory fakes of
every port: what the customer is sent, what staff are told, what is counted, turn by turn."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from bot import replies
from bot.lookups import Item, Order, Shipment, Trace, Tracking, TrackState
from bot.message import InboundMessage
from bot.nlu.engine import IntentEngine
from bot.pipeline import HANDOFF_AFTER_UNANSWERED, Pipeline, PipelineParts
from bot.ports import RiskResult, StaffChain
from bot.worker import InboxHandler
from tests.support.clock import Clock
from tests.support.fakes import (
    CollectedContacts,
    CollectedEscalations,
    CollectingChannel,
    EchoStaff,
    KeptTurns,
    MemoryDialogues,
    MemoryShop,
    ScriptedRisk,
)

pytestmark = pytest.mark.anyio
MAX_AGE = 600
_ids = itertools.count()
ANGRY = "你们太过分了，我要投诉"


@dataclass
class Bot:
    """The pipeline as a worker runs it, with every port a fake that keeps what it saw."""

    engine: IntentEngine
    clock: Clock = field(default_factory=Clock)
    channel: CollectingChannel = field(default_factory=CollectingChannel)
    dialogues: MemoryDialogues = field(default_factory=MemoryDialogues)
    escalations: CollectedEscalations = field(default_factory=CollectedEscalations)
    contacts: CollectedContacts = field(default_factory=CollectedContacts)
    staff: EchoStaff = field(default_factory=EchoStaff)
    shop: MemoryShop | None = None
    engines_by_app: dict[str, IntentEngine] = field(default_factory=dict)
    risk: ScriptedRisk = field(
        default_factory=lambda: ScriptedRisk({ANGRY: RiskResult(0.8, ("投诉",), alert=True, negative=True)})
    )

    def __post_init__(self) -> None:
        parts = PipelineParts(
            engine=self.engine, dialogue=self.dialogues, clock=self.clock, risk=self.risk,
            escalations=self.escalations, contacts=self.contacts, staff=StaffChain([self.staff]), turns=KeptTurns(),
            staff_channels=frozenset({"wecom"}), engines_by_app=self.engines_by_app,
            **({"lookups": self.shop} if self.shop else {}),
        )  # fmt: skip
        self.handler = InboxHandler(Pipeline(parts), self.channel.deliver, self.clock, MAX_AGE)

    def message(self, text: str, user: str = "c1", channel: str = "web", app: str = "default") -> InboundMessage:
        return InboundMessage(
            channel=channel, app=app, conversation_id=user, sender_id=user, text=text,
            message_id=f"m{next(_ids)}", sent_at=self.clock(),
        )  # fmt: skip

    async def say(self, text: str, user: str = "c1", channel: str = "web", app: str = "default") -> str | None:
        """The text sent back for this message, or None when nothing was sent."""
        before = len(self.channel.sent)
        await self.handler(self.message(text, user, channel, app).to_json().encode())
        return self.channel.texts[-1] if len(self.channel.sent) > before else None


@pytest.fixture
def bot(small_engine: IntentEngine) -> Bot:
    return Bot(small_engine)


def answer_of(bot: Bot, intent: str) -> str:
    return bot.engine.current.answer(intent)


async def test_a_question_is_answered_once_and_counted_as_a_contact(bot: Bot) -> None:
    assert await bot.say("我的快递到哪了") == answer_of(bot, "where_is_parcel")
    assert bot.contacts.contacts == [("web:c1", "where_is_parcel")]
    assert bot.escalations.escalations == []
    [sent] = bot.channel.sent
    assert sent.channel == "web" and sent.idempotency_key.startswith("reply:web:default:m")


async def test_every_turn_goes_to_the_turn_log_with_its_save(bot: Bot) -> None:
    await bot.say("我的快递到哪了")
    await bot.say("asdkjh qwe")
    await bot.say("转人工")
    turns = [record for _, record in bot.dialogues.sent_along]
    assert [(t.action, t.intent, t.handoff) for t in turns] == [
        ("answer", "where_is_parcel", ""), ("fallback", None, ""), ("handoff", "human_agent", "asked"),
    ]  # fmt: skip
    assert all(t.message.customer_key == "web:c1" for t in turns)


async def test_an_app_with_its_own_knowledge_base_answers_from_it(
    small_engine: IntentEngine, shop2_engine: IntentEngine
) -> None:
    bot = Bot(small_engine, engines_by_app={"wecom_kf/shop2": shop2_engine})
    own = await bot.say("能退货吗", user="k1", channel="wecom_kf", app="shop2")
    default = await bot.say("能退货吗", user="k2", channel="wecom_kf", app="shop1")
    web = await bot.say("能退货吗", user="w1")
    assert own == shop2_engine.current.answer("return_policy") and "15天" in own
    assert default == web == small_engine.current.answer("return_policy")


async def test_a_redelivered_message_gets_the_same_reply_under_the_same_key(bot: Bot) -> None:
    message = bot.message("能退货吗")
    await bot.handler(message.to_json().encode())
    await bot.handler(message.to_json().encode())
    first, again = bot.channel.sent
    assert (first.text, first.idempotency_key) == (again.text, again.idempotency_key)
    state = await bot.dialogues.load("web:c1")
    assert len(state.turns) == 1  # handled once; the second delivery only repeats the reply


async def test_an_unsure_turn_offers_choices_and_a_number_picks_one(bot: Bot) -> None:
    offered = await bot.say("今天天气")
    assert offered is not None and offered.startswith(replies.clarify([])[:4])
    state = await bot.dialogues.load("web:c1")
    assert state.suggestions, "a clarifying question remembers what it offered"
    first = state.suggestions[0]
    assert await bot.say("1") == answer_of(bot, first)


async def test_unanswered_turns_hand_over_then_the_bot_stays_quiet_until_released(bot: Bot) -> None:
    for _ in range(HANDOFF_AFTER_UNANSWERED - 1):
        assert await bot.say("asdkjh qwe") == replies.FALLBACK
    handed = await bot.say("zxqv plmkjh")
    assert handed is not None and replies.HANDOFF in handed
    assert bot.escalations.kinds == ["handoff"]
    assert bot.escalations.escalations[0].reason == f"连续{HANDOFF_AFTER_UNANSWERED}轮未能解答"

    bot.clock.now += 60
    assert await bot.say("能退货吗") is None  # a person has it now
    assert bot.contacts.contacts[-1] == ("web:c1", None)  # still counted

    assert await bot.dialogues.release("web:c1")
    assert await bot.say("能退货吗") == answer_of(bot, "return_policy")


async def test_asking_for_a_person_hands_over_with_the_intents_category(bot: Bot) -> None:
    handed = await bot.say("转人工")
    assert handed == replies.HANDOFF
    [escalation] = bot.escalations.escalations
    assert (escalation.kind, escalation.reason, escalation.category) == ("handoff", "客户要求转人工", "service")


async def test_an_upset_customer_is_soothed_and_staff_are_alerted(bot: Bot) -> None:
    reply = await bot.say(ANGRY)
    assert reply is not None and reply.startswith(bot.risk.opening)
    [escalation] = bot.escalations.escalations
    assert escalation.kind == "risk" and escalation.reason == "投诉"


async def test_staff_commands_count_only_where_staff_work(bot: Bot) -> None:
    assert await bot.say("/ping", user="zhangsan", channel="wecom") == "pong"
    assert bot.contacts.contacts == []  # a command is not a customer contact
    customer = await bot.say("/ping", user="c2", channel="web")
    assert customer != "pong" and bot.staff.seen == ["/ping"]


async def test_a_message_that_waited_too_long_is_counted_not_answered(bot: Bot) -> None:
    late = bot.message("能退货吗")
    bot.clock.now += MAX_AGE + 1
    await bot.handler(late.to_json().encode())
    assert bot.channel.sent == [] and bot.contacts.contacts == [("web:c1", None)]


def shipped_order(order_id: str) -> Order:
    paid = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
    return Order(
        order_id, "shipped", paid, Decimal("899.00"), (Item("AJ1 42码", "AJ1-42", 1),),
        Shipment("顺丰速运", "shunfeng", "SF1234567890123", paid),
    )  # fmt: skip


@pytest.fixture
def shop_bot(small_engine: IntentEngine) -> Bot:
    trace = Trace(datetime(2026, 11, 29, 8, 30, tzinfo=UTC), "【深圳市】快件已到达南山营业点")
    shop = MemoryShop(
        orders={"web:c1": [shipped_order("2024112812345678")], "web:other": [shipped_order("2024112899999999")]},
        tracking={"SF1234567890123": Tracking("shunfeng", "SF1234567890123", TrackState.IN_TRANSIT, (trace,))},
    )
    return Bot(small_engine, shop=shop)


async def test_the_only_recent_order_is_looked_up_and_its_parcel_described(shop_bot: Bot) -> None:
    reply = await shop_bot.say("我的快递到哪了")
    assert reply is not None
    assert "SF1234567890123" in reply and "快件已到达南山营业点" in reply and "2024112812345678" in reply
    assert shop_bot.shop is not None and "track SF1234567890123" in shop_bot.shop.calls


async def test_another_customers_order_reveals_nothing(shop_bot: Bot) -> None:
    reply = await shop_bot.say("我的快递到哪了 订单号2024112899999999")
    assert reply is not None
    assert "SF1234567890123" not in reply and "AJ1" not in reply and "南山" not in reply


async def test_a_shop_that_is_down_leaves_the_faq_answer(shop_bot: Bot) -> None:
    assert shop_bot.shop is not None
    shop_bot.shop.down = True
    reply = await shop_bot.say("我的快递到哪了")
    assert reply is not None and answer_of(shop_bot, "where_is_parcel") in reply
