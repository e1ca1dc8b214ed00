"""Feishu's long connection (使用长连接接收事件): kefu opens it, so a shop needs no public address.

The protocol, as lark-oapi's ``lark_oapi.ws.Client`` speaks it: ``POST {api_base}/callback/ws/endpoint``
with ``{"AppID", "AppSecret"}`` returns ``data.URL`` (a WebSocket URL whose query names the
``service_id``) and ``data.ClientConfig`` (``PingInterval`` in seconds). Frames are binary
``pbbp2.Frame`` protobufs (``frames``): control frames (``type`` ping/pong; the client pings, a pong
may carry a new ``ClientConfig``) and data frames (``type`` event, ``message_id``, ``sum``/``seq``
for a payload split in parts, ``trace_id``). An event's payload is the same v2 JSON a webhook
gets, unencrypted; it is acknowledged by sending the frame back with the payload
``{"code": 200, "data": base64(answer)}``. Unacknowledged, Feishu pushes it again.

Not the SDK's client: it runs on a loop of its own captured at import (``start()`` blocks; it
cannot run inside kefu's loop), fetches the endpoint with a blocking ``requests`` call, calls
handlers synchronously and acknowledges even a failed one (code 500), and logs the connection
URL, whose query carries its access key and ticket.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
from redis.exceptions import RedisError

from adapters.feishu import frames
from adapters.feishu.adapter import FeishuAdapter
from adapters.feishu.settings import FeishuApp
from bot.channel import Emit, WebhookError
from bot.reconnect import keep_connected

log = logging.getLogger(__name__)

ENDPOINT_PATH = "/callback/ws/endpoint"
PARTS_KEPT_SECONDS = 10.0  # the parts of one split payload arrive together; a lost part is given up
_ERRORS = (aiohttp.ClientError, OSError, ValueError, TimeoutError)


class LongConnection:
    """One app's long connection, kept open until cancelled; its events go through the adapter's
    ``dispatch`` (the webhook's parsing) to ``emit`` (the de-duplicating queue)."""

    def __init__(
        self, adapter: FeishuAdapter, settings: FeishuApp, emit: Emit,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:  # fmt: skip
        self.adapter = adapter
        self.settings = settings
        self.emit = emit
        self.sleep = sleep
        self.ping_seconds = 120.0
        self._parts: dict[str, tuple[float, list[bytes | None]]] = {}

    async def run(self) -> None:
        timeout = aiohttp.ClientTimeout(total=None, connect=10, sock_read=None)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            label = f"feishu long connection {self.adapter.app}"
            await keep_connected(label, lambda: self._connection(session), _ERRORS, self.sleep)

    async def _endpoint(self, session: aiohttp.ClientSession) -> str:
        s = self.settings
        body = {"AppID": s.app_id, "AppSecret": s.app_secret.get_secret_value()}
        async with session.post(s.api_base + ENDPOINT_PATH, json=body, headers={"locale": "zh"}) as response:
            answer = await response.json(content_type=None)
        if response.status != 200 or not isinstance(answer, dict) or answer.get("code") != 0:
            code, msg = (answer.get("code"), answer.get("msg")) if isinstance(answer, dict) else (None, "")
            raise ValueError(f"endpoint answered HTTP {response.status} code {code}: {msg}")
        data = answer.get("data") or {}
        self._configure(data.get("ClientConfig"))
        if not data.get("URL"):
            raise ValueError("endpoint gave no URL")
        return str(data["URL"])

    def _configure(self, config: Any) -> None:
        if isinstance(config, dict) and isinstance(config.get("PingInterval"), int | float):
            self.ping_seconds = max(float(config["PingInterval"]), 1.0)

    async def _connection(self, session: aiohttp.ClientSession) -> None:
        url = await self._endpoint(session)
        service = int(parse_qs(urlsplit(url).query).get("service_id", ["0"])[0])
        async with session.ws_connect(url, heartbeat=30) as ws:
            log.info("feishu long connection %s connected", self.adapter.app)
            pinging = asyncio.create_task(self._ping(ws, service))
            try:
                async for message in ws:
                    if message.type is aiohttp.WSMsgType.BINARY:
                        await self._frame(ws, message.data)
                    elif message.type is not aiohttp.WSMsgType.TEXT:
                        break
            finally:
                pinging.cancel()
        raise ConnectionError("closed by the server")

    async def _ping(self, ws: aiohttp.ClientWebSocketResponse, service: int) -> None:
        ping = frames.encode(frames.Frame(service=service, method=frames.CONTROL, headers=[("type", "ping")]))
        with contextlib.suppress(aiohttp.ClientError, OSError):  # closing: the receiving side reconnects
            while True:
                await ws.send_bytes(ping)
                await asyncio.sleep(self.ping_seconds)

    async def _frame(self, ws: aiohttp.ClientWebSocketResponse, raw: bytes) -> None:
        try:
            frame = frames.decode(raw)
        except ValueError:
            log.warning("feishu long connection %s: a frame that is not a pbbp2 Frame, ignored", self.adapter.app)
            return
        if frame.method == frames.CONTROL:
            if frame.header("type") == "pong" and frame.payload:
                self._configure(_json(frame.payload))
            return
        payload = self._assembled(frame)
        if payload is None:
            return
        started, code, answer = time.monotonic(), 200, b""
        if frame.header("type") == "event":  # anything else (the old card callbacks): acknowledged, dropped
            try:
                code, answer = await self._event(payload)
            except RedisError as e:  # Redis away or the queue full: not acknowledged, Feishu pushes it again
                log.warning("feishu long connection %s: event %s not queued (%s)", self.adapter.app,
                            frame.header("message_id"), type(e).__name__)  # fmt: skip
                return
            except Exception:
                log.exception(
                    "feishu long connection %s: event %s failed", self.adapter.app, frame.header("message_id")
                )
                return
        ack: dict[str, Any] = {"code": code}
        if answer:
            ack["data"] = base64.b64encode(answer).decode()
        frame.headers.append(("biz_rt", str(int((time.monotonic() - started) * 1000))))
        frame.payload = json.dumps(ack).encode()
        await ws.send_bytes(frames.encode(frame))

    async def _event(self, payload: bytes) -> tuple[int, bytes]:
        """The acknowledgement's code and answer, once the event's messages are queued."""
        event = _json(payload)
        try:
            if not isinstance(event, dict):
                raise WebhookError(400, "event is not a JSON object")
            result = await self.adapter.dispatch(event)
        except WebhookError as e:
            log.warning("feishu long connection %s: %s, acknowledged and dropped", self.adapter.app, e.reason)
            return 400, b""
        await self.emit(result.messages)
        card_answer = event["header"].get("event_type") == "card.action.trigger"
        return 200, result.body if card_answer else b""

    def _assembled(self, frame: frames.Frame) -> bytes | None:
        """The whole payload once every part of it arrived (``sum`` parts, ``seq`` from 0)."""
        try:
            total, seq = int(frame.header("sum", "1")), int(frame.header("seq", "0"))
        except ValueError:
            total, seq = 1, 0
        if total <= 1:
            return frame.payload
        if not 0 <= seq < total:
            return None
        now, key = time.monotonic(), frame.header("message_id")
        self._parts = {k: v for k, v in self._parts.items() if v[0] > now}
        parts = self._parts.setdefault(key, (now + PARTS_KEPT_SECONDS, [None] * total))[1]
        if len(parts) != total:
            return None
        parts[seq] = frame.payload
        if any(part is None for part in parts):
            return None
        del self._parts[key]
        return b"".join(part or b"" for part in parts)


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None
