"""k-fold cross-validation of the intent model on a knowledge base: every example is judged by a
model that never saw it."""

from __future__ import annotations

from collections.abc import Sequence

from bot.nlu.decide import Thresholds
from bot.nlu.evaluate import EvalReport, evaluate, stratified_folds
from bot.nlu.intent_model import train_intent_model
from bot.nlu.knowledge import KnowledgeBase
from bot.nlu.params import TrainParams

Ranking = list[tuple[str, float]]


def cross_validate(kb: KnowledgeBase, params: TrainParams, thresholds: Thresholds, k: int = 5) -> EvalReport:
    texts, labels = kb.training_pairs()
    rankings: list[Ranking] = [[] for _ in texts]
    for fold in stratified_folds(labels, k, params.seed):
        held = set(fold)
        train_idx = [i for i in range(len(texts)) if i not in held]
        model = train_intent_model(
            [texts[i] for i in train_idx], [labels[i] for i in train_idx],
            kb=kb, params=params, thresholds=thresholds,
        )  # fmt: skip
        for i in fold:
            rankings[i] = model.rank(texts[i])[1]
    report = judge(rankings, texts, labels, thresholds)
    report.extra["folds"] = k
    return report


def judge(rankings: Sequence[Ranking], texts: Sequence[str], gold: Sequence[str], thresholds: Thresholds) -> EvalReport:
    """The report on held-out rankings already made (one per text, in order)."""
    ranked = iter(rankings)
    return evaluate(lambda _t: next(ranked), texts, gold, set(gold), thresholds)
