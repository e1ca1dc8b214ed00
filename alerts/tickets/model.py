"""The ticket and its state machine, pure: a transition takes a ticket, an actor and the time and
returns the changed ticket or says why not. The store applies them atomically in Redis.

States: open -> acknowledged -> closed, and closed -> reopened (which behaves like open).
Every transition is idempotent: doing what is already done changes nothing and says so.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

OPEN, ACKNOWLEDGED, CLOSED, REOPENED = "open", "acknowledged", "closed", "reopened"
ACTIVE = (OPEN, ACKNOWLEDGED, REOPENED)
STATE_NAMES = {OPEN: "待处理", ACKNOWLEDGED: "已确认", CLOSED: "已关闭", REOPENED: "已重开"}


@dataclass(slots=True)
class Actor:
    """Who did something, and from where: ``feishu:ou_1`` via a card, ``system`` by a rule."""

    id: str
    name: str
    via: str = "system"  # "card:feishu/default", "chat:wecom/default", "cli", "system"

    def to_dict(self) -> dict[str, str]:
        return {"id": self.id, "name": self.name, "via": self.via}


SYSTEM = Actor("system", "系统")


@dataclass(slots=True)
class Ticket:
    id: str
    customer: str  # the person key contacts are recorded under
    customer_display: str  # masked, for people
    channel: str  # the channel of the contact that opened it
    team: str
    reason: str  # for people: "1天内进线3次：物流查询、退款"
    rule: str
    created_at: float
    state: str = OPEN
    app: str = ""  # the channel's app the opening contact came through (routing, shop)
    category: str = ""  # knowledge-base category of its most frequent intent (routing)
    updated_at: float = 0.0
    assignee: str = ""  # "<platform>:<user id>"
    assignee_name: str = ""
    acked_at: float | None = None
    closed_at: float | None = None
    close_reason: str = ""
    reopened_at: float | None = None
    reopen_count: int = 0
    topic: str = ""  # the most frequent intent of its contacts, for the weekly review
    contacts: list[dict[str, Any]] = field(default_factory=list)
    notes: list[dict[str, Any]] = field(default_factory=list)
    escalations: dict[str, float] = field(default_factory=dict)  # "<kind>#<epoch>" -> sent at
    escalation_pending: dict[str, float] = field(default_factory=dict)  # claimed, not yet sent

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    @property
    def epoch(self) -> int:
        """Escalations are per life of the ticket: a reopened ticket escalates afresh."""
        return self.reopen_count

    @property
    def since(self) -> float:
        """When the current life of the ticket began."""
        return self.reopened_at if self.reopened_at is not None else self.created_at

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> Ticket:
        data = json.loads(raw)
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})

    def summary(self) -> dict[str, Any]:
        """What ``kefu tickets list --json`` prints for one ticket; ``details`` adds to it. The
        customer is the masked form staff see everywhere, never the raw key."""
        return {
            "id": self.id, "state": self.state, "customer": self.customer_display, "reason": self.reason,
            "created_at": self.created_at, "team": self.team, "assignee": self.assignee_name or self.assignee,
            "assignee_id": self.assignee, "channel": self.channel, "contacts": len(self.contacts),
        }  # fmt: skip

    def details(self) -> dict[str, Any]:
        """What ``kefu tickets show --json`` prints: the summary's fields, then the rest; the
        contacts themselves are the ``timeline``."""
        return {
            **self.summary(), "app": self.app, "category": self.category, "rule": self.rule, "topic": self.topic,
            "updated_at": self.updated_at, "acked_at": self.acked_at, "closed_at": self.closed_at,
            "close_reason": self.close_reason, "reopened_at": self.reopened_at, "reopen_count": self.reopen_count,
            "timeline": self.contacts, "notes": self.notes, "escalations": self.escalations,
        }  # fmt: skip


class Refused(Exception):
    """A transition that cannot happen; the message is for the person who asked, in Chinese."""


@dataclass(frozen=True, slots=True)
class Outcome:
    ticket: Ticket
    changed: bool
    message: str  # for people
    audit: dict[str, Any] | None = None  # the audit entry when something changed


def _audit(action: str, actor: Actor, now: float, **detail: Any) -> dict[str, Any]:
    return {"at": now, "action": action, "actor": actor.to_dict(), **detail}


def acknowledge(t: Ticket, actor: Actor, now: float) -> Outcome:
    if t.state == CLOSED:
        raise Refused(f"工单 {t.id} 已关闭，无法确认")
    if t.state == ACKNOWLEDGED:
        return Outcome(t, False, f"工单 {t.id} 已确认过，无需重复操作")
    t.state, t.acked_at, t.updated_at = ACKNOWLEDGED, now, now
    if not t.assignee and actor.id != SYSTEM.id:
        t.assignee, t.assignee_name = actor.id, actor.name
    return Outcome(t, True, f"已确认工单 {t.id}", _audit("ack", actor, now))


def assign(t: Ticket, actor: Actor, now: float, assignee: str, assignee_name: str) -> Outcome:
    if t.state == CLOSED:
        raise Refused(f"工单 {t.id} 已关闭，无法指派")
    if t.assignee == assignee:
        return Outcome(t, False, f"工单 {t.id} 已由 {assignee_name} 处理，无需重复指派")
    before = t.assignee_name or t.assignee
    t.assignee, t.assignee_name, t.updated_at = assignee, assignee_name, now
    return Outcome(t, True, f"工单 {t.id} 已指派给 {assignee_name}",
                   _audit("assign", actor, now, assignee=assignee, previous=before))  # fmt: skip


def close(t: Ticket, actor: Actor, now: float, reason: str) -> Outcome:
    if t.state == CLOSED:
        raise Refused(f"工单 {t.id} 已经关闭，无需重复关闭")
    reason = reason.strip() or "未说明"
    t.state, t.closed_at, t.close_reason, t.updated_at = CLOSED, now, reason, now
    return Outcome(t, True, f"已关闭工单 {t.id}（{reason}）", _audit("close", actor, now, reason=reason))


def reopen(t: Ticket, actor: Actor, now: float, why: str = "") -> Outcome:
    if t.state != CLOSED:
        raise Refused(f"工单 {t.id} 未关闭（{STATE_NAMES[t.state]}），无需重开")
    t.state, t.reopened_at, t.updated_at = REOPENED, now, now
    t.reopen_count += 1
    t.acked_at = None
    t.closed_at, t.close_reason = None, ""
    return Outcome(t, True, f"已重开工单 {t.id}", _audit("reopen", actor, now, reason=why or "手动重开"))


def add_note(t: Ticket, actor: Actor, now: float, text: str) -> Outcome:
    text = text.strip()
    if not text:
        raise Refused("备注内容不能为空")
    t.notes.append({"at": now, "by": actor.name, "text": text})
    t.updated_at = now
    return Outcome(t, True, f"已为工单 {t.id} 添加备注", _audit("note", actor, now, text=text))


def add_contacts(t: Ticket, now: float, contacts: list[dict[str, Any]], rule: str, limit: int) -> Outcome:
    """A rule fired again for the customer: add the contacts the ticket does not have yet."""
    known = {c["id"] for c in t.contacts}
    fresh = [c for c in contacts if c["id"] not in known]
    if not fresh:
        return Outcome(t, False, f"工单 {t.id} 已包含这些进线")
    t.contacts = sorted(t.contacts + fresh, key=lambda c: c["at"])[-limit:]
    t.updated_at = now
    return Outcome(t, True, f"工单 {t.id} 新增 {len(fresh)} 次进线",
                   _audit("contact", SYSTEM, now, rule=rule, contacts=[c["id"] for c in fresh]))  # fmt: skip


ESCALATION_RETRY_SECONDS = 120  # a send begun this long ago and never finished was lost to a crash


def begin_escalation(t: Ticket, now: float, kind: str) -> Outcome:
    """Claim the sending of one escalation. Sent ones are never claimed again; one claimed but not
    finished (the process died while sending) is claimed again after ``ESCALATION_RETRY_SECONDS``
    and sent with the same dedupe key, so it is delivered at least once and shown once."""
    key = f"{kind}#{t.epoch}"
    if key in t.escalations:
        return Outcome(t, False, "已升级过")
    started = t.escalation_pending.get(key)
    if started is not None and now - started < ESCALATION_RETRY_SECONDS:
        return Outcome(t, False, "升级发送中")
    t.escalation_pending[key] = now
    return Outcome(t, True, "升级发送中")


def finish_escalation(t: Ticket, now: float, kind: str, sent: bool) -> Outcome:
    key = f"{kind}#{t.epoch}"
    t.escalation_pending.pop(key, None)
    if not sent or key in t.escalations:
        return Outcome(t, True, "升级未发出")
    t.escalations[key] = now
    return Outcome(t, True, f"工单 {t.id} 已升级（{kind}）", _audit("escalate", SYSTEM, now, kind=kind, epoch=t.epoch))
