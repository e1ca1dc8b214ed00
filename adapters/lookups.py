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
from adapters.shop.client import ShopClient
from bot.http import HttpClient
from bot.lookups import Lookups, NoLookups, NotFound, NotYours, Order, Product, Tracking, Unavailable
from bot.metrics import LOOKUPS
from bot.redis_store import Keys
from bot.settings import Settings
from bot.settings.lookups import TrackingProvider

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
    settings: Settings,
    redis: aredis.Redis,
    keys: Keys,
    http: HttpClient,
    clock: Callable[[], float] = time.monotonic,
) -> Lookups:
    """The real clients for what is configured, or ``NoLookups``; ``clock`` drives the breakers."""
    shop = ShopClient(settings.shop, http, redis, keys, clock) if settings.shop.enabled else None
    logistics = settings.logistics
    tracker: Tracker | None = None
    if logistics.provider is TrackingProvider.shop:
        tracker = shop
    elif logistics.enabled:
        tracker = Kuaidi100(logistics, http, redis, keys, settings.shop.timeout_seconds, clock)
    if shop is None and tracker is None:
        return NoLookups()
    return ShopLookups(shop, tracker)
