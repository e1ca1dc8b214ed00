"""The risk scorer behind the pipeline's ``RiskAssessor`` port, reloaded when the config changes."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from alerts.risk.scorer import RiskScorer, Turn
from bot.dialogue import Turn as DialogueTurn
from bot.nlu.params import ModelFileError
from bot.ports import RiskResult
from bot.settings.reload import mtime

log = logging.getLogger(__name__)

# Below the alert threshold but clearly unhappy: the answer starts by acknowledging the feeling.
NEGATIVE_MESSAGE_SCORE = 0.5


class ScorerAssessor:
    def __init__(self, scorer: RiskScorer) -> None:
        self.scorer = scorer

    def assess(self, text: str, history: list[DialogueTurn], now: float) -> RiskResult:
        turns = [Turn(t.text, t.message_risk, t.answered) for t in history]
        r = self.scorer.score(text, turns)
        return RiskResult(
            score=r.score,
            reasons=tuple(r.reasons),
            alert=r.alert,
            handoff=r.handoff,
            negative=r.alert or r.message_score >= NEGATIVE_MESSAGE_SCORE,
            message_score=r.message_score,
            rule_score=r.rule_score,
        )

    def soothing_opening(self, seed: str) -> str:
        return self.scorer.soothing_opening(seed)


async def watch_emotion_model(scorer: RiskScorer, model_path: Path, interval: float = 2.0) -> None:
    """Without a restart: the emotion model when ``kefu train --task risk`` writes a new one (word
    lists and thresholds come with the settings, bot/settings/reload.py)."""
    from alerts.risk.emotion import EmotionModel  # with the scorer's model, as in RiskScorer.from_settings

    model_stamp = mtime(model_path)
    while True:
        await asyncio.sleep(interval)
        if mtime(model_path) != model_stamp:
            model_stamp = mtime(model_path)
            try:
                scorer.set_emotion_model(EmotionModel.load(model_path))
                log.info("risk emotion model reloaded from %s", model_path)
            except ModelFileError as e:
                log.error("risk emotion model not reloaded, keeping the previous one: %s", e)
