"""Complaint-risk scoring: explicit rules plus a fastText negative-emotion model.

Public API: ``build(infra)`` (the feature: the pipeline's risk assessor, reloaded with the config
and when the emotion model is retrained), ``RiskScorer`` (``score(text, history) -> RiskScore``,
``update(settings)``), ``Turn``, ``RiskScore``; ``evaluate`` for the CLI.
"""

from __future__ import annotations

from alerts.risk.assessor import ScorerAssessor, watch_emotion_model
from alerts.risk.emotion import model_path_for
from alerts.risk.scorer import RiskScore, RiskScorer, Turn
from bot.features import Contribution, Infra

__all__ = ["RiskScore", "RiskScorer", "Turn", "build"]


def build(infra: Infra) -> Contribution:
    """The scorer behind the pipeline's risk port; nothing when ``risk.enabled`` is off."""
    settings = infra.settings
    if not settings.risk.enabled:
        return Contribution()
    scorer = RiskScorer.from_settings(settings.risk, settings.data_dir)
    model_path = model_path_for(settings.risk.emotion, settings.data_dir)
    return Contribution(
        risk=ScorerAssessor(scorer),
        watchers=[lambda: watch_emotion_model(scorer, model_path)],
        settings_listeners=[lambda new: scorer.update(new.risk)],
    )
