"""DingTalk custom group robot with signing: ``POST robot/send?access_token&timestamp&sign``,
sign = urlencode(base64(HmacSHA256(secret, f"{timestamp_ms}\\n{secret}"))). 20 a minute, then
blocked for 10 minutes (errcode 130101). Messages up to 20000 bytes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote_plus

from adapters.robots.webhook import post_json, shorten
from bot.http import HttpClient
from bot.message import OutboundMessage, SendResult

MAX_BYTES = 20000
_BLOCKED = {130101: 600.0, 130102: 60.0}  # sending too fast: blocked (seconds)
_TITLE_CHARS = 30


def sign(timestamp_ms: str, secret: str) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


class DingtalkRobotSender:
    def __init__(
        self, http: HttpClient, *, access_token: str, secret: str,
        api_base: str = "https://oapi.dingtalk.com", at_mobiles: list[str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:  # fmt: skip
        self._http = http
        self._token = access_token
        self._secret = secret
        self._url = f"{api_base}/robot/send"
        self._at = list(at_mobiles or [])
        self._clock = clock

    def url(self) -> str:
        timestamp = str(int(self._clock() * 1000))
        signature = quote_plus(sign(timestamp, self._secret))
        return f"{self._url}?access_token={quote_plus(self._token)}&timestamp={timestamp}&sign={signature}"

    def body(self, message: OutboundMessage) -> dict[str, Any]:
        at: dict[str, Any] = {"atMobiles": self._at, "isAtAll": False}
        if message.kind == "text":
            return {"msgtype": "text", "text": {"content": shorten(message.text, MAX_BYTES)}, "at": at}
        title = (message.route.get("title") or message.text.strip().splitlines()[0].lstrip("# "))[:_TITLE_CHARS]
        text = message.text + ("\n\n" + " ".join(f"@{m}" for m in self._at) if self._at else "")
        return {
            "msgtype": "markdown",
            "markdown": {"title": title or "提醒", "text": shorten(text, MAX_BYTES)},
            "at": at,
        }

    async def send(self, message: OutboundMessage) -> SendResult:
        payload, result = await post_json(self._http, self.url(), self.body(message), "dingtalk robot")
        if result is not None:
            return result
        code = payload.get("errcode")
        if code == 0:
            return SendResult.success()
        error = f"dingtalk robot errcode {code}: {payload.get('errmsg', '')}"
        if code in _BLOCKED:
            return SendResult.retry(error, _BLOCKED[code])
        if code == -1:  # system busy
            return SendResult.retry(error)
        return SendResult.permanent(error)  # 310000 sign/keyword/IP, 300001 token, 400xxx body
