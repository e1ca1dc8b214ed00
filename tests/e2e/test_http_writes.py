"""kefu's uvicorn protocol (bot/http_limits.py) writes a response's head with its first body chunk.

A bare ASGI app on the real server, read over a raw socket: the app pauses between the head and
the body, so a head written on its own would arrive alone before the pause.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from bot.http_limits import http_config
from tests.support.serving import free_port, on_a_thread

PAUSE_SECONDS = 0.3


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await receive()
    if scope["path"] == "/fail":  # the head is sent, then the app fails before any body
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        raise RuntimeError("the app failed midway")
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"5")]})
    await asyncio.sleep(PAUSE_SECONDS)
    await send({"type": "http.response.body", "body": b"hello"})


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    chosen = free_port()
    server = uvicorn.Server(http_config(app, host="127.0.0.1", port=chosen))
    with on_a_thread(server):
        yield chosen


def first_read(port: int, request: bytes, then: int = 0) -> tuple[bytes, bytes]:
    """What the first recv of the answer to ``request`` returns, and what ``then`` more bytes
    (or everything until the server closes, with 0) bring."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(request)
        first = conn.recv(65536)
        rest = b""
        while then == 0 or len(rest) < then:
            chunk = conn.recv(65536)
            if not chunk:
                break
            rest += chunk
        return first, rest


def test_head_and_body_arrive_in_one_write(port: int) -> None:
    first, _ = first_read(port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 200 OK\r\n")
    assert first.endswith(b"\r\n\r\nhello"), first


def test_keep_alive_answers_each_request_whole(port: int) -> None:
    request = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        for _ in range(2):
            conn.sendall(request)
            answer = conn.recv(65536)
            assert answer.startswith(b"HTTP/1.1 200 OK\r\n") and answer.endswith(b"\r\n\r\nhello"), answer


def test_http_1_0_gets_its_answer_before_the_close(port: int) -> None:
    first, rest = first_read(port, b"GET / HTTP/1.0\r\n\r\n")
    assert (first + rest).endswith(b"\r\n\r\nhello")
    assert b"connection: close" in first.lower()


def test_head_request_still_gets_its_head(port: int) -> None:
    first, _ = first_read(port, b"HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert first.startswith(b"HTTP/1.1 200 OK\r\n") and first.endswith(b"\r\n\r\n")


def test_an_app_failing_after_the_head_closes_the_connection_and_the_server_goes_on(port: int) -> None:
    first, rest = first_read(port, b"GET /fail HTTP/1.1\r\nHost: x\r\n\r\n")
    assert not (first + rest).endswith(b"\r\n\r\nhello")  # no body: the connection was closed
    first, rest = first_read(port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert (first + rest).endswith(b"\r\n\r\nhello")
