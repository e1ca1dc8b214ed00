"""Insight from every conversation: each turn kept in Redis for the retention the operator sets
(recorder), hot questions and unanswered ones grouped by need (figures, grouping), service
figures for ``kefu report`` (report), and the weekly report to the managers' chat (weekly).

``build(settings, labeler, infra, notifier)`` is the feature: the pipeline's turn log and the weekly report job.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from starlette.routing import Route

from alerts.insights.config import InsightsConfig
from alerts.insights.dashboard import Access, Dashboard
from alerts.insights.knowledge import KnowledgeBases
from alerts.insights.recorder import InsightRecorder
from alerts.insights.weekly import WeeklyReport
from alerts.notify import Notifier
from alerts.notify.labels import Labeler
from bot.features import Contribution, Infra

__all__ = ["build"]


def build(config: InsightsConfig, labeler: Labeler, infra: Infra, notifier: Notifier) -> Contribution:
    """Nothing when ``insights.enabled`` is off. ``config`` is the root's settings (insights reads
    the tickets' session gap and the knowledge bases too)."""
    settings = config.insights
    if not settings.enabled:
        return Contribution()
    weekly = WeeklyReport(config, infra.redis, infra.keys, notifier, labeler, infra.clock)
    access = Access(
        settings.dashboard_token.get_secret_value(),
        {shop: token.get_secret_value() for shop, token in settings.dashboard_shop_tokens.items()},
    )
    dashboard = Dashboard(
        access, infra.redis, infra.keys, config.tickets.schedules.timezone, ZoneInfo(settings.timezone),
        labeler.shop_of, KnowledgeBases(config.faq_path, config.knowledge_bases), config.tickets.session_gap_minutes * 60,
        infra.clock,
    )  # fmt: skip
    on = access.token or any(access.shop_tokens.values())
    return Contribution(
        turns=InsightRecorder(infra.keys, settings.retention_days, settings.low_confidence),
        jobs=[weekly.run] if settings.weekly_report else [],
        routes=[Route("/dashboard", dashboard.serve)] if on else [],
    )
