"""The risk scorer behind the pipeline's ``RiskAssessor`` port, reloaded when the config changes."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

from alerts.risk.scorer import RiskScorer, Turn
from bot.dialogue import Turn as DialogueTurn
from bot.ports import RiskResult
from bot.settings import ConfigError, load_settings

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
        )

    def soothing_opening(self, seed: str) -> str:
        return self.scorer.soothing_opening(seed)


async def watch_config(scorer: RiskScorer, config_path: Path | None, interval: float = 2.0) -> None:
    """Word lists and thresholds take effect when the config file changes, without a restart."""
    if config_path is None:
        return
    stamp = _mtime(config_path)
    while True:
        await asyncio.sleep(interval)
        if _mtime(config_path) == stamp:
            continue
        stamp = _mtime(config_path)
        try:
            scorer.update(load_settings(config_path).risk)
            log.info("risk settings reloaded from %s", config_path)
        except ConfigError as e:
            log.error("risk settings not reloaded, keeping the previous ones: %s", e)


def _mtime(path: Path) -> float:
    try:
        return os.stat(path).st_mtime
    except FileNotFoundError:
        return 0.0
