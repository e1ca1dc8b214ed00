"""k-fold cross-validation of the intent model on a knowledge base: every example is judged by a
model that never saw it."""

from __future__ import annotations

from bot.nlu.classifier import TrainParams
from bot.nlu.decide import Thresholds
from bot.nlu.evaluate import EvalReport, evaluate, stratified_folds
from bot.nlu.intent_model import train_intent_model
from bot.nlu.knowledge import KnowledgeBase


def cross_validate(kb: KnowledgeBase, params: TrainParams, thresholds: Thresholds, k: int = 5) -> EvalReport:
    texts, labels = kb.training_pairs()
    folds = stratified_folds(labels, k, params.seed)
    order: list[int] = []
    held_texts: list[str] = []
    held_gold: list[str] = []
    rankings: dict[int, list[tuple[str, float]]] = {}
    for fold in folds:
        held = set(fold)
        train_idx = [i for i in range(len(texts)) if i not in held]
        model = train_intent_model(
            [texts[i] for i in train_idx], [labels[i] for i in train_idx],
            kb=kb, params=params, thresholds=thresholds,
        )  # fmt: skip
        for i in fold:
            rankings[i] = model.rank(texts[i])[1]
            order.append(i)
            held_texts.append(texts[i])
            held_gold.append(labels[i])
    ranked_by_text = iter(rankings[i] for i in order)
    report = evaluate(lambda _t: next(ranked_by_text), held_texts, held_gold, set(labels), thresholds)
    report.extra["folds"] = k
    return report
