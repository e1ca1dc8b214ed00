"""The decision rule, a pure function of the ranked predictions."""

from __future__ import annotations

from bot.nlu.decide import Action, Thresholds, decide

T = Thresholds(answer=0.5, margin=0.2, clarify=0.15, max_suggestions=3)


def test_answers_when_confident_and_clearly_ahead() -> None:
    d = decide([("where_is_parcel", 0.9), ("delivery_time", 0.05)], T)
    assert d.action is Action.ANSWER
    assert d.intent == "where_is_parcel"
    assert d.confidence == 0.9
    assert d.suggestions == ()


def test_single_candidate_needs_only_the_answer_threshold() -> None:
    assert decide([("greeting", 0.55)], T).action is Action.ANSWER


def test_confident_but_close_runner_up_asks_back() -> None:
    d = decide([("refund_progress", 0.55), ("after_sales_progress", 0.40), ("how_to_return", 0.03)], T)
    assert d.action is Action.CLARIFY
    assert d.intent is None
    assert d.confidence == 0.55
    assert d.suggestions == ("refund_progress", "after_sales_progress")  # only those >= clarify


def test_unsure_top_below_answer_threshold_asks_back() -> None:
    d = decide([("a", 0.45), ("b", 0.10)], T)
    assert d.action is Action.CLARIFY and d.suggestions == ("a",)


def test_suggestions_are_capped() -> None:
    ranked = [("a", 0.3), ("b", 0.25), ("c", 0.2), ("d", 0.16)]
    assert decide(ranked, T).suggestions == ("a", "b", "c")
    assert decide(ranked, Thresholds(max_suggestions=2)).suggestions == ("a", "b")


def test_low_confidence_falls_back() -> None:
    d = decide([("a", 0.1), ("b", 0.08)], T)
    assert d.action is Action.FALLBACK
    assert d.intent is None and d.suggestions == ()
    assert d.confidence == 0.1


def test_empty_ranking_falls_back_with_zero_confidence() -> None:
    d = decide([], T)
    assert d.action is Action.FALLBACK and d.intent is None and d.confidence == 0.0


def test_boundaries_are_inclusive() -> None:
    assert decide([("a", 0.5), ("b", 0.25)], Thresholds(answer=0.5, margin=0.25)).action is Action.ANSWER
    assert decide([("a", 0.15)], Thresholds(answer=0.5, clarify=0.15)).action is Action.CLARIFY


def test_thresholds_change_the_outcome() -> None:
    ranked = [("a", 0.7), ("b", 0.2)]
    assert decide(ranked, Thresholds(answer=0.5)).action is Action.ANSWER
    assert decide(ranked, Thresholds(answer=0.8)).action is Action.CLARIFY
    assert decide(ranked, Thresholds(answer=0.8, clarify=0.75)).action is Action.FALLBACK
