"""A sample shop that speaks the shop API (``kefu demo-shop``), for trying kefu and for tests.

It checks every request's signature (401 when it is wrong), answers 403 for another customer's
order, and holds a few customers' orders in every status, shipments with traces and products
with aliases and sizes. Everything is in memory; nothing it holds is real.

The data is written as of ``DEMO_TODAY`` (12 June 2024). Served, every date moves forward by the
days from then to today in Beijing, so that the parcels, promised shipping times and restock
dates look current: a parcel scanned "yesterday" is in transit, not stalled for years.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from adapters.shop.signing import verify

DEMO_APP_KEY = "kefu-demo"
DEMO_SECRET = "demo-secret-only-for-127.0.0.1"
DEMO_CUSTOMER = "web:c1"
DEMO_TODAY = date(2024, 6, 12)
_BEIJING = timezone(timedelta(hours=8))
_DATED = {"created_at", "shipped_at", "updated_at", "time", "restock_date"}


def _order(
    order_id: str, status: str, created_at: str, amount: str, items: list[tuple[str, str, int]],
    shipment: tuple[str, ...] | None = None, refund: tuple[str, str, str] | None = None,
) -> dict[str, Any]:  # fmt: skip
    return {
        "order_id": order_id,
        "status": status,
        "created_at": created_at,
        "amount": amount,
        "items": [{"name": n, "sku": s, "quantity": q} for n, s, q in items],
        "shipment": None
        if shipment is None
        else dict(zip(("company", "company_code", "waybill", "shipped_at", "receiver_phone"), shipment)),
        "refund": None if refund is None else dict(zip(("status", "amount", "updated_at"), refund)),
    }


AJ1 = ("Air Jordan 1 Retro High OG 芝加哥 42码", "AJ1-CHI-42", 1)
DUNK = ("Nike Dunk Low 熊猫 40码", "DUNK-PANDA-40", 1)
SOCKS = ("运动袜 三双装", "SOCKS-3", 2)
# SF's tracking needs the receiver's phone: the demo sends it (optional in the shop API).
SF = ("顺丰速运", "shunfeng", "SF1234567890123", "2024-06-08T18:20:00+08:00", "13800001234")
ZTO = ("中通快递", "zhongtong", "75312345678901", "2024-06-05T17:00:00+08:00")
JT = ("极兔速递", "jtexpress", "JT0001234567890", "2024-06-07T16:00:00+08:00")

# customer -> orders, newest first
ORDERS: dict[str, list[dict[str, Any]]] = {
    DEMO_CUSTOMER: [
        _order("DD202406100005", "pending_payment", "2024-06-10T09:12:00+08:00", "59.00", [SOCKS]),
        _order("DD202406090004", "paid", "2024-06-09T21:40:00+08:00", "699.00", [DUNK]),
        _order("DD202406080003", "shipped", "2024-06-08T10:05:00+08:00", "1299.00", [AJ1], SF),
        _order("DD202406050002", "delivered", "2024-06-05T11:30:00+08:00", "758.00", [DUNK, SOCKS], ZTO),
        _order("DD202406020006", "cancelled", "2024-06-02T15:00:00+08:00", "59.00", [SOCKS]),
        _order(
            "DD202406010001",
            "completed",
            "2024-06-01T08:00:00+08:00",
            "1299.00",
            [AJ1],
            ("顺丰速运", "shunfeng", "SF1000000000001", "2024-06-01T19:00:00+08:00"),
        ),
        _order(
            "DD202405200007",
            "refunding",
            "2024-05-20T14:22:00+08:00",
            "699.00",
            [DUNK],
            ("中通快递", "zhongtong", "73100000000001", "2024-05-21T10:00:00+08:00"),
            ("approved", "699.00", "2024-06-09T16:45:00+08:00"),
        ),
        _order(
            "DD202405150008",
            "refunded",
            "2024-05-15T12:00:00+08:00",
            "59.00",
            [SOCKS],
            None,
            ("refunded", "59.00", "2024-05-18T10:00:00+08:00"),
        ),
    ],
    "web:c2": [_order("DD202406070009", "shipped", "2024-06-07T09:00:00+08:00", "1299.00", [AJ1], JT)],
    "wecom:zhangsan": [_order("DD202406070011", "shipped", "2024-06-07T08:00:00+08:00", "699.00", [DUNK], JT)],
    "wecom_kf:wmDemo": [_order("DD202406060010", "paid", "2024-06-06T20:00:00+08:00", "699.00", [DUNK])],
    "feishu:ou_demo": [_order("DD202406070012", "shipped", "2024-06-07T10:00:00+08:00", "59.00", [SOCKS], ZTO)],
}

SHIPMENTS: dict[str, dict[str, Any]] = {
    "SF1234567890123": {
        "company": "shunfeng",
        "waybill": "SF1234567890123",
        "state": "in_transit",
        "traces": [
            {"time": "2024-06-10T06:12:00+08:00", "context": "【上海市】快件已到达 上海浦东中转场"},
            {"time": "2024-06-09T22:40:00+08:00", "context": "【广州市】快件已从 广州白云中转场 发出"},
            {"time": "2024-06-08T20:05:00+08:00", "context": "【广州市】快件已到达 广州白云中转场"},
            {"time": "2024-06-08T18:20:00+08:00", "context": "【广州市】顺丰速运 已收取快件"},
        ],
    },
    "75312345678901": {
        "company": "zhongtong",
        "waybill": "75312345678901",
        "state": "signed",
        "traces": [
            {"time": "2024-06-07T15:10:00+08:00", "context": "【杭州市】已签收，已放入 西湖区文三路478号 菜鸟驿站"},
            {"time": "2024-06-07T08:30:00+08:00", "context": "【杭州市】快件正在派送中"},
            {"time": "2024-06-05T17:00:00+08:00", "context": "【广州市】中通快递 已揽收"},
        ],
    },
    "JT0001234567890": {
        "company": "jtexpress",
        "waybill": "JT0001234567890",
        "state": "out_for_delivery",
        "traces": [
            {"time": "2024-06-10T09:00:00+08:00", "context": "【北京市】快件派送中，派件员电话 13800138000"},
            {"time": "2024-06-07T16:00:00+08:00", "context": "【广州市】极兔速递 已揽收"},
        ],
    },
}

# name, sku, stock, restock_date, aliases customers use
PRODUCTS: list[tuple[str, str, int, str | None, tuple[str, ...]]] = [
    ("Air Jordan 1 Retro High OG 芝加哥 42码", "AJ1-CHI-42", 3, None, ("AJ1", "乔丹1", "芝加哥")),
    ("Air Jordan 1 Retro High OG 芝加哥 43码", "AJ1-CHI-43", 0, "2024-07-15", ("AJ1", "乔丹1", "芝加哥")),
    ("Air Jordan 1 Retro High OG 芝加哥 44码", "AJ1-CHI-44", 5, None, ("AJ1", "乔丹1", "芝加哥")),
    ("Nike Dunk Low 熊猫 40码", "DUNK-PANDA-40", 12, None, ("Dunk", "熊猫")),
    ("Nike Dunk Low 熊猫 41码", "DUNK-PANDA-41", 7, None, ("Dunk", "熊猫")),
    ("运动袜 三双装", "SOCKS-3", 100, None, ("袜子",)),
]


def _matches(words: list[str], name: str, sku: str, aliases: tuple[str, ...]) -> bool:
    haystack = " ".join((name, sku, *aliases)).lower()
    return all(w in haystack for w in words)


def find_products(query: str) -> list[dict[str, Any]]:
    """Products whose name, sku or aliases hold every word of the query ("AJ1 43码")."""
    words = [w.lower() for w in query.split()]
    return [
        {"name": name, "sku": sku, "stock": stock, "restock_date": restock}
        for name, sku, stock, restock, aliases in PRODUCTS
        if words and _matches(words, name, sku, aliases)
    ]


def _owner(order_id: str) -> tuple[str, dict[str, Any]] | None:
    for customer, orders in ORDERS.items():
        for order in orders:
            if order["order_id"] == order_id:
                return customer, order
    return None


def days_since_demo_today(now: float) -> int:
    """How far the demo's dates move when served at ``now`` (Unix time)."""
    return (datetime.fromtimestamp(now, _BEIJING).date() - DEMO_TODAY).days


def as_of(value: Any, days: int) -> Any:
    """An answer body with every date in it moved forward by ``days``."""
    if isinstance(value, dict):
        return {k: _moved(v, days) if k in _DATED and isinstance(v, str) else as_of(v, days) for k, v in value.items()}
    if isinstance(value, list):
        return [as_of(v, days) for v in value]
    return value


def _moved(iso: str, days: int) -> str:
    if len(iso) == len("2024-06-12"):
        return (date.fromisoformat(iso) + timedelta(days=days)).isoformat()
    return (datetime.fromisoformat(iso) + timedelta(days=days)).isoformat()


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def create_demo_app(
    app_key: str = DEMO_APP_KEY, secret: str = DEMO_SECRET, clock: Callable[[], float] = time.time
) -> Starlette:
    """The demo shop as an ASGI app; every answer needs a valid signature by ``app_key``/``secret``."""

    async def signed(request: Request) -> JSONResponse | None:
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        query = request.scope.get("query_string", b"")
        target = (raw_path + (b"?" + query if query else b"")).decode("latin-1")
        problem = verify(
            request.headers, request.method, target, await request.body(), app_key=app_key, secret=secret, now=clock()
        )
        return None if problem is None else _error(401, problem)

    def current(body: dict[str, Any]) -> JSONResponse:
        return JSONResponse(as_of(body, days_since_demo_today(clock())))

    async def order(request: Request) -> JSONResponse:
        if refused := await signed(request):
            return refused
        found = _owner(request.path_params["order_id"])
        if found is None:
            return _error(404, "no such order")
        customer = request.query_params.get("customer")
        if customer is not None and customer != found[0]:
            return _error(403, "not this customer's order")
        return current(found[1])

    async def orders(request: Request) -> JSONResponse:
        if refused := await signed(request):
            return refused
        customer = request.query_params.get("customer", "")
        limit = request.query_params.get("limit", "5")
        if not customer or not limit.isdigit() or not 1 <= int(limit) <= 50:
            return _error(400, "customer and a limit of 1-50 are required")
        return current({"orders": ORDERS.get(customer, [])[: int(limit)]})

    async def products(request: Request) -> JSONResponse:
        if refused := await signed(request):
            return refused
        return current({"products": find_products(request.query_params.get("q", ""))})

    async def shipment(request: Request) -> JSONResponse:
        if refused := await signed(request):
            return refused
        found = SHIPMENTS.get(request.path_params["waybill"])
        return current(found) if found else _error(404, "no such waybill")

    return Starlette(routes=[
        Route("/orders/{order_id}", order),
        Route("/orders", orders),
        Route("/products", products),
        Route("/shipments/{waybill}", shipment),
    ])  # fmt: skip


def demo_config(base: str) -> str:
    """The settings that point kefu at the demo shop, to paste into a config file."""
    return (
        f"shop:\n  api_base: {base}\n  app_key: {DEMO_APP_KEY}\n  secret: {DEMO_SECRET}\nlogistics:\n  provider: shop\n"
    )


def run_demo_shop(port: int) -> None:
    """Serve the demo shop on 127.0.0.1 until interrupted, after printing its settings."""
    base = f"http://127.0.0.1:{port}"
    print(f"demo shop on {base}; put this in your config file (e.g. kefu.yaml):\n", flush=True)
    print(demo_config(base), flush=True)
    print(f"then try:  kefu lookup order DD202406080003 --customer {DEMO_CUSTOMER}", flush=True)
    print("           kefu lookup parcel SF1234567890123\n", flush=True)
    uvicorn.run(create_demo_app(), host="127.0.0.1", port=port, log_level="warning")
