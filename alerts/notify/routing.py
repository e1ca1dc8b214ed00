"""Which receivers a notice goes to: the ordered routes, first match wins unless ``continue``."""

from __future__ import annotations

from collections.abc import Mapping

from alerts.notify.labels import LABEL_NAMES
from alerts.notify.notice import SEVERITY_RANK
from alerts.notify.settings import AlertsSettings, Route, Severity


def severity_of(score: float, thresholds: Severity) -> str:
    if score >= thresholds.critical:
        return "critical"
    return "warning" if score >= thresholds.warning else "info"


def matches(route: Route, labels: Mapping[str, str], severity: str) -> bool:
    m = route.match
    if m.severity and SEVERITY_RANK.get(severity, 0) < SEVERITY_RANK[m.severity]:
        return False
    for name in LABEL_NAMES:
        if name == "severity":
            continue  # a minimum, checked above
        wanted = getattr(m, name)
        if wanted is None:
            continue
        allowed = [wanted] if isinstance(wanted, str) else wanted
        if labels.get(name, "") not in allowed:
            return False
    return True


def route_receivers(settings: AlertsSettings, labels: Mapping[str, str], severity: str) -> list[str]:
    """Receiver names, each once, in route order; the default receivers when no route matched.
    A notice that names its receivers (a team's own, ``tickets.teams.X.receivers``) goes there."""
    named = [r for r in labels.get("receivers", "").split(",") if r in settings.receivers]
    if named:
        return named
    chosen: list[str] = []
    matched = False
    for route in settings.routes:
        if not matches(route, labels, severity):
            continue
        matched = True
        chosen += [r for r in route.receivers if r not in chosen]
        if not route.continue_:
            break
    return chosen if matched else list(settings.default_receivers)
