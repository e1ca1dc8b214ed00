"""What the embedded redis-server's durability setting costs: XADD throughput with
``appendfsync everysec``, ``always`` and ``no``, runs alternated, medians printed.

    python bench/redis_fsync.py [--messages 20000] [--clients 50] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import tempfile
import time

import redis.asyncio as aredis

from bot.redis_store import _redis_server_binary

MODES = ("everysec", "always", "no")


async def xadds_per_second(url: str, messages: int, clients: int) -> float:
    client = aredis.Redis.from_url(url, max_connections=clients)

    async def one(i: int) -> None:
        for _ in range(messages // clients):
            await client.xadd(f"bench:{i % 8}", {"d": "x" * 200})

    started = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(clients)))
    elapsed = time.perf_counter() - started
    await client.aclose()
    return messages / elapsed


def run(mode: str, messages: int, clients: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        sock = os.path.join(folder, "redis.sock")
        server = subprocess.Popen(
            [_redis_server_binary(), "--port", "0", "--unixsocket", sock, "--dir", folder,
             "--appendonly", "yes", "--appendfsync", mode, "--save", ""],
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 10
            while not os.path.exists(sock) and time.monotonic() < deadline:
                time.sleep(0.05)
            return asyncio.run(xadds_per_second(f"unix://{sock}", messages, clients))
        finally:
            server.terminate()
            server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, list[float]] = {mode: [] for mode in MODES}
    for _ in range(args.rounds):
        for mode in MODES:
            results[mode].append(run(mode, args.messages, args.clients))
    for mode, runs in results.items():
        print(f"appendfsync {mode:<8} median {statistics.median(runs):>8,.0f} XADD/s  runs {[round(r) for r in runs]}")


if __name__ == "__main__":
    main()
