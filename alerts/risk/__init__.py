"""Complaint-risk scoring: explicit rules plus a fastText negative-emotion model.

Public API: ``RiskScorer`` (``score(text, history) -> RiskScore``, ``update(settings)``),
``Turn``, ``RiskScore``; ``evaluate.eval_from_csv`` and ``evaluate.train_from_csv`` for the CLI.
"""

from alerts.risk.scorer import RiskScore, RiskScorer, Turn

__all__ = ["RiskScore", "RiskScorer", "Turn"]
