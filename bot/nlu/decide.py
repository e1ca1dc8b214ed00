"""The decision rule: answer, ask back, fall back, or say it is not a shop question. Pure functions
of the ranked predictions.

Answer only when the top intent is confident *and* clearly ahead of the runner-up: a 0.45/0.40
split means the model cannot tell two questions apart, and a wrong answer costs more trust than
a short question back. When the intent model ranks ``out_of_scope`` (chit-chat and general
questions it was shown, ``config/out_of_scope.txt``) first, the message is no shop question at all:
it is never answered nor clarified with shop intents, however close a shop intent comes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

OUT_OF_SCOPE = "out_of_scope"  # the intent label of questions the shop does not answer


class Action(str, Enum):
    ANSWER = "answer"
    CLARIFY = "clarify"
    FALLBACK = "fallback"
    OUT_OF_SCOPE = "out_of_scope"


@dataclass(frozen=True, slots=True)
class Thresholds:
    answer: float = 0.5
    margin: float = 0.2
    clarify: float = 0.15
    max_suggestions: int = 3
    # True: a model whose training chose its answer threshold and margin answers at those
    # (bot/nlu/tuning.py) rather than at the two above; False: always at the two above.
    from_model: bool = False


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    intent: str | None  # the answered intent; None unless action is ANSWER
    confidence: float  # the top intent's probability
    suggestions: tuple[str, ...] = ()  # intents offered back when clarifying


def decide(ranked: list[tuple[str, float]], t: Thresholds) -> Decision:
    """``ranked`` is (intent, probability), best first."""
    if not ranked:
        return Decision(Action.FALLBACK, None, 0.0)
    top, p1 = ranked[0]
    if top == OUT_OF_SCOPE:
        return Decision(Action.OUT_OF_SCOPE, None, p1)
    p2 = ranked[1][1] if len(ranked) > 1 else 0.0
    if p1 >= t.answer and p1 - p2 >= t.margin:
        return Decision(Action.ANSWER, top, p1)
    suggestions = tuple(name for name, p in ranked[: t.max_suggestions] if p >= t.clarify and name != OUT_OF_SCOPE)
    if suggestions:  # plausible but unsure: offer the candidates rather than guess
        return Decision(Action.CLARIFY, None, p1, suggestions)
    return Decision(Action.FALLBACK, None, p1)
