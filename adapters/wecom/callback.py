"""The WeCom callback URL: URL verification, customers' and staff's messages, 微信客服 events and
template-card clicks, all on one URL with one Token and EncodingAESKey.

Nothing slow happens here (WeCom retries after 5 s): messages are handed to the gateway, a
微信客服 event becomes a ``kf_sync`` task, and only a card click runs a handler inline, because its
passive reply must carry the button's new label.
"""

from __future__ import annotations

import logging
from typing import Any

from adapters.wecom.cards import update_button_reply
from adapters.wxbiz import Envelope, inbound_from
from bot.channel import CardAction, PlatformTask, WebhookError, WebhookRequest, WebhookResult

log = logging.getLogger(__name__)

CHANNEL = "wecom"
_EVENT_DEDUPE_SECONDS = 9 * 3600  # longer than WeCom's retry tail


class WecomCallback:
    def __init__(self, app: str, corp_id: str, agent_id: int | None, envelope: Envelope, deps: Any) -> None:
        self._app = app
        self._corp_id = corp_id
        self._agent_id = agent_id
        self._envelope = envelope
        self._deps = deps

    async def handle(self, request: WebhookRequest) -> WebhookResult:
        now = self._deps.clock()
        if request.method == "GET":
            return self._verify_url(request, now)
        if request.method != "POST":
            raise WebhookError(405, "GET or POST only")
        fields = self._envelope.open_encrypted(request.query, request.body, now)
        msg_type = fields.get("MsgType", "").lower()
        if msg_type != "event":
            return WebhookResult(messages=[self._message(fields)])
        event = fields.get("Event", "").lower()
        if event == "kf_msg_or_event":
            return WebhookResult(tasks=[self._kf_task(fields)])
        if event == "template_card_event":
            return await self._card_click(fields, request.query.get("nonce", ""), now)
        return WebhookResult()  # subscribe, enter_agent, ...: nothing to answer

    def _verify_url(self, request: WebhookRequest, now: float) -> WebhookResult:
        echostr = request.query.get("echostr", "")
        if not echostr:
            raise WebhookError(400, "no echostr")
        # WeCom compares the body byte for byte: no quotes, BOM or newline.
        return WebhookResult(body=self._envelope.open_verified(request.query, now, echostr).encode())

    def _message(self, fields: dict[str, str]) -> Any:
        agent = fields.get("AgentID") or str(self._agent_id or "")
        route = {"touser": fields.get("FromUserName", ""), "agent_id": agent}
        return inbound_from(fields, channel=CHANNEL, app=self._app, reply_route=route)

    def _kf_task(self, fields: dict[str, str]) -> PlatformTask:
        token, open_kfid = fields.get("Token", ""), fields.get("OpenKfId", "")
        if not open_kfid:
            raise WebhookError(400, "kf_msg_or_event without OpenKfId")
        return PlatformTask(
            channel="wecom_kf",
            app=self._app,
            kind="kf_sync",
            payload={"open_kfid": open_kfid, "token": token},
            # One pull per event: WeCom's retries of the same callback carry the same Token.
            dedupe_key=f"kf_sync:{self._app}:{token or fields.get('CreateTime', '')}",
        )

    async def _card_click(self, fields: dict[str, str], nonce: str, now: float) -> WebhookResult:
        handler = self._deps.card_actions
        if handler is None:
            return WebhookResult()
        user = fields.get("FromUserName", "")
        # Two clicks in one second (two cards, or two buttons) are two events: TaskId and
        # EventKey tell them apart, while a retry of the same click repeats all three.
        event_id = f"{user}:{fields.get('CreateTime', '')}:{fields.get('TaskId', '')}:{fields.get('EventKey', '')}"
        seen_key = self._deps.keys.of("wecom_event", self._app, event_id)
        if not await self._deps.redis.set(seen_key, b"1", nx=True, ex=_EVENT_DEDUPE_SECONDS):
            return WebhookResult()  # a retry of a click we already handled
        action = CardAction(
            channel=CHANNEL,
            app=self._app,
            operator_id=user,
            message_ref=fields.get("TaskId", ""),
            value={
                "key": fields.get("EventKey", ""),
                "task_id": fields.get("TaskId", ""),
                "card_type": fields.get("CardType", ""),
                # Lets the handler update the card later via message/update_template_card.
                "response_code": fields.get("ResponseCode", ""),
                "event_id": event_id,
            },
        )
        try:
            answer = await handler(action)
        except Exception:
            await self._deps.redis.delete(seen_key)  # let WeCom's retry try again
            raise
        if not answer.ok or not answer.toast:
            return WebhookResult()  # leave the buttons clickable
        reply = update_button_reply(user, fields.get("ToUserName") or self._corp_id, answer.toast, now)
        return WebhookResult(body=self._envelope.seal(reply, nonce, now), content_type="application/xml; charset=utf-8")
