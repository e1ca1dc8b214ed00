"""WeCom (企业微信): the self-built app and 微信客服 (kf), which share one callback URL.

``create`` builds one adapter per configured app: ``handle`` is ``callback.WecomCallback``,
``run_task`` pulls 微信客服 messages (``kf.KfChannel``), ``send`` goes to the app's staff
(``sender.AppSender``, channel "wecom") or to a 微信客服 customer (channel "wecom_kf").
"""

from __future__ import annotations

from wechatpy.enterprise import WeChatCrypto

from adapters.wecom.callback import WecomCallback
from adapters.wecom.kf import KfChannel
from adapters.wecom.sender import AppSender
from adapters.wecom.settings import WecomApp
from adapters.wxbiz import Envelope, WxApi, make_crypto
from bot.channel import AdapterDeps, Emit, PlatformSpec, PlatformTask, WebhookRequest, WebhookResult
from bot.message import OutboundMessage, SendResult


class WecomAdapter:
    platform = "wecom"

    def __init__(self, app: str, settings: WecomApp, deps: AdapterDeps) -> None:
        self.app = app
        token = settings.token.get_secret_value()
        aes_key = settings.encoding_aes_key.get_secret_value()
        crypto = make_crypto(WeChatCrypto, token, aes_key, settings.corp_id)
        envelope = Envelope(token, crypto, settings.replay_window_seconds)
        api = WxApi(
            deps.http,
            deps.tokens,
            f"wecom:{app}",
            settings.api_base,
            "/cgi-bin/gettoken",
            {"corpid": settings.corp_id, "corpsecret": settings.secret.get_secret_value()},
        )
        self._callback = WecomCallback(app, settings.corp_id, settings.agent_id, envelope, deps)
        self._kf = KfChannel(app, api, deps.redis, deps.keys)
        self._sender = AppSender(api, settings.agent_id)

    async def handle(self, request: WebhookRequest) -> WebhookResult:
        return await self._callback.handle(request)

    async def run_task(self, task: PlatformTask, emit: Emit) -> None:
        if task.kind != "kf_sync":
            raise ValueError(f"wecom: unknown task kind {task.kind!r}")
        await self._kf.sync(task.payload["open_kfid"], task.payload.get("token", ""), emit)

    async def send(self, message: OutboundMessage) -> SendResult:
        if message.channel == "wecom_kf":
            return await self._kf.send(message)
        return await self._sender.send(message)


def create(app_name: str, settings: WecomApp, deps: AdapterDeps) -> WecomAdapter:
    return WecomAdapter(app_name, settings, deps)


SPEC = PlatformSpec(
    name="wecom", settings=WecomApp, create=create, channels=("wecom", "wecom_kf"), staff_channel="wecom"
)
