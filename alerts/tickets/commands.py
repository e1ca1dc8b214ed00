"""``kefu tickets list|show|close`` as plain functions: settings in, JSON-ready dicts out."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from alerts.tickets import build_service
from alerts.tickets import model as m
from alerts.tickets.model import Actor, Refused
from alerts.tickets.notify import LoggingNotifier
from alerts.tickets.service import TicketService
from alerts.tickets.settings import TicketsSettings
from alerts.tickets.store import TicketNotFound
from bot.redis_store import Keys, connected
from bot.settings import CoreSettings

T = TypeVar("T")


class TicketCommandError(Exception):
    """For the shell, as is (Chinese, like the chat answers)."""


def _run(settings: CoreSettings, tickets: TicketsSettings, work: Callable[[TicketService], Awaitable[T]]) -> T:
    async def main() -> T:
        async with connected(settings.redis_url, settings.data_dir) as redis:
            service = build_service(redis, Keys(settings.key_prefix), tickets, LoggingNotifier(), time.time)
            return await work(service)

    return asyncio.run(main())


def tickets_list(
    settings: CoreSettings, tickets: TicketsSettings, mine: str | None = None, state: str | None = None
) -> list[dict[str, Any]]:
    """Tickets, newest first: all by default, ``state`` = open|acknowledged|closed|reopened|active,
    ``mine`` = an assignee ("wecom:zhangsan" or the name)."""

    async def work(service: TicketService) -> list[dict[str, Any]]:
        tickets = await service.store.all()
        if state == "active":
            tickets = [t for t in tickets if t.active]
        elif state:
            tickets = [t for t in tickets if t.state == state]
        if mine:
            tickets = [t for t in tickets if mine in (t.assignee, t.assignee_name)]
        return [t.summary() for t in sorted(tickets, key=lambda t: t.created_at, reverse=True)]

    return _run(settings, tickets, work)


def tickets_show(settings: CoreSettings, tickets: TicketsSettings, id: str) -> dict[str, Any]:
    async def work(service: TicketService) -> dict[str, Any]:
        t = await service.store.get(id.upper())
        if t is None:
            raise TicketCommandError(f"找不到工单 {id}")
        return {**t.details(), "audit": await service.store.audit(t.id)}

    return _run(settings, tickets, work)


def tickets_close(settings: CoreSettings, tickets: TicketsSettings, id: str, reason: str, actor: str) -> dict[str, Any]:
    """Close from the shell; the audit log says ``cli`` and who ran it."""

    async def work(service: TicketService) -> dict[str, Any]:
        who = Actor(f"cli:{actor}", actor, "cli")
        try:
            outcome = await service.store.apply(id.upper(), lambda t: m.close(t, who, time.time(), reason))
        except TicketNotFound:
            raise TicketCommandError(f"找不到工单 {id}") from None
        except Refused as e:
            raise TicketCommandError(str(e)) from None
        return {**outcome.ticket.summary(), "message": outcome.message}

    return _run(settings, tickets, work)
