"""The fastText classifier and the intent model around it: real training on tiny data."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.nlu.classifier import TextClassifier, model_input
from bot.nlu.decide import Action, Thresholds
from bot.nlu.intent_model import IntentModel, train_intent_model
from bot.nlu.knowledge import load_knowledge_base
from bot.nlu.params import ModelFileError, TrainParams, metadata_path

PARCEL = ["我的快递到哪了", "包裹到哪里了", "快递怎么还没到", "物流信息查一下", "快递到哪儿了呀", "我的包裹在哪"]
REFUND = ["退款什么时候到账", "退款多久到", "钱怎么还没退回来", "退款进度查一下", "退的钱到哪了", "退款还没到账"]
GREET = ["你好", "在吗", "hello", "有人吗", "您好呀", "hi"]
TEXTS = PARCEL + REFUND + GREET
LABELS = ["where_is_parcel"] * 6 + ["refund_progress"] * 6 + ["greeting"] * 6
FAST = TrainParams(bucket=50_000)


@pytest.fixture(scope="module")
def tiny() -> TextClassifier:
    return TextClassifier.train(TEXTS, LABELS, FAST)


def test_model_input_is_normalised_tokens() -> None:
    assert model_input("ＡＪ１到哪了？") == "aj1 到 哪 了 到哪 哪了"


def test_train_predict_round_trip(tiny: TextClassifier) -> None:
    assert sorted(tiny.labels) == ["greeting", "refund_progress", "where_is_parcel"]
    assert tiny.predict("我的快递到哪了")[0][0] == "where_is_parcel"
    assert tiny.predict("退款多久到账")[0][0] == "refund_progress"
    assert tiny.predict("你好")[0][0] == "greeting"
    ranked = tiny.predict("包裹在哪", k=3)
    assert len(ranked) == 3
    assert [p for _, p in ranked] == sorted((p for _, p in ranked), reverse=True)
    assert 0.99 <= sum(p for _, p in ranked) <= 1.01


def test_predict_on_plain_str_under_numpy2(tiny: TextClassifier) -> None:
    # fastText 0.9.3's own str path raises under numpy 2 (np.array(copy=False)); ours must not.
    ranked = tiny.predict("快递到哪了", k=2)
    assert isinstance(ranked, list) and len(ranked) == 2
    for label, p in ranked:
        assert isinstance(label, str) and not label.startswith("__label__")
        assert type(p) is float


def test_same_seed_same_predictions() -> None:
    a = TextClassifier.train(TEXTS, LABELS, FAST)
    b = TextClassifier.train(TEXTS, LABELS, FAST)
    probes = ["快递呢", "退款呢", "在不在", "查一下", "hello there"]
    assert [a.predict(p) for p in probes] == [b.predict(p) for p in probes]


def test_training_refuses_bad_input() -> None:
    with pytest.raises(ValueError, match="same, non-zero"):
        TextClassifier.train(["a"], ["x", "y"])
    with pytest.raises(ValueError, match="two different labels"):
        TextClassifier.train(["a", "b"], ["x", "x"])


def test_save_and_load_keep_predictions_and_metadata(tmp_path: Path, tiny: TextClassifier) -> None:
    path = tmp_path / "models" / "intent.bin"
    tiny.metadata["kb_digest"] = "abc123"
    tiny.save(path)
    assert path.exists() and metadata_path(path).exists()
    assert not list(path.parent.glob("*.tmp*"))  # atomic write leaves no temporary files
    loaded = TextClassifier.load(path)
    assert sorted(loaded.metadata["labels"]) == sorted(tiny.labels)
    assert loaded.metadata["kb_digest"] == "abc123"
    assert loaded.metadata["params"]["seed"] == FAST.seed
    for probe in ("快递到哪了", "退款", "你好"):
        assert loaded.predict(probe)[0][0] == tiny.predict(probe)[0][0]


def test_missing_model_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match=r"does not exist.*kefu train"):
        TextClassifier.load(tmp_path / "nope.bin")


def test_missing_or_bad_metadata_is_a_clear_error(tmp_path: Path, tiny: TextClassifier) -> None:
    path = tmp_path / "intent.bin"
    tiny.save(path)
    meta = metadata_path(path)
    good = meta.read_text(encoding="utf-8")
    meta.unlink()
    with pytest.raises(ModelFileError, match=r"intent\.bin\.json is missing"):
        TextClassifier.load(path)
    meta.write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelFileError, match="not valid JSON"):
        TextClassifier.load(path)
    data = json.loads(good)
    data["format_version"] = 999
    meta.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ModelFileError, match="another kefu-bot version"):
        TextClassifier.load(path)


def test_garbage_model_file_is_a_clear_error(tmp_path: Path, tiny: TextClassifier) -> None:
    path = tmp_path / "intent.bin"
    tiny.save(path)
    path.write_bytes(b"this is not a fasttext model")
    with pytest.raises(ModelFileError, match="not a fastText model"):
        TextClassifier.load(path)


def test_intent_model_applies_synonyms_and_remembers_the_kb(tmp_path: Path) -> None:
    kb_path = tmp_path / "kb.yaml"
    kb_path.write_text(
        "synonyms:\n  zfb: 支付宝\nintents:\n"
        "  - {name: pay_alipay, category: payment, answer: 支持支付宝, examples: [能用支付宝吗, 支付宝可以付吗, 支付宝付款]}\n"
        "  - {name: where_is_parcel, category: logistics, answer: 在路上, examples: [快递到哪了, 包裹到哪里了, 物流查一下]}\n",
        encoding="utf-8",
    )
    kb = load_knowledge_base(kb_path)
    texts, labels = kb.training_pairs()
    t = Thresholds(answer=0.5, margin=0.2)
    model = train_intent_model(texts, labels, kb=kb, params=FAST, thresholds=t)
    assert model.kb_digest == kb.digest
    pred = model.predict("ＺＦＢ可以吗")  # full width alias -> zfb -> 支付宝
    assert pred.ranked[0][0] == "pay_alipay"
    assert model.predict("😀").decision.action is Action.FALLBACK
    assert model.predict("😀").ranked == []

    path = tmp_path / "intent.bin"
    model.save(path)
    loaded = IntentModel.load(path, t)
    assert loaded.kb_digest == kb.digest
    assert loaded.synonyms.table == {"zfb": "支付宝"}
    assert loaded.rank("zfb付款")[1][0][0] == "pay_alipay"
    meta = json.loads(metadata_path(path).read_text(encoding="utf-8"))
    assert meta["n_examples"] == len(texts) and meta["thresholds"]["answer"] == 0.5


def test_text_with_no_known_token_is_not_answered_or_clarified(tmp_path: Path) -> None:
    # Gibberish shares no token with the training data: the only feature fastText has left is its
    # end-of-line token, whose learnt prior must not be passed off as an understanding.
    kb_path = tmp_path / "kb.yaml"
    kb_path.write_text(
        "intents:\n"
        f"  - {{name: where_is_parcel, category: logistics, answer: 在路上, examples: [{', '.join(PARCEL)}]}}\n"
        f"  - {{name: refund_progress, category: after_sales, answer: 三天到账, examples: [{', '.join(REFUND)}]}}\n"
        f"  - {{name: greeting, category: chitchat, answer: 您好, examples: [{', '.join(GREET)}]}}\n",
        encoding="utf-8",
    )
    kb = load_knowledge_base(kb_path)
    texts, labels = kb.training_pairs()
    model = train_intent_model(texts, labels, kb=kb, params=FAST, thresholds=Thresholds())
    assert model.predict("我的快递到哪了").ranked[0][0] == "where_is_parcel"  # the model works
    for gibberish in ("asdkjh qwe", "zxqv plmkjh", "龘靐齉"):
        assert model.predict(gibberish).decision.action is Action.FALLBACK, (gibberish, model.predict(gibberish))
