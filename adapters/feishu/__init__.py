"""Feishu (Lark) app: events and card callbacks at ``/webhooks/feishu`` (HTTP mode) or over a
connection kefu opens (``long_connection``), messages by the open API.

Module map: ``callback_auth`` checks signature, freshness and token and decrypts (lark-oapi's
``AESCipher``), ``events`` parses message and card-click events, ``cards`` renders the neutral
card, ``api`` fetches the tenant token and sends, ``adapter`` ties them together;
``long_connection`` (with ``frames``, its protobuf frames) receives events without a webhook.

Why lark-oapi is used only for decryption: its ``EventDispatcherHandler`` answers every refusal
with a 500 and runs handlers before the ack (see ``callback_auth``), and its ``Client`` is
synchronous (see ``api``).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from adapters.feishu.adapter import FeishuAdapter
from adapters.feishu.long_connection import LongConnection
from adapters.feishu.settings import FeishuApp
from bot.channel import AdapterDeps, ChannelAdapter, Emit, PlatformSpec


def create(app_name: str, settings: FeishuApp, deps: AdapterDeps) -> ChannelAdapter:
    return FeishuAdapter(app_name, settings, deps)


def listen(adapter: ChannelAdapter, settings: FeishuApp, emit: Emit) -> Callable[[], Coroutine[Any, Any, None]] | None:
    """The long connection (adapters/feishu/long_connection.py); None in HTTP mode."""
    if settings.mode != "long_connection" or not isinstance(adapter, FeishuAdapter):
        return None
    return LongConnection(adapter, settings, emit).run


__all__ = ["FeishuAdapter", "create"]


SPEC = PlatformSpec(
    name="feishu", settings=FeishuApp, create=create, channels=("feishu",), staff_channel="feishu", listen=listen
)
