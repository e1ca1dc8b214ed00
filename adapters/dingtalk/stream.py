"""DingTalk Stream mode: kefu opens the connection, so a shop needs no public address.

The protocol (open.dingtalk.com, "Stream 模式"; the official dingtalk-stream SDK does the same):
POST ``/v1.0/gateway/connections/open`` with the app's key and secret and the topics wanted
returns a WebSocket ``endpoint`` and a one-time ``ticket``; frames are JSON
``{"specVersion", "type", "headers": {"messageId", "topic", ...}, "data": "<JSON text>"}``.
``SYSTEM`` frames are ``ping`` (answered with their own data) and ``disconnect`` (the server
will close: connect again); ``CALLBACK`` frames on the robot topic carry the same message body
as an HTTP-mode callback. Every frame is acknowledged with its ``messageId``; a robot message
only once it is queued, so that one DingTalk delivers again when kefu could not take it.

Not the SDK: it makes a blocking ``requests`` call inside the event loop, fixes the host (no
``api_base`` for a test platform) and sleeps ten seconds after any error.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote_plus

import aiohttp
from redis.exceptions import RedisError

from adapters.dingtalk.inbound import parse
from adapters.dingtalk.settings import DingtalkApp
from bot.channel import Emit
from bot.reconnect import keep_connected

log = logging.getLogger(__name__)

OPEN_PATH = "/v1.0/gateway/connections/open"
ROBOT_TOPIC = "/v1.0/im/bot/messages/get"


def ack(message_id: str, data: str, code: int = 200, message: str = "OK") -> str:
    return json.dumps(
        {"code": code, "headers": {"contentType": "application/json", "messageId": message_id},
         "message": message, "data": data}
    )  # fmt: skip


class StreamReceiver:
    """One app's stream connection, kept open until cancelled; messages go to ``emit`` (the queue)."""

    def __init__(
        self, app: str, settings: DingtalkApp, emit: Emit,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:  # fmt: skip
        self.app = app
        self.settings = settings
        self.emit = emit
        self.sleep = sleep

    async def run(self) -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None, connect=10)) as session:
            errors = (aiohttp.ClientError, OSError, ValueError, TimeoutError)
            await keep_connected(f"dingtalk stream {self.app}", lambda: self._connection(session), errors, self.sleep)

    async def _connection(self, session: aiohttp.ClientSession) -> None:
        s = self.settings
        body = {
            "clientId": s.app_key, "clientSecret": s.app_secret.get_secret_value(),
            "subscriptions": [{"type": "CALLBACK", "topic": ROBOT_TOPIC}], "ua": "kefu-bot",
        }  # fmt: skip
        async with session.post(s.api_base + OPEN_PATH, json=body) as response:
            if response.status != 200:
                raise ValueError(f"opening the connection answered {response.status}")
            opened = await response.json(content_type=None)
        if not isinstance(opened, dict) or not opened.get("endpoint") or not opened.get("ticket"):
            raise ValueError("opening the connection gave no endpoint and ticket")
        url = f"{opened['endpoint']}?ticket={quote_plus(str(opened['ticket']))}"
        async with session.ws_connect(url, heartbeat=60) as ws:
            log.info("dingtalk stream %s connected", self.app)
            async for frame in ws:
                if frame.type is not aiohttp.WSMsgType.TEXT:
                    break
                reply = await self._answer(frame.data)
                if reply == "disconnect":
                    return
                if reply:
                    await ws.send_str(reply)

    async def _answer(self, raw: str) -> str | None:
        """The acknowledgement of one frame ("" for none, "disconnect" to reconnect)."""
        try:
            frame = json.loads(raw)
            headers: dict[str, Any] = frame.get("headers") or {}
            kind, topic, message_id = frame.get("type"), headers.get("topic"), str(headers.get("messageId", ""))
        except (ValueError, AttributeError):
            log.warning("dingtalk stream %s: a frame that is not a JSON object, ignored", self.app)
            return ""
        if kind == "SYSTEM":
            return "disconnect" if topic == "disconnect" else ack(message_id, str(frame.get("data", "")))
        if kind != "CALLBACK" or topic != ROBOT_TOPIC:
            return ack(message_id, json.dumps({"response": None}), 404, "not subscribed")
        try:
            body = json.loads(frame.get("data") or "")
            message = parse(body, self.app) if isinstance(body, dict) else None
        except (ValueError, TypeError, AttributeError):
            log.warning("dingtalk stream %s: a malformed robot message, acknowledged and dropped", self.app)
            return ack(message_id, json.dumps({"response": None}), 400, "malformed")
        try:
            await self.emit([message] if message is not None else [])
        except RedisError as e:  # Redis away or the queue full: unacknowledged, DingTalk sends it again
            log.warning("dingtalk stream %s: message %s not queued (%s)", self.app, message_id, type(e).__name__)
            return ""
        return ack(message_id, json.dumps({"response": None}))
