"""The ack path without HTTP: kefu's ASGI app called in this process, CPU per callback.

    python bench/ack_app.py [--messages 10000] [--rounds 3] [--concurrency 32] [--profile]

The same signed, encrypted WeCom and Feishu callbacks as ``bench/gateway_load.py`` (half each)
go straight to the app kefu serves (``create_app``: the webhook dispatcher, adapters, gateway,
queue and Redis client), ``--concurrency`` at a time, on uvloop, with an embedded Redis of its
own; no socket and no uvicorn. It prints this process's CPU time per callback for each round.
On a machine shared with other work that figure moves far less than the HTTP benchmark's
req/s, whose hello-world baseline swings with every neighbour: use it to compare two versions
of the code, alternated. ``--profile`` adds cProfile's table (CPU time) for the last round.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import uvloop
from wechatpy.enterprise import WeChatCrypto

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.gateway_load import AES_KEY, CORP, TOKEN, feishu_request, kefu_env, wecom_request  # noqa: E402
from bot.runtime import Runtime  # noqa: E402
from bot.runtime.app import create_app  # noqa: E402
from bot.runtime.settings import load_settings  # noqa: E402

Call = tuple[dict[str, Any], bytes]


def calls(first: int, count: int, crypto: WeChatCrypto) -> list[Call]:
    """ASGI scopes and bodies of callbacks ``first`` to ``first + count``, as uvicorn would pass them."""
    out = []
    for i in range(first, first + count):
        path, query, headers, body, _ = wecom_request(i, crypto) if i % 2 == 0 else feishu_request(i)
        raw_headers = [(b"host", b"127.0.0.1"), (b"content-length", str(len(body)).encode())]
        raw_headers += [(name.lower().encode(), value.encode()) for name, value in headers.items()]
        scope = {"type": "http", "method": "POST", "path": path, "root_path": "", "http_version": "1.1",
                 "query_string": urlencode(query).encode(), "headers": raw_headers}  # fmt: skip
        out.append((scope, body))
    return out


async def send_all(app: Any, batch: list[Call], concurrency: int) -> None:
    """Every call through ``app``, ``concurrency`` at a time; raises unless each was answered 200."""
    statuses: list[int] = []
    pending = iter(batch)

    async def caller() -> None:
        for scope, body in pending:

            async def receive(body: bytes = body) -> dict[str, Any]:
                return {"type": "http.request", "body": body, "more_body": False}

            async def send(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    statuses.append(message["status"])

            await app(scope, receive, send)

    await asyncio.gather(*(caller() for _ in range(concurrency)))
    if statuses.count(200) != len(batch):
        raise RuntimeError(f"answers other than 200: {sorted(set(statuses))}")


async def measure(app: Any, args: argparse.Namespace, crypto: WeChatCrypto) -> None:
    await send_all(app, calls(10**8, 500, crypto), args.concurrency)  # warm-up
    for round_ in range(args.rounds):
        batch = calls(round_ * args.messages, args.messages, crypto)
        profiler = cProfile.Profile(time.process_time) if args.profile and round_ == args.rounds - 1 else None
        cpu, wall = time.process_time(), time.perf_counter()
        if profiler:
            profiler.enable()
        await send_all(app, batch, args.concurrency)
        if profiler:
            profiler.disable()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        print(f"round {round_ + 1}: {cpu / len(batch) * 1e6:.1f} us CPU per callback, {len(batch) / wall:.0f}/s")
        if profiler:
            print("(under cProfile: the figures above include its own overhead)")
            pstats.Stats(profiler).sort_stats("tottime").print_stats(30)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=10000, help="callbacks per round (half WeCom, half Feishu)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--profile", action="store_true", help="cProfile (CPU time) over the last round")
    args = ap.parse_args()
    layout = argparse.Namespace(http_processes=1, worker_processes=1, partitions=32)
    os.environ.update(kefu_env("http://127.0.0.1:9", tempfile.mkdtemp(prefix="kefu-ack-app-"), layout))
    os.environ.pop("KEFU_REDIS_URL", None)
    # An HTTP process beside worker processes: no model, nothing consumes the queue meanwhile.
    runtime = Runtime.start(load_settings(None), models=False)
    try:
        uvloop.run(measure(create_app(runtime), args, WeChatCrypto(TOKEN, AES_KEY, CORP)))
    finally:
        runtime.redis_handle.stop()


if __name__ == "__main__":
    main()
