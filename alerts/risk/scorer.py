"""Complaint-risk score of a customer message and of the conversation around it.

A message's score combines independent pieces of evidence by noisy-OR, 1 - prod(1 - w):
- explicit rules (threats to complain to 12315/消协/媒体, to expose, to sue, to call the police,
  bad-review threats, insults, accusations, anger words, refund disputes, impatience), each family
  with its weight from settings;
- punctuation on the raw text (！！！, ？？？, angry emoji);
- the same question asked again after the bot could not answer it;
- the emotion model's P(negative emotion) p, as ``weight * clip((p - floor) / (1 - floor))``; a
  polite question with no strong rule hit ("请问退款多久到账？") has that contribution damped,
  because review-trained models read any mention of 退款 as unhappy.

The conversation score is the noisy-OR of the message score and the last few turns' scores, each
multiplied by ``decay ** age``: anger two turns ago still counts, but less. ``RiskScore.score`` is
the conversation score; ``message_score`` the current message alone.

Settings can be replaced at run time (``update``) without retraining; the compiled rules are
swapped in one assignment, so a concurrent ``score`` sees either the old or the new settings.
"""

from __future__ import annotations

import logging
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from alerts.risk.rules import (
    RuleHit,
    RuleSet,
    compile_rules,
    noisy_or,
    punctuation_hits,
    read_words,
    repeat_hits,
    without_reassurance,
)
from alerts.risk.settings import RiskSettings, model_path_for
from bot.nlu.normalize import normalize
from bot.nlu.params import ModelFileError
from bot.nlu.tokenize import tokens

if TYPE_CHECKING:
    from alerts.risk.emotion import EmotionModel

log = logging.getLogger(__name__)

REASON_EMOTION = "负面情绪"
REASON_CONVERSATION = "近几轮对话持续不满"
_EVIDENCE_RE = re.compile(r"[\u3400-\u9fff]|[a-z]{2,}")  # characters and words the model can read


@dataclass(frozen=True, slots=True)
class Turn:
    """An earlier customer message of the same conversation (history is passed oldest first)."""

    text: str
    score: float | None = None  # its message score then; None: scored again here (slower)
    answered: bool = True  # False when the bot could not answer it (fallback, clarify, handover)


@dataclass(frozen=True, slots=True)
class RiskScore:
    score: float  # conversation-level risk in [0, 1]: what thresholds apply to
    message_score: float  # the current message alone; store it in the turn's history
    reasons: list[str]  # Simplified Chinese, strongest first
    hits: tuple[RuleHit, ...] = field(default=())
    emotion: float | None = None  # P(negative emotion) from the model; None without a model
    rule_score: float = 0.0  # the current message by its rules alone, the emotion model left out
    alert: bool = False  # score >= alert_threshold
    handoff: bool = False  # score >= handoff_threshold


@dataclass(frozen=True, slots=True)
class _Compiled:
    settings: RiskSettings
    rules: RuleSet


class RiskScorer:
    def __init__(self, settings: RiskSettings, emotion: EmotionModel | None = None) -> None:
        self._state = _Compiled(settings, compile_rules(settings))
        self._emotion = emotion

    @classmethod
    def from_settings(cls, settings: RiskSettings, data_dir: Path, *, build: bool = True) -> RiskScorer:
        """The scorer the server uses: the cached emotion model, built first if needed (a few s).

        With ``build=False`` a missing or stale model is not built and the scorer runs on rules.
        """
        # Imported here: the emotion model brings fastText and numpy, which a process that scores
        # no risk (an HTTP process beside worker processes) does without.
        from alerts.risk.emotion import EmotionModel, ensure_emotion_model

        emotion = None
        if settings.emotion.enabled:
            if build:
                emotion = ensure_emotion_model(settings.emotion, data_dir)
            else:
                try:
                    emotion = EmotionModel.load(model_path_for(settings.emotion, data_dir))
                except ModelFileError as e:  # rules still work; say why
                    log.warning("risk scoring without the emotion model: %s", e)
        return cls(settings, emotion)

    @property
    def settings(self) -> RiskSettings:
        return self._state.settings

    @property
    def emotion_model(self) -> EmotionModel | None:
        return self._emotion

    def update(self, settings: RiskSettings) -> None:
        """New word lists, weights and thresholds, effective for the next ``score`` call."""
        self._state = _Compiled(settings, compile_rules(settings))

    def set_emotion_model(self, model: EmotionModel | None) -> None:
        """Swap in a retrained model (``kefu train --task risk``) without a restart."""
        self._emotion = model

    def score(self, text: str, history: Sequence[Turn] = ()) -> RiskScore:
        state = self._state
        settings = state.settings
        if not settings.enabled:
            return RiskScore(score=0.0, message_score=0.0, reasons=[])
        window = settings.conversation.window_turns
        recent = list(history)[-window:] if window else []
        lookback = list(history)[-settings.repeat.lookback_turns :] if settings.repeat.enabled else []
        earlier = [(t.text, t.answered) for t in lookback]  # turns keep their text normalised
        message, hits, emotion = self._message(state, text, earlier)

        decay, floor = settings.conversation.decay, settings.conversation.min_turn_score
        carried = []
        for age, turn in enumerate(reversed(recent), start=1):
            past = turn.score if turn.score is not None else self._message(state, turn.text, ())[0]
            if past >= floor:
                carried.append(past * decay**age)
        total = noisy_or([message, *carried])
        reasons = list(dict.fromkeys(h.reason for h in sorted(hits, key=lambda h: -h.weight)))
        if total - message >= 0.05:
            reasons.append(REASON_CONVERSATION)
        return RiskScore(
            score=round(total, 4),
            message_score=round(message, 4),
            reasons=reasons,
            hits=tuple(hits),
            emotion=emotion,
            rule_score=round(noisy_or(h.weight for h in hits if h.rule != "emotion"), 4),
            alert=total >= settings.alert_threshold,
            handoff=total >= settings.handoff_threshold,
        )

    def _message(
        self, state: _Compiled, text: str, earlier: Sequence[tuple[str, bool]]
    ) -> tuple[float, list[RuleHit], float | None]:
        settings = state.settings
        normalized = without_reassurance(state.rules, normalize(text).text)
        hits, uncancelled = read_words(state.rules, normalized)
        hits += punctuation_hits(state.rules, text)
        if earlier:
            is_question = "?" in text or "？" in text or self._has_question_marker(settings, normalized)
            hits += repeat_hits(settings.repeat, normalized, earlier, is_question)
        probability = None
        emotion_settings = settings.emotion
        if self._emotion is not None and emotion_settings.enabled and emotion_settings.weight > 0:
            probability = self._emotion.probability(" ".join(tokens(uncancelled)))
            span = 1.0 - emotion_settings.floor
            contribution = emotion_settings.weight * min(max((probability - emotion_settings.floor) / span, 0.0), 1.0)
            contribution *= min(1.0, len(_EVIDENCE_RE.findall(normalized)) / emotion_settings.evidence_chars)
            if contribution > 0 and self._is_calm_question(settings, normalized, hits):
                contribution *= settings.calm.dampening
            if contribution > 0:
                reason_shown = contribution >= emotion_settings.reason_min
                hits.append(
                    RuleHit(REASON_EMOTION if reason_shown else "", contribution, f"{probability:.2f}", "emotion")
                )
        score = noisy_or(h.weight for h in hits)
        return score, [h for h in hits if h.reason], probability

    @staticmethod
    def _is_calm_question(settings: RiskSettings, normalized: str, hits: Sequence[RuleHit]) -> bool:
        calm = settings.calm
        if not calm.enabled:
            return False
        if any(h.rule == "punctuation" or h.weight > calm.max_rule_weight for h in hits):
            return False
        return RiskScorer._has_question_marker(settings, normalized)

    @staticmethod
    def _has_question_marker(settings: RiskSettings, normalized: str) -> bool:
        return any(marker in normalized for marker in settings.calm.question_markers)

    def soothing_opening(self, key: str = "") -> str:
        """An empathetic opening for a risky conversation; stable for one key (e.g. the user id)."""
        openings = self._state.settings.soothing_openings
        if not openings:
            return ""
        return openings[zlib.crc32(key.encode("utf-8")) % len(openings)]
