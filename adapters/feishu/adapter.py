"""The Feishu adapter: verify and parse event callbacks, answer card clicks, send one message."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any
from urllib.parse import quote

import orjson

from adapters.feishu import callback_auth as auth
from adapters.feishu.api import BotUnknown, fetch_bot_open_id, fetch_tenant_token, post_message
from adapters.feishu.cards import render_card
from adapters.feishu.events import mentions_in_group, parse_card_action, parse_message
from adapters.feishu.settings import FeishuApp
from bot.channel import (
    DEDUPE_TTL_SECONDS,
    AdapterDeps,
    CardActionAnswer,
    Emit,
    PlatformTask,
    WebhookError,
    WebhookRequest,
    WebhookResult,
)
from bot.message import InboundMessage, OutboundMessage, SendResult
from bot.parsing import Malformed, load_json
from bot.token_cache import TokenUnavailable, send_with_token

log = logging.getLogger(__name__)
_JSON = "application/json; charset=utf-8"
BOT_LOOKUP_SECONDS = 1.5  # well inside Feishu's 3 s callback deadline
BOT_LOOKUP_RETRY_SECONDS = 60
_IDEMPOTENCY_NS = uuid.UUID("3f0c5a52-9b7e-4d0e-8a55-6f1c2b7d9e10")  # ours; any fixed value works


class FeishuAdapter:
    platform = "feishu"

    def __init__(self, app: str, settings: FeishuApp, deps: AdapterDeps) -> None:
        self.app = app
        self._settings = settings
        self._deps = deps
        self._token_name = f"feishu:{app}"
        self._bot: str | None = None  # the bot's open_id, learnt at the first group mention
        self._bot_lookup_after = 0.0

    # -- callbacks ----------------------------------------------------------------------------
    async def handle(self, request: WebhookRequest) -> WebhookResult:
        payload = self._authenticated_payload(request)
        if payload.get("type") == "url_verification":
            return _json_result({"challenge": payload.get("challenge", "")})
        return await self.dispatch(payload)

    async def dispatch(self, payload: dict[str, Any]) -> WebhookResult:
        """An authenticated v2 event (a callback's or the long connection's) parsed: the messages to
        queue and the answer (a card click's toast); ``WebhookError(400)`` when malformed."""
        header, event = payload.get("header"), payload.get("event")
        if not isinstance(header, dict):
            raise WebhookError(400, "not a Feishu v2 event (schema 2.0)")
        if not isinstance(event, dict):
            raise WebhookError(400, "event is not an object")
        try:
            if header.get("event_type") == "im.message.receive_v1":
                bot = await self._bot_open_id() if mentions_in_group(event) else None
                message = parse_message(event, self.app, bot)
                return WebhookResult(body=_SUCCESS, content_type=_JSON, messages=[message] if message else [])
            if header.get("event_type") == "card.action.trigger":
                return _json_result(await self._card_clicked(event, str(header.get("event_id", ""))))
        except (KeyError, TypeError, ValueError, AttributeError):
            raise WebhookError(400, f"malformed {header.get('event_type')} event") from None
        return WebhookResult(body=_SUCCESS, content_type=_JSON)  # an event we did not subscribe to: ack, ignore

    async def _bot_open_id(self) -> str | None:
        """The bot's open_id, looked up once per process; ``None`` while unknown (then any
        mention in a group counts). The lookup runs inside a callback: it gets a short bound,
        and after a failure it waits a minute before trying again."""
        if self._bot is None and self._deps.clock() >= self._bot_lookup_after:
            try:
                self._bot = await asyncio.wait_for(self._look_up_bot(), BOT_LOOKUP_SECONDS)
            except (TimeoutError, TokenUnavailable, BotUnknown) as e:
                self._bot_lookup_after = self._deps.clock() + BOT_LOOKUP_RETRY_SECONDS
                log.warning("feishu/%s: bot identity unknown (%s); any group @-mention counts", self.app, e)
        return self._bot

    async def _look_up_bot(self) -> str:
        token = await self._deps.tokens.get(self._token_name, self._fetch_token)
        return await fetch_bot_open_id(self._deps.http, self._settings, token)

    def _authenticated_payload(self, request: WebhookRequest) -> dict[str, Any]:
        """The callback's JSON once signature, freshness, decryption and token have passed."""
        headers = auth.canonical_headers(request.headers)
        encrypt_key = self._settings.encrypt_key.get_secret_value()
        signed = auth.SIGNATURE in headers
        if encrypt_key and signed:  # before decrypting: a forgery costs us no AES work
            auth.verify_signature(headers, request.body, encrypt_key)
        auth.check_freshness(headers, self._deps.clock(), self._settings.replay_window_seconds, required=signed)
        outer = _json_object(request.body)
        payload = _json_object(auth.decrypt(outer["encrypt"], encrypt_key)) if "encrypt" in outer else outer
        expected = self._settings.verification_token.get_secret_value()
        if payload.get("type") == "url_verification":
            # The URL check comes unsigned; its token is what proves it is Feishu.
            auth.check_token(payload.get("token"), expected)
            return payload
        if encrypt_key and not signed:
            raise WebhookError(403, "missing X-Lark-Signature")
        if not isinstance(payload.get("header"), dict):
            raise WebhookError(400, "not a Feishu v2 event (schema 2.0)")
        auth.check_token(payload["header"].get("token"), expected)
        return payload

    async def _card_clicked(self, event: dict[str, Any], event_id: str) -> dict[str, Any]:
        action = parse_card_action(event, self.app)
        handler = self._deps.card_actions
        if handler is None:
            return {"toast": {"type": "error", "content": "卡片操作未启用"}}
        seen = self._deps.keys.of("seen", "feishu_card", self.app, event_id)
        if event_id and not await self._deps.redis.set(seen, b"1", nx=True, ex=DEDUPE_TTL_SECONDS):
            # A retried or replayed click: it was handled once, it must not act twice.
            return {"toast": {"type": "info", "content": "该操作已处理"}}
        try:
            answer = await handler(action)
        except Exception:  # the click must get an answer, never a 500 with our internals
            log.exception("feishu card action failed (app %s, operator %s)", self.app, action.operator_id)
            answer = CardActionAnswer(toast="操作失败，请稍后重试", ok=False)
        result: dict[str, Any] = {"toast": {"type": "success" if answer.ok else "error", "content": answer.toast}}
        if answer.card is not None:
            result["card"] = {"type": "raw", "data": render_card(answer.card)}
        return result

    async def run_task(self, task: PlatformTask, emit: Emit) -> None:
        return None  # events carry whole messages: nothing to fetch afterwards

    # -- sending ------------------------------------------------------------------------------
    async def send(self, message: OutboundMessage) -> SendResult:
        route = message.route
        msg_type, content = _content(message)
        # The same key on every retry: Feishu then delivers once and returns the first message id.
        uuid_ = idempotency_uuid(message.idempotency_key)
        body: dict[str, Any] = {"msg_type": msg_type, "content": content, "uuid": uuid_}
        base = f"{self._settings.api_base}/open-apis/im/v1/messages"
        if route.get("message_id"):
            url, params = f"{base}/{quote(route['message_id'], safe='')}/reply", {}
        elif route.get("chat_id") or route.get("open_id"):
            id_type = "chat_id" if route.get("chat_id") else "open_id"
            url, params = base, {"receive_id_type": id_type}
            body["receive_id"] = route[id_type]
        else:
            return SendResult.permanent("feishu: route has no message_id, chat_id or open_id")
        return await send_with_token(
            self._deps.tokens, self._token_name, self._fetch_token,
            lambda token: post_message(self._deps.http, url, token, body, params),
        )  # fmt: skip

    async def _fetch_token(self) -> tuple[str, int]:
        return await fetch_tenant_token(self._deps.http, self._settings)


def idempotency_uuid(key: str) -> str:
    """Feishu's ``uuid`` (at most 50 chars) from our idempotency key of any length."""
    return str(uuid.uuid5(_IDEMPOTENCY_NS, key))


def _content(message: OutboundMessage) -> tuple[str, str]:
    if message.kind == "card" and message.card:
        return "interactive", _dumps(render_card(message.card))
    if message.kind == "markdown":
        return "post", _dumps({"zh_cn": {"title": "", "content": [[{"tag": "md", "text": message.text}]]}})
    return "text", _dumps({"text": message.text})


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        value = load_json(raw)
    except Malformed as e:
        raise WebhookError(400, f"body: {e}") from None
    if not isinstance(value, dict):
        raise WebhookError(400, "body is not a JSON object")
    return value


def _json_result(body: dict[str, Any], messages: list[InboundMessage] | None = None) -> WebhookResult:
    return WebhookResult(body=_dumps(body).encode(), content_type=_JSON, messages=messages or [])


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


# Every message callback's answer: serialised once, not per callback.
_SUCCESS = _dumps({"msg": "success"}).encode()
