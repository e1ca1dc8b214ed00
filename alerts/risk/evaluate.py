"""``kefu eval --task risk|emotion`` and ``kefu train --task risk|emotion``.

Risk evaluation runs the whole scorer (rules, punctuation, emotion model, damping) on each message
alone, alerts at ``alert_threshold``, and counts the risk class (label 1) as positive. Emotion
evaluation asks the negative-emotion model alone (``risk.negative_emotion``), negative from its
``threshold`` on: worth soothing, not necessarily worth a staff member's attention.
Training builds the task's emotion model from the shipped corpus plus the shop's own labelled lines
(repeated ``emotion.train.custom_repeat`` times so that they outweigh the generic reviews) and
marks it ``custom`` so that start-up never replaces it with the default.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from alerts.risk.dataset import LabelledText, RiskDataError, load_risk_csv
from alerts.risk.emotion import EmotionModel, build_emotion_model, ensure_emotion_model
from alerts.risk.scorer import RiskScorer
from alerts.risk.settings import EmotionModelSettings, RiskSettings, model_path_for
from bot.nlu.classifier import model_input

__all__ = [
    "RiskDataError",
    "RiskMetrics",
    "TrainReport",
    "eval_emotion_from_csv",
    "eval_from_csv",
    "evaluate",
    "load_risk_csv",
    "train_from_csv",
]


@dataclass(frozen=True, slots=True)
class RiskMetrics:
    n: int
    accuracy: float
    precision: float
    recall: float
    f1: float
    tp: int
    fp: int
    fn: int
    tn: int
    threshold: float

    def as_dict(self) -> dict[str, Any]:
        """What ``kefu eval --task risk --json`` prints."""
        return asdict(self)


def metrics(labels: Sequence[int], predicted: Sequence[int], threshold: float) -> RiskMetrics:
    tp = sum(1 for y, p in zip(labels, predicted) if y and p)
    fp = sum(1 for y, p in zip(labels, predicted) if not y and p)
    fn = sum(1 for y, p in zip(labels, predicted) if y and not p)
    tn = sum(1 for y, p in zip(labels, predicted) if not y and not p)
    n = len(labels)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return RiskMetrics(
        n=n,
        accuracy=round((tp + tn) / n, 4) if n else 0.0,
        precision=round(precision, 4),
        recall=round(recall, 4),
        f1=round(f1, 4),
        tp=tp,
        fp=fp,
        fn=fn,
        tn=tn,
        threshold=threshold,
    )


def evaluate(scorer: RiskScorer, rows: Sequence[LabelledText]) -> RiskMetrics:
    """Each message alone (no conversation), alert at the scorer's ``alert_threshold``."""
    threshold = scorer.settings.alert_threshold
    predicted = [1 if scorer.score(row.text).score >= threshold else 0 for row in rows]
    return metrics([row.label for row in rows], predicted, threshold)


def eval_from_csv(data: str | Path, settings: RiskSettings, data_dir: Path, model: Path | None = None) -> RiskMetrics:
    """``kefu eval --task risk --data FILE [--model FILE]``; the data is read before any model work."""
    rows = load_risk_csv(data)
    if model is not None:
        emotion = EmotionModel.load(Path(model)) if settings.emotion.enabled else None
        scorer = RiskScorer(settings, emotion)
    else:
        scorer = RiskScorer.from_settings(settings, data_dir)
    return evaluate(scorer, rows)


def eval_emotion_from_csv(
    data: str | Path, settings: RiskSettings, data_dir: Path, model: Path | None = None
) -> RiskMetrics:
    """``kefu eval --task emotion --data FILE [--model FILE]``: label 1 is negative emotion."""
    rows = load_risk_csv(data)
    emotion = settings.negative_emotion
    scorer = EmotionModel.load(Path(model)) if model is not None else ensure_emotion_model(emotion, data_dir)
    predicted = [1 if scorer.probability(model_input(row.text)) >= emotion.threshold else 0 for row in rows]
    return metrics([row.label for row in rows], predicted, emotion.threshold)


def model_settings(settings: RiskSettings, task: str) -> EmotionModelSettings:
    """The emotion model a task trains: the risk scorer's, or the negative-emotion one."""
    return settings.negative_emotion if task == "emotion" else settings.emotion


@dataclass(frozen=True, slots=True)
class TrainReport:
    path: Path
    lines: int  # the shop's lines used
    risk_lines: int
    train_lines: int  # all lines fastText saw, shipped corpus and repeats included
    seconds: float


def train_from_csv(
    data: str | Path, settings: RiskSettings, data_dir: Path, out: Path | None = None, task: str = "risk"
) -> TrainReport:
    """``kefu train --task risk|emotion --data FILE [--out FILE]``: the shop's lines plus the shipped corpus.

    Without ``out`` the model goes where the server loads it from (``emotion.model_path`` or
    ``<data_dir>/risk_emotion.bin``; for emotion ``negative_emotion.model_path`` or
    ``<data_dir>/emotion.npz``); a running server reloads the risk one (``alerts.risk.assessor``).
    """
    rows = load_risk_csv(data)
    if len({row.label for row in rows}) < 2:
        raise RiskDataError(f"{data}: needs both labels, 1 (risk) and 0 (not risk), to train")
    emotion = model_settings(settings, task)
    path = Path(out) if out is not None else model_path_for(emotion, data_dir)
    started = time.perf_counter()
    model = build_emotion_model(emotion, path, custom=rows, custom_source=str(Path(data).resolve()))
    return TrainReport(
        path=path,
        lines=len(rows),
        risk_lines=sum(row.label for row in rows),
        train_lines=int(model.metadata.get("train_lines", 0)),
        seconds=round(time.perf_counter() - started, 2),
    )


def default_model(settings: RiskSettings, data_dir: Path, *, rebuild: bool = False, task: str = "risk") -> EmotionModel:
    """Build (or load) a task's default emotion model: for install/first start, e.g. ``kefu train --task risk``
    with no data."""
    return ensure_emotion_model(model_settings(settings, task), data_dir, rebuild=rebuild)
