"""The DingTalk app-robot adapter (HTTP receive mode): verify, parse, and send one message."""

from __future__ import annotations

from urllib.parse import urlsplit

from adapters.dingtalk.delivery import post_robot_api, post_session_webhook, robot_api_call
from adapters.dingtalk.inbound import parse
from adapters.dingtalk.render import Rendered, render
from adapters.dingtalk.settings import DingtalkApp
from adapters.dingtalk.signing import verify_callback
from adapters.dingtalk.token import fetch_access_token
from bot.channel import AdapterDeps, Emit, PlatformTask, WebhookError, WebhookRequest, WebhookResult
from bot.message import OutboundMessage, SendResult
from bot.parsing import Malformed, load_json
from bot.replay import ReplayGuard, Seen
from bot.token_cache import send_with_token

# A webhook this close to its expiry may die in flight; the robot API is the safer path then.
_WEBHOOK_MARGIN_SECONDS = 30


SIBLING_SECONDS = 2.0  # another message of the same millisecond arrives within this


class DingtalkAdapter:
    platform = "dingtalk"

    def __init__(self, app: str, settings: DingtalkApp, deps: AdapterDeps) -> None:
        self.app = app
        self._settings = settings
        self._deps = deps
        self._token_name = f"dingtalk:{app}"
        # For an internal app the robot code is the app key unless the console shows another.
        self._robot_code = settings.robot_code or settings.app_key
        self._replays = ReplayGuard(deps.redis, deps.keys)

    async def handle(self, request: WebhookRequest) -> WebhookResult:
        secret = self._settings.app_secret.get_secret_value()
        window, now = self._settings.replay_window_seconds, self._deps.clock()
        verify_callback(request.headers, secret, now, window)
        # The signature covers the timestamp only: it may carry one body, its own (or, moments
        # later, another message's of the same millisecond).
        signed = f"{request.headers.get('timestamp', '')}|{request.headers.get('sign', '')}"
        seen = await self._replays.admit(f"dingtalk:{self.app}", signed, request.body, now, window, SIBLING_SECONDS)
        try:
            body = load_json(request.body)
        except Malformed as e:
            raise WebhookError(400, f"body: {e}") from None
        if not isinstance(body, dict):
            raise WebhookError(400, "body is not a JSON object")
        try:
            message = parse(body, self.app)
        except (TypeError, ValueError, AttributeError):
            raise WebhookError(400, "malformed robot message") from None
        if seen is Seen.SIBLING and message is not None and message.text.lstrip().startswith("/"):
            # A staff command acts for the sender the body names: only on a first-seen signature.
            raise WebhookError(403, "staff command on a signature already used (replay)")
        # DingTalk wants a quick 200; the reply goes later through the sessionWebhook.
        return WebhookResult(body=b"{}", content_type="application/json", messages=[message] if message else [])

    def _webhook_trusted(self, url: str) -> bool:
        """DingTalk's callback signature covers the timestamp only, not the body: a sessionWebhook
        is trusted only on DingTalk's own hosts (or the configured api_base, for a test platform),
        so that a forged body cannot make us post anywhere."""
        parts, base = urlsplit(url), urlsplit(self._settings.api_base)
        on_dingtalk = parts.scheme == "https" and (parts.hostname or "").endswith(".dingtalk.com")
        return on_dingtalk or (parts.scheme, parts.netloc) == (base.scheme, base.netloc)

    async def run_task(self, task: PlatformTask, emit: Emit) -> None:
        return None  # HTTP mode delivers whole messages: nothing to fetch afterwards

    async def send(self, message: OutboundMessage) -> SendResult:
        rendered = render(message)
        webhook = message.route.get("session_webhook", "")
        if webhook and self._webhook_trusted(webhook) and self._webhook_alive(message.route):
            result = await post_session_webhook(self._deps.http, webhook, rendered)
            if result is not None:
                return result
        return await self._send_by_robot_api(rendered, message.route)

    def _webhook_alive(self, route: dict[str, str]) -> bool:
        expires = route.get("session_webhook_expires", "")
        if not expires.isdigit():
            return True  # unknown expiry: try it; an expiry answer still falls back
        return int(expires) / 1000 - self._deps.clock() > _WEBHOOK_MARGIN_SECONDS

    async def _send_by_robot_api(self, rendered: Rendered, route: dict[str, str]) -> SendResult:
        call = robot_api_call(rendered, self._robot_code, route)
        if isinstance(call, str):
            return SendResult.permanent(f"dingtalk: cannot send: {call}")
        path, body = call
        url = self._settings.api_base + path
        return await send_with_token(
            self._deps.tokens, self._token_name, self._fetch_token,
            lambda token: post_robot_api(self._deps.http, url, token, body),
        )  # fmt: skip

    async def _fetch_token(self) -> tuple[str, int]:
        return await fetch_access_token(self._deps.http, self._settings)
