"""Fake Feishu long-connection gateway, speaking the protocol with lark-oapi's own protobuf class.

``POST /callback/ws/endpoint`` hands out a WebSocket URL (with a one-time ticket) for the app
credentials ``fake.state["feishu"]["apps"]`` accepts, and a ``ClientConfig`` whose
``PingInterval`` is ``state["ping_interval"]``. The WebSocket at ``/feishu-ws`` sends the frames
(bytes) a test puts in ``state["frames"]`` (``DROP`` there closes the connection), answers every
ping with a pong (carrying the ``PingInterval`` of now), and keeps every acknowledgement in
``state["acks"]`` (``message_id``, ``code``, ``data``: the decoded answer or None, ``headers``).
``state["opened"]`` counts connections, ``state["ended"]`` those that ended, ``state["pings"]``
the pings received.
"""

from __future__ import annotations

import base64
import json
import queue
import secrets
from typing import TYPE_CHECKING, Any

from lark_oapi.ws.pb.pbbp2_pb2 import Frame
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.websockets import WebSocket

from tests.support.fake_platform.sockets import admitted, pump

if TYPE_CHECKING:
    from tests.support.fake_platform.server import FakePlatform

SOCKET_PATH = "/feishu-ws"
SERVICE_ID = 33554678
DROP = b"drop"
CONTROL, DATA = 0, 1


def _state(fake: FakePlatform) -> dict[str, Any]:
    return fake.state["feishu_ws"]


def frame(kind: str, method: int, headers: dict[str, str], payload: bytes = b"") -> Frame:
    f = Frame(SeqID=0, LogID=0, service=SERVICE_ID, method=method, payload=payload)
    for key, value in {"type": kind, **headers}.items():
        f.headers.add(key=key, value=value)
    return f


def event_frames(event: dict[str, Any], message_id: str, parts: int = 1) -> list[bytes]:
    """An event as Feishu pushes it: one data frame, or ``parts`` frames with ``sum``/``seq``."""
    payload = json.dumps(event, ensure_ascii=False).encode()
    size = -(-len(payload) // parts)
    chunks = [payload[i * size : (i + 1) * size] for i in range(parts)]
    return [
        frame("event", DATA, {"message_id": message_id, "sum": str(parts), "seq": str(seq),
                              "trace_id": secrets.token_hex(8)}, chunk).SerializeToString()
        for seq, chunk in enumerate(chunks)
    ]  # fmt: skip


async def _endpoint(fake: FakePlatform, request: Request, body: bytes) -> Response:
    data = json.loads(body or b"{}")
    if fake.state["feishu"]["apps"].get(data.get("AppID")) != data.get("AppSecret"):
        return JSONResponse({"code": 1000040343, "msg": "app secret invalid"})
    ticket = secrets.token_hex(8)
    _state(fake)["tickets"].add(ticket)
    url = (f"ws://127.0.0.1:{fake.port}{SOCKET_PATH}?device_id=d1&access_key={secrets.token_hex(8)}"
           f"&service_id={SERVICE_ID}&ticket={ticket}")  # fmt: skip
    config = {"ReconnectCount": -1, "ReconnectInterval": 120, "ReconnectNonce": 30,
              "PingInterval": _state(fake)["ping_interval"]}  # fmt: skip
    return JSONResponse({"code": 0, "msg": "ok", "data": {"URL": url, "ClientConfig": config}})


async def _socket(fake: FakePlatform, websocket: WebSocket) -> None:
    state = _state(fake)
    if not await admitted(websocket, state, also=websocket.query_params.get("service_id") == str(SERVICE_ID)):
        return

    async def send(out: bytes) -> bool:
        if out != DROP:
            await websocket.send_bytes(out)
        return out != DROP

    async def handle(raw: bytes) -> None:
        await _received(state, websocket, raw)

    await pump(websocket, state["frames"], send, websocket.receive_bytes, handle)
    state["ended"] += 1


async def _received(state: dict[str, Any], websocket: WebSocket, raw: bytes) -> None:
    got = Frame()
    got.ParseFromString(raw)
    headers = {h.key: h.value for h in got.headers}
    if got.method == CONTROL and headers.get("type") == "ping":
        state["pings"] += 1
        pong = frame("pong", CONTROL, {}, json.dumps({"PingInterval": state["ping_interval"]}).encode())
        await websocket.send_bytes(pong.SerializeToString())
    elif got.method == DATA:
        answer = json.loads(got.payload)
        data = json.loads(base64.b64decode(answer["data"])) if answer.get("data") else None
        state["acks"].append({"message_id": headers.get("message_id"), "code": answer.get("code"), "data": data,
                              "headers": headers})  # fmt: skip


def register(fake: FakePlatform) -> None:
    fake.state["feishu_ws"] = {"tickets": set(), "frames": queue.SimpleQueue(), "acks": [], "opened": 0, "ended": 0,
                               "pings": 0, "ping_interval": 120}  # fmt: skip
    fake.route("/callback/ws/endpoint", _endpoint)
    fake.websocket(SOCKET_PATH, _socket)
