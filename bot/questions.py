"""Two questions in one message ("我的快递到哪了，还有退款什么时候到"): customers often ask them
together, and the best agent answers both instead of the one the whole message leans to.

The message is cut into clauses at punctuation, a joining word at a clause's start ("还有",
"另外") left out; each clause the model answers with confidence, about an intent of its own that is no
small talk, is a question. A clause that asks for a person ("转人工，能开发票吗") is the message's
only question: the person answers the rest. Cutting only there keeps one question written
in several pieces ("我买的鞋子，什么时候发货") one question: its pieces are not each answered with
confidence.
"""

from __future__ import annotations

import re

from bot.nlu.decide import Action, Decision
from bot.nlu.engine import LoadedModel
from bot.nlu.normalize import normalize

MAX_QUESTIONS = 2
MIN_CONFIDENCE = 0.85  # well above the answer threshold: a clause is short, and a wrong second answer costs trust
MIN_CLAUSE_CHARS = 4  # "在吗", "你好" and other openers are no question of their own
SMALL_TALK = "chitchat"  # the knowledge base's category of greetings, thanks and goodbyes

_SEPARATORS = "，,；;。？?！!\n "
_CLAUSE_RE = re.compile(r"[，,；;。？?！!\n]+")
# Words that open a clause with a new question ("，还有退款什么时候到"); only at a clause's start:
# "熊猫40码还有吗" asks whether the shop still has it.
_JOINING_RE = re.compile(r"^\s*(?:还有|另外|顺便问一?下|以及)")


def questions_in(model: LoadedModel, text: str, decision: Decision) -> list[tuple[Decision, str]]:
    """The questions of ``text`` with the clause that asks each, in the order asked: two when its
    clauses ask two (whether the whole message read as one of them or as unclear), one clause's
    when the whole message read as unclear but that clause is clear (an opener such as "亲，" or
    "在吗，" blurred it), otherwise ``decision`` (the whole message's) with the whole text."""
    core = text.strip(_SEPARATORS)  # "退款多久到账？" is one clause
    if decision.action not in (Action.ANSWER, Action.CLARIFY) or model.kb is None or not _CLAUSE_RE.search(core):
        return [(decision, text)]
    whole = model.kb.intents.get(decision.intent or "")
    if whole is not None and whole.handoff:  # "…，我要投诉": the person it asks for comes first
        return [(decision, text)]
    clauses = [(c, n) for c in _CLAUSE_RE.split(core) if (n := normalize(_JOINING_RE.sub("", c)).text)]
    if len(clauses) < 2:
        return [(decision, text)]
    found: list[tuple[Decision, str]] = []
    for clause, normalized in clauses:
        asked = model.decide(normalized)
        intent = model.kb.intents.get(asked.intent or "")
        if asked.action is not Action.ANSWER or intent is None:
            continue
        if intent.handoff:  # "转人工，能开发票吗": the person asked for comes first, whatever else is asked
            return [(asked, clause)]
        if (
            len(normalized.replace(" ", "")) >= MIN_CLAUSE_CHARS
            and asked.confidence >= MIN_CONFIDENCE
            and intent.category != SMALL_TALK
            and not any(_answered_alike(model, asked, q) for q, _ in found)
        ):
            found.append((asked, clause))
    if len(found) > 1 or (found and decision.action is Action.CLARIFY):  # "亲，我前天买的鞋子到哪了"
        return found[:MAX_QUESTIONS]
    return [(decision, text)]


def _answered_alike(model: LoadedModel, one: Decision, other: Decision) -> bool:
    """The same intent, or two that both tell where the order is ("我昨天下的单，今天能发货吗": its
    status and its shipping are one question)."""
    if one.intent == other.intent:
        return True
    intents = model.kb.intents if model.kb else {}
    return all(d.intent in intents and intents[d.intent].tells_where_the_order_is for d in (one, other))
