"""Feishu (Lark) app: events and card callbacks at ``/webhooks/feishu``, messages by the open API.

Module map: ``callback_auth`` checks signature, freshness and token and decrypts (lark-oapi's
``AESCipher``), ``events`` parses message and card-click events, ``cards`` renders the neutral
card, ``api`` fetches the tenant token and sends, ``adapter`` ties them together.

Why lark-oapi is used only for decryption: its ``EventDispatcherHandler`` answers every refusal
with a 500 and runs handlers before the ack (see ``callback_auth``), and its ``Client`` is
synchronous (see ``api``).
"""

from __future__ import annotations

from adapters.feishu.adapter import FeishuAdapter
from adapters.feishu.settings import FeishuApp
from bot.channel import AdapterDeps, ChannelAdapter, PlatformSpec


def create(app_name: str, settings: FeishuApp, deps: AdapterDeps) -> ChannelAdapter:
    return FeishuAdapter(app_name, settings, deps)


__all__ = ["FeishuAdapter", "create"]


SPEC = PlatformSpec(name="feishu", settings=FeishuApp, create=create, channels=("feishu",), staff_channel="feishu")
