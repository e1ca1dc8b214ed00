"""The pipeline's ``EscalationSink``: a risky or handed-over customer becomes a Notice."""

from __future__ import annotations

from alerts.notify.handles import CustomerHandles
from alerts.notify.labels import KINDS, Labeler
from alerts.notify.notice import Notice
from alerts.notify.notifier import Notifier
from alerts.notify.routing import severity_of
from alerts.notify.settings import AlertsSettings
from bot.nlu.normalize import mask_customer, mask_for_log
from bot.ports import Escalation

NEXT_STEP = {
    "risk": "下一步：请尽快联系客户，先安抚情绪，再核实并解决诉求；处理结果记入工单。",
    "handoff": "下一步：客户在等待人工，请尽快接入会话并回复客户。",
}


def notice_from_escalation(e: Escalation, settings: AlertsSettings, labeler: Labeler, handle: str = "") -> Notice:
    """``handle`` stands for the customer in ``/release`` (alerts.notify.handles)."""
    msg = e.message
    severity = severity_of(e.risk.score, settings.severity)
    if e.kind == "handoff" and severity == "info":
        severity = "warning"  # a customer is waiting for a person
    reasons = "；".join(e.risk.reasons) or e.reason
    fields = [("客户", mask_customer(msg.customer_key, msg.sender_name)), ("渠道", f"{msg.channel}/{msg.app}"),
              ("风险分", f"{e.risk.score:.2f}"), ("原因", reasons)]  # fmt: skip
    if e.intent:
        fields.append(("问题类型", e.category or e.intent))
    turns = e.recent[-settings.recent_messages :] if settings.recent_messages else []
    lines = ["最近消息："] + [f"- {mask_for_log(t.text)}" for t in turns] if turns else []
    steps = [NEXT_STEP.get(e.kind, NEXT_STEP["risk"])]
    if e.kind == "handoff" and handle:
        # The bot stays quiet until a person hands the conversation back (or the quiet time ends).
        steps.append(f"处理完毕后发送 /release {handle} 交还机器人接待。")
    text = "\n".join([*lines, *steps])
    labels = labeler.labels(e.kind, severity=severity, channel=msg.channel, app=msg.app, category=e.category or "",
                            intent=e.intent or "")  # fmt: skip
    return Notice(
        kind=e.kind, severity=severity, labels=labels, title=KINDS.get(e.kind, "客服提醒"), text=text,
        fields=fields, group_key=f"customer:{msg.customer_key}", dedupe_key=f"{msg.customer_key}|{e.reason}",
        customer_key=msg.customer_key, reason=e.reason,
    )  # fmt: skip


class NotifyingEscalations:
    """The pipeline's sink: each escalation becomes a notice for the notifier."""

    def __init__(self, notifier: Notifier, labeler: Labeler, handles: CustomerHandles) -> None:
        self.notifier = notifier
        self.labeler = labeler
        self.handles = handles

    async def escalate(self, escalation: Escalation) -> None:
        handoff = escalation.kind == "handoff"
        handle = await self.handles.handle_for(escalation.message.customer_key) if handoff else ""
        await self.notifier.notify(notice_from_escalation(escalation, self.notifier.settings, self.labeler, handle))
