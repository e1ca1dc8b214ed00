"""The ticket as a platform-neutral card and as chat text (Simplified Chinese)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from alerts.tickets.model import ACKNOWLEDGED, CLOSED, OPEN, REOPENED, STATE_NAMES, Ticket

_TEMPLATE = {OPEN: "red", REOPENED: "red", ACKNOWLEDGED: "orange", CLOSED: "green"}
ACTIONS = ("ack", "claim", "close", "reopen")


def button_key(action: str, tid: str) -> str:
    return f"ticket:{action}:{tid}"


def parse_button_key(key: str) -> tuple[str, str] | None:
    parts = key.split(":")
    if len(parts) != 3 or parts[0] != "ticket" or parts[1] not in ACTIONS or not parts[2]:
        return None
    return parts[1], parts[2]


def _button(text: str, action: str, tid: str, style: str) -> dict[str, Any]:
    return {"text": text, "key": button_key(action, tid), "style": style, "value": {"ticket": tid, "action": action}}


def clock_time(ts: float | None, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(ts, tz).strftime("%m-%d %H:%M") if ts else "-"


def ticket_card(t: Ticket, tz: ZoneInfo, headline: str = "重复进线工单") -> dict[str, Any]:
    if t.state in (OPEN, REOPENED):
        buttons = [_button("确认", "ack", t.id, "primary"), _button("认领", "claim", t.id, "default"),
                   _button("关闭", "close", t.id, "danger")]  # fmt: skip
    elif t.state == ACKNOWLEDGED:
        buttons = [_button("认领", "claim", t.id, "default"), _button("关闭", "close", t.id, "danger")]
    else:
        buttons = [_button("重新打开", "reopen", t.id, "default")]
    last = t.contacts[-1] if t.contacts else {}
    return {
        "title": f"{headline} {t.id}【{STATE_NAMES[t.state]}】",
        "description": t.reason + (f"\n最近一次：{last.get('excerpt', '')}" if last.get("excerpt") else ""),
        "fields": [
            ["客户", t.customer_display], ["渠道", t.channel], ["负责团队", t.team],
            ["处理人", t.assignee_name or "未指派"], ["进线次数", str(len(t.contacts))],
            ["创建时间", clock_time(t.created_at, tz)],
        ],
        "buttons": buttons,
        "template": _TEMPLATE[t.state],
    }  # fmt: skip


def ticket_line(t: Ticket, tz: ZoneInfo) -> str:
    who = t.assignee_name or "未指派"
    return f"{t.id}【{STATE_NAMES[t.state]}】{t.customer_display} · {t.reason} · {who} · {clock_time(t.created_at, tz)}"


def ticket_text(t: Ticket, tz: ZoneInfo, audit: list[dict[str, Any]]) -> str:
    lines = [
        f"工单 {t.id}【{STATE_NAMES[t.state]}】",
        f"原因：{t.reason}",
        f"客户：{t.customer_display}（{t.channel}）",
        f"团队：{t.team}  处理人：{t.assignee_name or '未指派'}",
        f"创建：{clock_time(t.created_at, tz)}",
    ]
    if t.state == CLOSED:
        lines.append(f"关闭：{clock_time(t.closed_at, tz)}（{t.close_reason}）")
    lines.append("进线记录：")
    for c in t.contacts:
        intents = "、".join(c.get("intents") or []) or "未识别"
        lines.append(f"  {clock_time(c['at'], tz)} [{c.get('channel', '')}] {c.get('excerpt', '')}（{intents}）")
    for n in t.notes:
        lines.append(f"备注 {clock_time(n['at'], tz)} {n['by']}：{n['text']}")
    if audit:
        lines.append("操作记录：")
        for a in audit[-10:]:
            lines.append(f"  {clock_time(a['at'], tz)} {a['actor']['name']} {a['action']}（{a['actor']['via']}）")
    return "\n".join(lines)
