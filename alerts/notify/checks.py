"""``kefu check-config`` for alerts: what the schema cannot see (missing or malformed keys and
secrets, receivers on apps that are off, routes to nowhere), each line naming the key; and
warnings for notices that will reach nobody and route values that no notice carries."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from adapters import platform_of
from alerts.notify.labels import ABOUT_A_CUSTOMER, AUDIENCE, KINDS, SEVERITY, Labeler
from alerts.notify.routing import route_receivers
from alerts.notify.settings import AlertsSettings
from alerts.risk.settings import RiskSettings
from alerts.tickets.settings import TicketsSettings
from bot.message import CHANNELS
from bot.nlu.knowledge import KnowledgeBaseError, load_knowledge_base


class ConfiguredApps(Protocol):
    def apps_of(self, platform: str) -> dict[str, Any]: ...


class Settings(Protocol):
    """The sections these checks read (the root's settings have them all)."""

    @property
    def alerts(self) -> AlertsSettings: ...
    @property
    def tickets(self) -> TicketsSettings: ...
    @property
    def risk(self) -> RiskSettings: ...
    @property
    def channels(self) -> ConfiguredApps: ...
    @property
    def faq_path(self) -> Path: ...


_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
_APP_PLATFORM = {"wecom_app": "wecom", "dingtalk_app": "dingtalk", "feishu_app": "feishu"}


def _url_problem(url: str, needs_path: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return "must be an http(s) URL"
    if needs_path not in parts.path:
        return f"does not look like a webhook URL (expected …{needs_path}…)"
    return ""


def check_alerts(settings: Settings) -> list[str]:
    """Problems, one line each (empty: fine)."""
    a = settings.alerts
    problems: list[str] = []
    for name, r in a.receivers.items():
        at = f"alerts.receivers.{name}"
        if r.type == "wecom_robot":
            key, url = r.webhook_key.get_secret_value(), r.url.get_secret_value()
            if not key and not url:
                problems.append(f"{at}.webhook_key: missing (the key=… part of the group robot's webhook URL)")
            elif url and (why := _url_problem(url, "/cgi-bin/webhook/send")):
                problems.append(f"{at}.url: {why}")
            elif key and not _UUID.match(key):
                problems.append(
                    f"{at}.webhook_key: not a WeCom robot key (a UUID like 693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa)"
                )
        elif r.type == "dingtalk_robot":
            if not r.access_token.get_secret_value():
                problems.append(f"{at}.access_token: missing (the access_token=… of the robot's webhook URL)")
            secret = r.secret.get_secret_value()
            if not secret:
                problems.append(f"{at}.secret: missing (turn on 加签 in the robot's security settings)")
            elif not secret.startswith("SEC"):
                problems.append(f"{at}.secret: a DingTalk robot signing secret starts with SEC")
        elif r.type == "feishu_bot":
            url = r.webhook.get_secret_value()
            if not url:
                problems.append(f"{at}.webhook: missing (the custom bot's webhook URL)")
            elif why := _url_problem(url, "/open-apis/bot/v2/hook/"):
                problems.append(f"{at}.webhook: {why}")
            if not r.secret.get_secret_value():
                problems.append(f"{at}.secret: missing (turn on 签名校验 in the bot's security settings)")
        else:
            platform = _APP_PLATFORM[r.type]
            if r.app not in settings.channels.apps_of(platform):
                problems.append(f"{at}.app: channel {platform} app {r.app!r} is not configured (no credentials)")
            targets = [*r.users] if r.type != "feishu_app" else [*r.open_ids, r.chat_id]
            if r.type == "dingtalk_app":
                targets.append(r.open_conversation_id)
            if not any(targets):
                problems.append(f"{at}: no one to send to (set users, chat_id, open_ids or open_conversation_id)")
    for where, names in [("default_receivers", a.default_receivers)] + [
        (f"routes.{i}.receivers", r.receivers) for i, r in enumerate(a.routes)
    ]:
        unknown = [n for n in names if n not in a.receivers]
        if unknown:
            problems.append(f"alerts.{where}: unknown receiver(s) {', '.join(unknown)}")
    return problems


def describe_alerts(settings: Settings) -> list[str]:
    """Notes for check-config that are not errors."""
    a = settings.alerts
    if not a.receivers:
        return ["alerts: no receivers configured: alerts are recorded (kefu alerts recent) but sent nowhere"]
    notes = [f"alerts: {len(a.receivers)} receiver(s): " + ", ".join(f"{n} ({r.type})" for n, r in a.receivers.items())]
    if not a.default_receivers:
        notes.append("alerts: no default_receivers: an alert no route matches is recorded but sent nowhere")
    return notes


def produced_kinds(settings: Settings) -> list[str]:
    """The kinds of notice this configuration will send."""
    kinds = ["risk", "handoff"] if settings.risk.enabled else ["handoff"]
    t = settings.tickets
    if t.enabled:
        kinds += ["ticket", "ticket_escalation"]
        kinds += ["ticket_digest"] if t.schedules.digest else []
        kinds += ["ticket_weekly"] if t.schedules.weekly else []
    return kinds


def _channel_apps(settings: Settings) -> list[tuple[str, str]]:
    """Every (channel, app) a customer can write through (微信客服 comes through the WeCom app)."""
    pairs = [("web", "default")]
    for channel in CHANNELS:
        spec = platform_of(channel)
        if spec is not None:
            pairs += [(channel, app) for app in settings.channels.apps_of(spec.name)]
    return pairs


def _catalog(settings: Settings) -> tuple[set[str], set[str]]:
    """The knowledge base's categories and intents (empty when it does not load: reported apart)."""
    try:
        kb = load_knowledge_base(settings.faq_path)
    except KnowledgeBaseError:
        return set(), set()
    return {intent.category for intent in kb.intents.values() if intent.category}, set(kb.intents)


def _severities(settings: Settings, kind: str) -> tuple[str, ...]:
    if kind == "risk":  # alerted from risk.alert_threshold up, graded by alerts.severity
        low = settings.risk.alert_threshold < settings.alerts.severity.warning
        return ("info", "warning", "critical") if low else ("warning", "critical")
    return ("warning", "critical") if kind == "handoff" else (SEVERITY[kind],)


def sample_labels(settings: Settings, kind: str, categories: set[str]) -> list[dict[str, str]]:
    """The label sets notices of ``kind`` can carry under this configuration, one per case."""
    labeler = Labeler(settings.alerts.shops, settings.tickets.teams, settings.tickets.default_team)
    t = settings.tickets
    if kind in ABOUT_A_CUSTOMER:  # the team follows from the category
        cases = [{"channel": c, "app": a, "category": cat} for c, a in _channel_apps(settings)
                 for cat in sorted(categories | {""})]  # fmt: skip
    elif kind == "ticket_digest":  # one per team with open tickets
        cases = [{"team": team} for team in sorted({*t.teams, t.default_team})]
    else:
        cases = [{"team": t.default_team}]
    return [labeler.labels(kind, severity=s, **case) for s in _severities(settings, kind) for case in cases]


def routing_warnings(settings: Settings) -> list[str]:
    """check-config's warnings about routing: notices that reach nobody, routes that match nothing."""
    categories, intents = _catalog(settings)
    return unrouted_notices(settings, categories) + unmatchable_routes(settings, categories, intents)


def unrouted_notices(settings: Settings, categories: set[str]) -> list[str]:
    """Warnings for kinds of notice that will be sent and reach no receiver, wholly or in part."""
    a, warnings = settings.alerts, []
    for kind in produced_kinds(settings):
        samples = sample_labels(settings, kind, categories)
        lost = [labels for labels in samples if not route_receivers(a, labels, labels["severity"])]
        if len(lost) == len(samples):
            warnings.append(
                f"{KINDS[kind]}没有接收人: no route matches kind {kind} and alerts.default_receivers is empty"
            )
        elif lost:
            case = ", ".join(f"{k}={lost[0][k]}" for k in ("channel", "team", "category", "severity") if lost[0][k])
            warnings.append(f"{KINDS[kind]}部分没有接收人: kind {kind} with {case} matches no route "
                            f"and alerts.default_receivers is empty ({len(lost)} of {len(samples)} cases)")  # fmt: skip
    return warnings


def unmatchable_routes(settings: Settings, categories: set[str], intents: set[str]) -> list[str]:
    """Warnings for route values no notice carries (a typo, a team or category that is not there)."""
    t, c = settings.tickets, settings.channels
    apps = {"default"} | {name for p in CHANNELS if hasattr(c, p) for name in getattr(c, p).apps}
    known: dict[str, set[str]] = {
        "kind": set(KINDS), "audience": set(AUDIENCE.values()), "channel": set(CHANNELS), "app": apps,
        "shop": apps | set(settings.alerts.shops.values()),
        "team": {*t.teams, t.default_team} | {team.labels["team"] for team in t.teams.values() if "team" in team.labels},
        "category": categories | {cat for team in t.teams.values() for cat in team.categories},
        "intent": intents,
    }  # fmt: skip
    warnings = []
    for i, route in enumerate(settings.alerts.routes):
        for name, values in known.items():
            wanted = getattr(route.match, name)
            for value in [wanted] if isinstance(wanted, str) else wanted or []:
                if value not in values:
                    warnings.append(f"alerts.routes.{i}.match.{name}: no notice has {name} {value!r} "
                                    f"(known: {', '.join(sorted(values))})")  # fmt: skip
    return warnings
