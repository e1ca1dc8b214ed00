"""Insight from every conversation: each turn kept in Redis for the retention the operator sets
(recorder), hot questions and unanswered ones grouped by need (figures, grouping), service
figures for ``kefu report`` (report), and the weekly report to the managers' chat (weekly).

``build(settings, labeler, infra, notifier)`` is the feature: the pipeline's turn log and the weekly report job.
"""

from __future__ import annotations

from alerts.insights.config import InsightsConfig
from alerts.insights.recorder import InsightRecorder
from alerts.insights.weekly import WeeklyReport
from alerts.notify import Notifier
from alerts.notify.labels import Labeler
from bot.features import Contribution, Infra

__all__ = ["build"]


def build(config: InsightsConfig, labeler: Labeler, infra: Infra, notifier: Notifier) -> Contribution:
    """Nothing when ``insights.enabled`` is off. ``config`` is the root's settings (insights reads
    the tickets' session gap and the knowledge base too)."""
    settings = config.insights
    if not settings.enabled:
        return Contribution()
    weekly = WeeklyReport(config, infra.redis, infra.keys, notifier, labeler, infra.clock)
    return Contribution(
        turns=InsightRecorder(infra.keys, settings.retention_days, settings.low_confidence),
        jobs=[weekly.run] if settings.weekly_report else [],
    )
