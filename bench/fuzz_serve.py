"""Seeded malformed requests against a real ``kefu serve``: prints how many got a 5xx.

    python bench/fuzz_serve.py [--requests 10000] [--seed 1] [--concurrency 8] [--data-dir DIR]

Starts ``kefu serve`` (one HTTP process, one worker process, its own embedded Redis) with every
channel configured with the test secrets of tests/support/fuzz_cases.py, sends the cases spread evenly
over the routes (unsigned garbage and validly signed malformed content), then a 64 MiB header
and /healthz. A fresh data directory trains the intent model first (a minute or two); pass
``--data-dir`` of an earlier run to skip that.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import signal
import socket
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.support.fuzz_cases import ROUTES, Case, Fuzzer, channel_config  # noqa: E402 (after the path)
from tests.support.serving import free_port, start_serve, wait_until  # noqa: E402


async def send_all(base: str, cases: list[tuple[str, Case]], concurrency: int) -> dict[str, collections.Counter[str]]:
    """Every case once; per route, a count of answers by status (or by the transport error)."""
    counts: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    queue: asyncio.Queue[tuple[str, Case]] = asyncio.Queue()
    for item in cases:
        queue.put_nowait(item)

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            route, case = queue.get_nowait()
            try:
                r = await client.request(case.method, case.path, content=case.body, headers=case.headers)
                counts[route][str(r.status_code)] += 1
            except httpx.HTTPError as e:
                counts[route][type(e).__name__] += 1

    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return counts


def huge_header(port: int) -> str:
    """What a 64 MiB header gets: the server's status line, or how the connection ended."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        try:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
            for _ in range(64):
                s.sendall(b"a" * (1 << 20))
        except (BrokenPipeError, ConnectionResetError):
            pass
        try:
            answer = s.recv(100)
        except ConnectionResetError:
            return "connection reset"
    return answer.split(b"\r\n")[0].decode() if answer else "connection closed"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--data-dir", type=Path)
    args = parser.parse_args()

    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="kefu-fuzz-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    config = data_dir / "fuzz.yaml"
    config.write_text(json.dumps({"channels": channel_config()}))  # JSON is YAML
    port = free_port()
    log = data_dir / "serve.log"
    serve = start_serve(
        port, log, "--config", str(config), KEFU_DATA_DIR=str(data_dir),
        KEFU_SERVER__HTTP_PROCESSES="1", KEFU_SERVER__WORKER_PROCESSES="1",
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"

    def healthy() -> bool:
        try:
            return httpx.get(f"{base}/readyz", timeout=5).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(healthy, timeout=600, interval=0.5)
        fuzzer = Fuzzer(args.seed)
        per_route = args.requests // len(ROUTES)
        cases = [(route, case) for route in ROUTES for case in fuzzer.cases(route, per_route)]
        started = time.monotonic()
        counts = asyncio.run(send_all(base, cases, args.concurrency))
        elapsed = time.monotonic() - started
        total = collections.Counter[str]()
        for route in ROUTES:
            total.update(counts[route])
            print(f"{route:18} {dict(sorted(counts[route].items()))}")
        errors = sum(n for status, n in total.items() if status.isdigit() and int(status) >= 500)
        print(f"requests: {sum(total.values())} in {elapsed:.1f}s, 5xx: {errors}")
        print(f"64 MiB header: {huge_header(port)}; /healthz afterwards: {httpx.get(f'{base}/healthz').status_code}")
        log_text = log.read_text(errors="replace")
        print(f"tracebacks in the server log: {log_text.count('Traceback')}")
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=60)


if __name__ == "__main__":
    main()
