"""The linear intent model and its blend with fastText: real scikit-learn training on tiny data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from bot.nlu.classifier import model_input
from bot.nlu.decide import Thresholds
from bot.nlu.intent_model import IntentModel, linear_path, train_intent_model
from bot.nlu.linear import INVERSE_REGULARISATION, LinearClassifier, LinearModelError
from bot.nlu.params import ModelFileError, TrainParams, metadata_path

PARCEL = ["我的快递到哪了", "包裹到哪里了", "快递怎么还没到", "物流信息查一下", "快递到哪儿了呀"]
REFUND = ["退款什么时候到账", "退款多久到", "钱怎么还没退回来", "退款进度查一下", "退的钱到哪了"]
GREET = ["你好", "在吗", "hello", "有人吗", "您好呀"]
TEXTS = [model_input(t) for t in PARCEL + REFUND + GREET]
LABELS = ["where_is_parcel"] * 5 + ["refund_progress"] * 5 + ["greeting"] * 5
UNSEEN = [model_input(t) for t in ("快递到了没", "退款到账了吗", "你好，快递在吗", "hello 退款")]


def sklearn_probabilities(texts: list[str], labels: list[str], queries: list[str]) -> np.ndarray:
    vectorizer = TfidfVectorizer(analyzer=str.split, sublinear_tf=True)
    model = LogisticRegression(C=INVERSE_REGULARISATION, max_iter=3000).fit(vectorizer.fit_transform(texts), labels)
    return model.predict_proba(vectorizer.transform(queries))


@pytest.mark.parametrize("n_labels", [3, 2])
def test_probabilities_are_scikit_learns(n_labels: int) -> None:
    # Prediction is hand-written numpy; it must be exactly what scikit-learn itself computes,
    # for the multinomial case and for two labels (where scikit-learn keeps a single logit).
    texts, labels = TEXTS[: 5 * n_labels], LABELS[: 5 * n_labels]
    model = LinearClassifier.train(texts, labels)
    expected = sklearn_probabilities(texts, labels, UNSEEN)
    got = np.array([model.probabilities(q) for q in UNSEEN])
    assert got.shape == (len(UNSEEN), n_labels)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert model.labels[int(np.argmax(model.probabilities(UNSEEN[0])))] == "where_is_parcel"


def test_text_with_no_known_token_has_no_probabilities() -> None:
    model = LinearClassifier.train(TEXTS, LABELS)
    assert model.probabilities("zzz 龘") is None
    assert model.probabilities("") is None


def test_save_and_load_keep_probabilities(tmp_path: Path) -> None:
    model = LinearClassifier.train(TEXTS, LABELS)
    path = tmp_path / "m.linear.npz"
    model.save(path)
    loaded = LinearClassifier.load(path)
    assert loaded.labels == model.labels
    for q in UNSEEN:
        np.testing.assert_array_equal(loaded.probabilities(q), model.probabilities(q))
    assert list(tmp_path.iterdir()) == [path]  # no temporary file left behind


def test_missing_or_garbage_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LinearModelError, match="missing"):
        LinearClassifier.load(tmp_path / "nope.npz")
    garbage = tmp_path / "garbage.npz"
    garbage.write_bytes(b"not an npz")
    with pytest.raises(LinearModelError, match="not a kefu linear model"):
        LinearClassifier.load(garbage)


@pytest.fixture(scope="module")
def intent_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[IntentModel, Path]:
    model = train_intent_model(PARCEL + REFUND + GREET, LABELS, kb=None, params=TrainParams(bucket=50_000),
                               thresholds=Thresholds())  # fmt: skip
    path = tmp_path_factory.mktemp("model") / "intent.bin"
    model.save(path)
    return model, path


def test_ranking_is_the_mean_of_both_models(intent_model: tuple[IntentModel, Path]) -> None:
    model, _ = intent_model
    for query in UNSEEN:
        fasttext = dict(model.classifier.predict_prepared(query, k=-1))
        linear = dict(zip(model.linear.labels, model.linear.probabilities(query)))
        ranked = model.rank_prepared(query, k=3)
        assert [p for _, p in ranked] == sorted((p for _, p in ranked), reverse=True)
        for label, p in ranked:
            # fastText's softmax redone from its hidden vector: float32 sums in another order
            assert p == pytest.approx((fasttext[label] + linear[label]) / 2, abs=5e-5)
    assert len(model.rank_prepared(UNSEEN[0], k=2)) == 2


def test_a_saved_model_loads_with_its_linear_half(intent_model: tuple[IntentModel, Path]) -> None:
    model, path = intent_model
    loaded = IntentModel.load(path, Thresholds())
    assert loaded.rank("快递到了没") == model.rank("快递到了没")


def test_a_linear_file_of_another_training_is_refused(intent_model: tuple[IntentModel, Path], tmp_path: Path) -> None:
    _, path = intent_model
    other = tmp_path / "intent.bin"
    for source in (path, metadata_path(path)):
        target = tmp_path / source.name
        target.write_bytes(source.read_bytes())
    LinearClassifier.train(TEXTS[:10], LABELS[:10]).save(linear_path(other))
    with pytest.raises(ModelFileError, match="another training"):
        IntentModel.load(other, Thresholds())
    linear_path(other).unlink()
    with pytest.raises(ModelFileError, match="missing"):
        IntentModel.load(other, Thresholds())


def test_a_model_of_the_previous_version_is_refused(intent_model: tuple[IntentModel, Path], tmp_path: Path) -> None:
    # intent-1 models had no linear half: loading one must ask for a retrain (the server then
    # retrains by itself), not blend with nothing.
    _, path = intent_model
    old = tmp_path / "intent.bin"
    old.write_bytes(path.read_bytes())
    meta = json.loads(metadata_path(path).read_text(encoding="utf-8"))
    metadata_path(old).write_text(json.dumps(dict(meta, version="intent-1")), encoding="utf-8")
    with pytest.raises(ModelFileError, match="another version"):
        IntentModel.load(old, Thresholds())
