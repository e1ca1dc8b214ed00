"""WeCom group robot: ``POST cgi-bin/webhook/send?key=KEY`` with text (2048 bytes) or markdown
(4096 bytes). No signing: the key is the credential. 20 messages a minute per robot."""

from __future__ import annotations

from typing import Any

from adapters.robots.webhook import post_json, shorten
from bot.http import HttpClient
from bot.message import OutboundMessage, SendResult

TEXT_MAX_BYTES = 2048
MARKDOWN_MAX_BYTES = 4096
_RATE_LIMITED = 45009  # "api freq out of limit"


class WecomRobotSender:
    def __init__(
        self, http: HttpClient, *, webhook_key: str = "", url: str = "",
        api_base: str = "https://qyapi.weixin.qq.com", mentioned_list: list[str] | None = None,
    ) -> None:  # fmt: skip
        self._http = http
        self._url = url or f"{api_base}/cgi-bin/webhook/send?key={webhook_key}"
        self._mentioned = list(mentioned_list or [])

    def body(self, message: OutboundMessage) -> dict[str, Any]:
        if message.kind == "text":
            text: dict[str, Any] = {"content": shorten(message.text, TEXT_MAX_BYTES)}
            if self._mentioned:
                text["mentioned_list"] = self._mentioned
            return {"msgtype": "text", "text": text}
        # Markdown cannot @ by list; <@userid> in the content does it.
        mentions = "".join(f"<@{m}>" for m in self._mentioned if m != "@all")
        content = message.text + (f"\n{mentions}" if mentions else "")
        return {"msgtype": "markdown", "markdown": {"content": shorten(content, MARKDOWN_MAX_BYTES)}}

    async def send(self, message: OutboundMessage) -> SendResult:
        payload, result = await post_json(self._http, self._url, self.body(message), "wecom robot")
        if result is not None:
            return result
        code = payload.get("errcode")
        if code == 0:
            return SendResult.success()
        error = f"wecom robot errcode {code}: {payload.get('errmsg', '')}"
        if code == _RATE_LIMITED or code == -1:  # -1: system busy
            return SendResult.retry(error, 60.0 if code == _RATE_LIMITED else None)
        return SendResult.permanent(error)
