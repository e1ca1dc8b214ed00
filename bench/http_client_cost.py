"""What one reply's HTTP call costs the worker's client alone: CPU per POST through aiohttp, as
``bot/http.py`` configures it, against a minimal server in another process that answers every
request at once. The floor under the worker's figure for sending a reply.

    python bench/http_client_cost.py [--requests 5000] [--concurrency 32] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from pathlib import Path

import uvloop

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bot.http import HttpClient  # noqa: E402
from tests.support.serving import free_port  # noqa: E402

_SERVER = """
import asyncio, sys
ANSWER = b'HTTP/1.1 200 OK\\r\\nContent-Type: application/json\\r\\nContent-Length: 27\\r\\n\\r\\n{"errcode":0,"errmsg":"ok"}'
class Answer(asyncio.Protocol):
    def connection_made(self, transport): self.transport, self.buffer = transport, b""
    def data_received(self, data):
        self.buffer += data
        while (end := self.buffer.find(b"\\r\\n\\r\\n")) >= 0:
            length = next((int(line.split(b":")[1]) for line in self.buffer[:end].split(b"\\r\\n")
                           if line.lower().startswith(b"content-length:")), 0)
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length:]
            self.transport.write(ANSWER)
async def main():
    server = await asyncio.get_running_loop().create_server(Answer, "127.0.0.1", int(sys.argv[1]))
    print("ready", flush=True)
    await server.serve_forever()
asyncio.run(main())
"""


async def round_of(client: HttpClient, url: str, requests: int, concurrency: int) -> float:
    """CPU µs per request of this process for ``requests`` POSTs, ``concurrency`` at a time."""
    body = {"touser": "zhangsan", "msgtype": "text", "text": {"content": "您好，您的包裹已发出，预计明天送达。"}}

    async def caller(first: int) -> None:
        for _ in range(first, requests, concurrency):
            await client.post(url, json=body, params={"access_token": "t" * 40})

    started = time.process_time()
    await asyncio.gather(*(caller(i) for i in range(concurrency)))
    return (time.process_time() - started) / requests * 1e6


async def main(args: argparse.Namespace) -> None:
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", _SERVER, str(port)], stdout=subprocess.PIPE)
    try:
        assert server.stdout is not None and server.stdout.readline().startswith(b"ready")
        url = f"http://127.0.0.1:{port}/cgi-bin/message/send"
        async with HttpClient() as client:
            await round_of(client, url, 500, args.concurrency)  # warm: connections, caches
            rounds = [await round_of(client, url, args.requests, args.concurrency) for _ in range(args.rounds)]
        print(f"aiohttp through bot/http.py: {statistics.median(rounds):.0f} µs CPU a request "
              f"(median of {args.rounds} rounds of {args.requests}, {args.concurrency} at a time; "
              f"rounds {', '.join(f'{r:.0f}' for r in rounds)})")  # fmt: skip
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    uvloop.run(main(parser.parse_args()))
