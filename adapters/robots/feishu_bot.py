"""Feishu custom bot with signature check: ``POST open-apis/bot/v2/hook/<token>`` with
``{"timestamp", "sign", "msg_type", "card"|"content"}``, sign = base64(HmacSHA256(key =
f"{timestamp}\\n{secret}", msg = b"")). 100 a minute, 5 a second; a request body up to 30 KB.

Custom bots cannot receive card clicks, so the neutral card's buttons are left out; the card is
plain text (no lark_md): alert text quotes customers, who must not be able to @everyone."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

from adapters.robots.webhook import post_json, shorten
from bot.http import HttpClient
from bot.message import OutboundMessage, SendResult

MAX_BODY_BYTES = 30 * 1024
_RATE_LIMITED = {9499, 11232}  # too many requests / frequency limited
_TEMPLATES = {"red", "orange", "blue", "green", "grey"}


def sign(timestamp: str, secret: str) -> str:
    digest = hmac.new(f"{timestamp}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def bot_card(card: dict[str, Any], text: str) -> dict[str, Any]:
    lines = [str(card["description"])] if card.get("description") else []
    lines += [f"{label}：{value}" for label, value in card.get("fields") or []]
    if text:
        lines.append(text)
    template = card.get("template")
    return {
        "config": {"wide_screen_mode": True},
        "header": {"title": {"tag": "plain_text", "content": str(card.get("title", ""))},
                   "template": template if template in _TEMPLATES else "blue"},
        "elements": [{"tag": "div", "text": {"tag": "plain_text", "content": "\n".join(lines)}}],
    }  # fmt: skip


class FeishuBotSender:
    def __init__(
        self, http: HttpClient, *, webhook: str, secret: str = "", clock: Callable[[], float] = time.time
    ) -> None:
        self._http = http
        self._url = webhook
        self._secret = secret
        self._clock = clock

    def body(self, message: OutboundMessage) -> dict[str, Any]:
        body: dict[str, Any] = {}
        if self._secret:
            timestamp = str(int(self._clock()))
            body.update(timestamp=timestamp, sign=sign(timestamp, self._secret))
        if message.kind == "card" and message.card:
            body.update(msg_type="interactive", card=bot_card(message.card, message.text))
            div = body["card"]["elements"][0]["text"]
        else:
            body.update(msg_type="text", content={"text": message.text})
            div = body["content"]
        key = "content" if "content" in div else "text"
        over = len(json.dumps(body, ensure_ascii=False).encode()) - MAX_BODY_BYTES
        if over > 0:  # shorten the one long text, never refuse
            size = len(div[key].encode())
            div[key] = shorten(div[key], max(0, size - over - 64))
        return body

    async def send(self, message: OutboundMessage) -> SendResult:
        payload, result = await post_json(self._http, self._url, self.body(message), "feishu bot")
        if result is not None:
            return result
        code = payload.get("code", payload.get("StatusCode"))
        if code == 0:
            return SendResult.success()
        error = f"feishu bot code {code}: {payload.get('msg', payload.get('StatusMessage', ''))}"
        if code in _RATE_LIMITED:
            return SendResult.retry(error, 1.0)
        return SendResult.permanent(error)  # 19021 sign mismatch, 19024 keyword, 19022 IP...
