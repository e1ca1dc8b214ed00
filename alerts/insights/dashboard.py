"""``GET /dashboard``: the managers' read-only page, in Chinese. Volume and outcomes by day, the
top questions, unanswered questions grouped by need, the risk trend and open tickets by age and
owner, for every shop or, with a shop's own token, for that shop only.

The charts are inline SVG drawn here, so the page needs no script and no asset from a CDN (shops'
networks often block them). Access: ``?token=`` or ``Authorization: Bearer``; a wrong or missing
token gets 401 and no data. The token never reaches a log (bot/logs.py redacts it).
"""

from __future__ import annotations

import hmac
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from alerts.insights.figures import DAY, TurnRow, hot, service_figures
from alerts.insights.knowledge import KnowledgeBases, unanswered_groups
from alerts.insights.store import read_turns
from alerts.tickets.model import Ticket
from alerts.tickets.store import TicketStore
from bot.redis_store import Keys

if TYPE_CHECKING:
    from alerts.insights.grouping import Group

ALL = ""  # the scope of the overall token: every shop
DAYS = 14
OUTCOMES = (("answer", "解答", "#3b82f6"), ("clarify", "澄清", "#a855f7"), ("fallback", "兜底", "#f59e0b"),
            ("handoff", "转人工", "#ef4444"))  # fmt: skip
AGES: tuple[tuple[str, float], ...] = (("1小时内", 3600.0), ("1天内", DAY), ("3天内", 3 * DAY), ("更早", float("inf")))


@dataclass(frozen=True, slots=True)
class Access:
    """Who may see what: the overall token sees every shop, a shop's token only that shop."""

    token: str
    shop_tokens: Mapping[str, str]

    def scope(self, request: Request) -> str | None:
        """The shop the request may see (``ALL`` for every one), or None: refused."""
        given = request.query_params.get("token", "")
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        if not given:
            return None
        found = None
        for shop, token in [(ALL, self.token), *self.shop_tokens.items()]:
            # Compared with every token, in constant time each, so timing tells nothing.
            if token and hmac.compare_digest(given.encode(), token.encode()) and found is None:
                found = shop
        return found


class Dashboard:
    def __init__(
        self, access: Access, redis: Any, keys: Keys, tickets_timezone: str, tz: ZoneInfo,
        shop_of: Callable[[str, str], str], knowledge: KnowledgeBases, gap_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:  # fmt: skip
        self.access = access
        self.redis = redis
        self.keys = keys
        self.tickets = TicketStore(redis, keys, tickets_timezone)
        self.tz = tz
        self.shop_of = shop_of
        self.knowledge = knowledge  # titles, and the intents an unanswered group is compared with
        self.gap_seconds = gap_seconds  # a new contact after this long (tickets.session_gap_minutes)
        self.clock = clock

    async def serve(self, request: Request) -> Response:
        scope = self.access.scope(request)
        if scope is None:
            return HTMLResponse("<h1>401</h1><p>需要有效的访问令牌（token）。</p>", status_code=401)
        shop = scope or request.query_params.get("shop", ALL)
        now = self.clock()
        rows = await read_turns(self.redis, self.keys, now - DAYS * DAY)
        tickets = await self.tickets.active()
        shops = sorted(
            {self.shop_of(r.channel, r.app) for r in rows} | {self.shop_of(t.channel, t.app) for t in tickets}
        )
        if shop:
            rows = [r for r in rows if self.shop_of(r.channel, r.app) == shop]
            tickets = [t for t in tickets if self.shop_of(t.channel, t.app) == shop]
        page = self.page(rows, tickets, now, shop, shops if scope == ALL else [])
        return HTMLResponse(page, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})

    def page(self, rows: list[TurnRow], tickets: list[Ticket], now: float, shop: str, shops: list[str]) -> str:
        week = service_figures(rows, now - 7 * DAY, now, self.gap_seconds)
        top = hot(rows, now, 7, 10, self.tz, self.knowledge.title_of(rows))["top"]
        groups = unanswered_groups(rows, now - 7 * DAY, now, self.knowledge)[:10]
        days = [datetime.fromtimestamp(now - (DAYS - 1 - i) * DAY, self.tz).date().isoformat() for i in range(DAYS)]
        by_day: dict[str, Counter[str]] = {d: Counter() for d in days}
        risk: Counter[str] = Counter()
        for r in rows:
            day = datetime.fromtimestamp(r.at, self.tz).date().isoformat()
            if day in by_day:
                by_day[day][r.action] += 1
                risk[day] += r.risk_alert
        title = f"客服看板 · {escape(shop)}" if shop else "客服看板 · 全部店铺"
        return _HTML.format(
            title=title,
            shops=_shop_links(shops, shop),
            cards=_cards(week),
            volume=_stacked_bars(days, by_day),
            risk=_line(days, [risk[d] for d in days]),
            top=_top_table(top),
            unanswered=_groups(groups),
            tickets=_tickets(tickets, now),
            updated=datetime.fromtimestamp(now, self.tz).strftime("%Y-%m-%d %H:%M"),
        )


def _pct(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


def _cards(week: dict[str, Any]) -> str:
    first = week["first_response_seconds"]["median"]
    cards = [
        ("近7天消息量", str(week["volume"]), "volume"),
        ("机器人解决率", _pct(week["resolution_rate"]), "resolution"),
        ("转人工率", _pct(week["handoff_rate"]), "handoff"),
        ("首次响应中位数", "—" if first is None else f"{first:.2f} 秒", "first-response"),
        ("投诉风险提醒", str(week["risk_alerts"]), "risk-alerts"),
    ]
    return "".join(
        f'<div class="card"><div class="v" id="{i}">{v}</div><div class="k">{k}</div></div>' for k, v, i in cards
    )


def _shop_links(shops: list[str], current: str) -> str:
    if not shops:
        return ""
    links = [f'<a href="?shop=" class="{"on" if not current else ""}">全部</a>']
    links += [f'<a href="?shop={escape(s)}" class="{"on" if s == current else ""}">{escape(s)}</a>' for s in shops]
    return '<nav class="shops">店铺：' + " ".join(links) + "</nav>"


def _stacked_bars(days: list[str], by_day: dict[str, Counter[str]]) -> str:
    width, height, pad = 700, 200, 24
    peak = max([sum(by_day[d][a] for a, _, _ in OUTCOMES) for d in days] + [1])
    step = (width - pad) / len(days)
    parts = []
    for i, day in enumerate(days):
        y = float(height - pad)
        for action, label, colour in OUTCOMES:
            n = by_day[day][action]
            h = (height - 2 * pad) * n / peak
            if n:
                parts.append(
                    f'<rect x="{pad + i * step + 2:.1f}" y="{y - h:.1f}" width="{step - 4:.1f}" height="{h:.1f}" '
                    f'fill="{colour}"><title>{day} {label} {n}</title></rect>'
                )
            y -= h
        parts.append(f'<text x="{pad + i * step + step / 2:.1f}" y="{height - 6}" class="ax">{day[5:]}</text>')
    legend = " ".join(f'<span style="color:{c}">■</span> {label}' for _, label, c in OUTCOMES)
    return f'<svg viewBox="0 0 {width} {height}" role="img">{"".join(parts)}</svg><div class="legend">{legend}</div>'


def _line(days: list[str], values: list[int]) -> str:
    width, height, pad = 700, 140, 24
    peak = max([*values, 1])
    step = (width - pad) / max(len(days) - 1, 1)
    points = [(pad + i * step, height - pad - (height - 2 * pad) * v / peak) for i, v in enumerate(values)]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    dots = "".join(
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#ef4444"><title>{d} 风险提醒 {v}</title></circle>'
        for (x, y), d, v in zip(points, days, values)
    )
    return f'<svg viewBox="0 0 {width} {height}" role="img"><polyline points="{path}" fill="none" stroke="#ef4444"/>{dots}</svg>'


def _top_table(top: list[dict[str, Any]]) -> str:
    if not top:
        return "<p class='none'>近7天暂无数据</p>"
    rows = "".join(
        f"<tr><td>{escape(t['title'])}</td><td class='n'>{t['count']}</td><td class='n'>{_delta(t['change'])}</td></tr>"
        for t in top
    )
    return f"<table id='top'><tr><th>问题</th><th>次数</th><th>较前7天</th></tr>{rows}</table>"


def _delta(change: int) -> str:
    return f"+{change}" if change > 0 else str(change)


def _groups(groups: list[tuple[Group, str | None]]) -> str:
    if not groups:
        return "<p class='none'>近7天没有未解答的问题</p>"
    items = "".join(
        f"<li><b>{g.count}</b> 次 · {'、'.join(escape(e) for e in g.examples[:3])}"
        f"<span class='s'>{'（接近：' + escape(title) + '）' if title else ''}</span></li>"
        for g, title in groups
    )
    return f"<ol id='unanswered'>{items}</ol>"


def _tickets(tickets: list[Ticket], now: float) -> str:
    if not tickets:
        return "<p class='none'>没有未关闭的工单</p>"
    owners = sorted({t.assignee_name or "未分配" for t in tickets})
    counts: Counter[tuple[str, str]] = Counter()
    for t in tickets:
        age = now - t.created_at
        label = next(name for name, limit in AGES if age < limit)
        counts[(t.assignee_name or "未分配", label)] += 1
    head = "".join(f"<th>{name}</th>" for name, _ in AGES)
    body = "".join(
        f"<tr><td>{escape(o)}</td>" + "".join(f"<td class='n'>{counts[(o, a)]}</td>" for a, _ in AGES) + "</tr>"
        for o in owners
    )
    return f"<table id='tickets'><tr><th>负责人</th>{head}</tr>{body}</table><p>共 {len(tickets)} 张未关闭</p>"


_HTML = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<meta name="robots" content="noindex"><title>{title}</title>
<style>
body{{font-family:system-ui,"PingFang SC","Microsoft YaHei",sans-serif;margin:24px;color:#1f2937;background:#f9fafb}}
h1{{font-size:22px}} h2{{font-size:16px;margin:24px 0 8px}} section{{background:#fff;padding:12px 16px;border-radius:8px;margin-bottom:12px}}
.cards{{display:flex;gap:12px;flex-wrap:wrap}} .card{{background:#fff;border-radius:8px;padding:12px 16px;min-width:120px}}
.card .v{{font-size:24px;font-weight:600}} .card .k{{color:#6b7280;font-size:13px}}
svg{{width:100%;max-width:700px}} .ax{{font-size:10px;text-anchor:middle;fill:#6b7280}} .legend{{font-size:12px}}
table{{border-collapse:collapse}} td,th{{padding:4px 10px;border-bottom:1px solid #e5e7eb;text-align:left}} .n{{text-align:right}}
.none{{color:#6b7280}} .s{{color:#6b7280}} nav.shops a{{margin-right:8px}} nav.shops a.on{{font-weight:600}}
</style></head><body>
<h1>{title}</h1>{shops}
<div class="cards">{cards}</div>
<section><h2>每日消息量与处理结果（近14天）</h2>{volume}</section>
<section><h2>投诉风险提醒趋势（近14天）</h2>{risk}</section>
<section><h2>热门问题（近7天）</h2>{top}</section>
<section><h2>未解答问题（近7天，按相似问题归组）</h2>{unanswered}</section>
<section><h2>未关闭工单（按时长与负责人）</h2>{tickets}</section>
<p class="none">更新于 {updated} · 只读</p>
</body></html>"""
