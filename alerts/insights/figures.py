"""What the recorded turns say: hot questions, unanswered turns, service figures. Pure functions
over the stream's rows (alerts/insights/store.py reads them), so each is tested on its own."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from alerts.insights.recorder import FIELDS, SEP

DAY = 86400.0
REPEAT_WITHIN = DAY  # a contact the bot closed counts as resolved when no new one follows within this


@dataclass(frozen=True, slots=True)
class TurnRow:
    """One recorded turn (fields as alerts/insights/recorder.py writes them)."""

    at: float
    customer: str  # digest
    channel: str
    app: str
    intent: str
    category: str
    action: str
    confidence: float
    picked: bool
    handoff: str
    risk_alert: bool
    response_ms: int
    text: str

    @classmethod
    def from_value(cls, value: bytes) -> TurnRow | None:
        """The row of a stream entry's ``v`` (None for an entry this version cannot read)."""
        parts = value.decode("utf-8", "replace").split(SEP)
        if len(parts) != len(FIELDS):
            return None
        at, customer, channel, app, intent, category, action, confidence, picked, handoff, risk, ms, text = parts
        try:
            return cls(
                float(at), customer, channel, app, intent, category, action, float(confidence), picked == "1",
                handoff, risk == "1", int(ms), text,
            )  # fmt: skip
        except ValueError:
            return None


def _within(rows: Iterable[TurnRow], start: float, end: float) -> list[TurnRow]:
    return [r for r in rows if start <= r.at < end]


def _asked(rows: Iterable[TurnRow]) -> list[TurnRow]:
    """Turns that say what customers asked: an intent the bot answered or handed over on."""
    return [r for r in rows if r.intent and r.action in ("answer", "handoff")]


def _change(now: int, before: int) -> dict[str, Any]:
    pct = None if before == 0 else round((now - before) * 100 / before, 1)
    return {"count": now, "previous": before, "change": now - before, "change_pct": pct}


def _day(at: float, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(at, tz).date().isoformat()


def hot(
    rows: Sequence[TurnRow], now: float, days: int, top: int, tz: ZoneInfo,
    title_of: Callable[[str], str] = str,
) -> dict[str, Any]:  # fmt: skip
    """TOP ``top`` intents and the categories (each with its TOP intents) over the last ``days``
    days against the ``days`` before, and each day's TOP ``top``."""
    start = now - days * DAY
    current, previous = _asked(_within(rows, start, now)), _asked(_within(rows, start - days * DAY, start))
    by_intent, before = Counter(r.intent for r in current), Counter(r.intent for r in previous)
    category_of = {r.intent: r.category for r in [*previous, *current]}
    cats, cats_before = Counter(r.category or "" for r in current), Counter(r.category or "" for r in previous)
    per_day: dict[str, Counter[str]] = defaultdict(Counter)
    for r in current:
        per_day[_day(r.at, tz)][r.intent] += 1
    return {
        "days": days,
        "start": datetime.fromtimestamp(start, tz).isoformat(timespec="seconds"),
        "end": datetime.fromtimestamp(now, tz).isoformat(timespec="seconds"),
        **{k: v for k, v in _change(len(current), len(previous)).items() if k != "count"},
        "total": len(current),
        "top": [
            {"intent": i, "title": title_of(i), "category": category_of.get(i, ""), **_change(n, before[i])}
            for i, n in _ranked(by_intent, top)
        ],
        "categories": [
            {
                "category": c,
                **_change(n, cats_before[c]),
                "top": [
                    {"intent": i, "count": k}
                    for i, k in _ranked(Counter(r.intent for r in current if (r.category or "") == c), top)
                ],
            }
            for c, n in _ranked(cats, top)
        ],  # fmt: skip
        "by_day": [
            {
                "day": day,
                "count": sum(per_day[day].values()),
                "top": [{"intent": i, "count": n} for i, n in _ranked(per_day[day], top)],
            }
            for day in sorted(per_day)
        ],  # fmt: skip
    }


def _ranked(counts: Counter[str], top: int) -> list[tuple[str, int]]:
    """Largest first, ties by name, so that the same turns always give the same list."""
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]


def unanswered_texts(rows: Sequence[TurnRow], start: float, end: float) -> list[str]:
    """The texts the bot could not answer in [start, end): a clarifying question counts only
    when the customer's next turn did not pick one of its offers."""
    by_customer: dict[str, list[TurnRow]] = defaultdict(list)
    for r in sorted(rows, key=lambda r: r.at):
        by_customer[r.customer].append(r)
    texts = []
    for turns in by_customer.values():
        for n, r in enumerate(turns):
            if not r.text or not start <= r.at < end:
                continue
            if r.action == "clarify" and n + 1 < len(turns) and turns[n + 1].picked:
                continue
            texts.append(r.text)
    return texts


def contacts(rows: Sequence[TurnRow], gap_seconds: float) -> list[list[TurnRow]]:
    """Each customer's turns cut into contacts where they were silent longer than the gap."""
    by_customer: dict[str, list[list[TurnRow]]] = defaultdict(list)
    for r in sorted(rows, key=lambda r: r.at):
        mine = by_customer[r.customer]
        if mine and r.at - mine[-1][-1].at <= gap_seconds:
            mine[-1].append(r)
        else:
            mine.append([r])
    return [c for cs in by_customer.values() for c in cs]


def service_figures(rows: Sequence[TurnRow], start: float, end: float, gap_seconds: float) -> dict[str, Any]:
    """Volume and outcomes of the turns in [start, end), and of the contacts that began then:
    hand-over rate, bot resolution rate (the bot alone, and no new contact within a day; one
    whose day has not passed counts as resolved until a new contact comes), first response."""
    turns = _within(rows, start, end)
    actions = Counter(r.action for r in turns)
    all_contacts = contacts(rows, gap_seconds)
    starts_by_customer: dict[str, list[float]] = defaultdict(list)
    for c in all_contacts:
        starts_by_customer[c[0].customer].append(c[0].at)
    mine = [c for c in all_contacts if start <= c[0].at < end]
    handed = [c for c in mine if any(r.action in ("handoff", "quiet") for r in c)]
    resolved = open_ = 0
    for c in mine:
        if any(r.action in ("handoff", "quiet") for r in c) or not any(r.action == "answer" for r in c):
            continue
        last = c[-1].at
        if any(last < s <= last + REPEAT_WITHIN for s in starts_by_customer[c[0].customer]):
            continue
        resolved += 1
        open_ += last + REPEAT_WITHIN > end
    first = sorted(c[0].response_ms / 1000 for c in mine)
    return {
        "volume": len(turns),
        "answered": actions["answer"],
        "clarified": actions["clarify"],
        "fallback": actions["fallback"],
        "handed_over": actions["handoff"],
        "with_staff": actions["quiet"],
        "contacts": len(mine),
        "handoff_rate": _rate(len(handed), len(mine)),
        "resolution_rate": _rate(resolved, len(mine)),
        "resolved_pending": open_,
        "first_response_seconds": {
            "median": round(statistics.median(first), 3) if first else None,
            "p90": round(first[min(len(first) - 1, int(len(first) * 0.9))], 3) if first else None,
        },
        "risk_alerts": sum(r.risk_alert for r in turns),
    }


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None
