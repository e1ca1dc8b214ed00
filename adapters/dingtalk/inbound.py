"""Turn an app-robot callback body into an ``InboundMessage`` (or nothing, when it is not for us)."""

from __future__ import annotations

import re
from typing import Any

from bot.message import InboundMessage, epoch_seconds

SINGLE_CHAT, GROUP_CHAT = "1", "2"
# In a group DingTalk may leave "@机器人" at the head of the text; the intent model must not see it.
_LEADING_MENTION = re.compile(r"^\s*@\S+(\s+|$)")


def parse(body: dict[str, Any], app: str) -> InboundMessage | None:
    conversation_type = str(body.get("conversationType", ""))
    if conversation_type not in (SINGLE_CHAT, GROUP_CHAT):
        return None
    # In groups the bot answers only when spoken to, like a person would.
    if conversation_type == GROUP_CHAT and body.get("isInAtList") is not True:
        return None
    msg_type = str(body.get("msgtype", ""))
    text = ""
    if msg_type == "text":
        text = str((body.get("text") or {}).get("content", ""))
        if conversation_type == GROUP_CHAT:
            text = _LEADING_MENTION.sub("", text)
        text = text.strip()
    sender = str(body.get("senderStaffId") or body.get("senderId") or "")
    if not body.get("msgId") or not body.get("conversationId") or not sender:
        return None
    route = {
        "session_webhook": str(body.get("sessionWebhook", "")),
        "session_webhook_expires": str(body.get("sessionWebhookExpiredTime", "")),
        "conversation_type": conversation_type,
        "conversation_id": str(body["conversationId"]),
        "sender_staff_id": str(body.get("senderStaffId", "")),
    }
    return InboundMessage(
        channel="dingtalk",
        app=app,
        conversation_id=str(body["conversationId"]),
        sender_id=sender,
        text=text,
        message_id=str(body["msgId"]),
        sent_at=epoch_seconds(body.get("createAt") or 0, 1000),
        msg_type=msg_type or "unknown",
        sender_name=str(body.get("senderNick", "")),
        reply_route=route,
    )
