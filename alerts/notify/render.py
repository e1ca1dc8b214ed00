"""A flushed group of notices as one alert, and that alert as each receiver type wants it:
markdown for the group robots, a neutral card (adapters render it) for app messages and the
Feishu bot. Receivers' addresses go in the route; robots' secrets stay in their senders."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from alerts.notify.notice import SEVERITY_RANK, Notice
from alerts.notify.settings import AlertsSettings, DingtalkAppReceiver, FeishuAppReceiver, Receiver, WecomAppReceiver
from bot.message import OutboundMessage

# What the app message APIs take (bytes of UTF-8), with room for the rest of the body.
_APP_TEXT_BYTES = {"wecom": 2000, "dingtalk": 18000, "feishu": 25000}
_WECOM_CARD_CHARS = 110  # a template card's sub-title text
SEVERITY_NAMES = {"info": "提示", "warning": "警告", "critical": "严重"}
_CARD_COLORS = {"info": "blue", "warning": "orange", "critical": "red"}
ROBOT_TYPES = ("wecom_robot", "dingtalk_robot", "feishu_bot")


@dataclass(frozen=True, slots=True)
class Alert:
    head: Notice  # the most severe notice of the group (the latest among equals)
    others: list[Notice] = field(default_factory=list)
    receivers: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"【{SEVERITY_NAMES.get(self.head.severity, self.head.severity)}】{self.head.title}"

    @property
    def text(self) -> str:
        if not self.others:
            return self.head.text
        earlier = "\n".join(f"- {n.title}：{n.reason}" if n.reason else f"- {n.title}" for n in self.others)
        return f"{self.head.text}\n同一客户的其他 {len(self.others)} 条提醒：\n{earlier}".strip()


def merge(entries: list[tuple[Notice, list[str]]]) -> Alert:
    """A burst as one alert; receivers are the union of every notice's, in order."""
    ranked = max(range(len(entries)), key=lambda i: (SEVERITY_RANK.get(entries[i][0].severity, 0), i))
    receivers: list[str] = []
    for _, names in entries:
        receivers += [n for n in names if n not in receivers]
    others = [n for i, (n, _) in enumerate(entries) if i != ranked]
    return Alert(entries[ranked][0], others, receivers)


def _md_safe(text: str) -> str:
    # Quoted customer text must not @ people or turn into links.
    return text.replace("<", "＜").replace("](", "］(").replace("@", "＠")


def markdown(alert: Alert, line_break: str = "\n") -> str:
    lines = [f"### {alert.title}"]
    lines += [f"**{k}**：{_md_safe(str(v))}" for k, v in alert.head.fields]
    lines += [_md_safe(line) for line in alert.text.splitlines() if line.strip()]
    return line_break.join(lines)


def card(alert: Alert) -> dict[str, Any]:
    return {
        "title": alert.title,
        "description": alert.text,
        "fields": [[str(k), str(v)] for k, v in alert.head.fields],
        "buttons": list(alert.head.buttons),
        "template": _CARD_COLORS.get(alert.head.severity, "blue"),
    }


def clip(text: str, max_bytes: int) -> str:
    """Cut to ``max_bytes`` of UTF-8 on a character boundary, saying so; short text as is."""
    if len(text.encode()) <= max_bytes:
        return text
    return text.encode()[: max_bytes - 24].decode(errors="ignore") + "…（已截断）"


def _rate_route(name: str, receiver: Receiver, settings: AlertsSettings) -> dict[str, str]:
    default = settings.rate_limits.get(receiver.type)
    per_minute = receiver.rate_per_minute or (default.per_minute if default else None)
    if not per_minute:
        return {}
    burst = receiver.rate_burst or (default.burst if default else 1)
    return {"rate_key": f"{receiver.type}:{name}", "rate_per_minute": str(per_minute), "rate_burst": str(burst)}


def messages_for(
    name: str, receiver: Receiver, alert: Alert, batch_id: str, settings: AlertsSettings
) -> list[OutboundMessage]:
    """The outbox entries that deliver ``alert`` to one receiver (one per address when needed)."""
    key = f"alert:{batch_id}:{name}"
    rate = _rate_route(name, receiver, settings)
    t = receiver.type
    if t in ("wecom_robot", "dingtalk_robot"):
        fmt = getattr(receiver, "format", "markdown")
        text = markdown(alert, "\n" if t == "wecom_robot" else "\n\n")
        return [OutboundMessage(t, name, {**rate, "title": alert.title}, text, key, kind=fmt)]
    if t == "feishu_bot":
        return [OutboundMessage(t, name, rate, "", key, kind="card", card=card(alert))]
    routes: list[dict[str, str]]
    if isinstance(receiver, WecomAppReceiver):
        routes = [{"touser": "|".join(receiver.users)}]
        channel = "wecom"
    elif isinstance(receiver, DingtalkAppReceiver):
        channel = "dingtalk"
        conv = receiver.open_conversation_id
        routes = [{"conversation_type": "2", "conversation_id": conv}] if conv else []
        routes += [{"conversation_type": "1", "sender_staff_id": u} for u in receiver.users]
    elif isinstance(receiver, FeishuAppReceiver):
        channel = "feishu"
        routes = [{"chat_id": receiver.chat_id}] if receiver.chat_id else []
        routes += [{"open_id": o} for o in receiver.open_ids]
    else:
        raise TypeError(f"alerts.receivers.{name}: no app renders type {t!r}")
    app, limit = receiver.app, _APP_TEXT_BYTES[channel]
    if t == "wecom_app" and not alert.head.buttons:
        # A button card needs buttons; without any, the app sends the same as markdown.
        text = clip(markdown(alert), limit)
        return [OutboundMessage(channel, app, {**r, **rate}, text, f"{key}:{i}", kind="markdown")
                for i, r in enumerate(routes)]  # fmt: skip
    body, text = card(alert), ""
    body["description"] = clip(body["description"], limit)
    if t == "wecom_app":  # the card's title line is short; the text goes under it
        body["description"], text = alert.head.reason[:40], alert.text[:_WECOM_CARD_CHARS]
    return [
        OutboundMessage(channel, app, {**r, **rate}, text, f"{key}:{i}", kind="card", card=body)
        for i, r in enumerate(routes)
    ]
