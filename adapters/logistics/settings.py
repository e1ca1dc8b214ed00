"""Parcel tracking's settings (``logistics``): 快递100 (``provider: kuaidi100``, on when
``customer`` and ``key`` are set) or the shop API's ``/shipments`` (``provider: shop``)."""

from __future__ import annotations

from enum import Enum

from pydantic import SecretStr

from adapters.shop.settings import HttpBase
from bot.settings.base import StrictModel


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
