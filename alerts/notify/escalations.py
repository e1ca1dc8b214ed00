"""The pipeline's ``EscalationSink``: a risky or handed-over customer becomes a Notice."""

from __future__ import annotations

from alerts.notify.notice import Notice
from alerts.notify.notifier import Notifier
from alerts.notify.routing import severity_of
from bot.nlu.normalize import mask_for_log, mask_id
from bot.ports import Escalation
from bot.settings.alerts import AlertsSettings

TITLES = {"risk": "投诉风险提醒", "handoff": "转人工提醒"}
NEXT_STEP = {
    "risk": "下一步：请尽快联系客户，先安抚情绪，再核实并解决诉求；处理结果记入工单。",
    "handoff": "下一步：客户在等待人工，请尽快接入会话并回复客户。",
}


def shop_of(settings: AlertsSettings, channel: str, app: str) -> str:
    return settings.shops.get(f"{channel}/{app}") or settings.shops.get(app) or app


def notice_from_escalation(e: Escalation, settings: AlertsSettings) -> Notice:
    msg = e.message
    severity = severity_of(e.risk.score, settings.severity)
    if e.kind == "handoff" and severity == "info":
        severity = "warning"  # a customer is waiting for a person
    customer = mask_id(msg.sender_id)
    if msg.sender_name:
        customer += f"（{mask_for_log(msg.sender_name)}）"
    reasons = "；".join(e.risk.reasons) or e.reason
    fields = [("客户", customer), ("渠道", f"{msg.channel}/{msg.app}"), ("风险分", f"{e.risk.score:.2f}"),
              ("原因", reasons)]  # fmt: skip
    if e.intent:
        fields.append(("问题类型", e.category or e.intent))
    turns = e.recent[-settings.recent_messages :] if settings.recent_messages else []
    lines = ["最近消息："] + [f"- {mask_for_log(t.text)}" for t in turns] if turns else []
    steps = [NEXT_STEP.get(e.kind, NEXT_STEP["risk"])]
    if e.kind == "handoff":
        # The bot stays quiet until a person hands the conversation back (or the quiet time ends).
        steps.append(f"处理完毕后发送 /release {msg.customer_key} 交还机器人接待。")
    text = "\n".join([*lines, *steps])
    labels = {"channel": msg.channel, "app": msg.app, "shop": shop_of(settings, msg.channel, msg.app),
              "category": e.category or "", "kind": e.kind, "intent": e.intent or ""}  # fmt: skip
    return Notice(
        kind=e.kind, severity=severity, labels=labels, title=TITLES.get(e.kind, "客服提醒"), text=text,
        fields=fields, group_key=f"customer:{msg.customer_key}", dedupe_key=f"{msg.customer_key}|{e.reason}",
        customer_key=msg.customer_key, reason=e.reason,
    )  # fmt: skip


class NotifyingEscalations:
    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier

    async def escalate(self, escalation: Escalation) -> None:
        await self.notifier.notify(notice_from_escalation(escalation, self.notifier.settings))
