"""What the fake platforms' gateway WebSockets share: a one-time ticket to get in, then a pump
that sends what a test queued and hands on what the client sent."""

from __future__ import annotations

import asyncio
import queue
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from starlette.websockets import WebSocket, WebSocketDisconnect

T = TypeVar("T")


async def admitted(websocket: WebSocket, state: dict[str, Any], *, also: bool = True) -> bool:
    """Accept the connection when its ``ticket`` (and ``also``) is good; one connection per ticket."""
    ticket = websocket.query_params.get("ticket", "")
    if ticket not in state["tickets"] or not also:
        await websocket.close(code=4001)
        return False
    state["tickets"].discard(ticket)
    await websocket.accept()
    state["opened"] += 1
    return True


async def pump(
    websocket: WebSocket, frames: queue.SimpleQueue[Any], send: Callable[[Any], Awaitable[bool]],
    receive: Callable[[], Awaitable[T]], handle: Callable[[T], Awaitable[None]],
) -> None:  # fmt: skip
    """Until the client goes: send each queued frame (``send`` False: close after it), and handle
    what arrives."""
    while True:
        try:
            if not await send(frames.get_nowait()):
                await websocket.close()
                return
        except queue.Empty:
            pass
        try:
            got = await asyncio.wait_for(receive(), 0.02)
        except TimeoutError:
            continue
        except WebSocketDisconnect:
            return
        await handle(got)
