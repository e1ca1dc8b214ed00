"""Fake DingTalk Stream gateway: ``/v1.0/gateway/connections/open`` hands out a ticket for the app
credentials ``fake.state["dingtalk"]["apps"]`` accepts, and the WebSocket at ``/dingtalk-stream``
sends the frames a test puts in ``state["frames"]`` and keeps every acknowledgement in
``state["acks"]``. ``state["opened"]`` counts the connections opened."""

from __future__ import annotations

import json
import queue
import secrets
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.websockets import WebSocket

from tests.support.fake_platform.sockets import admitted, pump

if TYPE_CHECKING:
    from tests.support.fake_platform.server import FakePlatform

SOCKET_PATH = "/dingtalk-stream"


def _state(fake: FakePlatform) -> dict[str, Any]:
    return fake.state["dingtalk_stream"]


async def _open(fake: FakePlatform, request: Request, body: bytes) -> Response:
    data = json.loads(body or b"{}")
    if fake.state["dingtalk"]["apps"].get(data.get("clientId")) != data.get("clientSecret"):
        return JSONResponse({"code": "invalidClientIdOrSecret", "message": "无效的clientId或者clientSecret"}, 400)
    ticket = secrets.token_hex(8)
    _state(fake)["tickets"].add(ticket)
    _state(fake)["subscriptions"].append(data.get("subscriptions"))
    return JSONResponse({"endpoint": f"ws://127.0.0.1:{fake.port}{SOCKET_PATH}", "ticket": ticket})


async def _socket(fake: FakePlatform, websocket: WebSocket) -> None:
    state = _state(fake)
    if not await admitted(websocket, state):
        return

    async def send(frame: dict[str, Any]) -> bool:
        await websocket.send_text(json.dumps(frame, ensure_ascii=False))
        return frame.get("headers", {}).get("topic") != "disconnect"

    async def handle(text: str) -> None:
        state["acks"].append(json.loads(text))

    await pump(websocket, state["frames"], send, websocket.receive_text, handle)


def register(fake: FakePlatform) -> None:
    fake.state["dingtalk_stream"] = {"tickets": set(), "subscriptions": [], "frames": queue.SimpleQueue(),
                                     "acks": [], "opened": 0}  # fmt: skip
    fake.route("/v1.0/gateway/connections/open", _open)
    fake.websocket(SOCKET_PATH, _socket)
