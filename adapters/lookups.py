"""The lookups the bot uses, put together from the settings: the shop API for orders and stock,
快递100 or the shop API for parcels, or ``NoLookups`` when neither is configured.

This module joins two adapters (``adapters.shop``, ``adapters.logistics``) and nothing else;
the composition root and ``kefu lookup`` call ``build_lookups``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

import redis.asyncio as aredis

from adapters.logistics.kuaidi100 import Kuaidi100
from adapters.logistics.settings import LogisticsSettings, TrackingProvider
from adapters.shop.client import ShopClient
from adapters.shop.settings import ShopSettings
from bot.http import HttpClient
from bot.lookups import Lookups, NoLookups, NotFound, NotYours, Order, Product, Tracking, Unavailable
from bot.metrics import LOOKUPS
from bot.redis_store import Keys

T = TypeVar("T")


class Tracker(Protocol):
    async def track(self, waybill: str, company_code: str | None = None, phone_tail: str | None = None) -> Tracking: ...


class ShopLookups:
    """``Lookups`` over a shop client and a tracker, either of which may be missing (then that
    kind of lookup is ``Unavailable("not_configured")``); every outcome is counted."""

    def __init__(self, shop: ShopClient | None, tracker: Tracker | None) -> None:
        self.shop = shop
        self.tracker = tracker

    async def order(self, order_id: str, customer: str | None) -> Order:
        shop = self._shop()
        return await _counted("order", lambda: shop.order(order_id, customer))

    async def recent_orders(self, customer: str, limit: int = 5) -> list[Order]:
        shop = self._shop()
        return await _counted("recent_orders", lambda: shop.recent_orders(customer, limit))

    async def products(self, query: str) -> list[Product]:
        shop = self._shop()
        return await _counted("products", lambda: shop.products(query))

    async def track(self, waybill: str, company_code: str | None = None, phone_tail: str | None = None) -> Tracking:
        if self.tracker is None:
            LOOKUPS.labels("track", "not_configured").inc()
            raise Unavailable("not_configured")
        tracker = self.tracker
        return await _counted("track", lambda: tracker.track(waybill, company_code, phone_tail))

    def _shop(self) -> ShopClient:
        if self.shop is None:
            LOOKUPS.labels("shop", "not_configured").inc()
            raise Unavailable("not_configured")
        return self.shop


async def _counted(kind: str, call: Callable[[], Awaitable[T]]) -> T:
    try:
        result = await call()
    except NotYours:
        LOOKUPS.labels(kind, "not_yours").inc()
        raise
    except NotFound:
        LOOKUPS.labels(kind, "not_found").inc()
        raise
    except Unavailable as e:
        LOOKUPS.labels(kind, e.reason).inc()
        raise
    LOOKUPS.labels(kind, "ok").inc()
    return result


def build_lookups(
    shop_settings: ShopSettings,
    logistics: LogisticsSettings,
    redis: aredis.Redis,
    keys: Keys,
    http: HttpClient,
    clock: Callable[[], float] = time.monotonic,
) -> Lookups:
    """The real clients for what is configured, or ``NoLookups``; ``clock`` drives the breakers."""
    shop = ShopClient(shop_settings, http, redis, keys, clock) if shop_settings.enabled else None
    tracker: Tracker | None = None
    if logistics.provider is TrackingProvider.shop:
        tracker = shop
    elif logistics.enabled:
        tracker = Kuaidi100(logistics, http, redis, keys, shop_settings.timeout_seconds, clock)
    if shop is None and tracker is None:
        return NoLookups()
    return ShopLookups(shop, tracker)


def check_lookups(shop: ShopSettings, logistics: LogisticsSettings) -> list[str]:
    """``kefu check-config``: connector settings that only make sense together."""
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
