"""DingTalk app robot: callbacks at ``/webhooks/dingtalk`` (HTTP mode) or over a connection kefu
opens (Stream mode, ``stream``), replies by sessionWebhook, and the v1.0 robot API when that
webhook has expired.

Module map: ``signing`` checks the callback headers (and signs custom-robot URLs), ``inbound``
parses a callback into an ``InboundMessage``, ``render`` shapes an outbound message, ``delivery``
posts it and classifies the answer, ``token`` fetches the app access token, ``adapter`` ties them.

Why not dingtalk-sdk (1.3.8): it has nothing for HTTP mode (no header signature check, no
sessionWebhook, no v1.0 robot API at api.dingtalk.com); its clients are synchronous ``requests``
calls sharing one session, and its TOP calls are hard-wired to another host. A few plain
calls on the shared async client are simpler and testable against the fake platform.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from adapters.dingtalk.adapter import DingtalkAdapter
from adapters.dingtalk.settings import DingtalkApp
from adapters.dingtalk.stream import StreamReceiver
from bot.channel import AdapterDeps, ChannelAdapter, Emit, PlatformSpec


def create(app_name: str, settings: DingtalkApp, deps: AdapterDeps) -> ChannelAdapter:
    return DingtalkAdapter(app_name, settings, deps)


def listen(
    adapter: ChannelAdapter, settings: DingtalkApp, emit: Emit
) -> Callable[[], Coroutine[Any, Any, None]] | None:
    """Stream mode's connection (adapters/dingtalk/stream.py); None in HTTP mode."""
    return StreamReceiver(adapter.app, settings, emit).run if settings.mode == "stream" else None


__all__ = ["DingtalkAdapter", "create"]


SPEC = PlatformSpec(
    name="dingtalk",
    settings=DingtalkApp,
    create=create,
    channels=("dingtalk",),
    staff_channel="dingtalk",
    listen=listen,
)
