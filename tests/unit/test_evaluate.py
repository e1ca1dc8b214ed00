"""Evaluation maths on hand-made rankings (the ranker is data), and the stratified folds."""

from __future__ import annotations

import pytest

from bot.nlu.decide import Thresholds
from bot.nlu.evaluate import SWEEP, evaluate, format_report, stratified_folds

T = Thresholds(answer=0.5, margin=0.2, clarify=0.15)

# text -> ranking the "model" gives it
RANKS: dict[str, list[tuple[str, float]]] = {
    "p1": [("parcel", 0.9), ("refund", 0.05)],
    "p2": [("parcel", 0.8), ("refund", 0.1)],
    "p3": [("refund", 0.6), ("parcel", 0.3)],  # a parcel question taken for refund
    "r1": [("refund", 0.95), ("parcel", 0.02)],
    "r2": [("refund", 0.45), ("parcel", 0.40)],  # right on top, but unsure: not answered
    "g1": [("greet", 0.7), ("parcel", 0.1)],
    "o1": [("parcel", 0.3), ("refund", 0.2)],  # out of scope, not answered: right
    "o2": [("greet", 0.9), ("parcel", 0.05)],  # out of scope, answered: wrong
}
GOLD = {
    "p1": "parcel",
    "p2": "parcel",
    "p3": "parcel",
    "r1": "refund",
    "r2": "refund",
    "g1": "greet",
    "o1": "oos",
    "o2": "oos",
}
KNOWN = {"parcel", "refund", "greet"}


def rank(text: str) -> list[tuple[str, float]]:
    return RANKS[text]


@pytest.fixture(scope="module")
def report():  # type: ignore[no-untyped-def]
    texts = list(GOLD)
    return evaluate(rank, texts, [GOLD[t] for t in texts], KNOWN, T)


def test_counts_and_accuracy(report) -> None:  # type: ignore[no-untyped-def]
    assert report.n == 8
    assert report.n_out_of_scope == 2
    assert report.accuracy == round(5 / 6, 4)  # in scope: p3 is the only wrong top-1


def test_per_intent_scores(report) -> None:  # type: ignore[no-untyped-def]
    scores = {s.intent: s for s in report.per_intent}
    assert set(scores) == KNOWN  # out-of-scope gold is no intent of its own
    parcel, refund, greet = scores["parcel"], scores["refund"], scores["greet"]
    assert (parcel.precision, parcel.recall, parcel.support) == (1.0, round(2 / 3, 4), 3)
    assert parcel.f1 == 0.8
    assert (parcel.confused_with, parcel.confused_count) == ("refund", 1)
    assert (refund.precision, refund.recall, refund.support) == (round(2 / 3, 4), 1.0, 2)
    assert refund.f1 == 0.8
    assert (refund.confused_with, refund.confused_count) == ("", 0)
    assert (greet.precision, greet.recall, greet.f1, greet.support) == (1.0, 1.0, 1.0, 1)
    assert report.macro_f1 == round((0.8 + 0.8 + 1.0) / 3, 4)


def test_answered_share_and_accuracy_at_the_thresholds(report) -> None:  # type: ignore[no-untyped-def]
    # In scope, answered: p1, p2, p3 (0.6 vs 0.3), r1, g1 -- r2 is too close. 4 of 5 right.
    assert report.answered_share == round(5 / 6, 4)
    assert report.answered_accuracy == 0.8


def test_out_of_scope_recall(report) -> None:  # type: ignore[no-untyped-def]
    assert report.oos_recall == 0.5  # o1 kept out, o2 answered


def test_threshold_sweep(report) -> None:  # type: ignore[no-untyped-def]
    assert [p.threshold for p in report.sweep] == list(SWEEP)
    at = {p.threshold: p for p in report.sweep}
    assert at[0.0].answered_share == 1.0 and at[0.0].answered_accuracy == round(5 / 6, 4)
    assert at[0.0].oos_rejected == 0.0
    # >= 0.7: p1 0.9, p2 0.8, r1 0.95, g1 0.7 -> all right; o2 (0.9) still answered.
    assert at[0.7].answered_share == round(4 / 6, 4) and at[0.7].answered_accuracy == 1.0
    assert at[0.7].oos_rejected == 0.5
    assert at[0.9].answered_share == round(2 / 6, 4)
    shares = [p.answered_share for p in report.sweep]
    assert shares == sorted(shares, reverse=True)


def test_report_dict_and_text(report) -> None:  # type: ignore[no-untyped-def]
    report.extra["folds"] = 3
    d = report.to_dict()
    assert d["n"] == 8 and d["folds"] == 3 and "extra" not in d
    text = format_report(report, "my title")
    assert text.startswith("my title")
    assert "intent" in text and "prec" in text and "recall" in text and "most confused with" in text
    assert "parcel" in text and "refund (1)" in text
    assert "threshold sweep" in text and "oos kept out" in text
    assert "folds: 3" in text


def test_without_out_of_scope_queries_there_is_no_oos_recall() -> None:
    texts = ["p1", "r1"]
    r = evaluate(rank, texts, ["parcel", "refund"], KNOWN, T)
    assert r.oos_recall is None and r.n_out_of_scope == 0
    assert all(p.oos_rejected is None for p in r.sweep)
    assert "oos kept out" not in format_report(r, "t")


def test_empty_rankings_count_as_wrong() -> None:
    r = evaluate(lambda _t: [], ["x", "y"], ["parcel", "refund"], KNOWN, T)
    assert r.accuracy == 0.0 and r.answered_share == 0.0 and r.macro_f1 == 0.0


@pytest.mark.parametrize("k", [2, 3, 5])
def test_stratified_folds_partition_all_indices(k: int) -> None:
    labels = ["a"] * 10 + ["b"] * 7 + ["c"] * 3 + ["d"] * 1
    folds = stratified_folds(labels, k, seed=7)
    assert len(folds) == k
    flat = [i for fold in folds for i in fold]
    assert sorted(flat) == list(range(len(labels)))  # every index exactly once
    sizes = [len(f) for f in folds]
    assert max(sizes) - min(sizes) <= 1
    for label in "ab":
        per_fold = [sum(labels[i] == label for i in fold) for fold in folds]
        assert max(per_fold) - min(per_fold) <= 1, (label, per_fold)


def test_stratified_folds_depend_on_the_seed_only() -> None:
    labels = ["a"] * 12 + ["b"] * 12
    assert stratified_folds(labels, 4, 1) == stratified_folds(labels, 4, 1)
    assert stratified_folds(labels, 4, 1) != stratified_folds(labels, 4, 2)
