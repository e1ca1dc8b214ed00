"""Insight from every conversation: each turn kept in Redis for the retention the operator sets
(recorder), hot questions and unanswered ones grouped by need (figures, grouping), service
figures for ``kefu report`` (report), and the weekly report to the managers' chat (weekly).

``build(infra, notifier)`` is the feature: the pipeline's turn log and the weekly report job.
"""

from __future__ import annotations

from alerts.insights.recorder import InsightRecorder
from alerts.insights.weekly import WeeklyReport
from alerts.notify import Notifier
from bot.features import Contribution, Infra

__all__ = ["build"]


def build(infra: Infra, notifier: Notifier) -> Contribution:
    """Nothing when ``insights.enabled`` is off."""
    settings = infra.settings.insights
    if not settings.enabled:
        return Contribution()
    weekly = WeeklyReport(infra.settings, infra.redis, infra.keys, notifier, infra.clock)
    return Contribution(
        turns=InsightRecorder(infra.keys, settings.retention_days, settings.low_confidence),
        jobs=[weekly.run] if settings.weekly_report else [],
    )
