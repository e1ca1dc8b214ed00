"""Answers from the shop's systems, for intents whose knowledge-base entry names a lookup
(``lookup: parcel | order | refund``): the customer's order is found, then said in a sentence or
two the way an agent would: where the parcel is and what happens next, whether it has left,
where the refund is.

The order is the one whose number the customer gave, else the customer's only recent one; with
several, the bot lists them and asks for the number, and a bare number next turn answers it.
Another customer's order gets the same words as an unknown one. When the shop cannot answer
(not configured, down, slow), ``reply`` returns None and the FAQ answer stands.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from bot.lookups import Lookups, NotFound, NoTraceYet, NotYours, Order, TrackState, Unavailable
from bot.nlu.normalize import mask_for_log

ASK_ORDER = "亲，麻烦把订单号发给我（在「我的订单」里可以复制），我马上帮您查。"
NOT_FOUND = "亲，没有查到这个订单号对应的订单，麻烦核对一下订单号（在「我的订单」里可以复制）再发给我。"
_STATUS = {
    "pending_payment": "还没有付款，付款后我们会尽快安排发货",
    "paid": "已付款，正在等待发货，仓库会尽快安排",
    "cancelled": "已取消",
    "completed": "已完成",
}
_REFUND = {
    "applied": "退款申请已提交，正在等待商家审核",
    "approved": "退款已同意，正在处理中",
    "returned": "退回的商品已签收，正在为您退款",
    "refunded": "已退款 {amount} 元，一般 1-3 个工作日原路退回到您的支付账户",
    "rejected": "退款申请没有通过，如有疑问我可以帮您转人工核实",
}


@dataclass(frozen=True, slots=True)
class LookupReply:
    text: str
    order_no: str = ""  # the order it is about, remembered for the conversation
    asked: bool = False  # the bot asked for an order number: a bare number next turn answers it


def _when(moment: datetime) -> str:
    return f"{moment.month}月{moment.day}日 {moment:%H:%M}"


def _items(order: Order) -> str:
    return "、".join(item.name for item in order.items[:2]) + ("等" if len(order.items) > 2 else "")


def order_list(orders: list[Order]) -> str:
    """ "1. DD2024… Air Jordan 1 … 6月8日" per order: enough to tell them apart."""
    lines = [
        f"{i}. {o.order_id} {_items(o)} {o.created_at.month}月{o.created_at.day}日" for i, o in enumerate(orders, 1)
    ]
    return "亲，您最近有这几笔订单：\n" + "\n".join(lines) + "\n请把要查的订单号发给我，我马上帮您查。"


class OrderTalk:
    def __init__(self, lookups: Lookups, timeout_seconds: float) -> None:
        self.lookups = lookups
        self.timeout = timeout_seconds

    async def reply(self, kind: str, customer: str, order_no: str) -> LookupReply | None:
        """What to say for a ``kind`` lookup; None when the shop cannot answer now."""
        try:
            return await asyncio.wait_for(self._reply(kind, customer, order_no.upper()), self.timeout)
        except (NotFound, NotYours):
            return LookupReply(NOT_FOUND)
        except (Unavailable, TimeoutError):
            return None

    async def _reply(self, kind: str, customer: str, order_no: str) -> LookupReply:
        if order_no:
            order = await self.lookups.order(order_no, customer)
        else:
            orders = await self.lookups.recent_orders(customer, 3)
            if len(orders) != 1:
                return LookupReply(order_list(orders) if orders else ASK_ORDER, asked=True)
            order = orders[0]
        text = self._refund(order) if kind == "refund" else await self._whereabouts(order)
        return LookupReply(text, order.order_id)

    async def _whereabouts(self, order: Order) -> str:
        head = f"亲，您的订单 {order.order_id}（{_items(order)}）"
        if order.refund is not None:
            return self._refund(order)
        if order.shipment is None:
            return head + _STATUS.get(order.status, "正在处理中") + "。"
        ship = order.shipment
        text = f"{head}已由{ship.company}发出，运单号 {ship.waybill}。"
        try:
            tracking = await self.lookups.track(ship.waybill, ship.company_code or None)
        except NoTraceYet:
            return text + "快递公司还没有更新物流信息，一般揽收后几个小时内会有记录，请稍后再查。"
        if tracking.traces:
            latest = tracking.traces[0]
            text += f"\n最新物流（{_when(latest.time)}）：{mask_for_log(latest.context)}"
        if tracking.state is TrackState.SIGNED:
            text += "\n物流显示已签收。如果您还没有收到，请告诉我，我马上帮您联系快递核实。"
        elif tracking.state is TrackState.OUT_FOR_DELIVERY:
            text += "\n快递员正在派送，请保持电话畅通。"
        elif tracking.state in (TrackState.PROBLEM, TrackState.REFUSED, TrackState.RETURNING):
            text += "\n这个包裹的物流有异常，我帮您转人工跟进，请稍等。"
        return text

    @staticmethod
    def _refund(order: Order) -> str:
        refund = order.refund
        if refund is None:
            return f"亲，订单 {order.order_id} 目前没有退款记录。如需退款，可以在订单页面申请，或告诉我原因。"
        state = _REFUND.get(refund.status, "正在处理中").format(amount=refund.amount)
        return f"亲，订单 {order.order_id} 的{state}（更新于 {_when(refund.updated_at)}）。"
