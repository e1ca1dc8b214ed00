"""Parse Feishu v2 events into our types: ``im.message.receive_v1`` and ``card.action.trigger``."""

from __future__ import annotations

from typing import Any

from bot.channel import CardAction
from bot.message import InboundMessage, epoch_seconds
from bot.parsing import load_json


def mentions_in_group(event: dict[str, Any]) -> bool:
    """A group message that mentions someone: whether it is the bot needs the bot's open_id."""
    message = event["message"]
    return str(message.get("chat_type", "")) != "p2p" and bool(message.get("mentions"))


def parse_message(event: dict[str, Any], app: str, bot_open_id: str | None = None) -> InboundMessage | None:
    """The customer's message, or ``None`` for a group message that does not mention the bot.

    With the "read all group messages" scope Feishu sends every group message: only those that
    mention ``bot_open_id`` are for us. While the bot's id is unknown (``None``), any mention is.
    """
    message, sender = event["message"], event["sender"]["sender_id"]
    chat_type, mentions = str(message.get("chat_type", "")), message.get("mentions") or []
    if chat_type != "p2p" and not _addressed(mentions, bot_open_id):
        return None
    msg_type = str(message.get("message_type", ""))
    text = _text(message.get("content", ""), mentions) if msg_type == "text" else ""
    return InboundMessage(
        channel="feishu",
        app=app,
        conversation_id=str(message["chat_id"]),
        sender_id=str(sender["open_id"]),
        union_id=str(sender.get("union_id") or ""),
        text=text,
        message_id=str(message["message_id"]),
        sent_at=epoch_seconds(int(message.get("create_time") or 0), 1000),
        msg_type=msg_type or "unknown",
        reply_route={
            "message_id": str(message["message_id"]),
            "chat_id": str(message["chat_id"]),
            "chat_type": chat_type,
            "open_id": str(sender["open_id"]),
        },
    )


def _addressed(mentions: list[dict[str, Any]], bot_open_id: str | None) -> bool:
    if bot_open_id is None:
        return bool(mentions)
    return any((mention.get("id") or {}).get("open_id") == bot_open_id for mention in mentions)


def _text(content: str, mentions: list[dict[str, Any]]) -> str:
    """``content`` is a JSON string ``{"text": ...}`` where mentions appear as ``@_user_N`` keys."""
    text = str(load_json(content).get("text", ""))
    for mention in mentions:
        if mention.get("key"):
            text = text.replace(str(mention["key"]), "")
    return " ".join(text.split())


def parse_card_action(event: dict[str, Any], app: str) -> CardAction:
    value = event["action"].get("value") or {}
    return CardAction(
        channel="feishu",
        app=app,
        operator_id=str(event["operator"]["open_id"]),
        value=value if isinstance(value, dict) else {"value": value},
        message_ref=str((event.get("context") or {}).get("open_message_id", "")),
    )
