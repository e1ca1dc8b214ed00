"""Honest evaluation of an intent model: held-out data only, per-intent reports, threshold sweep.

Gold labels the model does not know are out-of-scope queries (CLINC150's ``oos``, or questions
the shop has no answer for): they are right when the bot does *not* answer them.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

from bot.nlu.decide import Action, Thresholds, decide

SWEEP = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)

Ranker = Callable[[str], list[tuple[str, float]]]


@dataclass(frozen=True, slots=True)
class IntentScore:
    intent: str
    precision: float
    recall: float
    f1: float
    support: int
    confused_with: str  # the wrong intent its examples are most often given, "" if none
    confused_count: int


@dataclass(frozen=True, slots=True)
class SweepPoint:
    threshold: float
    answered_share: float  # of in-scope queries, how many the bot would answer
    answered_accuracy: float  # of those answered, how many were right
    oos_rejected: float | None  # of out-of-scope queries, how many it would not answer


@dataclass(slots=True)
class EvalReport:
    n: int
    accuracy: float  # top-1, in-scope queries
    macro_f1: float
    per_intent: list[IntentScore]
    sweep: list[SweepPoint]
    # At the configured thresholds: what the bot would really do.
    answered_share: float
    answered_accuracy: float
    n_out_of_scope: int = 0
    oos_recall: float | None = None
    extra: dict[str, object] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        d = asdict(self)
        d.update(d.pop("extra"))
        return d


def _safe_div(a: float, b: float) -> float:
    return a / b if b else 0.0


def evaluate(rank: Ranker, texts: Sequence[str], gold: Sequence[str], known: set[str], t: Thresholds) -> EvalReport:
    ranked = [rank(text) for text in texts]
    in_scope = [i for i, g in enumerate(gold) if g in known]
    oos = [i for i, g in enumerate(gold) if g not in known]
    top = [r[0][0] if r else "" for r in ranked]
    top_p = [r[0][1] if r else 0.0 for r in ranked]
    decisions = [decide(r, t) for r in ranked]

    correct = sum(top[i] == gold[i] for i in in_scope)
    per_intent = _per_intent(
        [gold[i] for i in in_scope], [top[i] for i in in_scope], sorted({gold[i] for i in in_scope})
    )
    answered = [i for i in in_scope if decisions[i].action is Action.ANSWER]
    sweep = []
    for th in SWEEP:
        ans = [i for i in in_scope if top_p[i] >= th]
        sweep.append(
            SweepPoint(
                th,
                round(_safe_div(len(ans), len(in_scope)), 4),
                round(_safe_div(sum(top[i] == gold[i] for i in ans), len(ans)), 4),
                round(_safe_div(sum(top_p[i] < th for i in oos), len(oos)), 4) if oos else None,
            )
        )
    return EvalReport(
        n=len(texts),
        accuracy=round(_safe_div(correct, len(in_scope)), 4),
        macro_f1=round(_safe_div(sum(s.f1 for s in per_intent), len(per_intent)), 4),
        per_intent=per_intent,
        sweep=sweep,
        answered_share=round(_safe_div(len(answered), len(in_scope)), 4),
        answered_accuracy=round(_safe_div(sum(decisions[i].intent == gold[i] for i in answered), len(answered)), 4),
        n_out_of_scope=len(oos),
        oos_recall=(
            round(_safe_div(sum(decisions[i].action is not Action.ANSWER for i in oos), len(oos)), 4) if oos else None
        ),
    )


def _per_intent(gold: list[str], pred: list[str], intents: list[str]) -> list[IntentScore]:
    tp: Counter[str] = Counter()
    predicted: Counter[str] = Counter(pred)
    support: Counter[str] = Counter(gold)
    confusion: dict[str, Counter[str]] = defaultdict(Counter)
    for g, p in zip(gold, pred):
        if g == p:
            tp[g] += 1
        else:
            confusion[g][p] += 1
    scores = []
    for name in intents:
        precision = _safe_div(tp[name], predicted[name])
        recall = _safe_div(tp[name], support[name])
        f1 = _safe_div(2 * precision * recall, precision + recall)
        worst = confusion[name].most_common(1)
        scores.append(
            IntentScore(
                name, round(precision, 4), round(recall, 4), round(f1, 4), support[name],
                worst[0][0] if worst else "", worst[0][1] if worst else 0,
            )
        )  # fmt: skip
    return scores


def stratified_folds(labels: Sequence[str], k: int, seed: int) -> list[list[int]]:
    """Indices split into k folds, each label spread evenly over them."""
    by_label: dict[str, list[int]] = defaultdict(list)
    for i, label in enumerate(labels):
        by_label[label].append(i)
    rng = random.Random(seed)
    folds: list[list[int]] = [[] for _ in range(k)]
    offset = 0
    for label in sorted(by_label):
        idx = by_label[label]
        rng.shuffle(idx)
        for j, i in enumerate(idx):
            folds[(j + offset) % k].append(i)
        offset += len(idx)
    return folds


def format_report(report: EvalReport, title: str) -> str:
    lines = [
        title,
        f"  queries: {report.n}   accuracy (top-1): {report.accuracy:.2%}   macro-F1: {report.macro_f1:.4f}",
        f"  at the configured thresholds: answers {report.answered_share:.1%} of in-scope queries, "
        f"{report.answered_accuracy:.2%} of them right",
    ]
    if report.oos_recall is not None:
        lines.append(f"  out-of-scope queries: {report.n_out_of_scope}, not answered (recall): {report.oos_recall:.2%}")
    for key, value in report.extra.items():
        lines.append(f"  {key}: {value}")
    lines += ["", f"  {'intent':<28}{'prec':>7}{'recall':>8}{'F1':>7}{'n':>6}  most confused with"]
    for s in sorted(report.per_intent, key=lambda s: s.f1):
        confused = f"{s.confused_with} ({s.confused_count})" if s.confused_with else "-"
        lines.append(f"  {s.intent:<28}{s.precision:>7.2f}{s.recall:>8.2f}{s.f1:>7.2f}{s.support:>6}  {confused}")
    header = f"  {'threshold':>9}{'answered':>10}{'accuracy':>10}"
    if report.oos_recall is not None:
        header += f"{'oos kept out':>14}"
    lines += ["", "  threshold sweep (answer when top probability >= threshold):", header]
    for p in report.sweep:
        row = f"  {p.threshold:>9.1f}{p.answered_share:>10.1%}{p.answered_accuracy:>10.1%}"
        if p.oos_rejected is not None:
            row += f"{p.oos_rejected:>14.1%}"
        lines.append(row)
    return "\n".join(lines)
