"""DingTalk app robot in HTTP receive mode: callbacks at ``/webhooks/dingtalk``, replies by
sessionWebhook, and the v1.0 robot API when that webhook has expired.

Module map: ``signing`` checks the callback headers (and signs custom-robot URLs), ``inbound``
parses a callback into an ``InboundMessage``, ``render`` shapes an outbound message, ``delivery``
posts it and classifies the answer, ``token`` fetches the app access token, ``adapter`` ties them.

Why not dingtalk-sdk (1.3.8): it has nothing for HTTP mode (no header signature check, no
sessionWebhook, no v1.0 robot API at api.dingtalk.com); its clients are synchronous ``requests``
calls sharing one session, and its TOP calls are hard-wired to another host. A few plain
calls on the shared async client are simpler and testable against the fake platform.
"""

from __future__ import annotations

from adapters.dingtalk.adapter import DingtalkAdapter
from adapters.dingtalk.settings import DingtalkApp
from bot.channel import AdapterDeps, ChannelAdapter, PlatformSpec


def create(app_name: str, settings: DingtalkApp, deps: AdapterDeps) -> ChannelAdapter:
    return DingtalkAdapter(app_name, settings, deps)


__all__ = ["DingtalkAdapter", "create"]


SPEC = PlatformSpec(
    name="dingtalk", settings=DingtalkApp, create=create, channels=("dingtalk",), staff_channel="dingtalk"
)
