"""Ticket work: open or add to tickets when repeat-contact rules fire, staff actions with their
permissions, SLA escalations, the daily digest and the weekly review."""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from alerts.contacts.rules import Rule
from alerts.contacts.store import Contact
from alerts.tickets import model as m
from alerts.tickets.cards import ticket_card, ticket_line
from alerts.tickets.model import Outcome, Refused, Ticket
from alerts.tickets.notify import TicketNotice, TicketNotifier
from alerts.tickets.settings import TicketsSettings
from alerts.tickets.staff import Staff, StaffDirectory
from alerts.tickets.store import TicketNotFound, TicketStore
from bot.message import InboundMessage
from bot.nlu.normalize import mask_customer

log = logging.getLogger(__name__)
NOT_STAFF = "你不在工单人员名单中，无法操作工单（请联系主管在 tickets.staff 中添加）"
MANAGERS_ONLY = {"close": "只有主管可以关闭工单", "reopen": "只有主管可以重开工单"}


class TicketService:
    def __init__(
        self, store: TicketStore, settings: TicketsSettings, notifier: TicketNotifier, staff: StaffDirectory,
        *, category_of: Callable[[str], str | None] = lambda _i: None,
        title_of: Callable[[str], str] = lambda i: i, clock: Callable[[], float] = time.time,
    ) -> None:  # fmt: skip
        self.store = store
        self.settings = settings
        self.notifier = notifier
        self.staff = staff
        self.category_of = category_of
        self.title_of = title_of
        self.clock = clock
        self.tz = ZoneInfo(settings.schedules.timezone)

    def reload_staff(self, settings: TicketsSettings) -> None:
        """The staff map as the config file now has it: someone added may act on tickets at
        once, someone removed no longer may (a settings listener, bot/settings/reload.py)."""
        self.staff = StaffDirectory(settings.staff)

    # -- repeat contacts -> tickets -----------------------------------------------------------
    def team_for(self, intents: Sequence[str]) -> str:
        for intent in reversed(intents):
            category = self.category_of(intent)
            for name, team in self.settings.teams.items():
                if category and category in team.categories:
                    return name
        return self.settings.default_team

    async def repeat_contacts(
        self, person: str, message: InboundMessage, rule: Rule, contacts: Sequence[Contact], now: float
    ) -> tuple[str, Ticket]:
        records = [c.to_dict() for c in contacts]
        intents = [i for c in contacts for i in c.intents]
        top = [i for i, _ in Counter(intents).most_common(3)]
        titles = [self.title_of(i) for i in top]
        reason = rule.describe() + (f"：{'、'.join(titles)}" if titles else "")
        limit = self.settings.timeline_max
        reopen_seconds = self.settings.reopen_within_days * 86400

        def create(tid: str) -> tuple[Ticket, dict[str, Any]]:
            t = Ticket(
                id=tid, customer=person, customer_display=mask_customer(person, message.sender_name),
                channel=message.channel, app=message.app, category=(self.category_of(top[0]) or "") if top else "",
                team=self.team_for(intents), reason=reason, rule=rule.describe(),
                created_at=now, updated_at=now, topic=titles[0] if titles else "", contacts=records[-limit:],
            )  # fmt: skip
            return t, {"at": now, "action": "create", "actor": m.SYSTEM.to_dict(), "rule": rule.describe()}

        def update(t: Ticket) -> Outcome | None:
            if t.active:
                return m.add_contacts(t, now, records, rule.describe(), limit)
            if t.closed_at is not None and now - t.closed_at <= reopen_seconds:
                reopened = m.reopen(t, m.SYSTEM, now, f"客户再次进线（{rule.describe()}）")
                added = m.add_contacts(reopened.ticket, now, records, rule.describe(), limit)
                audit = {**(reopened.audit or {}), "contacts": [c["id"] for c in records]}
                return Outcome(added.ticket, True, reopened.message, audit)
            return None

        what, outcome = await self.store.for_customer(person, now, create=create, update=update)
        t = outcome.ticket
        if what == "created":
            await self._announce(t, "ticket", f"{t.id}:created", "重复进线工单")
        elif what == "updated" and outcome.audit and outcome.audit.get("action") == "reopen":
            await self._announce(t, "ticket", f"{t.id}:reopened#{t.reopen_count}", "工单重开")
        elif what == "updated" and outcome.changed:  # the customer came back while it is open
            await self._announce(t, "ticket", f"{t.id}:contacts#{t.contacts[-1]['id']}", "工单客户再次进线")
        return what, t

    async def _announce(self, t: Ticket, kind: str, dedupe: str, headline: str) -> None:
        card = ticket_card(t, self.tz, headline)
        await self.notifier.send(TicketNotice(
            kind=kind, team=t.team, title=card["title"], text=card["description"], dedupe_key=dedupe, card=card,
            customer_key=t.customer, group_key=t.id, channel=t.channel, app=t.app, category=t.category,
        ))  # fmt: skip

    # -- staff actions -------------------------------------------------------------------------
    async def act(self, staff: Staff | None, via: str, action: str, tid: str, arg: str = "") -> Outcome:
        """One staff action; raises ``Refused`` (with the answer for chat) or ``TicketNotFound``."""
        if staff is None:
            raise Refused(NOT_STAFF)
        if action in MANAGERS_ONLY and not staff.is_manager:
            raise Refused(MANAGERS_ONLY[action])
        actor = staff.actor(via)
        now = self.clock()
        if action == "ack":
            fn: Callable[[Ticket], Outcome] = lambda t: m.acknowledge(t, actor, now)  # noqa: E731
        elif action == "claim":
            fn = lambda t: m.assign(t, actor, now, staff.key, staff.name)  # noqa: E731
        elif action == "assign":
            target = self.staff.find(staff.platform, arg) if arg.strip() else None
            if target is None:
                raise Refused(f"找不到员工「{arg.strip() or '（未填写）'}」，请写员工名单中的姓名或账号")
            fn = lambda t: m.assign(t, actor, now, target.key, target.name)  # noqa: E731
        elif action == "close":
            fn = lambda t: m.close(t, actor, now, arg)  # noqa: E731
        elif action == "reopen":
            fn = lambda t: m.reopen(t, actor, now, arg)  # noqa: E731
        elif action == "note":
            fn = lambda t: m.add_note(t, actor, now, arg)  # noqa: E731
        else:
            raise Refused(f"未知操作 {action}")
        return await self.store.apply(tid, fn)

    async def get(self, tid: str) -> Ticket:
        t = await self.store.get(tid)
        if t is None:
            raise TicketNotFound(tid)
        return t

    async def mine(self, staff: Staff) -> list[Ticket]:
        """Active tickets for this person: assigned to them, or unassigned in their team."""
        active = await self.store.active()
        return [
            t
            for t in active
            if t.assignee == staff.key or (not t.assignee and (not staff.team or t.team == staff.team))
        ]

    # -- scheduled jobs --------------------------------------------------------------------------
    async def escalate_due(self, now: float) -> list[str]:
        """Escalate what is overdue; each escalation is claimed in the ticket before sending and
        marked sent after, so a restart neither loses one nor sends one twice."""
        esc = self.settings.escalation
        sent: list[str] = []
        for t in await self.store.active():
            due = []
            if t.state in (m.OPEN, m.REOPENED) and now - t.since >= esc.unacked_minutes * 60:
                due.append("unacked")
            if now - t.since >= esc.open_hours * 3600:
                due.append("open")
            for kind in due:
                if await self._escalate(t.id, kind, now):
                    sent.append(f"{t.id}:{kind}")
        return sent

    async def _escalate(self, tid: str, kind: str, now: float) -> bool:
        def claim(t: Ticket) -> Outcome:
            still_due = t.active and (kind != "unacked" or t.state in (m.OPEN, m.REOPENED))
            return m.begin_escalation(t, now, kind) if still_due else Outcome(t, False, "")

        claimed = await self.store.apply(tid, claim)
        if not claimed.changed:
            return False
        t = claimed.ticket
        esc = self.settings.escalation
        headline = (f"工单超过{esc.unacked_minutes}分钟未确认" if kind == "unacked"
                    else f"工单超过{esc.open_hours:g}小时未关闭")  # fmt: skip
        ok = False
        try:
            await self._announce(t, "ticket_escalation", f"{t.id}:{kind}#{t.epoch}", headline)
            ok = True
        except Exception:
            log.exception("escalation of %s (%s) not sent; will retry", tid, kind)
        await self.store.apply(tid, lambda x: m.finish_escalation(x, now, kind, ok))
        return ok

    def local_date(self, now: float) -> str:
        return datetime.fromtimestamp(now, self.tz).strftime("%Y-%m-%d")

    async def digest(self, now: float) -> list[str]:
        """The daily digest: one message per team with its open tickets, once per team and day."""
        date = self.local_date(now)
        by_team: dict[str, list[Ticket]] = {}
        for t in await self.store.active():
            by_team.setdefault(t.team, []).append(t)
        sent = []
        for team, tickets in sorted(by_team.items()):
            marker = self.store.keys.of("tickets", "digest", date, team)
            if not await self.store.redis.set(marker, b"1", nx=True, ex=3 * 86400):
                continue
            tickets.sort(key=lambda t: t.created_at)
            unacked = sum(1 for t in tickets if t.state != m.ACKNOWLEDGED)
            text = "\n".join(
                [f"未关闭 {len(tickets)} 单，其中未确认 {unacked} 单："] + [ticket_line(t, self.tz) for t in tickets]
            )
            notice = TicketNotice(
                kind="ticket_digest", team=team, title=f"每日工单摘要 {date}（{team}）", text=text,
                dedupe_key=f"digest:{date}:{team}",
            )  # fmt: skip
            await self._send_once(marker, notice)
            sent.append(team)
        return sent

    async def weekly(self, now: float, *, force: bool = False) -> dict[str, Any]:
        """The weekly review: tickets this week against last week, and the top reasons."""
        week = 7 * 86400
        this = await self.store.created_between(now - week, now)
        last = await self.store.created_between(now - 2 * week, now - week)
        top = Counter(t.topic or t.rule for t in this).most_common(5)
        diff = len(this) - len(last)
        trend = f"{'+' if diff >= 0 else ''}{diff}" + (f"（{diff / len(last):+.0%}）" if last else "")
        review = {"this_week": len(this), "last_week": len(last), "change": diff,
                  "top_reasons": [{"reason": r, "count": n} for r, n in top],
                  "closed": sum(1 for t in this if t.state == m.CLOSED)}  # fmt: skip
        week_id = datetime.fromtimestamp(now, self.tz).strftime("%G-W%V")
        marker = self.store.keys.of("tickets", "weekly", week_id)
        if not force and not await self.store.redis.set(marker, b"1", nx=True, ex=30 * 86400):
            return review
        lines = [
            f"本周新工单 {len(this)} 单（已关闭 {review['closed']}），上周 {len(last)} 单，变化 {trend}",
            "主要原因：",
        ]
        lines += [f"  {i}. {r} × {n}" for i, (r, n) in enumerate(top, 1)] or ["  （无）"]
        await self._send_once(marker, TicketNotice(
            kind="ticket_weekly", team=self.settings.default_team, title=f"重复进线周报 {week_id}",
            text="\n".join(lines), dedupe_key=f"weekly:{week_id}",
        ))  # fmt: skip
        return review

    async def _send_once(self, marker: str, notice: TicketNotice) -> None:
        """Send what ``marker`` claimed; if sending fails, give the claim back for the next run."""
        try:
            await self.notifier.send(notice)
        except BaseException:
            await self.store.redis.delete(marker)
            raise
