"""Run the real kefu app (HTTP, workers, outbox) under uvicorn on 127.0.0.1 in a thread."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import uvicorn

from bot.http_limits import http_config
from bot.runtime import Runtime
from bot.runtime.app import create_app
from bot.runtime.server import running
from bot.runtime.settings import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def on_a_thread(server: uvicorn.Server, timeout: float = 20) -> Iterator[None]:
    """Run a uvicorn server on a daemon thread until the block ends; raise if it does not start."""
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("server did not start")
        time.sleep(0.02)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@contextlib.contextmanager
def served(settings: Settings, clock: Callable[[], float] = time.time) -> Iterator[tuple[str, Runtime]]:
    """``(base_url, runtime)`` of a running bot; stopped on exit."""
    runtime = Runtime.start(settings, clock=clock)

    @contextlib.asynccontextmanager
    async def lifespan(_app: object) -> AsyncIterator[None]:
        async with running(runtime):
            yield
        await runtime.http.aclose()
        await runtime.redis.aclose()

    port = free_port()
    server = uvicorn.Server(http_config(create_app(runtime, lifespan), host="127.0.0.1", port=port))
    try:
        with on_a_thread(server):
            yield f"http://127.0.0.1:{port}", runtime
    finally:
        runtime.redis_handle.stop()


ROOT = Path(__file__).resolve().parents[2]


def start_serve(port: int, log: Path, *args: str, **env: str) -> subprocess.Popen[bytes]:
    """``kefu serve`` on 127.0.0.1:``port`` as a child process, with ``env`` added to this
    process's environment and its own embedded Redis unless ``env`` names one; its output goes
    to ``log``."""
    return start_kefu(log, "serve", "--host", "127.0.0.1", "--port", str(port), *args, **env)


def start_kefu(log: Path, *args: str, **env: str) -> subprocess.Popen[bytes]:
    """``kefu <args>`` as a child process, with ``env`` added to this process's environment (a
    ``KEFU_REDIS_URL`` of this process's is not passed on); its output goes to ``log``."""
    full_env = {k: v for k, v in os.environ.items() if k != "KEFU_REDIS_URL"} | env
    return subprocess.Popen(
        [sys.executable, "-m", "bot.runtime.cli", *args],
        cwd=ROOT, env=full_env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.05) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError("condition not met in time")
