"""Run the real kefu app (HTTP, workers, outbox) under uvicorn on 127.0.0.1 in a thread."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator

import uvicorn

from bot.app import create_app
from bot.runtime import Runtime
from bot.server import running
from bot.settings import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def served(settings: Settings) -> Iterator[tuple[str, Runtime]]:
    """``(base_url, runtime)`` of a running bot; stopped on exit."""
    runtime = Runtime.start(settings)

    @contextlib.asynccontextmanager
    async def lifespan(_app: object) -> AsyncIterator[None]:
        async with running(runtime):
            yield
        await runtime.http.aclose()
        await runtime.redis.aclose()

    port = free_port()
    config = uvicorn.Config(
        create_app(runtime, lifespan), host="127.0.0.1", port=port, log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("kefu app did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}", runtime
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        runtime.redis_handle.stop()


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.05) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError("condition not met in time")
