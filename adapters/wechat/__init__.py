"""WeChat official account (公众号): callbacks in plain or safe (AES) mode, and replies as
asynchronous customer-service messages (``message/custom/send``, allowed within 48 h of the
user's last message).

The callback is answered at once with "success" and no passive reply: the answer is computed
later and sent through the API, so a slow pipeline never makes WeChat retry.
"""

from __future__ import annotations

from collections.abc import Mapping

from wechatpy.crypto import WeChatCrypto

from adapters.wechat.settings import WechatApp
from adapters.wxbiz import Envelope, WxApi, card_as_text, inbound_from, make_crypto, parse_xml
from bot.channel import AdapterDeps, Emit, PlatformSpec, PlatformTask, WebhookError, WebhookRequest, WebhookResult
from bot.message import OutboundMessage, SendResult
from bot.replay import ReplayGuard

CHANNEL = "wechat"
_PERMANENT = {
    45015: "48 h have passed since the user's last message (or the user unsubscribed)",
    45047: "too many customer-service messages since the user's last message",
}


def _plain_signed(query: Mapping[str, str]) -> str:
    """What a plain signature signs besides the token: the key of its replay record."""
    return f"{query.get('timestamp', '')}|{query.get('nonce', '')}|{query.get('signature', '')}"


class WechatAdapter:
    platform = "wechat"

    def __init__(self, app: str, settings: WechatApp, deps: AdapterDeps) -> None:
        self.app = app
        self._deps = deps
        token = settings.token.get_secret_value()
        aes_key = settings.encoding_aes_key.get_secret_value()
        # Plain mode has no key; safe (and compatible) mode decrypts with one.
        crypto = make_crypto(WeChatCrypto, token, aes_key, settings.app_id) if aes_key else None
        self._envelope = Envelope(token, crypto, settings.replay_window_seconds)
        self._safe_mode = crypto is not None
        self._window = settings.replay_window_seconds
        self._replays = ReplayGuard(deps.redis, deps.keys)
        self._api = WxApi(
            deps.http,
            deps.tokens,
            f"wechat:{app}",
            settings.api_base,
            "/cgi-bin/token",
            {
                "grant_type": "client_credential",
                "appid": settings.app_id,
                "secret": settings.app_secret.get_secret_value(),
            },
        )

    async def handle(self, request: WebhookRequest) -> WebhookResult:
        now = self._deps.clock()
        query = request.query
        if request.method == "GET":
            # URL check: plain signature over token/timestamp/nonce, echostr returned as is. The
            # same signature signs a plain-mode message, so it is bound to the echostr here.
            self._envelope.verify(query, now, "signature")
            echostr = query.get("echostr", "")
            await self._replays.admit(f"wechat:{self.app}", _plain_signed(query), echostr.encode(), now, self._window)
            return WebhookResult(body=echostr.encode())
        if request.method != "POST":
            raise WebhookError(405, "GET or POST only")
        if query.get("encrypt_type", "raw") == "aes":
            fields = self._envelope.open_encrypted(query, request.body, now)
        elif self._safe_mode:
            # With an EncodingAESKey WeChat encrypts every callback; a plaintext one reuses a
            # signature taken from some URL (it covers token, timestamp, nonce, not the body).
            raise WebhookError(403, "plaintext callback refused: this account is configured for safe mode")
        else:
            # Plain mode: the signature covers no body, so it may carry one body, its own.
            self._envelope.verify(query, now, "signature")
            await self._replays.admit(f"wechat:{self.app}", _plain_signed(query), request.body, now, self._window)
            fields = parse_xml(request.body)
        result = WebhookResult(body=b"success")
        if fields.get("MsgType", "").lower() != "event":  # events (subscribe, menu): nothing to do
            openid = fields.get("FromUserName", "")
            route = {"touser": openid}
            result.messages.append(inbound_from(fields, channel=CHANNEL, app=self.app, reply_route=route))
        return result

    async def run_task(self, task: PlatformTask, emit: Emit) -> None:
        raise ValueError(f"wechat: no follow-up tasks (got {task.kind!r})")

    async def send(self, message: OutboundMessage) -> SendResult:
        openid = message.route.get("touser", "")
        if not openid:
            return SendResult.permanent("wechat: route needs touser (the openid)")
        # Official accounts cannot show cards or markdown in a chat: send them as text.
        payload = {"touser": openid, "msgtype": "text", "text": {"content": card_as_text(message.text, message.card)}}
        return await self._api.send("message/custom/send", payload, _PERMANENT)


def create(app_name: str, settings: WechatApp, deps: AdapterDeps) -> WechatAdapter:
    return WechatAdapter(app_name, settings, deps)


SPEC = PlatformSpec(name="wechat", settings=WechatApp, create=create, channels=("wechat",))
