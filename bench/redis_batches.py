"""CPU per Redis command through kefu's auto-pipelining client, against the same client sending
its batches through redis-py's own ``Pipeline`` (how it did before), side by side in one run on
the embedded redis-server.

    python bench/redis_batches.py [--commands 40000] [--rounds 5]

Each round issues GETs in waves of 1, 8 and 32 concurrent callers (as the worker's partitions
do) and prints the process CPU per command for both clients; the figures are the medians over
the rounds, which alternate the two clients.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop
from redis.exceptions import DataError

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bot.redis_pipelining import Command, PipeliningRedis
from bot.redis_store import EmbeddedRedis

WAVES = (1, 8, 32)


class RedisPyPipelineBatches(PipeliningRedis):
    """The batches as they went before: a redis-py ``Pipeline`` on a pooled connection each."""

    async def _send_batch(self, batch: list[Command]) -> list[Any]:
        if len(batch) == 1:
            return [await self._send_one(*batch[0])]
        try:
            async with self.pipeline(transaction=False) as pipe:
                for args, options in batch:
                    pipe.execute_command(*args, **options)
                return await pipe.execute(raise_on_error=False)
        except DataError:
            return [await self._send_one(args, options) for args, options in batch]

    async def _send_one(self, args: tuple[Any, ...], options: dict[str, Any]) -> Any:
        return await super(PipeliningRedis, self).execute_command(*args, **options)


async def cpu_per_command(client: PipeliningRedis, commands: int, wave: int) -> float:
    await client.set("k", "v")
    started = time.process_time()
    for _ in range(commands // wave):
        await asyncio.gather(*(client.get("k") for _ in range(wave)))
    return (time.process_time() - started) / (commands // wave * wave) * 1e6


async def measure(url: str, commands: int, rounds: int) -> dict[tuple[str, int], list[float]]:
    clients = {"kefu batches": PipeliningRedis.from_url(url), "redis-py Pipeline": RedisPyPipelineBatches.from_url(url)}
    out: dict[tuple[str, int], list[float]] = {}
    for _ in range(rounds):
        for name, client in clients.items():
            for wave in WAVES:
                out.setdefault((name, wave), []).append(await cpu_per_command(client, commands, wave))
    for client in clients.values():
        await client.aclose()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--commands", type=int, default=40_000, help="GETs per client, wave size and round")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="kefu-bench-") as data_dir:
        server = EmbeddedRedis(Path(data_dir))
        url = server.start()
        try:
            figures = uvloop.run(measure(url, args.commands, args.rounds))
        finally:
            server.stop()
    print(f"CPU per command, median of {args.rounds} alternated rounds (us):")
    print(f"{'concurrent callers':>20}" + "".join(f"{w:>10}" for w in WAVES))
    for name in ("kefu batches", "redis-py Pipeline"):
        print(f"{name:>20}" + "".join(f"{statistics.median(figures[name, w]):10.1f}" for w in WAVES))


if __name__ == "__main__":
    main()
