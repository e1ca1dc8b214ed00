"""Lookups under load: signed, encrypted WeCom callbacks at an offered rate to a running
``kefu serve`` on loopback, a share of them asking where an order is, against a fake shop that
answers every request after a fixed delay; then the same messages to a kefu without a shop.

    python bench/lookups_load.py [--messages 5000] [--rate 1000] [--lookup-share 0.3]
                                 [--shop-latency-ms 50] [--concurrency 64]
                                 [--http-processes 1] [--worker-processes 1] [--partitions 32]

A lookup message is "订单 <its own order number> 到哪了": the bot asks the shop for the order,
then for its parcel (``logistics.provider: shop``), two calls one after the other, each with its
own number, so that no cache answers. The others are FAQ questions. Prints the non-lookup
messages' end-to-end p50/p99 (callback sent -> reply at the fake platform) in both runs and
their ratio, the lookup messages' p99 against the shop's latency for the calls they make plus
50 ms, and the HTTP calls and Redis commands (INFO commandstats) per looked-up message.
Everything, the generator included, shares this machine's cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from wechatpy.enterprise import WeChatCrypto

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from adapters.shop.demo import DEMO_APP_KEY, DEMO_CUSTOMER, DEMO_SECRET, ORDERS, SHIPMENTS  # noqa: E402
from adapters.shop.signing import verify  # noqa: E402
from bench.gateway_load import (  # noqa: E402
    AES_KEY,
    CORP,
    FS_APP,
    FS_SECRET,
    TOKEN,
    blast,
    cpu_seconds,
    kefu_env,
    pct,
    wait_for_workers,
    wait_http,
    wait_replies,
    wecom_request,
)
from tests.support.serving import free_port  # noqa: E402

FAQ_QUESTIONS = ["怎么退货", "能开发票吗", "有优惠券吗", "尺码怎么选", "你好"]
CALLS_PER_LOOKUP = 2  # the order, then its parcel
SHIPPED = ORDERS[DEMO_CUSTOMER][2]  # the demo's order shipped by SF, as the shape of every answer
TRACE = SHIPMENTS[SHIPPED["shipment"]["waybill"]]


# -- the fake shop: every order exists and is the asking customer's ----------------------------------
def create_shop_app(latency: float) -> Starlette:
    """The shop API answering after ``latency`` seconds: any ``DD...`` order, shipped by SF with
    a waybill of its own, and that waybill's traces; ``/__count`` is how many calls it had."""
    count = {"requests": 0}

    async def signed(request: Request) -> JSONResponse | None:
        count["requests"] += 1
        target = (request.scope["raw_path"] + b"?" + request.scope["query_string"]).decode("latin-1").rstrip("?")
        problem = verify(request.headers, "GET", target, b"", app_key=DEMO_APP_KEY, secret=DEMO_SECRET, now=time.time())
        await asyncio.sleep(latency)
        return None if problem is None else JSONResponse({"error": problem}, status_code=401)

    async def order(request: Request) -> JSONResponse:
        order_id = request.path_params["order_id"]
        waybill = "SF" + order_id[2:].rjust(13, "0")
        body: dict[str, Any] = {
            **SHIPPED,
            "order_id": order_id,
            "shipment": {**SHIPPED["shipment"], "waybill": waybill},
        }
        return await signed(request) or JSONResponse(body)

    async def shipment(request: Request) -> JSONResponse:
        return await signed(request) or JSONResponse({**TRACE, "waybill": request.path_params["waybill"]})

    async def requests(_request: Request) -> JSONResponse:
        return JSONResponse(count)

    return Starlette(
        routes=[
            Route("/orders/{order_id}", order),
            Route("/shipments/{waybill}", shipment),
            Route("/__count", requests),
        ]
    )


def shop_app() -> Starlette:
    """For ``uvicorn --factory`` in the shop's own process, its latency from the environment."""
    return create_shop_app(float(os.environ["BENCH_SHOP_LATENCY"]))


# -- the runs ------------------------------------------------------------------------------------------
def messages(first: int, n: int, share: float, crypto: WeChatCrypto) -> tuple[list[Any], set[str]]:
    """``n`` callbacks from users ``u{first}``...; about ``share`` of them ask about an order of
    their own (their keys returned), spread evenly through the run."""
    requests, lookups = [], set()
    for i in range(first, first + n):
        if int((i + 1) * share) > int(i * share):
            request = wecom_request(i, crypto, f"订单 DD2026{i:08d} 到哪了")
            lookups.add(request[4])
        else:
            request = wecom_request(i, crypto, FAQ_QUESTIONS[i % len(FAQ_QUESTIONS)])
        requests.append(request)
    return requests, lookups


def run(args: argparse.Namespace, fake: str, shop: str | None, shop_pid: int, first: int) -> dict[str, Any]:
    """One ``kefu serve`` (with the shop, or without any) under the load; its figures, the CPU
    time of kefu's processes and of the fake shop's included."""
    data_dir = tempfile.mkdtemp(prefix="kefu-bench-lookups-")
    extra = {} if shop is None else {
        "KEFU_SHOP__API_BASE": shop, "KEFU_SHOP__APP_KEY": DEMO_APP_KEY, "KEFU_SHOP__SECRET": DEMO_SECRET,
        "KEFU_LOGISTICS__PROVIDER": "shop",
    }  # fmt: skip
    port = free_port()
    kefu = subprocess.Popen(
        [sys.executable, "-m", "bot.runtime.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT, env=kefu_env(fake, data_dir, args, **extra),
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/readyz")
        crypto = WeChatCrypto(TOKEN, AES_KEY, CORP)
        warm, _ = messages(first, 100, args.lookup_share, crypto)
        asyncio.run(blast(base, warm, 8))  # connections, token, model pages, the shop's connections
        wait_replies(fake, [r[4] for r in warm])
        embedded = redis.Redis(unix_socket_path=f"{data_dir}/redis/redis.sock")
        wait_for_workers(embedded, args)
        requests, lookups = messages(first + 100, args.messages, args.lookup_share, crypto)
        commands = sum(v["calls"] for v in embedded.info("commandstats").values())
        calls = httpx.get(f"{shop}/__count").json()["requests"] if shop else 0
        cpu = [cpu_seconds(kefu.pid), cpu_seconds(kefu.pid, "worker"), cpu_seconds(shop_pid)]
        _, sent_at, _ = asyncio.run(blast(base, requests, args.concurrency, args.rate))
        got, done = wait_replies(fake, sent_at)
        cpu = [cpu_seconds(kefu.pid) - cpu[0], cpu_seconds(kefu.pid, "worker") - cpu[1], cpu_seconds(shop_pid) - cpu[2]]
        commands = sum(v["calls"] for v in embedded.info("commandstats").values()) - commands
        calls = (httpx.get(f"{shop}/__count").json()["requests"] if shop else 0) - calls
        e2e = {k: got[k] - sent_at[k] for k in done}
        return {
            "answered": len(done), "sent": len(requests), "lookups": len(lookups), "commands": commands,
            "calls": calls, "cpu": cpu, "lookup_e2e": [v for k, v in e2e.items() if k in lookups],
            "other_e2e": [v for k, v in e2e.items() if k not in lookups],
        }  # fmt: skip
    finally:
        kefu.terminate()
        kefu.wait(timeout=30)
        shutil.rmtree(data_dir, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=5000, help="callbacks per run (WeCom, encrypted XML)")
    ap.add_argument("--rate", type=float, default=1000.0, help="offered callbacks per second")
    ap.add_argument("--lookup-share", type=float, default=0.3, help="share of messages asking about an order")
    ap.add_argument("--shop-latency-ms", type=float, default=50.0, help="the fake shop's delay per request")
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--http-processes", type=int, default=1, help="kefu's server.http_processes")
    ap.add_argument("--worker-processes", type=int, default=1, help="kefu's server.worker_processes")
    ap.add_argument("--partitions", type=int, default=32, help="kefu's server.partitions")
    args = ap.parse_args()
    procs: list[subprocess.Popen[bytes]] = []
    try:
        fake_port, shop_port = free_port(), free_port()
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "tests.support.fake_platform", str(fake_port), json.dumps({FS_APP: FS_SECRET})],
                cwd=ROOT,
            )
        )
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "bench.lookups_load:shop_app", "--factory", "--host", "127.0.0.1",
                 "--port", str(shop_port), "--log-level", "warning", "--no-access-log"],
                cwd=ROOT, env=dict(os.environ, BENCH_SHOP_LATENCY=str(args.shop_latency_ms / 1000)),
            )
        )  # fmt: skip
        fake, shop = f"http://127.0.0.1:{fake_port}", f"http://127.0.0.1:{shop_port}"
        for url in (f"{fake}/__replies", f"{shop}/__count"):
            wait_http(url)
        bare = run(args, fake, None, procs[1].pid, 0)
        looked = run(args, fake, shop, procs[1].pid, 10 * (args.messages + 100))
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)

    n_lookups = looked["lookups"]
    budget = CALLS_PER_LOOKUP * args.shop_latency_ms + 50
    p99_bare, p99_looked = pct(bare["other_e2e"], 0.99), pct(looked["other_e2e"], 0.99)
    lines = [
        f"machine: {os.cpu_count()} cores; generator, kefu serve, fake platform and fake shop all on it",
        f"load: {args.messages} WeCom callbacks per run offered at {args.rate:.0f}/s, concurrency "
        f"{args.concurrency}; {n_lookups} ({n_lookups / args.messages:.0%}) ask about an order; "
        f"the shop answers each call after {args.shop_latency_ms:.0f} ms",
        f"kefu serve: {args.http_processes} HTTP, {args.worker_processes} worker process(es), "
        f"{args.partitions} partitions; replies: {bare['answered']}/{bare['sent']} without a shop, "
        f"{looked['answered']}/{looked['sent']} with it",
        f"other messages end to end, without lookups: p50 {pct(bare['other_e2e'], 0.5):.0f} ms, p99 {p99_bare:.0f} ms",
        f"other messages end to end, with lookups:    p50 {pct(looked['other_e2e'], 0.5):.0f} ms, "
        f"p99 {p99_looked:.0f} ms  (p99 ratio {p99_looked / p99_bare:.2f})",
        f"lookup messages end to end: p50 {pct(looked['lookup_e2e'], 0.5):.0f} ms, "
        f"p99 {pct(looked['lookup_e2e'], 0.99):.0f} ms  (provider latency {CALLS_PER_LOOKUP} x "
        f"{args.shop_latency_ms:.0f} ms + 50 ms = {budget:.0f} ms)",
        f"per looked-up message: {looked['calls'] / n_lookups:.2f} HTTP calls to the shop, "
        f"{(looked['commands'] - bare['commands']) / n_lookups:.1f} Redis commands more than without lookups "
        f"(all messages: {bare['commands'] / bare['sent']:.1f} vs {looked['commands'] / looked['sent']:.1f} "
        "commands per message)",
        "CPU per message (ms), kefu HTTP / kefu worker / fake shop: "
        + " vs ".join(" / ".join(f"{c / r['sent'] * 1000:.2f}" for c in r["cpu"]) for r in (bare, looked))
        + " (without vs with lookups)",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()
