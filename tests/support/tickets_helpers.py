"""Shared pieces for the contacts and tickets tests: a clock moved by hand, a recording
``TicketNotifier`` (the port ticket logic talks through), and a service on the real Redis."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aredis

from alerts.tickets import build_recorder, build_service
from alerts.tickets.notify import TicketNotice
from alerts.tickets.settings import TicketsSettings
from bot.message import InboundMessage
from bot.redis_store import Keys
from tests.support.clock import Clock

T0 = 1_795_000_000.0  # 2026-11-18 (Asia/Shanghai)
MIN, HOUR, DAY = 60.0, 3600.0, 86400.0
STAFF = {
    "wecom": {
        "boss": {"name": "王经理", "role": "manager", "team": "kefu"},
        "agent1": {"name": "小李", "role": "agent", "team": "kefu"},
    },
    "feishu": {
        "ou_boss": {"name": "陈主管", "role": "manager", "team": "kefu"},
        "ou_agent": {"name": "小赵", "role": "agent", "team": "kefu"},
    },
    "dingtalk": {
        "staff_boss": {"name": "周主管", "role": "manager", "team": "kefu"},
        "staff_agent": {"name": "小吴", "role": "agent", "team": "kefu"},
    },
}


class RecordingNotifier:
    def __init__(self) -> None:
        self.notices: list[TicketNotice] = []
        self.told: list[tuple[str, str, str, str]] = []

    async def send(self, notice: TicketNotice) -> None:
        self.notices.append(notice)

    async def tell(self, channel: str, app: str, user_id: str, text: str) -> None:
        self.told.append((channel, app, user_id, text))

    def kinds(self) -> list[str]:
        return [n.kind for n in self.notices]


def tickets_settings(**over: Any) -> TicketsSettings:
    return TicketsSettings(**({"staff": STAFF} | over))


def build(
    redis: aredis.Redis,
    clock: Clock,
    settings: TicketsSettings | None = None,
    notifier: RecordingNotifier | None = None,
    prefix: str = "t",
):  # type: ignore[no-untyped-def]
    settings = settings or tickets_settings()
    notifier = notifier or RecordingNotifier()
    keys = Keys(prefix)
    service = build_service(redis, keys, settings, notifier, clock)
    return service, build_recorder(redis, keys, settings, service), notifier


def msg(
    text: str,
    at: float,
    *,
    sender: str = "wm_cust1",
    channel: str = "wecom_kf",
    n: int | None = None,
    union_id: str = "",
    name: str = "张三丰",
) -> InboundMessage:
    return InboundMessage(
        channel,
        "default",
        "conv",
        sender,
        text,
        f"m{n if n is not None else int(at)}",
        at,
        sender_name=name,
        union_id=union_id,
    )
