"""Messages from the self-built app to staff: ``message/send`` (text, markdown, template card) and
``message/update_template_card`` (a card's button after a click, when the passive reply was missed).

The route is ``{"touser": "zhangsan|lisi", "agent_id": "1000002"}`` (``toparty``/``totag`` pass
through); a route with ``response_code`` (from a card click) updates that card's button instead,
its new label being the message text.
"""

from __future__ import annotations

from typing import Any

from adapters.wecom.cards import template_card
from adapters.wxbiz import WxApi
from bot.message import OutboundMessage, SendResult


class AppSender:
    def __init__(self, api: WxApi, default_agent_id: int | None) -> None:
        self._api = api
        self._agent_id = default_agent_id

    async def send(self, message: OutboundMessage) -> SendResult:
        route = message.route
        agent = route.get("agent_id") or self._agent_id
        if agent is None:
            return SendResult.permanent("wecom: no agent_id in the route or settings")
        if route.get("response_code"):
            return await self._api.send(
                "message/update_template_card",
                {
                    "userids": route.get("touser", "").split("|"),
                    "agentid": int(agent),
                    "response_code": route["response_code"],
                    "button": {"replace_name": message.text},
                },
            )
        payload: dict[str, Any] = {key: route[key] for key in ("touser", "toparty", "totag") if route.get(key)}
        payload.update({"agentid": int(agent), "msgtype": message.kind})
        if message.kind == "card":
            if not message.card:
                return SendResult.permanent("wecom: card message without a card")
            payload["msgtype"] = "template_card"
            payload["template_card"] = template_card(message.card, message.text, message.idempotency_key)
        elif message.kind == "markdown":
            payload["markdown"] = {"content": message.text}
        else:
            payload.update(msgtype="text", text={"content": message.text})
        return await self._api.send("message/send", payload)
