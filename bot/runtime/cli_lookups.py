"""``kefu lookup order|parcel`` and ``kefu demo-shop``: the shop's systems from a shell, through
the same clients (and cache) as the bot. Registered on the main ``kefu`` app by bot/runtime/cli.py."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import typer

from adapters.lookups import build_lookups
from adapters.shop.demo import run_demo_shop
from bot.http import HttpClient
from bot.lookups import (
    CarrierUnknown,
    LookupFailed,
    Lookups,
    NotFound,
    NoTraceYet,
    NotYours,
    Order,
    Tracking,
    Unavailable,
    to_json,
)
from bot.redis_store import Keys, connected
from bot.runtime.settings import load_settings

T = TypeVar("T")
lookup_app = typer.Typer(
    help="Ask the shop's systems and the logistics provider as the bot would.", no_args_is_help=True
)
_ConfigOpt = typer.Option(None, "--config", "-c", help="config YAML (default: KEFU_CONFIG or config/kefu.yaml)")


def register_lookups(app: typer.Typer) -> None:
    """Add ``kefu lookup`` and ``kefu demo-shop`` to the main app (whose error boundary turns a
    configuration error into its one line)."""
    app.add_typer(lookup_app, name="lookup")
    app.command("demo-shop")(demo_shop)


def _ask(config: Path | None, call: Callable[[Lookups], Awaitable[T]]) -> T:
    settings = load_settings(config)

    async def main() -> T:
        async with connected(settings.redis_url, settings.data_dir) as redis, HttpClient() as http:
            return await call(build_lookups(settings.shop, settings.logistics, redis, Keys(settings.key_prefix), http))

    return asyncio.run(main())


def _explain(e: LookupFailed, what: str, not_configured: str) -> tuple[str, int]:
    """One line for the operator, and the exit code (2: configuration, 1: the answer)."""
    if isinstance(e, NotYours):
        return f"{what} belongs to another customer (the shop answered 403)", 1
    if isinstance(e, NoTraceYet):
        return f"{what}: the provider has no trace for it yet", 1
    if isinstance(e, CarrierUnknown):
        return f"{what}: cannot tell the courier from the waybill; pass --company CODE (e.g. shunfeng)", 1
    if isinstance(e, NotFound):
        return f"{what} not found", 1
    if isinstance(e, Unavailable) and e.reason == "not_configured":
        return not_configured, 2
    reason = e.reason if isinstance(e, Unavailable) else type(e).__name__
    return f"{what}: unavailable ({reason}); the log line above says more", 1


def _run(config: Path | None, call: Callable[[Lookups], Awaitable[T]], what: str, not_configured: str) -> T:
    try:
        return _ask(config, call)
    except LookupFailed as e:
        message, code = _explain(e, what, not_configured)
        typer.echo(f"error: {message}", err=True)
        raise typer.Exit(code) from None


@lookup_app.command("order")
def lookup_order(
    order_id: str = typer.Argument(..., help="the shop's order id"),
    customer: str | None = typer.Option(None, "--customer", help="as this customer (web:c1); default: as staff"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    config: Path | None = _ConfigOpt,
) -> None:
    """One order with its shipment and refund, from the shop API."""
    order = _run(
        config, lambda lookups: lookups.order(order_id, customer), f"order {order_id}",
        "the shop is not configured: set shop.api_base, shop.app_key and shop.secret (kefu demo-shop shows how)",
    )  # fmt: skip
    typer.echo(json.dumps(to_json(order), ensure_ascii=False) if as_json else "\n".join(describe_order(order)))


@lookup_app.command("parcel")
def lookup_parcel(
    waybill: str = typer.Argument(..., help="the waybill number"),
    company: str | None = typer.Option(None, "--company", help="快递100 company code (default: from the waybill)"),
    phone_tail: str | None = typer.Option(None, "--phone-tail", help="receiver's phone, last 4 digits (SF needs it)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object"),
    config: Path | None = _ConfigOpt,
) -> None:
    """Where a parcel is, from 快递100 or the shop API (logistics.provider)."""
    tracking = _run(
        config, lambda lookups: lookups.track(waybill, company, phone_tail), f"waybill {waybill}",
        "parcel tracking is not configured: set logistics.customer and logistics.key (快递100), "
        "or logistics.provider: shop with the shop configured",
    )  # fmt: skip
    typer.echo(json.dumps(to_json(tracking), ensure_ascii=False) if as_json else "\n".join(describe_tracking(tracking)))


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value is not None else "-"


def describe_order(order: Order) -> list[str]:
    lines = [f"order {order.order_id}  {order.status}  created {_when(order.created_at)}  amount {order.amount}"]
    lines += [f"  {item.quantity} x {item.name} ({item.sku})" for item in order.items]
    if (s := order.shipment) is not None:
        lines.append(f"  shipment: {s.company} ({s.company_code}) {s.waybill}, shipped {_when(s.shipped_at)}")
    if (r := order.refund) is not None:
        lines.append(f"  refund: {r.status} {r.amount}, updated {_when(r.updated_at)}")
    return lines


def describe_tracking(tracking: Tracking) -> list[str]:
    lines = [f"{tracking.waybill} ({tracking.company}): {tracking.state.value} {tracking.state.zh}"]
    return lines + [f"  {_when(t.time)}  {t.context}" for t in tracking.traces]


def demo_shop(port: int = typer.Option(8765, "--port", help="listen port on 127.0.0.1")) -> None:
    """A local sample shop that speaks the shop API, with sample orders."""
    run_demo_shop(port)
