"""``kefu report``: the service figures of a period, with the tickets opened in it; and the
weekly report that goes to the managers' chat through the alert receivers."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from alerts.insights.figures import DAY, TurnRow, service_figures
from alerts.tickets.model import Ticket
from alerts.tickets.store import TicketStore

PERIODS = {"day": 1, "week": 7}


async def service_report(
    rows: list[TurnRow],
    tickets: TicketStore | None,
    now: float,
    period: str,
    gap_seconds: float,
    tz: ZoneInfo,
    keep: Callable[[Ticket], bool] = lambda _: True,
) -> dict[str, Any]:
    """The figures of the ``period`` (day: the last 24 hours; week: the last 7 days) up to ``now``."""
    start = now - PERIODS[period] * DAY
    report: dict[str, Any] = {
        "period": period,
        "start": datetime.fromtimestamp(start, tz).isoformat(timespec="seconds"),
        "end": datetime.fromtimestamp(now, tz).isoformat(timespec="seconds"),
        **service_figures(rows, start, now, gap_seconds),
    }
    opened = [t for t in await tickets.created_between(start, now) if keep(t)] if tickets is not None else []
    report["tickets"] = {"opened": len(opened), "by_state": dict(sorted(Counter(t.state for t in opened).items()))}
    return report


def _pct(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


def report_fields(report: dict[str, Any]) -> list[tuple[str, str]]:
    """The report as a notice's fields (Simplified Chinese, for managers)."""
    first = report["first_response_seconds"]
    states = "，".join(f"{state} {n}" for state, n in report["tickets"]["by_state"].items()) or "无"
    return [
        ("统计区间", f"{report['start'][:16]} 至 {report['end'][:16]}"),
        ("消息量", str(report["volume"])),
        ("解答 / 澄清 / 兜底 / 转人工", f"{report['answered']} / {report['clarified']} / {report['fallback']} / "
         f"{report['handed_over']}"),
        ("机器人解决率", f"{_pct(report['resolution_rate'])}（24小时内未再进线）"),
        ("转人工率", _pct(report["handoff_rate"])),
        ("首次响应（中位数）", "—" if first["median"] is None else f"{first['median']:.2f} 秒"),
        ("投诉风险提醒", str(report["risk_alerts"])),
        ("新工单", f"{report['tickets']['opened']}（{states}）"),
    ]  # fmt: skip
