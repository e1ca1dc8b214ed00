"""The outside world: one package per chat platform (wire format both ways, signatures, tokens,
sending) and the group robots staff alerts go to.

``PLATFORMS`` is the one table of built-in platforms: each package's ``SPEC`` says its name,
settings model, factory, channels and whether staff work there. Adding a platform is a package
with a ``SPEC`` and a line here.
"""

from __future__ import annotations

from adapters import dingtalk, feishu, wechat, wecom
from bot.channel import PlatformSpec

PLATFORMS: tuple[PlatformSpec, ...] = (wecom.SPEC, wechat.SPEC, dingtalk.SPEC, feishu.SPEC)


def platform_of(channel: str) -> PlatformSpec | None:
    """The platform that receives and sends a channel's messages (微信客服 -> WeCom)."""
    return next((spec for spec in PLATFORMS if channel in spec.channels), None)


def staff_channels() -> frozenset[str]:
    """The channels staff work on: their ``/commands`` are commands there, text elsewhere."""
    return frozenset(spec.staff_channel for spec in PLATFORMS if spec.staff_channel)
