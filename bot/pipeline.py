"""The bot pipeline: one customer message in, one decision out.

contact log -> risk -> (human has it? stay quiet) -> intent (with the conversation in mind)
-> answer | clarify | fall back | hand over -> escalate to staff when needed.
Platform-free: it sees ``InboundMessage`` and returns ``Reply``; the caller delivers it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from bot import replies
from bot.dialogue import Dialogues, DialogueState, Turn, pick_suggestion
from bot.lookups import Lookups, NoLookups
from bot.message import InboundMessage, as_dict
from bot.nlu.decide import Action, Decision
from bot.nlu.engine import IntentEngine, LoadedModel
from bot.nlu.knowledge import ORDER_LOOKUPS
from bot.nlu.normalize import normalize, order_numbers
from bot.order_talk import OrderTalk
from bot.ports import (
    ContactRecorder,
    Escalation,
    EscalationSink,
    NoContacts,
    NoEscalations,
    NoRisk,
    NoTurnLog,
    RiskAssessor,
    RiskResult,
    StaffChain,
    StaffCommands,
    TurnLog,
    TurnRecord,
)
from bot.questions import questions_in

log = logging.getLogger(__name__)

HANDOFF_AFTER_UNANSWERED = 3
FOLLOW_UP_MAX_CHARS = 8  # "那退款呢", "多久到账": short turns lean on the previous one
_YES = {"是", "是的", "对", "对的", "嗯", "好", "好的", "yes", "ok", "1"}


@dataclass(slots=True)
class Reply:
    text: str | None  # None: stay quiet (a human has the conversation)
    intent: str | None = None
    confidence: float = 0.0
    risk: float = 0.0
    handoff: bool = False
    action: str = "answer"
    suggestions: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)


@dataclass(slots=True)
class PipelineParts:
    """What the pipeline talks to; the features' ports, or null objects where a feature is off."""

    engine: IntentEngine  # the knowledge base of every app that names none of its own
    dialogue: Dialogues
    clock: Callable[[], float]
    risk: RiskAssessor = field(default_factory=NoRisk)
    escalations: EscalationSink = field(default_factory=NoEscalations)
    contacts: ContactRecorder = field(default_factory=NoContacts)
    staff: StaffCommands = field(default_factory=StaffChain)
    # Where staff work (the platforms' registry says: WeCom's app, DingTalk, Feishu). Customers
    # reach us on 微信客服, the official account and the web channel, where "/close" is just text.
    staff_channels: frozenset[str] = frozenset()
    handoff_quiet_seconds: int = 2 * 3600
    # Answers from the shop's systems for intents that name a lookup (none configured: FAQ text).
    lookups: Lookups = field(default_factory=NoLookups)
    lookup_timeout_seconds: float = 3.0  # a lookup never holds the customer's turn longer
    # Apps with a knowledge base of their own (another shop's): "<channel>/<app>" or "<app>".
    engines_by_app: Mapping[str, IntentEngine] = field(default_factory=dict)
    turns: TurnLog = field(default_factory=NoTurnLog)  # every turn kept for insight


class AlongWithSave(Protocol):
    """Commands that go out with a turn's save, in its round trip, chosen from the reply: the
    worker's check whether the reply may go out (bot/worker.py), one round trip fewer a message."""

    def commands(self, reply: Reply) -> Sequence[tuple[Any, ...]]: ...

    def take(self, replies: Sequence[Any]) -> None:
        """Their replies (an exception for one that failed), once the save went through."""
        ...


class Pipeline:
    def __init__(self, parts: PipelineParts) -> None:
        self.p = parts
        self.orders = OrderTalk(parts.lookups, parts.lookup_timeout_seconds, parts.clock)

    async def handle(self, msg: InboundMessage, along: AlongWithSave | None = None) -> Reply:
        """The reply to ``msg``, its turn saved; ``along`` is asked for commands to send with the save."""
        if msg.channel in self.p.staff_channels and msg.text.startswith("/"):
            answer = await self.p.staff.handle(msg)
            if answer is not None:
                return Reply(answer, action="command")
        now = self.p.clock()
        model = self.engine_for(msg).current  # one model for the whole message, even if a reload lands
        if msg.msg_type != "text":
            await self.p.contacts.record(msg, None, now)
            return Reply(replies.NON_TEXT, action="non_text")

        state = await self.p.dialogue.load(msg.customer_key)
        if state.last_message and state.last_message == _handled_id(msg):
            # Fields a newer version added are dropped: the text is what must go out again.
            return Reply(**{k: v for k, v in state.last_reply.items() if k in Reply.__dataclass_fields__})
        norm = normalize(msg.text)
        risk = self.p.risk.assess(msg.text, state.turns, now)
        if state.handoff_until > now:
            # A person has this conversation: record it, alert if it turns risky, say nothing.
            state.add_turn(Turn(norm.text, None, False, risk.score, now, risk.message_score))
            await self.p.contacts.record(msg, None, now)
            if risk.alert:
                await self._escalate(msg, "risk", "人工接待中客户情绪升级", risk, state, None)
            quiet = Reply(None, risk=risk.score, action="quiet", reasons=list(risk.reasons))
            record = TurnRecord(msg, "quiet", None, None, 0.0, now, risk_alert=risk.alert)
            return await self._remember(msg, state, quiet, record, along)

        if not norm.text and not risk.alert:  # empty, emoji-only or punctuation-only
            await self.p.contacts.record(msg, None, now)
            if risk.negative or risk.rule_score > 0:  # "😡", "？？！！" alone: anger, impatience
                text = replies.with_opening(self.p.risk.soothing_opening(msg.customer_key), replies.EMPTY_UPSET)
                return Reply(text, risk=risk.score, action="empty", reasons=list(risk.reasons))
            return Reply(replies.EMPTY, risk=risk.score, action="empty")
        offered = state.suggestions
        decision, resumed_order, only_details = self._read(model, msg.text, norm.text, state)
        asked = [(decision, msg.text)]
        if not only_details and not resumed_order and not norm.order_numbers:
            asked = questions_in(model, msg.text, decision)  # "我的快递到哪了，还有退款什么时候到"
            decision = asked[0][0]
        if norm.order_numbers:
            state.order_no = norm.order_numbers[-1]
        intent = model.kb.intents.get(decision.intent) if decision.intent and model.kb else None
        await self.p.contacts.record(msg, decision.intent, now)

        answered = decision.action is Action.ANSWER and not (intent and intent.handoff)
        if decision.action is not Action.OUT_OF_SCOPE:  # chatting is no failure to answer
            state.unanswered = 0 if answered else state.unanswered + 1
        why, handoff_reason = self._handoff_reason(risk, intent is not None and intent.handoff, state.unanswered)
        reply = self._compose(model, decision, risk, handoff_reason, state, msg.customer_key)
        if answered and intent and intent.lookup and self.orders.enabled and not handoff_reason:
            order_ids = [resumed_order] if resumed_order else order_numbers(msg.text)
            text = await self._answer(model, decision, msg, asked[0][1], order_ids, state)
            opening = self.p.risk.soothing_opening(msg.customer_key) if risk.negative else ""
            reply.text = replies.with_opening(opening, text)
        if answered and not handoff_reason:
            for also, clause in asked[1:]:  # the second question of the message, answered after the first
                reply.text = f"{reply.text}\n\n{await self._answer_also(model, also, msg, clause, state)}"

        # Chit-chat ("今天天气怎么样") and messages that only give details ("2", "那第一个呢") keep
        # only what their rules found: the emotion model, trained on reviews, reads such short
        # turns as mildly unhappy, and they must not add up to "近几轮对话持续不满".
        neutral = only_details or decision.action is Action.OUT_OF_SCOPE
        kept_risk = risk.rule_score if neutral else risk.message_score
        state.add_turn(Turn(norm.text, decision.intent, answered, risk.score, now, kept_risk))
        state.last_intent = decision.intent or state.last_intent
        state.suggestions = list(decision.suggestions) if decision.action is Action.CLARIFY else []
        if handoff_reason:
            state.handoff_until = now + self.p.handoff_quiet_seconds
            state.unanswered = 0

        category = intent.category if intent else None
        if handoff_reason:
            await self._escalate(msg, "handoff", handoff_reason, risk, state, decision.intent, category)
        elif risk.alert:
            reason = "；".join(risk.reasons) or "投诉风险"
            await self._escalate(msg, "risk", reason, risk, state, decision.intent, category)
        picked = decision.action is Action.ANSWER and decision.intent in offered
        record = TurnRecord(
            msg, reply.action, decision.intent, category, decision.confidence, now, picked, why,
            risk.alert and not handoff_reason,
        )  # fmt: skip
        return await self._remember(msg, state, reply, record, along)

    def engine_for(self, msg: InboundMessage) -> IntentEngine:
        """The engine of the message's app: its own knowledge base's, else the default one."""
        by_app = self.p.engines_by_app
        if not by_app:  # one shop: no key to build per message
            return self.p.engine
        return by_app.get(f"{msg.channel}/{msg.app}") or by_app.get(msg.app) or self.p.engine

    async def _remember(
        self, msg: InboundMessage, state: DialogueState, reply: Reply, record: TurnRecord, along: AlongWithSave | None
    ) -> Reply:
        """Save the turn with the reply it got, as the last step: the contact log and the
        escalations before it are safe to repeat (each is de-duplicated), so a failure anywhere
        before this save lets the message be handled again from the state it found. The turn's
        insight record, and what ``along`` asks, go out with the save, in its round trip."""
        state.last_message = _handled_id(msg)
        state.last_reply = as_dict(reply)
        turn = self.p.turns.command(record)
        kept = [] if turn is None else [turn]
        replies = await self.p.dialogue.save(
            msg.customer_key, state, [*kept, *(along.commands(reply) if along is not None else ())]
        )
        if kept and isinstance(replies[0], BaseException):
            log.warning("%s with the dialogue save failed: %s", kept[0][0], replies[0])  # insight only
        if along is not None:
            along.take(replies[len(kept) :])
        return reply

    async def _answer(
        self, model: LoadedModel, decision: Decision, msg: InboundMessage, text: str, order_ids: Sequence[str],
        state: DialogueState,
    ) -> str:  # fmt: skip
        """The answer to an answered question (``text``, the words that ask it): from the shop's
        data for a ``lookup:`` intent when a shop is configured, else the knowledge base's."""
        faq = model.answer(decision.intent, state.order_no)
        intent = model.kb.intents.get(decision.intent or "") if model.kb else None
        if intent is None or not intent.lookup or not self.orders.enabled:
            return faq
        return await self.orders.answer(intent, faq, msg.shop_customer, text, order_ids, state)

    async def _answer_also(
        self, model: LoadedModel, decision: Decision, msg: InboundMessage, text: str, state: DialogueState
    ) -> str:
        """The answer to a message's second question. When the first already asks the customer
        something back (which of your orders?), the second does not ask too: its knowledge-base
        answer, and the first question stays the one a bare reply answers."""
        first = (state.awaiting_order, state.choices_intent, state.order_choices, state.order_choice_words)
        answer = await self._answer(model, decision, msg, text, [], state)
        if first[0] and state.awaiting_order != first[0]:
            state.awaiting_order, state.choices_intent, state.order_choices, state.order_choice_words = first
            return model.answer(decision.intent, state.order_no)
        return answer

    async def record_only(self, msg: InboundMessage) -> None:
        """Count a message as a contact without answering it (it came too late to answer)."""
        await self.p.contacts.record(msg, None, self.p.clock())

    def _read(self, model: LoadedModel, text: str, normalized: str, state: DialogueState) -> tuple[Decision, str, bool]:
        """This turn's decision, the order it gives for a lookup ("" when none), and whether it only
        gives what a lookup needs (a number, a pick from the offered orders, a size), with nothing
        in it to read a mood from. A number that comes with a lookup question of its own
        ("DD2024… 到哪了" while the bot waits for a refund's order number) is that question's, not
        the one asked."""
        resumed = self.orders.resume(state, text, normalized) if self.orders.enabled else None
        if resumed is None:
            return self._read_anew(model, text, normalized, state)
        waited_for, order_id = resumed
        if order_numbers(text) and self.orders.asks_more_than_a_number(normalized):
            own = self._understand(model, normalized, state)
            intent = model.kb.intents.get(own.intent or "") if model.kb else None
            if own.action is Action.ANSWER and intent is not None and intent.lookup and own.intent != waited_for:
                return own, order_id, False
        return Decision(Action.ANSWER, waited_for, 1.0), order_id, True

    def _read_anew(
        self, model: LoadedModel, text: str, normalized: str, state: DialogueState
    ) -> tuple[Decision, str, bool]:
        """``_read`` for a message that answers no question of the bot's: a size alone after a stock
        answer asks about the same product; an order number alone, or with a question the model
        cannot tell ("DD2024… 怎么样了"), looks that order up (the orders come from the text)."""
        last = model.kb.intents.get(state.last_intent or "") if model.kb else None
        if last is not None and last.lookup == "stock" and self.orders.names_only_a_size(state, text):
            return Decision(Action.ANSWER, last.name, 1.0), "", True  # "那43码呢" after "AJ1 42码有货吗"
        numbers = order_numbers(text) if self.orders.enabled else []
        if numbers and not self.orders.asks_more_than_a_number(normalized):
            about = _order_topic(model, state)
            if about is not None:
                return Decision(Action.ANSWER, about, 1.0), "", True
        decision = self._understand(model, normalized, state)
        if numbers and decision.action is not Action.ANSWER:
            about = _order_topic(model, state, decision.suggestions)
            if about is not None:
                return Decision(Action.ANSWER, about, decision.confidence), "", False
        if self.orders.enabled and _all_about_where_the_order_is(model, decision):
            # "我的订单什么时候发货" between 发货时间, 订单状态 and 催发货: the order's own data answers each
            return Decision(Action.ANSWER, decision.suggestions[0], decision.confidence), "", False
        return decision, "", False

    @staticmethod
    def _understand(model: LoadedModel, text: str, state: DialogueState) -> Decision:
        """The decision for this turn, reading it with the previous turn in mind."""
        titles = model.normalized_titles
        if state.suggestions:
            picked = pick_suggestion(text, state.suggestions, titles)
            if picked is None and len(state.suggestions) == 1 and text.replace(" ", "") in _YES:
                picked = state.suggestions[0]
            if picked is not None:
                return Decision(Action.ANSWER, picked, 1.0)
        decision = model.decide(text)
        if decision.action is Action.ANSWER or not state.turns or len(text) > FOLLOW_UP_MAX_CHARS:
            return decision
        # A short follow-up ("那退款呢", "多久到账", "为什么这么慢" after a parcel's answer, which alone
        # reads as chit-chat) is read together with the previous question.
        with_context = model.decide(f"{state.turns[-1].text} {text}")
        return with_context if with_context.confidence > decision.confidence else decision

    @staticmethod
    def _handoff_reason(risk: RiskResult, asked_for_human: bool, unanswered: int) -> tuple[str, str]:
        """Why the conversation goes to a person, as a code (asked, risk, not_understood) and in
        words for staff; two empty strings when it stays with the bot."""
        if asked_for_human:
            return "asked", "客户要求转人工"
        if risk.handoff:
            return "risk", "投诉风险高：" + "；".join(risk.reasons)
        if unanswered >= HANDOFF_AFTER_UNANSWERED:
            return "not_understood", f"连续{unanswered}轮未能解答"
        return "", ""

    def _compose(
        self, model: LoadedModel, decision: Decision, risk: RiskResult, handoff_reason: str,
        state: DialogueState, seed: str,
    ) -> Reply:  # fmt: skip
        opening = self.p.risk.soothing_opening(seed) if risk.negative else ""
        base = Reply(
            None, decision.intent, round(decision.confidence, 4), round(risk.score, 4),
            bool(handoff_reason), decision.action.value, list(decision.suggestions), list(risk.reasons),
        )  # fmt: skip
        if handoff_reason:
            answer = model.answer(decision.intent, state.order_no) if decision.action is Action.ANSWER else ""
            intent = model.kb.intents.get(decision.intent or "") if model.kb else None
            if intent is not None and intent.handoff:
                answer = ""  # "转人工" itself: the hand-over text says it all
            base.text = replies.with_opening(opening, (answer + "\n" if answer else "") + replies.HANDOFF)
            base.action = "handoff"
        elif decision.action is Action.ANSWER:
            base.text = replies.with_opening(opening, model.answer(decision.intent, state.order_no))
        elif decision.action is Action.CLARIFY:
            base.text = replies.with_opening(opening, replies.clarify([model.title(s) for s in decision.suggestions]))
        elif decision.action is Action.OUT_OF_SCOPE:
            base.text = replies.with_opening(opening, replies.OUT_OF_SCOPE)
        else:
            base.text = replies.with_opening(opening, replies.FALLBACK)
        return base

    async def _escalate(
        self, msg: InboundMessage, kind: str, reason: str, risk: RiskResult, state: DialogueState,
        intent: str | None, category: str | None = None,
    ) -> None:  # fmt: skip
        await self.p.escalations.escalate(Escalation(msg, kind, reason, risk, list(state.turns), intent, category))


def _order_topic(model: LoadedModel, state: DialogueState, candidates: Sequence[str] = ()) -> str | None:
    """The intent a message that gives an order number but no clear question asks about: the
    first of ``candidates`` (the model's suggestions) that looks an order up, else the order
    lookup of the conversation's latest turns ("退款到哪了" earlier, then "DD2024…"), else the
    knowledge base's first ``lookup: order`` intent."""
    intents = model.kb.intents if model.kb else {}
    asked = (intents.get(name) for name in candidates)
    talked = (intents.get(turn.intent or "") for turn in reversed(state.turns))
    recent = next((i.name for i in (*asked, *talked) if i is not None and i.lookup in ORDER_LOOKUPS), None)
    return recent or next((i.name for i in intents.values() if i.lookup == "order"), None)


def _all_about_where_the_order_is(model: LoadedModel, decision: Decision) -> bool:
    """Whether a clarifying question would offer only intents that tell where the customer's order
    is now, in the same words (``Intent.tells_where_the_order_is``): then asking which is needless."""
    if decision.action is not Action.CLARIFY or not model.kb:
        return False
    intents = model.kb.intents
    return all(name in intents and intents[name].tells_where_the_order_is for name in decision.suggestions)


def _handled_id(msg: InboundMessage) -> str:
    # Platform ids are unique within an app; "" (an id the platform left out) never matches.
    return f"{msg.app}/{msg.message_id}" if msg.message_id else ""
