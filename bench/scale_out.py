"""Scale-out: the same load on ``kefu serve`` with 1, then 2 worker processes (``kefu worker``
copies sharing the one Redis), each time on a fresh data_dir.

    python bench/scale_out.py [--messages 2000] [--concurrency 32] [--workers 1 2] [--partitions 32]

Prints, per worker count: the end-to-end throughput (first callback sent to last reply received
by the fake platform), the worker processes' CPU per message, the HTTP process's CPU per
callback, and whether every callback got exactly one reply. The generator, the fake platform,
the HTTP process, the workers and Redis all share this machine's cores, so on a machine with
few cores a second worker buys less than it would on a machine of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx
import redis
from wechatpy.enterprise import WeChatCrypto

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.gateway_load import (
    AES_KEY,
    CORP,
    TOKEN,
    blast,
    cpu_seconds,
    feishu_request,
    start_fake,
    start_kefu_serve,
    wait_for_workers,
    wait_http,
    wecom_request,
)
from tests.support.serving import free_port


def replies_for(fake: str, keys: list[str], timeout: float = 180) -> dict[str, float]:
    """When each of ``keys`` was answered, once all are (or the timeout passed)."""
    deadline = time.monotonic() + timeout
    while True:
        got = httpx.get(f"{fake}/__replies", timeout=30).json()
        if all(k in got for k in keys) or time.monotonic() > deadline:
            return {k: got[k] for k in keys if k in got}
        time.sleep(0.5)


def run(workers: int, args: argparse.Namespace) -> str:
    """One measured run with ``workers`` worker processes; its line of results."""
    fake_port, kefu_port = free_port(), free_port()
    data_dir = tempfile.mkdtemp(prefix="kefu-scale-")
    setup = argparse.Namespace(http_processes=1, worker_processes=workers, partitions=args.partitions)
    procs = [start_fake(fake_port)]
    try:
        procs.append(start_kefu_serve(kefu_port, data_dir, f"http://127.0.0.1:{fake_port}", setup))
        fake, kefu = f"http://127.0.0.1:{fake_port}", f"http://127.0.0.1:{kefu_port}"
        for url in (f"{fake}/__replies", f"{kefu}/readyz"):
            wait_http(url)
        crypto = WeChatCrypto(TOKEN, AES_KEY, CORP)
        n = args.messages
        warm = [wecom_request(n + i, crypto) for i in range(50)]
        asyncio.run(blast(kefu, warm, 8))  # connections, the token fetch, model pages
        replies_for(fake, [r[4] for r in warm])
        wait_for_workers(redis.Redis(unix_socket_path=f"{data_dir}/redis/redis.sock"), setup)
        requests = [wecom_request(i, crypto) if i % 2 == 0 else feishu_request(i) for i in range(n)]
        http_cpu, worker_cpu = cpu_seconds(procs[1].pid), cpu_seconds(procs[1].pid, "worker")
        _, sent_at, _ = asyncio.run(blast(kefu, requests, args.concurrency))
        http_cpu = cpu_seconds(procs[1].pid) - http_cpu
        answered = replies_for(fake, list(sent_at))
        worker_cpu = cpu_seconds(procs[1].pid, "worker") - worker_cpu
        replies = httpx.get(f"{fake}/__replies", params={"count": 1}, timeout=30).json()["replies"] - len(warm)
        elapsed = max(answered.values()) - min(sent_at.values())
        return (
            f"{workers} worker process(es): {len(answered) / elapsed:6.0f} msg/s end to end, "
            f"worker CPU {worker_cpu / n * 1e6:5.0f} us/msg, HTTP process CPU {http_cpu / n * 1e6:4.0f} us/callback, "
            f"{len(answered)}/{n} answered, {replies} replies"
        )
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=30)
        shutil.rmtree(data_dir, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=2000, help="callbacks per run (half WeCom, half Feishu)")
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker process counts to measure")
    ap.add_argument("--partitions", type=int, default=32, help="kefu's server.partitions")
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} cores shared by the generator, the fake platform, kefu and Redis")
    print(f"load: {args.messages} callbacks, concurrency {args.concurrency}, sent as fast as acknowledged")
    for workers in args.workers:
        print(run(workers, args), flush=True)


if __name__ == "__main__":
    main()
