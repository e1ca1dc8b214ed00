"""Complaint-risk scoring: explicit rules plus a fastText negative-emotion model.

Public API: ``build(settings, infra)`` (the feature: the pipeline's risk assessor, reloaded with the config
and when the emotion model is retrained), ``RiskScorer`` (``score(text, history) -> RiskScore``,
``update(settings)``), ``Turn``, ``RiskScore``; ``evaluate`` for the CLI.
"""

from __future__ import annotations

from alerts.risk.assessor import ScorerAssessor, watch_emotion_model
from alerts.risk.scorer import RiskScore, RiskScorer, Turn
from alerts.risk.settings import RiskSettings, model_path_for
from bot.features import Contribution, Infra

__all__ = ["RiskScore", "RiskScorer", "Turn", "build"]


def build(settings: RiskSettings, infra: Infra) -> Contribution:
    """The scorer behind the pipeline's risk port; nothing when ``risk.enabled`` is off."""
    if not settings.enabled:
        return Contribution()
    data_dir = infra.settings.data_dir
    scorer = RiskScorer.from_settings(settings, data_dir)
    model_path = model_path_for(settings.emotion, data_dir)
    return Contribution(
        risk=ScorerAssessor(scorer),
        watchers=[lambda: watch_emotion_model(scorer, model_path)],
        settings_listeners=[scorer.update],
    )
