"""Lookups in the shop's systems: the shop API (``shop``) and parcel tracking (``logistics``).

An empty ``shop.api_base`` means no shop: the bot answers from its FAQ only. Tracking goes to
快递100 (``provider: kuaidi100``, on when ``customer`` and ``key`` are set) or to the shop API's
``/shipments`` (``provider: shop``).
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, SecretStr

from bot.settings.base import StrictModel

if TYPE_CHECKING:
    from bot.settings import Settings


def http_base(value: str) -> str:
    """An http(s) origin with an optional path prefix, without its trailing slash; "" stays off."""
    value = value.strip()
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http(s) address such as https://shop.example.com/kefu")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError("must be an origin with an optional path, without query, fragment or credentials")
    return value.rstrip("/")


HttpBase = Annotated[str, AfterValidator(http_base)]


class ShopSettings(StrictModel):
    api_base: HttpBase = ""  # https://oms.example.com/kefu-api; empty: no shop lookups
    app_key: str = ""
    secret: SecretStr = SecretStr("")
    timeout_seconds: float = Field(default=3.0, gt=0, le=30)

    @property
    def enabled(self) -> bool:
        return bool(self.api_base)


class TrackingProvider(str, Enum):
    kuaidi100 = "kuaidi100"
    shop = "shop"


class LogisticsSettings(StrictModel):
    provider: TrackingProvider = TrackingProvider.kuaidi100
    customer: str = ""  # 快递100's 查询公司编号 (customer)
    key: SecretStr = SecretStr("")  # 快递100's 授权key
    api_base: HttpBase = "https://poll.kuaidi100.com"

    @property
    def enabled(self) -> bool:
        if self.provider is TrackingProvider.shop:
            return True  # as far as the shop is (checked by check_lookups)
        return bool(self.customer and self.key.get_secret_value() and self.api_base)


def check_lookups(settings: Settings) -> list[str]:
    """``kefu check-config``: connector settings that only make sense together."""
    shop, logistics = settings.shop, settings.logistics
    problems = []
    if shop.enabled:
        if not shop.app_key:
            problems.append("shop.app_key: required when shop.api_base is set")
        if not shop.secret.get_secret_value():
            problems.append("shop.secret: required when shop.api_base is set")
    if logistics.provider is TrackingProvider.shop and not shop.enabled:
        problems.append("logistics.provider: 'shop' tracks parcels through the shop API, but shop.api_base is empty")
    if logistics.provider is TrackingProvider.kuaidi100:
        has_customer, has_key = bool(logistics.customer), bool(logistics.key.get_secret_value())
        if has_customer and not has_key:
            problems.append("logistics.key: required with logistics.customer (快递100's 授权key)")
        if has_key and not has_customer:
            problems.append("logistics.customer: required with logistics.key (快递100's customer id)")
        if has_customer and has_key and not logistics.api_base:
            problems.append("logistics.api_base: empty; 快递100's is https://poll.kuaidi100.com")
    return problems
