"""Settings chosen for the data: ``kefu train`` searches the fastText settings, the blend with the
linear model and the answer thresholds on cross-validation folds of the examples it is given.

A shop's knowledge base may be written quite unlike the shipped one; fixed settings tuned on the
shipped base then serve it worse than they could. The search is seeded and bounded in time:

- the candidates come in a fixed order: the fixed settings (``--quick``), untuned fastText on our
  tokens (characters and character bigrams), then the grid shuffled with the seed. The two first
  always run, so the choice is never worse than either on the folds;
- the budget is checked between candidates only: a candidate that would not finish in what is
  left (by the slowest rate seen so far) ends the search. The candidates tried are a prefix of the
  fixed order, and the same seed, data and prefix give the same choice;
- each fold's linear model is trained once; each candidate trains fastText on each fold; every
  blend weight is scored from the same predictions, and the thresholds last, for the winner.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from bot.nlu.classifier import TextClassifier
from bot.nlu.crossval import Ranking, judge
from bot.nlu.decide import Thresholds
from bot.nlu.evaluate import EvalReport, stratified_folds
from bot.nlu.intent_model import (
    DEFAULT_BLEND,
    IntentModel,
    blended,
    out_of_scope_examples,
    prepare,
    pretrained_vectors,
    top_k,
)
from bot.nlu.knowledge import KnowledgeBase, Synonyms
from bot.nlu.linear import LinearClassifier
from bot.nlu.normalize import normalize
from bot.nlu.params import TrainParams
from bot.nlu.scope import OUT_OF_SCOPE
from bot.nlu.tokenize import is_han_free

FOLDS = 3
EXAMPLES_PER_MINUTE = 5_000  # the default budget: a minute for this many examples
MIN_BUDGET, MAX_BUDGET = 30.0, 600.0
BLENDS = (0.0, 0.25, DEFAULT_BLEND, 0.75, 1.0)  # fastText's weight against the linear model's
ANSWER_THRESHOLDS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
MARGINS = (0.0, 0.1, 0.2, 0.3)
# The grid: fastText's settings apart from the seed and the hashed slots (the served model's
# size follows nlu.bucket), and the shipped vectors (only of nlu.dim) on or off.
EPOCHS = (5, 15, 30, 60, 100)
LEARNING_RATES = (0.1, 0.25, 0.5, 1.0)
WORD_NGRAMS = (1, 2, 3)
CHAR_NGRAMS = ((0, 0), (1, 3), (2, 4), (3, 6))
DIMS = (32, 64, 100)
LOSSES = ("softmax", "ova")

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Score:
    """A candidate's cross-validated result at its best blend weight."""

    params: TrainParams
    blend: float
    accuracy: float
    macro_f1: float
    rankings: list[Ranking]

    @property
    def key(self) -> tuple[float, float]:
        return self.accuracy, self.macro_f1


@dataclass(frozen=True, slots=True)
class Choice:
    """What the search chose, and its cross-validated estimate (optimistic: the best of many)."""

    params: TrainParams
    blend: float
    thresholds: Thresholds
    report: EvalReport  # the winner's folds at the chosen thresholds
    tried: int
    candidates: int
    seconds: float
    baselines: dict[str, tuple[float, float]]  # name -> (accuracy, macro-F1)
    budget: float
    target: float

    def metadata(self) -> dict[str, Any]:
        """The model metadata's ``tuning``: enough to show and to reproduce the choice."""
        return {
            "seed": self.params.seed,
            "folds": FOLDS,
            "budget_seconds": round(self.budget, 1),
            "search_seconds": round(self.seconds, 1),
            "candidates_tried": self.tried,
            "candidates": self.candidates,
            "settings": describe(self.params),
            "blend": self.blend,
            "thresholds": {"answer": self.thresholds.answer, "margin": self.thresholds.margin},
            "target_answered_accuracy": self.target,
            "cv": {
                "accuracy": self.report.accuracy,
                "macro_f1": self.report.macro_f1,
                "answered_share": self.report.answered_share,
                "answered_accuracy": self.report.answered_accuracy,
            },
            "baselines": {name: {"accuracy": a, "macro_f1": f} for name, (a, f) in self.baselines.items()},
        }


def default_budget(examples: int) -> float:
    """Seconds of search for this many examples: a minute per ``EXAMPLES_PER_MINUTE``, bounded."""
    return min(MAX_BUDGET, max(MIN_BUDGET, 60.0 * examples / EXAMPLES_PER_MINUTE))


def describe(params: TrainParams) -> dict[str, Any]:
    """The searched settings of ``params`` (what differs between candidates)."""
    keys = ("epoch", "lr", "dim", "word_ngrams", "minn", "maxn", "loss")
    return {**{k: v for k, v in asdict(params).items() if k in keys}, "vectors": params.vectors_dir is not None}


def candidates(fixed: TrainParams) -> list[TrainParams]:
    """Every candidate in search order: ``fixed``, fastText's defaults, then the grid shuffled with
    ``fixed.seed``. Vectors only where ``fixed`` has them and of their size."""
    grid = [
        replace(
            fixed,
            epoch=e,
            lr=lr,
            word_ngrams=w,
            minn=mm[0],
            maxn=mm[1],
            dim=d,
            loss=loss,
            vectors_dir=fixed.vectors_dir if vectors and d == fixed.dim else None,
        )  # fmt: skip
        for e, lr, w, mm, d, loss, vectors in itertools.product(
            EPOCHS, LEARNING_RATES, WORD_NGRAMS, CHAR_NGRAMS, DIMS, LOSSES, (True, False)
        )
    ]
    random.Random(fixed.seed).shuffle(grid)
    return list(dict.fromkeys([fixed, untuned_fasttext(fixed), *grid]))


def searched_params(tuning: Mapping[str, Any], fixed: TrainParams) -> TrainParams:
    """``fixed`` with the fastText settings a search chose (a model's ``tuning``): what a model of
    changed data is retrained with, until the next search."""
    chosen = dict(tuning["settings"])
    vectors = chosen.pop("vectors")
    return replace(fixed, **chosen, vectors_dir=fixed.vectors_dir if vectors else None)


def untuned_fasttext(fixed: TrainParams) -> TrainParams:
    """fastText as its tutorial trains a classifier (25 epochs, learning rate 1.0, word pairs; its
    defaults otherwise: no subwords, dimension 100), on our tokens: characters and character
    bigrams. ``fixed``'s seed, hashed slots and out-of-scope lines."""
    return replace(fixed, epoch=25, lr=1.0, dim=100, word_ngrams=2, minn=0, maxn=0, loss="softmax", vectors_dir=None)


@dataclass(frozen=True, slots=True)
class _Fold:
    train_texts: list[str]  # prepared, the out-of-scope lines included
    train_labels: list[str]
    held: list[int]  # indices of the examples it judges
    linear: LinearClassifier
    linear_probabilities: list[np.ndarray | None]  # per held example


def _folds(prepared: list[str], labels: list[str], outside: list[str], seed: int) -> list[_Fold]:
    folds = []
    for held in stratified_folds(labels, FOLDS, seed):
        held_set = set(held)
        train_idx = [i for i in range(len(prepared)) if i not in held_set]
        texts = [prepared[i] for i in train_idx] + outside
        fold_labels = [labels[i] for i in train_idx] + [OUT_OF_SCOPE] * len(outside)
        linear = LinearClassifier.train(texts, fold_labels)
        folds.append(_Fold(texts, fold_labels, held, linear, [linear.probabilities(prepared[i]) for i in held]))
    return folds


def _score(params: TrainParams, folds: list[_Fold], prepared: list[str], labels: list[str]) -> Score:
    """Train fastText with ``params`` on every fold; score each blend weight on the held-out examples."""
    by_blend: dict[float, list[Ranking]] = {w: [[] for _ in prepared] for w in BLENDS}
    for fold in folds:
        vectors = pretrained_vectors(params, fold.train_texts)
        classifier = TextClassifier.train(
            fold.train_texts, fold.train_labels, params, prepared=True, pretrained=vectors
        )
        model = IntentModel(classifier, fold.linear, Synonyms(), Thresholds())
        for i, linear in zip(fold.held, fold.linear_probabilities):
            if linear is None:  # as IntentModel.rank_prepared: fastText alone
                ranking = classifier.predict_prepared(prepared[i])
                for w in BLENDS:
                    by_blend[w][i] = ranking
                continue
            fasttext = model.fasttext_probabilities(prepared[i])
            for w in BLENDS:
                by_blend[w][i] = top_k(model.labels, blended(linear, fasttext, w), 5)
    scores = []
    for w, rankings in by_blend.items():
        report = judge(rankings, prepared, labels, Thresholds())
        scores.append(Score(params, w, report.accuracy, report.macro_f1, rankings))
    return max(scores, key=lambda s: s.key)  # the first of equals: the order of BLENDS


def choose_thresholds(
    rankings: list[Ranking], texts: list[str], labels: list[str], base: Thresholds, target: float
) -> tuple[Thresholds, EvalReport]:
    """The answer threshold and margin that answer the most questions with at least ``target`` of
    the answers right; when none reaches it, the most accurate answers."""
    best: tuple[tuple[bool, float, float], Thresholds, EvalReport] | None = None
    for answer, margin in itertools.product(ANSWER_THRESHOLDS, MARGINS):
        t = replace(base, answer=answer, margin=margin)
        report = judge(rankings, texts, labels, t)
        reached = report.answered_accuracy >= target and report.answered_share > 0
        key = (reached, report.answered_share if reached else report.answered_accuracy,
               report.answered_accuracy if reached else report.answered_share)  # fmt: skip
        if best is None or key > best[0]:
            best = (key, t, report)
    assert best is not None
    return best[1], best[2]


def search(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    kb: KnowledgeBase | None,
    fixed: TrainParams,
    thresholds: Thresholds,
    target: float,
    budget: float,
    clock: Clock = time.monotonic,
    order: Sequence[TrainParams] | None = None,
) -> Generator[str, None, Choice]:
    """The settings that cross-validate best on the examples within ``budget`` seconds (by
    ``clock``), among ``order`` (default: ``candidates(fixed)``); the thresholds for ``target``.
    Yields a line per candidate tried, returns the choice (``run`` drops the lines)."""
    started = clock()
    synonyms = kb.synonyms if kb else Synonyms()
    prepared = [prepare(normalize(t).text, synonyms) for t in texts]
    gold = list(labels)
    outside = [prepare(normalize(t).text, synonyms) for t in out_of_scope_examples(fixed, gold)]
    folds = _folds(prepared, gold, outside, fixed.seed)
    if all(is_han_free(text) for text in prepared):  # the vectors are of Chinese: never loaded here
        fixed = replace(fixed, vectors_dir=None)
    order = list(order) if order is not None else candidates(fixed)
    best: Score | None = None
    baselines: dict[str, tuple[float, float]] = {}
    slowest = 0.0  # seconds per epoch, the slowest candidate so far
    tried = 0
    now = clock()
    for params in order:
        if tried >= 2 and now - started + slowest * params.epoch > budget:
            break
        score = _score(params, folds, prepared, gold)
        before, now = now, clock()
        slowest = max(slowest, (now - before) / params.epoch)
        tried += 1
        if tried <= 2:
            baselines["fixed" if tried == 1 else "untuned_fasttext"] = score.key
        yield (f"  {tried:>3}. {_line(describe(params))}, blend {score.blend:.2f}: "
               f"accuracy {score.accuracy:.2%}, macro-F1 {score.macro_f1:.4f}")  # fmt: skip
        if best is None or score.key > best.key:
            best = score
    assert best is not None, "no candidate"
    chosen, report = choose_thresholds(best.rankings, prepared, gold, thresholds, target)
    return Choice(best.params, best.blend, chosen, report, tried, len(order), now - started, baselines, budget, target)


def run(steps: Generator[str, None, Choice]) -> Choice:
    """The choice a ``search`` returns, its progress lines dropped."""
    while True:
        try:
            next(steps)
        except StopIteration as done:
            return done.value


def _line(settings: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in settings.items())


def summary(tuning: dict[str, Any]) -> str:
    """One line of what a search chose and its estimate, for ``kefu train`` and ``kefu eval``."""
    cv, t = tuning["cv"], tuning["thresholds"]
    return (
        f"{_line(tuning['settings'])}, blend {tuning['blend']:.2f}, answer_threshold {t['answer']}, "
        f"margin {t['margin']}; {tuning['folds']}-fold CV: accuracy {cv['accuracy']:.2%}, "
        f"macro-F1 {cv['macro_f1']:.4f}, answers {cv['answered_share']:.1%} ({cv['answered_accuracy']:.2%} right)"
        + ("; searched for an earlier version of the data" if tuning.get("carried_over") else "")
    )
