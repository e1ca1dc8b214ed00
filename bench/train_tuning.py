"""Self-tuned training against the fixed settings and untuned fastText, on held-out data the search
never sees (docs/training.md):

    python -m bench.train_tuning [--clinc150 data/clinc150/data_full.json] [--budget SECONDS]
                                 [--csv TRAIN.csv TEST.csv ...] [--shots 10]

For each data set, side by side: ``kefu train --quick`` (the fixed settings), ``kefu train`` (the
settings searched on the training part's folds, default budget for its size) and fastText alone
as its tutorial trains it, on our tokens (characters and character bigrams for Chinese, words for
English); and the best shallow baseline we know, a logistic regression over TF-IDF of character
1-2-grams with its C chosen on a tenth of the training part. Accuracy (top-1), macro-F1, and the
share of in-scope questions answered with its accuracy at the thresholds each model would serve
with.

Data sets: the shipped knowledge base, whole and cut to 10 examples an intent (a new shop's
start), judged on the 300 blind queries of tests/data/faq_heldout.csv; CLINC150 (English, CC BY
3.0; docs/benchmarks.md says where to put it), 30 intents drawn with a fixed seed, train -> test;
any labelled ``text,intent`` CSV pair given with ``--csv`` (docs/data-sources.md lists the public
Chinese sets we use), whole and, with ``--shots k``, cut to k examples an intent.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from bench.fewshot import sample
from bot.nlu.classifier import TextClassifier, model_input
from bot.nlu.decide import Thresholds
from bot.nlu.evaluate import EvalReport, evaluate
from bot.nlu.intent_model import train_intent_model
from bot.nlu.knowledge import KnowledgeBase, load_knowledge_base, load_labelled
from bot.nlu.params import TrainParams
from bot.nlu.tuning import default_budget, run, search, untuned_fasttext
from bot.runtime import thresholds, train_params
from bot.runtime.settings import load_settings

HELD_OUT = Path("tests/data/faq_heldout.csv")
CLINC_INTENTS = 30


@dataclass(frozen=True, slots=True)
class DataSet:
    name: str
    texts: list[str]
    labels: list[str]
    held_texts: list[str]
    held_gold: list[str]
    kb: KnowledgeBase | None
    params: TrainParams


def data_sets(
    clinc150: Path | None, csvs: Sequence[tuple[Path, Path]], shots: int, fixed: TrainParams
) -> list[DataSet]:
    kb = load_knowledge_base(load_settings(None).faq_path)
    texts, labels = kb.training_pairs()
    held_texts, held_gold = load_labelled(HELD_OUT)
    few_texts, few_labels = sample(texts, labels, 10, seed=1)
    sets = [
        DataSet("shipped KB -> blind queries", texts, labels, held_texts, held_gold, kb, fixed),
        DataSet("10 an intent -> blind queries", few_texts, few_labels, held_texts, held_gold, kb, fixed),
    ]
    if clinc150 is not None and clinc150.exists():
        data = json.loads(clinc150.read_text(encoding="utf-8"))
        intents = set(random.Random(0).sample(sorted({label for _, label in data["train"]}), CLINC_INTENTS))
        train = [(t, label) for t, label in data["train"] if label in intents]
        test = [(t, label) for t, label in data["test"] if label in intents]
        english = replace(fixed, out_of_scope_file=None)  # the shipped out-of-scope lines are Chinese
        name = f"CLINC150, {CLINC_INTENTS} intents, train -> test"
        sets.append(DataSet(name, [t for t, _ in train], [label for _, label in train],
                            [t for t, _ in test], [label for _, label in test], None, english))  # fmt: skip
    for train_csv, test_csv in csvs:
        texts, labels = load_labelled(train_csv)
        held_texts, held_gold = load_labelled(test_csv)
        name = f"{train_csv.parent.name}/{train_csv.name} -> {test_csv.name}"
        sets.append(DataSet(name, texts, labels, held_texts, held_gold, None, fixed))
        if shots:
            few_texts, few_labels = sample(texts, labels, shots, seed=1)
            sets.append(
                DataSet(f"{name}, {shots} an intent", few_texts, few_labels, held_texts, held_gold, None, fixed)
            )
    return sets


def compare(ds: DataSet, limits: Thresholds, target: float, budget: float | None) -> list[tuple[str, EvalReport]]:
    """The three ways of training, each judged on the held-out part."""

    def judged(rank: Callable[[str], list[tuple[str, float]]], t: Thresholds) -> EvalReport:
        return evaluate(rank, ds.held_texts, ds.held_gold, set(ds.labels), t)

    rows = []
    started = time.perf_counter()
    fixed = train_intent_model(ds.texts, ds.labels, kb=ds.kb, params=ds.params, thresholds=limits)
    rows.append(("fixed (--quick)", _timed(judged(lambda t: fixed.rank(t)[1], limits), started)))

    started = time.perf_counter()
    seconds = budget or default_budget(len(ds.texts))
    choice = run(search(ds.texts, ds.labels, kb=ds.kb, fixed=ds.params, thresholds=limits, target=target,
                        budget=seconds))  # fmt: skip
    tuned = train_intent_model(ds.texts, ds.labels, kb=ds.kb, params=choice.params, thresholds=choice.thresholds,
                               blend=choice.blend, tuning=choice.metadata())  # fmt: skip
    report = _timed(judged(lambda t: tuned.rank(t)[1], choice.thresholds), started)
    report.extra["chosen"] = json.dumps({k: choice.metadata()[k] for k in ("settings", "blend", "thresholds",
                                                                            "candidates_tried", "cv")})  # fmt: skip
    rows.append((f"self-tuned ({seconds:.0f}s budget)", report))

    started = time.perf_counter()
    plain = TextClassifier.train(ds.texts, ds.labels, untuned_fasttext(ds.params))
    rows.append(("untuned fastText", _timed(judged(lambda t: plain.predict_prepared(model_input(t)), limits), started)))

    started = time.perf_counter()
    shallow = tfidf_baseline(ds.texts, ds.labels)
    rows.append(("TF-IDF char 1-2 LR", _timed(judged(shallow, limits), started)))
    return rows


def tfidf_baseline(texts: list[str], labels: list[str]) -> Callable[[str], list[tuple[str, float]]]:
    """Character 1-2-gram TF-IDF with logistic regression, C chosen on a stratified tenth."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline

    def fit(x: list[str], y: list[str], c: float) -> Any:
        vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 2), sublinear_tf=True)
        return make_pipeline(vectorizer, LogisticRegression(C=c, max_iter=3000)).fit(x, y)

    dev_size = max(len(set(labels)), len(texts) // 10)  # stratified: at least one of each intent
    stratify = labels if min(Counter(labels).values()) > 1 else None
    x_fit, x_dev, y_fit, y_dev = train_test_split(texts, labels, test_size=dev_size, random_state=0, stratify=stratify)
    best_c = max((1.0, 3.0, 10.0, 30.0, 100.0), key=lambda c: fit(x_fit, y_fit, c).score(x_dev, y_dev))
    model = fit(texts, labels, best_c)

    def rank(text: str) -> list[tuple[str, float]]:
        probabilities = model.predict_proba([text])[0]
        return sorted(zip(model.classes_, probabilities), key=lambda pair: -pair[1])

    return rank


def _timed(report: EvalReport, started: float) -> EvalReport:
    report.extra["seconds"] = round(time.perf_counter() - started, 1)
    return report


def table(name: str, rows: Sequence[tuple[str, EvalReport]]) -> str:
    lines = [name, f"  {'':<26}{'accuracy':>9}{'macro-F1':>10}{'answered':>10}{'right':>8}{'seconds':>9}"]
    for label, r in rows:
        lines.append(f"  {label:<26}{r.accuracy:>9.1%}{r.macro_f1:>10.3f}{r.answered_share:>10.1%}"
                     f"{r.answered_accuracy:>8.1%}{r.extra['seconds']:>9}")  # fmt: skip
    lines += [f"  chosen: {r.extra['chosen']}" for _, r in rows if "chosen" in r.extra]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--clinc150", type=Path, default=Path("data/clinc150/data_full.json"))
    ap.add_argument("--budget", type=float, default=None, help="search seconds (default: kefu train's)")
    ap.add_argument("--csv", type=Path, nargs=2, action="append", default=[], metavar=("TRAIN", "TEST"))
    ap.add_argument("--shots", type=int, default=0, help="also cut each --csv set to k examples an intent")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        settings = load_settings(None).model_copy(update={"data_dir": Path(data_dir)})
        limits = thresholds(settings)
        for ds in data_sets(args.clinc150, args.csv, args.shots, train_params(settings)):
            rows = compare(ds, limits, settings.nlu.target_answered_accuracy, args.budget)
            print(table(f"{ds.name}: {len(ds.texts)} examples, {len(ds.held_texts)} held out", rows), flush=True)


if __name__ == "__main__":
    main()
