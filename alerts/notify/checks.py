"""``kefu check-config`` for alerts: what the schema cannot see (missing or malformed keys and
secrets, receivers on apps that are off, routes to nowhere), each line naming the key."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from bot.settings import Settings

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
