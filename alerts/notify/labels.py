"""The labels a staff notice carries, built here and nowhere else.

Routes match on these labels (``alerts.routes[].match``), so every kind of notice carries every
label, empty where it does not apply (a digest has no channel); check-config reads the same
tables to warn about a kind of notice that reaches nobody and about route values no notice has.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from alerts.notify.settings import TeamSettings

# kind -> how people call it (check-config's warnings, ``kefu alerts test``)
KINDS: dict[str, str] = {
    "risk": "投诉风险提醒",
    "handoff": "转人工提醒",
    "ticket": "工单通知",
    "ticket_escalation": "工单升级提醒",
    "ticket_digest": "每日工单摘要",
    "ticket_weekly": "重复进线周报",
    "service_weekly": "客服周报",
}
# Who a kind is for: the team that owns the customer's question, or the managers above it.
AUDIENCE: dict[str, str] = {
    "risk": "team",
    "handoff": "team",
    "ticket": "team",
    "ticket_escalation": "managers",
    "ticket_digest": "team",
    "ticket_weekly": "managers",
    "service_weekly": "managers",
}
# A kind's severity when it has no score of its own (risk and hand-over alerts grade theirs).
SEVERITY: dict[str, str] = {
    "ticket": "warning",
    "ticket_escalation": "critical",
    "ticket_digest": "info",
    "ticket_weekly": "info",
    "service_weekly": "info",
}
# Kinds about one customer's conversation: they carry its channel, app, shop and category.
ABOUT_A_CUSTOMER = ("risk", "handoff", "ticket", "ticket_escalation")
LABEL_NAMES = ("kind", "severity", "audience", "team", "shop", "channel", "app", "category", "intent")
# Labels a team's own ``labels`` may not change: they say what the notice is.
_FIXED = ("kind", "severity", "audience")


@dataclass(frozen=True)
class Labeler:
    """Builds the labels of every notice from the settings that give them values."""

    shops: Mapping[str, str] = field(default_factory=dict)  # alerts.shops
    teams: Mapping[str, TeamSettings] = field(default_factory=dict)  # tickets.teams
    default_team: str = "kefu"

    def shop_of(self, channel: str, app: str) -> str:
        """``alerts.shops`` names a shop per ``channel/app`` or per app; else the app's name."""
        if not channel:
            return ""
        return self.shops.get(f"{channel}/{app}") or self.shops.get(app) or app

    def team_for(self, category: str) -> str:
        """The team whose ``categories`` hold this knowledge-base category, else the default."""
        for name, team in self.teams.items():
            if category and category in team.categories:
                return name
        return self.default_team

    def labels(
        self, kind: str, *, severity: str = "", team: str = "", channel: str = "", app: str = "",
        category: str = "", intent: str = "",
    ) -> dict[str, str]:  # fmt: skip
        """Every label of ``LABEL_NAMES``; a team's own labels (and receivers) added last."""
        team = team or self.team_for(category)
        labels = {
            "kind": kind, "severity": severity or SEVERITY.get(kind, "warning"), "audience": AUDIENCE[kind],
            "team": team, "shop": self.shop_of(channel, app), "channel": channel, "app": app if channel else "",
            "category": category, "intent": intent,
        }  # fmt: skip
        own = self.teams.get(team)
        if own is not None:
            labels.update({k: v for k, v in own.labels.items() if k not in _FIXED})
            if own.receivers:
                labels["receivers"] = ",".join(own.receivers)
        return labels
