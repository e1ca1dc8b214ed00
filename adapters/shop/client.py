"""The shop API's client: signed GETs with a timeout, safe retries, a circuit breaker, a body
size limit, a short Redis cache, and strict parsing into the port's models.

Orders are cached per customer (the key carries the customer, so one customer's answer never
reaches another); products, which are not personal, for everybody. An operator's lookup
(``customer`` None, from ``kefu lookup``) is never cached.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import quote, urlencode, urlsplit

import redis.asyncio as aredis
from yarl import URL

from adapters.lookup_http import DEFAULT_BREAKER, AnswerCache, Breaker, BreakerPolicy, guarded_call, ref
from adapters.shop.settings import ShopSettings
from adapters.shop.signing import signed_headers
from adapters.shop.wire import BadResponse, parse_order, parse_orders, parse_products, parse_shipment
from bot.http import HttpClient
from bot.lookups import NotFound, NotYours, Order, Product, Tracking, Unavailable
from bot.redis_store import Keys

log = logging.getLogger(__name__)

T = TypeVar("T")

ORDER_TTL = 30  # seconds: a status changes rarely within a conversation's few turns
PRODUCT_TTL = 60
SHIPMENT_TTL = 60


class ShopClient:
    """One shop API; ``clock`` drives the circuit breaker (monotonic), ``wall_clock`` the signatures."""

    def __init__(
        self,
        settings: ShopSettings,
        http: HttpClient,
        redis: aredis.Redis,
        keys: Keys,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        breaker: BreakerPolicy = DEFAULT_BREAKER,
    ) -> None:
        parts = urlsplit(settings.api_base)
        self._origin = f"{parts.scheme}://{parts.netloc}"
        self._prefix = parts.path.rstrip("/")
        self._app_key = settings.app_key
        self._secret = settings.secret.get_secret_value()
        self._timeout = settings.timeout_seconds
        self._http = http
        self._keys = keys
        self._wall_clock = wall_clock
        self.breaker = Breaker("shop API", clock, breaker)
        self._cache = AnswerCache(redis, "shop API")

    async def order(self, order_id: str, customer: str | None) -> Order:
        query = {"customer": customer} if customer is not None else {}
        key = None if customer is None else self._keys.customer(customer, f"shop:order:{ref(order_id)}")
        return await self._get(
            f"/orders/{quote(order_id, safe='')}", query, f"GET /orders/{{id}} order {ref(order_id)}",
            parse_order, key, ORDER_TTL, forbidden_means_not_yours=True,
        )  # fmt: skip

    async def recent_orders(self, customer: str, limit: int = 5) -> list[Order]:
        key = self._keys.customer(customer, f"shop:orders:{limit}")
        query = {"customer": customer, "limit": str(limit)}
        return await self._get("/orders", query, "GET /orders", parse_orders, key, ORDER_TTL)

    async def products(self, query: str) -> list[Product]:
        key = self._keys.of("shop", "products", ref(query.strip().lower()))
        return await self._get("/products", {"q": query}, "GET /products", parse_products, key, PRODUCT_TTL)

    async def track(self, waybill: str, company_code: str | None = None, phone_tail: str | None = None) -> Tracking:
        """``logistics.provider: shop``: the shop's own tracking at ``/shipments/{waybill}``."""
        key = self._keys.of("shop", "shipment", ref(waybill))
        return await self._get(
            f"/shipments/{quote(waybill, safe='')}", {}, f"GET /shipments/{{waybill}} waybill {ref(waybill)}",
            parse_shipment, key, SHIPMENT_TTL,
        )  # fmt: skip

    async def _get(
        self,
        path: str,
        query: dict[str, str],
        name: str,
        parse: Callable[[bytes], T],
        cache_key: str | None,
        ttl: int,
        forbidden_means_not_yours: bool = False,
    ) -> T:
        name = f"shop API {name}"
        if cache_key is not None and (cached := await self._cache.get(cache_key)) is not None:
            with contextlib.suppress(BadResponse):  # stored by an older kefu that read it otherwise
                return parse(cached)
        if not self.breaker.allow():
            raise Unavailable("circuit_open")
        target = self._prefix + path + (f"?{urlencode(query, quote_via=quote, safe='')}" if query else "")
        headers = signed_headers(self._app_key, self._secret, "GET", target, self._wall_clock())
        try:
            response = await guarded_call(
                self._http, "GET", URL(self._origin + target, encoded=True),
                name=name, timeout=self._timeout, headers=headers, retry=True,
            )  # fmt: skip
        except Unavailable:
            self.breaker.record(False)
            raise
        status = response.status_code
        if status == 404:
            self.breaker.record(True)
            raise NotFound()
        if status == 403 and forbidden_means_not_yours:
            self.breaker.record(True)
            raise NotYours()
        if status in (401, 403):
            self.breaker.record(False)
            log.warning(
                "%s: HTTP %d, the shop refused our signature (check shop.app_key and shop.secret)", name, status
            )
            raise Unavailable("auth")
        try:
            if status != 200:
                raise BadResponse(f"HTTP {status}")
            result = parse(response.content)
        except BadResponse as e:
            self.breaker.record(False)
            log.warning("%s: bad response: %s", name, e)
            raise Unavailable("bad_response") from None
        self.breaker.record(True)
        if cache_key is not None:
            await self._cache.put(cache_key, response.content, ttl)
        return result
