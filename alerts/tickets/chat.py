"""Staff commands in chat (``/tickets``, ``/ticket T-…``, ``/ack``, ``/assign``, ``/close``,
``/reopen``, ``/note``) and ticket card button clicks, on WeCom, DingTalk and Feishu."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable

from alerts.tickets.cards import parse_button_key, ticket_card, ticket_line, ticket_text
from alerts.tickets.model import Refused
from alerts.tickets.notify import TicketNotifier
from alerts.tickets.service import NOT_STAFF, TicketService
from alerts.tickets.store import TicketNotFound
from bot.channel import CardAction, CardActionAnswer
from bot.message import InboundMessage

log = logging.getLogger(__name__)

HELP = (
    "工单命令：\n"
    "/tickets 我的未关闭工单（/tickets all 全部）\n"
    "/ticket T-20261128-0007 查看详情\n"
    "/ack T-… 确认\n"
    "/assign T-… @姓名 指派\n"
    "/close T-… 原因 关闭（主管）\n"
    "/reopen T-… 重开（主管）\n"
    "/note T-… 内容 添加备注\n"
    "/release 客户 人工处理完毕，交还机器人接待"
)
_TICKET_ID = re.compile(r"^T-\d{8}-\d{4,}$", re.IGNORECASE)
_COMMANDS = {"tickets", "ticket", "ack", "assign", "close", "reopen", "note", "help", "release"}
_ACTIONS = {"ack": "ack", "assign": "assign", "close": "close", "reopen": "reopen", "note": "note"}
_NEEDS_ARG = {"assign": "/assign T-… @姓名", "close": "/close T-… 原因", "note": "/note T-… 内容"}


def parse_command(text: str) -> tuple[str, str, str] | None:
    """``/close T-20261128-0007 客户已退款`` -> ("close", "T-20261128-0007", "客户已退款")."""
    parts = text.strip().split(maxsplit=2)
    if not parts or not parts[0].startswith("/"):
        return None
    name = parts[0][1:].lower()
    if name not in _COMMANDS:
        return None
    target = parts[1] if len(parts) > 1 else ""
    rest = parts[2] if len(parts) > 2 else ""
    return name, target, rest


class StaffChat:
    """The pipeline's ``StaffCommands`` and the adapters' card action handler."""

    def __init__(
        self, service: TicketService, notifier: TicketNotifier,
        release: Callable[[str], Awaitable[bool]] | None = None,
    ) -> None:  # fmt: skip
        self.service = service
        self.notifier = notifier
        self.release = release  # hands a customer's conversation back to the bot

    async def handle(self, message: InboundMessage) -> str | None:
        parsed = parse_command(message.text)
        if parsed is None:
            return None
        name, target, rest = parsed
        staff = self.service.staff.lookup(message.channel, message.sender_id)
        if staff is None:
            return NOT_STAFF
        if name == "help":
            return HELP
        if name == "release":
            if not target or self.release is None:
                return "用法：/release 客户（转人工提醒里给出的客户标识）"
            released = await self.release(target)
            return f"已交还机器人接待：{target}" if released else f"{target} 当前不在人工接待中"
        if name == "tickets":
            tickets = await (self.service.store.active() if target.lower() == "all" else self.service.mine(staff))
            if not tickets:
                return "暂无未关闭的工单"
            return f"未关闭工单 {len(tickets)} 单：\n" + "\n".join(
                ticket_line(t, self.service.tz) for t in tickets[:30]
            )
        if not target:
            return f"请写上工单号，例如 /{name} T-20261128-0007"
        tid = target.upper()
        if not _TICKET_ID.match(tid):
            return f"工单号格式不对：{target}（应为 T-20261128-0007 这样）"
        via = f"chat:{message.channel}/{message.app}"
        try:
            if name == "ticket":
                t = await self.service.get(tid)
                return ticket_text(t, self.service.tz, await self.service.store.audit(tid))
            if name in _NEEDS_ARG and not rest.strip() and name != "close":
                return f"用法：{_NEEDS_ARG[name]}"
            outcome = await self.service.act(staff, via, _ACTIONS[name], tid, rest)
        except TicketNotFound:
            return f"找不到工单 {tid}，请检查工单号"
        except Refused as e:
            return str(e)
        state = ticket_line(outcome.ticket, self.service.tz)
        return f"{outcome.message}\n{state}"

    async def card_action(self, action: CardAction) -> CardActionAnswer:
        key = str(action.value.get("key", ""))
        parsed = parse_button_key(key)
        if parsed is None:
            return CardActionAnswer(toast="无效的卡片操作", ok=False)
        verb, tid = parsed
        staff = self.service.staff.lookup(action.channel, action.operator_id)
        via = f"card:{action.channel}/{action.app}"
        try:
            current = await self.service.get(tid)
            if staff is None:
                raise Refused(NOT_STAFF)
            arg = "卡片上关闭" if verb == "close" else ""
            outcome = await self.service.act(staff, via, verb, tid, arg)
        except TicketNotFound:
            return await self._refuse(action, f"找不到工单 {tid}", None)
        except Refused as e:
            return await self._refuse(action, str(e), ticket_card(current, self.service.tz))
        t = outcome.ticket
        toast = outcome.message
        if action.channel == "wecom":  # the toast becomes the greyed-out button: keep it short
            toast = f"{_DONE.get(verb, '已处理')}·{staff.name}" if outcome.changed else f"{_DONE.get(verb, '已处理')}"
        return CardActionAnswer(toast=toast, card=ticket_card(t, self.service.tz), ok=True)

    async def _refuse(self, action: CardAction, text: str, card: dict | None) -> CardActionAnswer:
        if action.channel == "wecom":  # WeCom shows no toast for a refusal: say it in chat
            try:
                await self.notifier.tell(action.channel, action.app, action.operator_id, text)
            except Exception:
                log.exception("could not tell %s about a refused click", action.operator_id)
        return CardActionAnswer(toast=text, card=card, ok=False)


_DONE = {"ack": "已确认", "claim": "已认领", "close": "已关闭", "reopen": "已重开"}
